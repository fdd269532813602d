"""The failure classes real models nobody here had seen showed (one small graph in code per class).

Each graph is written the way its TF1 tool left it; the test runs graphtools on it, named and with
no names, and checks the .tflite against the live graph on seeded data.
"""
import json

import numpy as np

from conftest import run_cli
from builders import _session, tf, tf1


def _save(g, path):
    with open(path, "wb") as f:
        f.write(g.as_graph_def().SerializeToString())
    return str(path)


def _frozen(sess, g, outputs, path):
    gd = tf1.graph_util.convert_variables_to_constants(sess, g.as_graph_def(), outputs)
    with open(path, "wb") as f:
        f.write(gd.SerializeToString())
    return str(path)


def _tflite_outputs(path, feeds):
    """The serving_default signature of ``path`` run on ``feeds`` ({key: array})."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    runner = it.get_signature_runner("serving_default")
    return runner(**feeds)


def _pipeline(tmp_path, *argv):
    res = run_cli("pipeline", *argv, "--quantize", "none", "--no-report", "--out-dir", tmp_path / "out",
                  "--logdir", "", "--json")
    assert res.code == 0, res.err
    return json.loads(res.out)


# ------------------------------------------------------------------ 1, 13: inputs named as tensors

def _queue_model(tmp_path):
    """An estimator-style graph: placeholders feed a queue, the model reads output 1 of its dequeue
    (the images; output 0, the labels, feed only the loss); a checkpoint beside it."""
    g = tf.Graph()
    rng = np.random.RandomState(0)
    with g.as_default():
        tf1.set_random_seed(0)
        labels_in = tf1.placeholder(tf.int64, [None], name="enqueue_input/Placeholder")
        images_in = tf1.placeholder(tf.float32, [None, 6], name="enqueue_input/Placeholder_1")
        q = tf1.RandomShuffleQueue(100, 10, [tf.int64, tf.float32], shapes=[[], [6]], name="random_shuffle_queue")
        q.enqueue_many([labels_in, images_in])
        labels, images = q.dequeue_many(4)
        w = tf1.get_variable("w", initializer=rng.randn(6, 3).astype(np.float32))
        logits = tf.identity(tf.matmul(images, w), name="logits")
        tf.nn.softmax(logits, name="softmax_tensor")
        loss = tf1.losses.sparse_softmax_cross_entropy(labels, logits)
        tf1.train.GradientDescentOptimizer(0.1).minimize(loss)
        saver = tf1.train.Saver()
        with _session(g) as sess:
            sess.run(tf1.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "model.ckpt"))
            weights = sess.run(w)
    return prefix, weights


def test_an_input_named_as_a_tensor_is_cut_there_and_keeps_a_name_users_feed(tmp_path):
    prefix, weights = _queue_model(tmp_path)
    dequeue = "random_shuffle_queue_DequeueMany"
    report = _pipeline(tmp_path, "--ckpt", prefix, "--inputs", f"{dequeue}:1", "--outputs", "logits",
                       "--input-shapes", "1,6")
    assert report["inputs"] == [f"{dequeue}_1"] and report["outputs"] == ["logits"]
    x = np.random.RandomState(1).rand(1, 6).astype(np.float32)
    got = _tflite_outputs(tmp_path / "out" / "model.tflite", {f"{dequeue}_1": x})["logits"]
    np.testing.assert_allclose(got, x @ weights, rtol=1e-5, atol=1e-6)


def test_zero_config_cuts_the_queue_and_takes_the_softmax_not_an_enqueue_op(tmp_path):
    prefix, weights = _queue_model(tmp_path)
    report = _pipeline(tmp_path, "--ckpt", prefix, "--input-shapes", "1,6")
    assert report["outputs"] == ["softmax_tensor"]  # not the EnqueueMany, not the logits under it
    assert report["inputs"] == ["random_shuffle_queue_DequeueMany_1"]
    assert report["input_pipeline_cuts"] == {"random_shuffle_queue_DequeueMany:1": "random_shuffle_queue_DequeueMany_1"}
    x = np.random.RandomState(2).rand(1, 6).astype(np.float32)
    got = _tflite_outputs(tmp_path / "out" / "model.tflite", {"random_shuffle_queue_DequeueMany_1": x})
    e = np.exp(x @ weights)
    np.testing.assert_allclose(got["softmax_tensor"], e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_a_decoder_with_two_live_outputs_becomes_two_inputs_named_as_apps_feed_them(tmp_path):
    g = tf.Graph()
    with g.as_default():
        wav = tf1.placeholder(tf.string, [], name="wav_data")
        audio, rate = tf.audio.decode_wav(wav, desired_channels=1, desired_samples=32, name="decoded_sample_data")
        scale = tf.cast(rate, tf.float32) / 16000.0
        w = tf.constant(np.random.RandomState(0).randn(32, 4).astype(np.float32))
        tf.matmul(tf.reshape(audio, [1, 32]) * scale, w, name="out")
    path = _save(g, tmp_path / "kws.pb")
    from graphtools.sources.freezing import freeze

    r = freeze(graph=path, output_nodes="out")
    assert r.cuts == {"decoded_sample_data:0": "decoded_sample_data", "decoded_sample_data:1": "decoded_sample_data_1"}
    described = {i["name"]: (i["dtype"], i["shape"]) for i in r.inputs}
    assert described == {"decoded_sample_data": ("float32", [32, 1]), "decoded_sample_data_1": ("int32", [])}
    report = _pipeline(tmp_path, "--graph", path, "--inputs", "decoded_sample_data:0,decoded_sample_data:1",
                       "--outputs", "out")
    assert report["inputs"] == ["decoded_sample_data", "decoded_sample_data_1"]
    x = np.random.RandomState(3).uniform(-0.5, 0.5, (32, 1)).astype(np.float32)
    got = _tflite_outputs(tmp_path / "out" / "model.tflite",
                          {"decoded_sample_data": x, "decoded_sample_data_1": np.array(8000, np.int32)})["out"]
    want = (x.reshape(1, 32) * 0.5) @ np.random.RandomState(0).randn(32, 4).astype(np.float32)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_inputs_naming_a_node_that_is_not_a_placeholder_becomes_a_cut(tmp_path):
    g = tf.Graph()
    with g.as_default():
        raw = tf1.placeholder(tf.uint8, [None, 4], name="raw")
        x = tf.identity(tf.cast(raw, tf.float32) / 255.0, name="scaled")
        w = tf.constant(np.arange(12, dtype=np.float32).reshape(4, 3))
        tf.matmul(x, w, name="out")
    path = _save(g, tmp_path / "g.pb")
    report = _pipeline(tmp_path, "--graph", path, "--inputs", "scaled", "--outputs", "out", "--input-shapes", "1,4")
    assert report["inputs"] == ["scaled"] and report["strip"]["verified"]
    x = np.full((1, 4), 0.5, np.float32)
    got = _tflite_outputs(tmp_path / "out" / "model.tflite", {"scaled": x})["out"]
    np.testing.assert_allclose(got, x @ np.arange(12, dtype=np.float32).reshape(4, 3), rtol=1e-6)
    res = run_cli("pipeline", "--graph", path, "--inputs", "scaled:7", "--outputs", "out", "--out-dir",
                  tmp_path / "bad", "--logdir", "")
    assert res.code == 2 and "scaled has no output 7" in res.err and "Traceback" not in res.err


# ------------------------------------------------------------------ 2: zero-config outputs

def test_zero_config_takes_the_embedding_a_hand_written_triplet_loss_reduces(tmp_path):
    g = tf.Graph()
    rng = np.random.RandomState(0)
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 8], name="x")
        w = tf1.get_variable("FC", initializer=rng.randn(8, 4).astype(np.float32))
        b = tf1.get_variable("FC_b", initializer=rng.randn(4).astype(np.float32))
        emb = tf.add(tf.matmul(tf.nn.relu(x), w), b, name="add_3")  # an unnamed descriptor
        anchor, pos, neg = emb[0::3], emb[1::3], emb[2::3]
        d_pos = tf.reduce_sum(tf.square(anchor - pos), 1)
        d_neg = tf.reduce_sum(tf.square(anchor - neg), 1)
        tf.add(tf.reduce_sum(tf.maximum(0.0, 1.0 - d_neg / (d_pos + 0.01))),
               tf.reduce_sum(tf.reduce_sum(tf.square(pos - neg), 1)), name="add_5")
        with _session(g) as sess:
            sess.run(tf1.global_variables_initializer())
            path = _frozen(sess, g, ["add_5", "add_3"], tmp_path / "pose.pb")
            feed = rng.randn(1, 8).astype(np.float32)
            want = sess.run(emb, {x: feed})
    from graphtools.core.analysis import GraphAnalysis
    from graphtools.core.io import load_graph_def

    ranked = GraphAnalysis(load_graph_def(path)).rank_outputs()
    assert ranked[0]["name"] == "add_3" and "reduces" in ranked[0]["why"]
    report = _pipeline(tmp_path, "--graph", path)
    assert report["outputs"] == ["add_3"]
    got = _tflite_outputs(tmp_path / "out" / "model.tflite", {"x": feed})["add_3"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ 8: batch 1 only, batch folded

def test_a_graph_that_runs_at_batch_one_only_is_compared_one_sample_at_a_time(tmp_path):
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 16], name="x")
        w = tf.constant(np.random.RandomState(0).randn(16, 16).astype(np.float32))
        tf.reshape(tf.sigmoid(tf.matmul(x, w)), [16], name="out_img")  # an autoencoder's [784]: batch 1
    path = _save(g, tmp_path / "cae.pb")
    report = _pipeline(tmp_path, "--graph", path, "--quantize", "none")
    [m] = report["compare"]["models"]
    assert report["compare"]["samples"] > 1 and m["outputs"]["out_img"]["max_abs_diff"] < 1e-5


def test_a_batch_folded_into_a_reshape_at_conversion_is_compared_at_the_converted_batch(tmp_path):
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 4, 4, 2], name="x")
        k = tf.constant(np.random.RandomState(0).randn(3, 3, 2, 3).astype(np.float32))
        y = tf.nn.conv2d(x, k, [1, 1, 1, 1], "SAME")
        tf.reshape(y, [tf.shape(x)[0], 1, 1, 48], name="flat")  # the converter folds it at batch 1
    path = _save(g, tmp_path / "doa.pb")
    report = _pipeline(tmp_path, "--graph", path, "--input-shapes", "1,4,4,2")
    [m] = report["compare"]["models"]
    assert m["outputs"]["flat"]["max_abs_diff"] < 1e-4


# ------------------------------------------------------------------ 10: library functions nothing calls

def test_library_functions_nothing_calls_are_dropped_and_never_block(tmp_path):
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        tf.multiply(x, 2.0, name="out")
    gd = g.as_graph_def()

    @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
    def tf_data_structured_function_wrapper(filename):
        return tf.io.read_file(filename)

    gd.library.function.add().CopyFrom(tf_data_structured_function_wrapper.get_concrete_function().function_def)
    assert any(n.op == "ReadFile" for f in gd.library.function for n in f.node_def)
    path = tmp_path / "stale.pb"
    path.write_bytes(gd.SerializeToString())
    report = _pipeline(tmp_path, "--graph", str(path), "--input-shapes", "1,3")
    from graphtools.core.io import load_graph_def

    assert not load_graph_def(str(tmp_path / "out" / "optimized.pb")).library.function
    assert report["compare"]["models"][0]["outputs"]["out"]["max_abs_diff"] == 0


# ------------------------------------------------------------------ custom ops LiteRT runs itself

def test_ops_litert_runs_as_builtin_custom_ops_convert_without_a_flag(tmp_path):
    g = tf.Graph()
    with g.as_default():
        audio = tf1.placeholder(tf.float32, [400, 1], name="audio")
        spec = tf.raw_ops.AudioSpectrogram(input=audio, window_size=128, stride=64, magnitude_squared=True)
        tf.raw_ops.Mfcc(spectrogram=spec, sample_rate=16000, dct_coefficient_count=8, name="mfcc")
    path = _save(g, tmp_path / "mfcc.pb")
    report = _pipeline(tmp_path, "--graph", path)
    [m] = report["compare"]["models"]
    assert m["outputs"]["mfcc"]["max_abs_diff"] < 1e-3 * max(1.0, m["outputs"]["mfcc"].get("ref_max_abs", 1.0))
    from graphtools.core import tflite

    ops = tflite.summarize(str(tmp_path / "out" / "model.tflite"))["op_histogram"]
    assert "CUSTOM:AudioSpectrogram" in ops and "CUSTOM:Mfcc" in ops


# ------------------------------------------------------------------ 4, 5: Keras 2.0-2.2 .h5, TF2-style loops

def _old_gru_h5(path):
    """A GRU model as Keras 2.1.4 wrote it: no reset_after key (its only GRU: reset_after=False), a numpy
    scalar in the config the 2.0 way; returns the live model's outputs on seeded inputs."""
    import h5py
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([
        tf_keras.layers.GRU(5, reset_after=False, input_shape=(6, 2), name="gru_1"),
        tf_keras.layers.Dense(1, name="dense_1"),
        tf_keras.layers.LeakyReLU(alpha=0.3, name="leaky"),
    ])
    model.save(path)
    x = np.random.RandomState(4).randn(3, 6, 2).astype(np.float32)
    want = model.predict(x, verbose=0)
    tf_keras.backend.clear_session()
    with h5py.File(path, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        for layer in cfg["config"]["layers"]:
            layer["config"].pop("reset_after", None)
            if layer["class_name"] == "LeakyReLU":
                layer["config"]["alpha"] = {"type": "ndarray", "value": 0.3}
        f.attrs["model_config"] = json.dumps(cfg)
        f.attrs["keras_version"] = "2.1.4"
    return x, want


def test_a_gru_written_before_reset_after_existed_loads_as_its_keras_computed_it(tmp_path):
    path = str(tmp_path / "gru.h5")
    x, want = _old_gru_h5(path)
    from graphtools.sources.keras import legacy_keras_config

    _, repaired = legacy_keras_config(path)
    assert any("reset_after=False" in r for r in repaired) and any("unrolled over 6 steps" in r for r in repaired)
    report = _pipeline(tmp_path, "--keras", path)
    [name] = report["inputs"]
    for k in range(len(x)):
        got = _tflite_outputs(tmp_path / "out" / "model.tflite", {name: x[k:k + 1]})[report["outputs"][0]]
        np.testing.assert_allclose(got, want[k:k + 1], rtol=1e-4, atol=1e-5)
    ops = {n.op for n in __import__("graphtools").load_graph_def(str(tmp_path / "out" / "optimized.pb")).node}
    assert not ops & {"While", "StatelessWhile", "TensorListReserve"}


def test_a_weights_only_h5_is_one_line_saying_there_is_no_architecture(tmp_path):
    import tf_keras

    model = tf_keras.Sequential([tf_keras.layers.Dense(2, input_shape=(3,))])
    model.save_weights(str(tmp_path / "w.h5"))
    tf_keras.backend.clear_session()
    res = run_cli("pipeline", "--keras", tmp_path / "w.h5", "--out-dir", tmp_path / "out", "--logdir", "")
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1, res.err
    assert "weights only" in res.err and "model.load_weights" in res.err and "GFile" not in res.err
    assert not (tmp_path / "out").exists()


def test_a_tf2_style_while_loop_in_a_v1_graph_strips_and_verifies(tmp_path):
    """tf_keras recurrent layers built in graph mode: functional While over TensorList (variant) tensors;
    constant folding must leave the lists alone (TensorFlow cannot hand a variant to numpy)."""
    import tf_keras
    from tf_keras.src import backend as K  # (set_session is not exported in tf_keras 2.21)

    from graphtools.surgery.stripping import strip_report

    g = tf.Graph()
    with g.as_default():
        with _session(g) as sess:
            K.set_session(sess)
            inp = tf_keras.layers.Input((5, 3), name="seq")
            out = tf_keras.layers.Dense(2, name="head")(tf_keras.layers.LSTM(4, name="lstm")(inp))
            tf_keras.Model(inp, out)
            sess.run(tf1.global_variables_initializer())
            gd = tf1.graph_util.convert_variables_to_constants(sess, g.as_graph_def(), [out.op.name])
    K.clear_session()
    assert any(n.op in ("While", "StatelessWhile") for n in gd.node)
    r = strip_report(gd, outputs=[out.op.name], input_shapes={"seq": [1, 5, 3]})
    assert r.equivalence.checked and all(o["ok"] for o in r.equivalence.outputs.values())


def test_a_tf2_style_while_loop_in_a_v1_graph_converts_to_a_tflite_while(tmp_path):
    """The same loops converted: the gradient accumulators a v1 graph adds to each While are dropped and
    the batch is filled into the lists' element shapes (plain from_frozen_graph refuses them)."""
    import tf_keras
    from tf_keras.src import backend as K

    from graphtools.core.ops import list_loops

    g = tf.Graph()
    with g.as_default():
        with _session(g) as sess:
            K.set_session(sess)
            inp = tf_keras.layers.Input((6, 3), name="seq")
            seq = tf_keras.layers.Bidirectional(tf_keras.layers.GRU(4, return_sequences=True))(inp)
            out = tf_keras.layers.Dense(2, name="head")(tf_keras.layers.LSTM(5)(seq))
            tf_keras.Model(inp, out)
            sess.run(tf1.global_variables_initializer())
            feed = np.random.RandomState(0).randn(1, 6, 3).astype(np.float32)
            want = sess.run(out, {inp: feed})
            path = _frozen(sess, g, [out.op.name], tmp_path / "rnn.pb")
    K.clear_session()
    gd = __import__("graphtools").load_graph_def(path)
    loops = list_loops(gd)
    assert len(loops) == 3 and all(n.attr["_num_original_outputs"].i < len(n.attr["T"].list.type)
                                   for n in gd.node if n.name in loops)
    report = _pipeline(tmp_path, "--graph", path, "--input-shapes", "1,6,3")
    rnn = report["rnn"]
    assert rnn["route"] == "while" and rnn["accumulators_dropped"] > 0 and rnn["verified"]
    got = _tflite_outputs(tmp_path / "out" / "model.tflite", {"seq": feed})[out.op.name]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_a_dynamic_rnn_of_fixed_shape_whose_range_folded_converts(tmp_path):
    """A v1 dynamic_rnn frozen at a fixed shape: constant folding turns the unstack's Range into a
    constant, which is still the whole sequence in order (a TensorListFromTensor, not a scatter)."""
    from builders import control_flow

    g = tf.Graph()
    with g.as_default(), control_flow(1):
        x = tf1.placeholder(tf.float32, [1, 6, 3], name="x")
        cell = tf1.nn.rnn_cell.GRUCell(4)
        seq, _ = tf1.nn.dynamic_rnn(cell, x, dtype=tf.float32)
        y = tf.identity(seq[:, -1], name="y")
        with _session(g) as sess:
            sess.run(tf1.global_variables_initializer())
            feed = np.random.RandomState(0).randn(1, 6, 3).astype(np.float32)
            want = sess.run(y, {x: feed})
            gd = tf1.graph_util.convert_variables_to_constants(sess, g.as_graph_def(), ["y"])
    shape = next(n for n in gd.node if n.name.endswith("TensorArrayUnstack/Shape"))
    shape.op = "Const"  # as an exporter that folded the static shape left it (the Range then folds too)
    del shape.input[:]
    for a in list(shape.attr):
        del shape.attr[a]
    shape.attr["dtype"].type = 3
    shape.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.array([6, 1, 3], np.int32)))
    path = tmp_path / "rnn.pb"
    path.write_bytes(gd.SerializeToString())
    assert any(n.op == "TensorArrayScatterV3" for n in gd.node)
    report = _pipeline(tmp_path, "--graph", str(path), "--rnn", "while")
    assert report["rnn"]["route"] == "while"
    got = _tflite_outputs(tmp_path / "out" / "model.tflite", {"x": feed})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    from graphtools.conversion.loop_analysis import is_range_from_zero
    from graphtools.conversion.loop_while import tensor_arrays_to_lists

    folded = tf1.GraphDef()
    folded.CopyFrom(gd)
    rng = next(n for n in folded.node if n.name.endswith("TensorArrayUnstack/range"))
    for value, whole in ((np.arange(6), True), (np.arange(1, 7), False)):
        rng.op = "Const"
        del rng.input[:]
        for a in list(rng.attr):
            del rng.attr[a]
        rng.attr["dtype"].type = 3
        rng.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value.astype(np.int32)))
        assert is_range_from_zero({n.name: n for n in folded.node}, rng.name) == whole
        ops = {n.op for n in tensor_arrays_to_lists(folded, {}).node}
        assert ("TensorListFromTensor" in ops) == whole and ("TensorListScatterIntoExistingList" in ops) != whole


# ------------------------------------------------------------------ 11: ids that arrive as floats

def test_ids_carried_as_floats_into_an_embedding_are_fed_in_range(tmp_path):
    g = tf.Graph()
    table = np.random.RandomState(0).randn(7, 3).astype(np.float32)
    with g.as_default():
        ids = tf1.placeholder(tf.float32, [None, 5], name="embedding_1_input")  # Keras feeds ids as floats
        emb = tf.gather(tf.constant(table), tf.cast(ids, tf.int32))
        tf.reduce_sum(emb, 1, name="out")
    path = _save(g, tmp_path / "emb.pb")
    from graphtools.core.analysis import GraphAnalysis
    from graphtools.core.io import load_graph_def

    [d] = GraphAnalysis(load_graph_def(path)).discover_inputs(["out"])
    assert d["int_range"] == [0, 7]
    from graphtools.core.feeds import random_feeds

    feeds, _ = random_feeds([d], seed=0, batch=64)
    v = feeds["embedding_1_input"]
    assert v.dtype == np.float32 and v.min() >= 0 and v.max() < 7 and np.all(v == np.round(v))
    report = _pipeline(tmp_path, "--graph", path)  # zero-config: the check and compare run in range
    assert report["strip"]["verified"] and report["compare"]["models"][0]["outputs"]["out"]["max_abs_diff"] < 1e-5


# ------------------------------------------------------------------ the plain route is a floor

def test_a_rewrite_that_misfires_leaves_that_region_as_frozen_and_the_check_decides(tmp_path, monkeypatch):
    """fold_batch_norms/fold_constants failing on a graph (as a loop rewrite can) does not end the job: the
    conservative route (dropout and training removed, nothing folded) is taken, verified, and said."""
    from graphtools.surgery import passes
    from graphtools.errors import PassError

    def misfire(graph, ctx):
        raise PassError("fold_constants", "a rewrite this graph breaks")

    passes.load_all()
    monkeypatch.setitem(passes.PASSES, "fold_constants", misfire)
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        keep = tf1.placeholder(tf.float32, None, name="keep_prob")
        w = tf.constant(np.random.RandomState(0).randn(4, 3).astype(np.float32))
        h = tf.nn.dropout(tf.matmul(x, w + 1.0), rate=1 - keep)
        tf.nn.softmax(h, name="prob")
    path = _save(g, tmp_path / "g.pb")
    report = _pipeline(tmp_path, "--graph", path, "--input-shapes", "1,4")
    assert "fold_constants" in report["conservative"] and "--remove dropout,training" in report["conservative"]
    assert report["strip"]["verified"] and report["strip"]["bound"] == {"keep_prob": 1.0}
    from graphtools.core import tflite

    ops = tflite.summarize(str(tmp_path / "out" / "model.tflite"))["op_histogram"]
    assert not set(ops) & {"RANDOM_UNIFORM", "FLOOR"}
    x = np.random.RandomState(1).randn(1, 4).astype(np.float32)
    e = np.exp(x @ (np.random.RandomState(0).randn(4, 3).astype(np.float32) + 1.0))
    got = _tflite_outputs(tmp_path / "out" / "model.tflite", {"x": x})["prob"]
    np.testing.assert_allclose(got, e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ 6 (and 2): a "frozen" graph with its training

def test_a_frozen_graph_that_kept_assigns_and_its_saver_loads_pruned_to_its_softmax(tmp_path):
    """convert_variables_to_constants with every node as an output: the variables are Consts, their Assigns
    (float into float_ref: TensorFlow refuses the whole file), initialisers, SGD and the Saver remain; the
    loss is a hand-written -sum(y * log(softmax))."""
    g = tf.Graph()
    rng = np.random.RandomState(0)
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 5], name="Placeholder")
        y = tf1.placeholder(tf.float32, [None, 3], name="Placeholder_1")
        w = tf1.Variable(tf1.random_normal([5, 3], seed=1), name="Variable", use_resource=False)
        prob = tf.nn.softmax(tf.matmul(x, w), name="Softmax")
        cost = tf.reduce_mean(-tf.reduce_sum(y * tf.math.log(prob), 1))
        tf1.train.GradientDescentOptimizer(0.1).minimize(cost)
        tf1.train.Saver()
        with _session(g) as sess:
            sess.run(tf1.global_variables_initializer())
            weights = sess.run(w)
            gd = g.as_graph_def()
            for n in gd.node:  # what TF 1.x's converter wrote when every node was an output
                if n.op == "VariableV2":
                    value = sess.run(g.get_tensor_by_name(n.name + ":0"))
                    n.op = "Const"
                    for a in list(n.attr):
                        del n.attr[a]
                    n.attr["dtype"].type = tf.float32.as_datatype_enum
                    n.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    assert any(n.op == "Assign" for n in gd.node)
    path = tmp_path / "frozen_model.pb"
    path.write_bytes(gd.SerializeToString())
    report = _pipeline(tmp_path, "--graph", str(path), "--input-shapes", "1,5")
    assert report["outputs"] == ["Softmax"] and report["inputs"] == ["Placeholder"]
    feed = rng.randn(1, 5).astype(np.float32)
    e = np.exp(feed @ weights)
    got = _tflite_outputs(tmp_path / "out" / "model.tflite", {"Placeholder": feed})["Softmax"]
    np.testing.assert_allclose(got, e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    frozen = __import__("graphtools").load_graph_def(str(tmp_path / "out" / "frozen.pb"))
    assert not {n.op for n in frozen.node} & {"Assign", "SaveV2", "RestoreV2", "RandomStandardNormal"}


def test_zero_config_takes_the_probabilities_a_random_sampler_draws_from(tmp_path):
    """A policy network whose authors fetch tf.multinomial(log(p)): the sample is random, p is the output."""
    g = tf.Graph()
    w = np.random.RandomState(0).randn(9, 9).astype(np.float32)
    with g.as_default():
        x = tf1.placeholder(tf.float32, [1, 9], name="X")
        e = tf.multiply(tf.exp(tf.matmul(x, tf.constant(w))), 1.0 - tf.abs(x), name="masked")  # legal moves only
        p = tf.multiply(1.0 / tf.reduce_sum(e), e, name="mul")
        tf.identity(tf1.multinomial(tf.math.log(p), 1), name="move")
    path = _save(g, tmp_path / "policy.pb")
    report = _pipeline(tmp_path, "--graph", path)
    assert report["outputs"] == ["mul"]
    feed = np.array([[0, 1, -1, 0, 0, 1, 0, -1, 0]], np.float32)
    got = _tflite_outputs(tmp_path / "out" / "model.tflite", {"X": feed})["mul"]
    ex = np.exp(feed @ w) * (1 - np.abs(feed))
    np.testing.assert_allclose(got, ex / ex.sum(), rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------ 3: labels only by what they feed

def test_a_second_data_input_named_like_a_label_is_an_input_not_a_label(tmp_path):
    g = tf.Graph()
    w = np.random.RandomState(0).randn(4, 2).astype(np.float32)
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        y_ = tf1.placeholder(tf.float32, [None, 2], name="y_")  # a second input (a mask), not a label
        labels = tf1.placeholder(tf.int64, [None], name="labels")
        logits = tf.multiply(tf.matmul(x, tf.constant(w)), y_, name="logits")
        prob = tf.nn.softmax(logits, name="prob")
        tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits), name="loss")
        tf.reduce_mean(tf.cast(tf.equal(tf.argmax(prob, 1), labels), tf.float32), name="accuracy")
    path = _save(g, tmp_path / "two_inputs.pb")
    from graphtools.core.analysis import GraphAnalysis
    from graphtools.core.io import load_graph_def

    a = GraphAnalysis(load_graph_def(path))
    assert a.label_placeholders() == {"labels"}
    report = _pipeline(tmp_path, "--graph", path, "--input-shapes", "1,4:1,2")
    assert report["outputs"] == ["prob"] and report["inputs"] == ["x", "y_"]
    fx, fy = np.ones((1, 4), np.float32), np.array([[1.0, 0.5]], np.float32)
    got = _tflite_outputs(tmp_path / "out" / "model.tflite", {"x": fx, "y_": fy})["prob"]
    z = (fx @ w) * fy
    np.testing.assert_allclose(got, np.exp(z) / np.exp(z).sum(1, keepdims=True), rtol=1e-5)


def test_a_scalar_bind_fills_a_placeholder_of_fixed_shape(tmp_path):
    """A seq2seq whose decoder-targets placeholder [2, 3] its authors feed zeros at inference: --bind NAME=0."""
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [2, 3], name="x")
        t = tf1.placeholder(tf.float32, [2, 3], name="train_outputs")
        tf.add(x * 2.0, t, name="out")
    path = _save(g, tmp_path / "s2s.pb")
    res = run_cli("pipeline", "--graph", path, "--inputs", "x", "--outputs", "out", "--bind", "train_outputs=0",
                  "--quantize", "none", "--no-report", "--out-dir", tmp_path / "out", "--logdir", "")
    assert res.code == 0, res.err
    assert "bound train_outputs=0.0 (filled, [2, 3])" in res.out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["strip"]["bound"] == {"train_outputs": [[0.0] * 3] * 2} and report["strip"]["verified"]


# ------------------------------------------------------------------ 9: batch statistics at batch 1

def test_a_graph_normalising_with_its_batch_statistics_is_compared_one_sample_at_a_time(tmp_path):
    """A TF 0.12 denoiser's hand-written 'batchnormalize' (mean and variance over axes [0, 1, 2] of the current
    batch, no moving averages): run at batch 1 by its app, so compare runs it so (at 256 it is another model)."""
    g = tf.Graph()
    k = np.random.RandomState(0).randn(3, 3, 1, 4).astype(np.float32)
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 64], name="x")
        h = tf.nn.conv2d(tf.reshape(x, [-1, 8, 8, 1]), tf.constant(k), [1, 1, 1, 1], "SAME")
        mean = tf.reduce_mean(h, [0, 1, 2], keepdims=True)
        var = tf.reduce_mean(tf.square(h - mean), [0, 1, 2], keepdims=True)
        tf.reshape(tf.tanh((h - mean) / tf.sqrt(var + 1e-5)), [-1, 256], name="out")
    path = _save(g, tmp_path / "denoise.pb")
    from graphtools.core.analysis import GraphAnalysis
    from graphtools.core.io import load_graph_def

    assert GraphAnalysis(load_graph_def(path)).batch_statistics(["out"])
    report = _pipeline(tmp_path, "--graph", path, "--input-shapes", "1,64")
    cmp = report["compare"]
    assert "statistics of its batch" in cmp["note"] and cmp["models"][0]["batch"] == 1
    assert cmp["models"][0]["outputs"]["out"]["max_abs_diff"] < 1e-4


def test_a_training_mode_batch_norm_with_untrained_statistics_keeps_its_batch_statistics(tmp_path):
    """An OpenPose-style export: fused batch norm frozen in training mode, moving statistics never trained (0 and
    1): the model was always run with its batch's statistics at batch 1; strip keeps them and says so."""
    g = tf.Graph()
    k = np.random.RandomState(0).randn(3, 3, 3, 4).astype(np.float32)
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 8, 8, 3], name="image")
        h = tf.nn.conv2d(x, tf.constant(k), [1, 1, 1, 1], "SAME")
        y, _, _ = tf1.nn.fused_batch_norm(h, tf.ones([4]), tf.zeros([4]), mean=tf.zeros([4]), variance=tf.ones([4]),
                                          is_training=True)
        tf.nn.relu(y, name="heatmaps")
    path = _save(g, tmp_path / "pose.pb")
    res = run_cli("pipeline", "--graph", path, "--input-shapes", "1,8,8,3", "--quantize", "none", "--no-report",
                  "--out-dir", tmp_path / "out", "--logdir", "")
    assert res.code == 0, res.err
    assert "kept the batch statistics of 1 batch norm(s)" in res.out and "audit: batch norm" not in res.out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["strip"]["verified"] and len(report["batch_statistics_kept"]) == 1
    assert report["compare"]["models"][0]["outputs"]["heatmaps"]["max_abs_diff"] < 1e-4


def test_a_bind_value_may_be_a_json_list():
    from graphtools.errors import InputError
    from graphtools.surgery.passes.bind_placeholders import parse_value

    np.testing.assert_array_equal(parse_value("[100]", np.int32), np.array([100], np.int32))
    with np.testing.assert_raises(InputError):
        parse_value("[1,", np.int32)


# ------------------------------------------------------------------ 7: device-pinned exports

def test_a_graph_pinned_to_a_gpu_runs_on_the_cpu(tmp_path):
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        with tf.device("/device:GPU:0"):  # a TF-TRT or Grappler export: explicit devices on every node
            y = tf.nn.relu(tf.matmul(x, tf.constant(np.eye(4, dtype=np.float32) * 2)))
        tf.identity(y, name="out")
    gd = g.as_graph_def()
    assert any(n.device for n in gd.node)
    path = tmp_path / "trt.pb"
    path.write_bytes(gd.SerializeToString())
    report = _pipeline(tmp_path, "--graph", str(path), "--input-shapes", "1,4")
    assert report["strip"]["verified"] and report["compare"]["models"][0]["outputs"]["out"]["max_abs_diff"] == 0
    frozen = __import__("graphtools").load_graph_def(str(tmp_path / "out" / "frozen.pb"))
    assert not any(n.device for n in frozen.node)


# ------------------------------------------------------------------ 2: a GAN's generator output

def _gan(tmp_path, concat):
    """A GAN training checkpoint: a generator G(z) and a discriminator D read by real images x and G(z)
    on shared variables (or once on their batch concatenation); the only sinks are the two losses."""
    g = tf.Graph()
    rng = np.random.RandomState(0)
    with g.as_default():
        z = tf1.placeholder(tf.float32, [None, 8], name="z")
        x = tf1.placeholder(tf.float32, [None, 4, 4, 1], name="x")
        with tf1.variable_scope("gen"):
            w = tf1.get_variable("w", initializer=rng.randn(8, 16).astype(np.float32) * 0.3)
            fake = tf.reshape(tf.tanh(tf.matmul(z, w)), [-1, 4, 4, 1])

        def disc(img, reuse):
            with tf1.variable_scope("dis", reuse=reuse):
                k = tf1.get_variable("k", initializer=rng.randn(3, 3, 1, 2).astype(np.float32))
                v = tf1.get_variable("v", initializer=rng.randn(32, 1).astype(np.float32))
                h = tf.nn.relu(tf.nn.conv2d(img, k, [1, 1, 1, 1], "SAME"))
                return tf.sigmoid(tf.matmul(tf.reshape(h, [-1, 32]), v))

        if concat:
            both = disc(tf.concat([x, fake], 0), False)
            d_real, d_fake = tf.split(both, 2)
        else:
            d_real, d_fake = disc(x, False), disc(fake, True)
        d_loss = -tf.reduce_mean(tf.math.log(d_real) + tf.math.log(1.0 - d_fake))
        g_loss = -tf.reduce_mean(tf.math.log(d_fake))
        tf1.train.AdamOptimizer().minimize(d_loss)
        tf1.train.AdamOptimizer().minimize(g_loss)
        saver = tf1.train.Saver()
        with _session(g) as sess:
            sess.run(tf1.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "gan.ckpt"))
            feed = rng.uniform(-1, 1, (1, 8)).astype(np.float32)
            want = sess.run(fake, {z: feed})
    return prefix, fake.op.inputs[0].op.name, feed, want


def test_zero_config_takes_a_gan_s_generated_sample_not_its_discriminator(tmp_path):
    for concat in (False, True):
        out = tmp_path / str(concat)
        out.mkdir()
        prefix, tanh, feed, want = _gan(out, concat)
        report = _pipeline(out, "--ckpt", prefix)
        assert report["inputs"] == ["z"], report["inputs"]  # the real images only feed the discriminator
        assert report["outputs"] == [tanh], report["outputs"]
        got = _tflite_outputs(out / "out" / "model.tflite", {"z": feed})[tanh]
        np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ 7: a channels-first GPU export

def _layout_net(fmt, x, rng, read_mean=False):
    """Conv, bias, batch norm, pools, depth-to-space, a transposed conv and a shape permuted by
    DataFormatVecPermute, in ``fmt``; the result NHWC. ``read_mean``: the batch norm's second output is
    read too."""
    k = tf.constant(rng.randn(3, 3, 4, 8).astype(np.float32))
    y = tf.nn.conv2d(x, k, [1, 1, 1, 1], "SAME", data_format=fmt)
    y = tf.nn.bias_add(y, tf.constant(rng.randn(8).astype(np.float32)), data_format=fmt)
    y, mean, _ = tf1.nn.fused_batch_norm(y, tf.constant(rng.rand(8).astype(np.float32) + 0.5),
                                         tf.constant(rng.randn(8).astype(np.float32)),
                                         tf.constant(rng.randn(8).astype(np.float32)),
                                         tf.constant(rng.rand(8).astype(np.float32) + 0.5),
                                         data_format=fmt, is_training=False)
    y = tf.nn.relu(y) + (tf.reduce_sum(mean) if read_mean else 0.0)
    y = tf.nn.max_pool2d(y, 2, 2, "VALID", data_format=fmt)
    y = tf.nn.avg_pool2d(y, [1, 1], [1, 1], "SAME", data_format=fmt)
    y = tf.nn.depth_to_space(y, 2, data_format=fmt)  # 8 channels -> 2, spatial x2
    sizes = [1, 3, 16, 16] if fmt == "NCHW" else [1, 16, 16, 3]
    w = tf.constant(rng.randn(3, 3, 3, 2).astype(np.float32))
    y = tf1.nn.conv2d_transpose(y, w, sizes, [1, 1, 2, 2] if fmt == "NCHW" else [1, 2, 2, 1], "SAME",
                                data_format=fmt)
    shape = tf.raw_ops.DataFormatVecPermute(x=tf.shape(y), src_format=fmt, dst_format="NHWC")
    if fmt == "NCHW":
        y = tf.transpose(y, [0, 2, 3, 1])
    return tf.reshape(y, shape, name="out")


def test_a_channels_first_gpu_export_runs_here_and_converts(tmp_path):
    rng = np.random.RandomState(0)
    g = tf.Graph()
    with g.as_default(), tf.device("/device:GPU:0"):
        _layout_net("NCHW", tf1.placeholder(tf.float32, [1, 4, 8, 8], name="x"), rng)
    path = tmp_path / "nchw.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    ref = tf.Graph()
    feed = np.random.RandomState(1).randn(1, 4, 8, 8).astype(np.float32)
    with ref.as_default():
        x = tf1.placeholder(tf.float32, [1, 8, 8, 4])
        y = _layout_net("NHWC", x, np.random.RandomState(0))
        with _session(ref) as sess:
            want = sess.run(y, {x: feed.transpose(0, 2, 3, 1)})
    from graphtools.core.layout import channels_first, runnable_on_cpu
    from graphtools.core.runtime import run_graph

    gd = g.as_graph_def()
    assert len(channels_first(gd)) == 7
    cpu, _ = runnable_on_cpu(gd)
    assert not channels_first(cpu) and gd.node[0].device  # (the input graph is untouched)
    np.testing.assert_allclose(run_graph(gd, {"x": feed}, ["out"])[0], want, rtol=1e-4, atol=1e-4)
    g2 = tf.Graph()
    with g2.as_default():
        _layout_net("NCHW", tf1.placeholder(tf.float32, [1, 4, 8, 8], name="x"), np.random.RandomState(0), True)
        stats = [n.name for n in g2.as_graph_def().node if n.op == "FusedBatchNormV3"][0] + ":1"
    with ref.as_default():
        y = _layout_net("NHWC", x, np.random.RandomState(0), True)
        with _session(ref) as sess:
            want2 = sess.run(y, {x: feed.transpose(0, 2, 3, 1)})
    got, mean = run_graph(g2.as_graph_def(), {"x": feed}, ["out", stats])  # (statistics read from the NHWC op)
    np.testing.assert_allclose(got, want2, rtol=1e-4, atol=1e-4)
    assert mean.shape == (8,)
    report = _pipeline(tmp_path, "--graph", str(path))
    assert report["strip"]["verified"]
    got = _tflite_outputs(tmp_path / "out" / "model.tflite", {"x": feed})["out"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ 6: what old checkpoints carry

def test_a_meta_graph_whose_recorded_shapes_this_tensorflow_contradicts_loads_without_them(tmp_path):
    """An older TensorFlow wrote ``_output_shapes`` that today's shape functions contradict (a gradient
    op's); import_meta_graph refuses the whole file for it. And a graph that asks whether a variable was
    initialized: restored from the checkpoint, it was."""
    g = tf.Graph()
    rng = np.random.RandomState(0)
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        w = tf1.get_variable("w", initializer=rng.randn(3, 2).astype(np.float32))
        ready = tf.cast(tf1.is_variable_initialized(w), tf.float32)
        y = tf.identity(tf.matmul(x, w) + ready, name="y")
        saver = tf1.train.Saver()
        with _session(g) as sess:
            sess.run(tf1.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "m.ckpt"))
            feed = rng.randn(2, 3).astype(np.float32)
            want = sess.run(y, {x: feed})
    mg = tf1.MetaGraphDef()
    mg.ParseFromString((tmp_path / "m.ckpt.meta").read_bytes())
    mm = next(n for n in mg.graph_def.node if n.op == "MatMul")
    del mm.attr["_output_shapes"].list.shape[:]
    wrong = mm.attr["_output_shapes"].list.shape.add()
    wrong.dim.add().size, wrong.dim.add().size = 4, 9  # (not [?, 2])
    (tmp_path / "m.ckpt.meta").write_bytes(mg.SerializeToString())
    with tf.Graph().as_default():
        try:
            tf1.train.import_meta_graph(str(tmp_path / "m.ckpt.meta"))
            refused = False
        except ValueError as e:
            refused = "_output_shapes" in str(e)
    assert refused
    report = _pipeline(tmp_path, "--ckpt", prefix, "--outputs", "y")
    assert report["inputs"] == ["x"]
    got = _tflite_outputs(tmp_path / "out" / "model.tflite", {"x": feed[:1]})["y"]
    np.testing.assert_allclose(got, want[:1], rtol=1e-5, atol=1e-6)


def test_token_ids_one_hot_encoded_into_the_model_are_an_input_and_labels_one_hot_are_not():
    from graphtools.core.analysis import GraphAnalysis

    g = tf.Graph()
    with g.as_default():
        ids = tf1.placeholder(tf.int32, [None, 4], name="ids")
        labels = tf1.placeholder(tf.int32, [None], name="targets")
        w = tf.constant(np.random.RandomState(0).randn(28, 3).astype(np.float32))
        logits = tf.matmul(tf.reshape(tf.one_hot(ids, 7), [-1, 28]), w, name="logits")
        tf.nn.softmax(logits, name="probs")
        tf1.losses.softmax_cross_entropy(tf.one_hot(labels, 3), logits)
    a = GraphAnalysis(g.as_graph_def())
    assert a.label_placeholders() == {"targets"}
    assert a.rank_outputs(top=1)[0]["name"] == "probs"
    assert [i["name"] for i in a.discover_inputs(["probs"])] == ["ids"]


def _saver_skipping(tmp_path, random_left_out):
    """A checkpoint whose Saver(var_list=...) leaves variables out, as authors who ran the initializers
    before restoring did: the batch norm's moving statistics (constant initial values), or a weight."""
    g = tf.Graph()
    rng = np.random.RandomState(0)
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        w = tf1.get_variable("w", initializer=rng.randn(4, 3).astype(np.float32))
        v = tf1.get_variable("v", [3, 2], initializer=tf1.truncated_normal_initializer(seed=1))
        h = tf1.layers.batch_normalization(tf.matmul(x, w), training=False, name="bn")
        y = tf.identity(tf.matmul(h, v), name="y")
        left_out = [v] if random_left_out else [m for m in tf1.global_variables() if "moving" in m.op.name]
        saver = tf1.train.Saver(var_list=[m for m in tf1.global_variables() if m not in left_out])
        with _session(g) as sess:
            sess.run(tf1.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "m.ckpt"))
            feed = rng.randn(1, 4).astype(np.float32)
            want = sess.run(y, {x: feed})
    return prefix, feed, want


def test_variables_a_saver_left_out_take_their_constant_initial_values_and_say_so(tmp_path):
    prefix, feed, want = _saver_skipping(tmp_path, random_left_out=False)
    report = _pipeline(tmp_path, "--ckpt", prefix, "--outputs", "y")
    assert sorted(report["initial_values"]) == ["bn/moving_mean", "bn/moving_variance"]
    got = _tflite_outputs(tmp_path / "out" / "model.tflite", {"x": feed})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    (tmp_path / "r").mkdir()
    prefix, _, _ = _saver_skipping(tmp_path / "r", random_left_out=True)
    res = run_cli("pipeline", "--ckpt", prefix, "--outputs", "y", "--out-dir", tmp_path / "r" / "out", "--logdir", "")
    assert res.code == 2 and "v" in res.err and "Traceback" not in res.err
    assert len(res.err.strip().splitlines()) == 1 and not (tmp_path / "r" / "out" / "model.tflite").exists()


def test_a_shape_the_placeholder_refuses_is_one_line_not_an_internal_error(tmp_path):
    g = tf.Graph()
    with g.as_default():
        style = tf1.placeholder(tf.float32, [26], name="style_num")  # (no batch axis: a style vector)
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        tf.identity(x * tf.reduce_sum(style), name="y")
    path = _save(g, tmp_path / "style.pb")
    res = run_cli("pipeline", "--graph", path, "--inputs", "x,style_num", "--outputs", "y", "--input-shapes",
                  "1,4:1,26", "--out-dir", tmp_path / "out", "--logdir", "", "--no-report")
    assert res.code == 2 and "Traceback" not in res.err and "internal error" not in res.err
    assert len(res.err.strip().splitlines()) == 1 and "--input-shapes" in res.err and "(26,)" in res.err


def test_moments_batch_norms_whose_moving_statistics_never_updated_keep_their_batch_statistics(tmp_path):
    """contrib-style batch norm (tf.nn.moments) always run in training mode, its update ops never run: the
    moving statistics in the checkpoint are still 0 and 1. Swapping them in would change every number (by 35x
    on the model that showed it) -- strip keeps the batch statistics, says so, and the model matches the graph."""
    rng = np.random.RandomState(0)
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 6], name="x")
        h = tf.matmul(x, tf1.get_variable("w", initializer=rng.randn(6, 4).astype(np.float32)))
        with tf1.variable_scope("BatchNorm"):
            mm = tf1.get_variable("moving_mean", initializer=np.zeros(4, np.float32), trainable=False)
            mv = tf1.get_variable("moving_variance", initializer=np.ones(4, np.float32), trainable=False)
            mean, var = tf.nn.moments(h, [0], name="moments")
            tf1.assign_sub(mm, (mm - mean) * 0.1, name="AssignMovingAvg")  # (never run)
            tf1.assign_sub(mv, (mv - var) * 0.1, name="AssignMovingAvg_1")
            y = (h - mean) / tf.sqrt(var + 1e-3)
        tf.nn.sigmoid(y, name="out")
        with _session(g) as sess:
            sess.run(tf1.global_variables_initializer())
            tf1.train.Saver().save(sess, str(tmp_path / "model.ckpt"))
            xs = rng.randn(3, 6).astype(np.float32)
            want = [sess.run("out:0", {x: xs[i:i + 1]}) for i in range(3)]
    report = _pipeline(tmp_path, "--ckpt", tmp_path / "model.ckpt", "--outputs", "out", "--input-shapes", "1,6")
    assert report["strip"]["verified"] and "BatchNorm/moments/mean" in report["batch_statistics_kept"]
    for i in range(3):  # (one sample at a time, as the model always ran: normalised by its own statistics)
        got = _tflite_outputs(tmp_path / "out" / "model.tflite", {"x": xs[i:i + 1]})["out"]
        assert np.abs(got - want[i]).max() < 1e-5


def test_zero_config_never_takes_a_tf_losses_value_for_the_output():
    """tf.losses.* end in DivNoNan(Sum(Sum(...)), num_present): a loss over the batch, never the model's output."""
    from graphtools.core.analysis import GraphAnalysis

    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 5], name="x")
        labels = tf1.placeholder(tf.float32, [None, 3], name="labels")
        pred = tf.nn.sigmoid(tf.matmul(x, tf.ones([5, 3])), name="prediction")
        tf1.losses.mean_squared_error(labels, pred)
    assert GraphAnalysis(g.as_graph_def()).outputs_or_best(None)[0] == ["prediction"]


def test_an_unbatched_image_the_graph_batches_itself_after_casting_is_compared_as_whole_images(tmp_path):
    """An [H, W, 3] int32 image of any size, cast and mean-subtracted before expand_dims(0): its first
    dimension is the height, not a batch; compare feeds whole images (it took H for the batch before)."""
    g = tf.Graph()
    with g.as_default():
        img = tf1.placeholder(tf.int32, [None, None, 3], name="image")
        x = tf.expand_dims(tf.cast(img, tf.float32) - tf.constant([120.0, 110.0, 100.0]), 0)
        h = tf.nn.conv2d(x, tf.constant(np.random.RandomState(1).randn(3, 3, 3, 2).astype(np.float32) / 50),
                         [1, 1, 1, 1], "SAME")
        tf.nn.sigmoid(h[0], name="score_map")
    path = _save(g, tmp_path / "seg.pb")
    report = _pipeline(tmp_path, "--graph", path, "--inputs", "image", "--outputs", "score_map",
                       "--input-shapes", "6,5,3")
    out = report["compare"]["models"][0]["outputs"]["score_map"]
    assert out["max_abs_diff"] < 1e-5 and report["compare"]["samples"] >= 1


def test_a_savedmodel_with_its_own_tags_and_a_string_labels_output_freezes_zero_config(tmp_path):
    """A serving export tagged 'tag' (not 'serve') is frozen from its only meta graph; a signature whose outputs
    include class names looked up from the ids keeps its numeric outputs; tf.Example input is cut at ParseExample."""
    from graphtools.sources.saved_model import freeze_saved_model

    g = tf.Graph()
    with g.as_default(), tf1.Session(graph=g) as sess:
        serialized = tf1.placeholder(tf.string, [None], name="tf_example")
        feats = tf1.parse_example(serialized, {"x": tf1.FixedLenFeature([4], tf.float32)})
        x = tf.identity(feats["x"], name="x")
        scores = tf.nn.softmax(tf.matmul(x, tf.constant(np.eye(4, 3, dtype=np.float32))), name="scores")
        names = tf.gather(tf.constant(["a", "b", "c"]), tf.argmax(scores, 1), name="class_names")
        b = tf1.saved_model.Builder(str(tmp_path / "sm"))
        sig = tf1.saved_model.signature_def_utils.predict_signature_def(
            {"examples": serialized}, {"scores": scores, "classes": names})
        b.add_meta_graph_and_variables(sess, ["tag"], signature_def_map={"serving_default": sig})
        b.save()
    result = freeze_saved_model(str(tmp_path / "sm"))
    assert result.outputs == ["scores"]  # (not the strings)
    assert [i["name"] for i in result.inputs] == ["ParseExample/ParseExample"] or result.cuts
    assert not any(n.op in ("ParseExample", "ParseExampleV2") for n in result.graph_def.node)


def test_a_lambda_layer_marshalled_by_another_python_is_one_line_naming_it(tmp_path):
    """Keras-2 files keep a Lambda's bytecode (marshal): written by Python 3.5 or 2.7 it cannot load here --
    one line naming the layer and the way forward, never an EOFError traceback."""
    import base64

    import h5py
    import tf_keras

    from graphtools.errors import InputError
    from graphtools.sources.keras import freeze_keras

    model = tf_keras.Sequential([tf_keras.layers.Dense(2, input_shape=(3,), name="d"),
                                 tf_keras.layers.Lambda(lambda t: t * 2.0, name="double")])
    path = tmp_path / "m.h5"
    model.save(path)
    tf_keras.backend.clear_session()
    with h5py.File(path, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        for layer in cfg["config"]["layers"]:
            if layer["class_name"] == "Lambda":
                fn = layer["config"]["function"]
                code = base64.b64encode(b"\xe3\x00\x00").decode()  # (a truncated code object: EOF on load)
                layer["config"]["function"] = [code, *fn[1:]] if isinstance(fn, list) else code
        f.attrs["model_config"] = json.dumps(cfg)
    try:
        freeze_keras(str(path))
        raise AssertionError("loaded")
    except InputError as e:
        assert "Lambda layer double" in str(e) and "\n" not in str(e) and "freeze_session" in str(e)



def test_a_loop_whose_initial_state_keras_2_builds_from_zeros_like_the_input_unrolls(tmp_path):
    """Keras 2 (TF1 backend) builds an RNN's initial state as tile(sum(zeros_like(inputs))): computed from the
    input's shape, not its values, so the loop's trip count is still fixed by the shapes and it unrolls."""
    from builders import control_flow

    g = tf.Graph()
    with g.as_default(), control_flow(1):
        x = tf1.placeholder(tf.float32, [None, 6, 3], name="x")
        init = tf.tile(tf.expand_dims(tf.reduce_sum(tf.zeros_like(x), axis=[1, 2]), 1), [1, 4])
        seq, _ = tf1.nn.dynamic_rnn(tf1.nn.rnn_cell.GRUCell(4), x, initial_state=init)
        y = tf.identity(seq[:, -1], name="y")
        with _session(g) as sess:
            sess.run(tf1.global_variables_initializer())
            feed = np.random.RandomState(0).randn(1, 6, 3).astype(np.float32)
            want = sess.run(y, {x: feed})
            path = _frozen(sess, g, ["y"], tmp_path / "gru.pb")
    report = _pipeline(tmp_path, "--graph", path, "--input-shapes", "1,6,3", "--rnn", "unroll")
    assert report["rnn"]["route"] == "unroll"
    got = _tflite_outputs(tmp_path / "out" / "model.tflite", {"x": feed})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
