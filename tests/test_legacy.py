"""Legacy model classes, each built in code: TF 1.0 shapes, V1 checkpoints, text SavedModels, labels and
flags found by structure, embedding ids, graphs without a batch axis, Select-based batch norm,
graph-transform 8-bit ops, integer outputs in compare."""
import os

import numpy as np
import pytest

import builders
import graphtools
from builders import tf, tf1
from conftest import run_cli
from graphtools.core.analysis import GraphAnalysis
from graphtools.verification.comparison import compare, metrics
from graphtools.core.runtime import run_graph
from graphtools.surgery.stripping import strip_report


def _gd(g):
    return g.as_graph_def()


# ---------------------------------------------------------------- TF 1.0 placeholder shapes

def _placeholder_graph(producer, recorded):
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, None, name="x")
        tf.identity(x * 2.0, name="y")
    gd = _gd(g)
    gd.versions.producer = producer
    for n in gd.node:
        if n.name == "x":
            n.attr["shape"].shape.Clear()  # `shape {}`: how TF 1.0 stored an unconstrained placeholder
            if recorded is not None:
                s = n.attr["_output_shapes"].list.shape.add()
                for d in recorded:
                    s.dim.add().size = d
    return gd


@pytest.mark.parametrize("producer,recorded,expected", [
    (15, [-1, 33, 33, 1], [-1, 33, 33, 1]),  # TF 1.0: `shape {}` is unknown; _output_shapes has the real shape
    (21, None, None),                        # unknown, nothing recorded
    (22, [-1, 4], []),                       # from producer 22 on, `shape {}` is a scalar
])
def test_placeholder_shapes_follow_tensorflows_rule_for_the_graph_version(producer, recorded, expected):
    gd = _placeholder_graph(producer, recorded)
    [x] = GraphAnalysis(gd).discover_inputs(["y"])
    assert x["shape"] == expected


def _write_v1_checkpoint(d):
    """A TF 1.0-style training checkpoint: one V1 table file, legacy `Variable` ops, `shape {}` placeholder."""
    g = tf.Graph()
    rng = np.random.RandomState(0)
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 6], name="images")
        w = tf1.Variable(rng.randn(6, 3).astype(np.float32), name="w")
        b = tf1.Variable(np.ones(3, np.float32), name="b")
        y = tf.add(tf.matmul(x, w), b, name="pred")
        labels = tf1.placeholder(tf.float32, [None, 3], name="labels")
        loss = tf.reduce_mean(tf.square(y - labels))
        tf1.train.GradientDescentOptimizer(0.1).minimize(loss)
        saver = tf1.train.Saver(write_version=tf1.train.SaverDef.V1)
        feeds = {"images": rng.rand(4, 6).astype(np.float32)}
        with builders._session(g) as sess:
            sess.run(tf1.global_variables_initializer())
            expected = sess.run(y, {x: feeds["images"]})
            prefix = os.path.join(d, "model.ckpt-7")
            saver.save(sess, prefix, write_meta_graph=False)
        mg = saver.export_meta_graph()
    for n in mg.graph_def.node:  # what TF 1.0 wrote: legacy ops and shapes, producer 15
        if n.op == "VariableV2":
            n.op = "Variable"
        if n.op == "Placeholder":
            recorded = n.attr["shape"].shape
            n.attr["_output_shapes"].list.shape.add().CopyFrom(recorded)
            recorded = None
            n.attr["shape"].shape.Clear()
    mg.graph_def.versions.producer = 15
    with open(prefix + ".meta", "wb") as f:
        f.write(mg.SerializeToString())
    return prefix, feeds, expected


def test_a_v1_checkpoint_with_tf10_shapes_freezes_and_runs_zero_config(tmp_path, monkeypatch):
    prefix, feeds, expected = _write_v1_checkpoint(str(tmp_path))
    monkeypatch.chdir(tmp_path)  # --logdir '' writes no event files, not even into the working directory
    assert os.path.isfile(prefix) and not os.path.exists(prefix + ".index")  # really V1
    r = graphtools.freeze(ckpt=prefix)
    assert r.outputs == ["pred"]
    assert [(i["name"], i["shape"]) for i in r.inputs] == [("images", [-1, 6])]
    assert not {n.op for n in r.graph_def.node} & {"Variable", "VariableV2"}
    np.testing.assert_allclose(run_graph(r.graph_def, feeds, ["pred"])[0], expected, rtol=1e-6)
    rep = graphtools.inspect(prefix)
    assert rep["format"] == "checkpoint" and rep["variable_count"] == 2
    res = run_cli("pipeline", "--ckpt", prefix, "--quantize", "none", "--out-dir", tmp_path / "out", "--logdir", "")
    assert res.code == 0, res.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint", "model.ckpt-7", "model.ckpt-7.meta", "out"]
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(tmp_path / "out" / "model.tflite"))
    it.allocate_tensors()
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], feeds["images"][:1])
    it.invoke()
    np.testing.assert_allclose(it.get_tensor(it.get_output_details()[0]["index"]), expected[:1], rtol=1e-5, atol=1e-6)


def test_a_text_savedmodel_freezes_like_its_binary_form(tmp_path):
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    b = builders.saved_model_v1(str(tmp_path / "sm"))
    pb = tmp_path / "sm" / "saved_model.pb"
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString(pb.read_bytes())
    (tmp_path / "sm" / "saved_model.pbtxt").write_text(text_format.MessageToString(sm))
    pb.unlink()
    r = graphtools.freeze(saved_model=str(tmp_path / "sm"))
    assert r.outputs == ["scores"]
    np.testing.assert_allclose(run_graph(r.graph_def, b.feeds, ["scores"])[0], b.expected[0], rtol=1e-6)
    assert graphtools.inspect(str(tmp_path / "sm"))["format"] == "saved_model"


# ---------------------------------------------------------------- labels, metrics and flags by structure

def _lenet_like():
    """TF 1.0 LeNet-style graph: unnamed placeholders, an accuracy metric, keep_prob as Placeholder_2."""
    g = tf.Graph()
    rng = np.random.RandomState(1)
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 12], name="Placeholder")
        y_ = tf1.placeholder(tf.int32, [None], name="Placeholder_1")
        keep = tf1.placeholder(tf.float32, name="Placeholder_2")
        h = tf.nn.relu(tf.matmul(x, tf.constant(rng.randn(12, 8).astype(np.float32))))
        h = tf1.nn.dropout(h, keep_prob=keep)
        logits = tf.add(tf.matmul(h, tf.constant(rng.randn(8, 5).astype(np.float32))), 0.1, name="logits")
        tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=tf.one_hot(y_, 5), logits=logits))
        correct = tf.equal(tf.argmax(logits, 1), tf.argmax(tf.one_hot(y_, 5), 1))
        tf.reduce_mean(tf.cast(correct, tf.float32), name="Mean_1")
    return _gd(g), rng.rand(3, 12).astype(np.float32)


def test_labels_metrics_and_keep_prob_are_found_by_what_they_do():
    gd, x = _lenet_like()
    a = GraphAnalysis(gd)
    assert "Placeholder_1" in a.label_placeholders()
    ranked = [c["name"] for c in a.rank_outputs()]
    assert ranked[0] == "logits" and "Mean_1" not in ranked  # the metric is computed from the labels
    found = {i["name"]: i for i in a.discover_inputs(["logits"])}
    assert set(found) == {"Placeholder", "Placeholder_2"}
    assert found["Placeholder_2"]["role"] == "training_flag" and found["Placeholder_2"]["inference_value"] == 1.0
    r = strip_report(gd)  # zero-config: binds keep_prob to 1.0, strips dropout, checks the numbers
    assert r.outputs == ["logits"] and r.bound == {"Placeholder_2": 1.0}
    assert not {n.op for n in r.graph_def.node} & {"RandomUniform", "Floor", "Placeholder_2"}
    np.testing.assert_allclose(run_graph(r.graph_def, {"Placeholder": x}, ["logits"])[0],
                               run_graph(gd, {"Placeholder": x, "Placeholder_2": 1.0}, ["logits"])[0], rtol=1e-6)


def test_a_rate_placeholder_is_bound_to_zero():
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        rate = tf1.placeholder(tf.float32, name="p")
        tf.identity(tf.nn.dropout(x * 3.0, rate=rate), name="y")
    found = {i["name"]: i for i in GraphAnalysis(_gd(g)).discover_inputs(["y"])}
    assert found["p"]["role"] == "training_flag" and found["p"]["inference_value"] == 0.0


# ---------------------------------------------------------------- value domains and batch axes

def _embedding(fixed=None):
    g = tf.Graph()
    with g.as_default():
        ids = tf1.placeholder(tf.int32, fixed or [None, 5], name="ids")
        table = tf.constant(np.random.RandomState(2).randn(7, 3).astype(np.float32))
        emb = tf.gather(table, tf.reshape(ids, [-1]))
        tf.nn.softmax(tf.reshape(emb, [-1, 3]), name="probs")
    return _gd(g)


def test_integer_inputs_that_index_a_table_are_fed_ids_inside_it(tmp_path):
    gd = _embedding()
    [ids] = GraphAnalysis(gd).discover_inputs(["probs"])
    assert ids["int_range"] == [0, 7]
    r = strip_report(gd, input_shapes={"ids": [4, 5]})
    assert r.equivalence.checked and all(o["ok"] for o in r.equivalence.outputs.values())
    model = builders.tflite_from_graph_def(gd, str(tmp_path / "m.tflite"), ["ids"], ["probs"], {"ids": [2, 5]})
    rep = compare(gd, [model], inputs=["ids"], outputs=["probs"], shapes={"ids": [2, 5]})
    assert rep["models"][0]["outputs"]["probs"]["max_abs_diff"] < 1e-6


def test_a_fixed_first_dimension_that_is_not_a_batch_gives_whole_tensor_samples(tmp_path):
    gd = _embedding(fixed=[2, 5])  # [2, 5] ids -> [10, 3] probabilities: the 2 is not a batch
    model = builders.tflite_from_graph_def(gd, str(tmp_path / "m.tflite"), ["ids"], ["probs"], {"ids": [2, 5]})
    rep = compare(gd, [model], inputs=["ids"], outputs=["probs"])
    assert rep["samples"] == 16 and rep["models"][0]["outputs"]["probs"]["max_abs_diff"] < 1e-6
    data = {"ids": np.random.RandomState(0).randint(0, 7, (3, 2, 5)).astype(np.int32)}
    rep = compare(gd, [model], data, inputs=["ids"], outputs=["probs"])
    assert rep["samples"] == 3 and rep["models"][0]["outputs"]["probs"]["max_abs_diff"] < 1e-6


def test_integer_outputs_get_exact_match_rates_not_class_agreement():
    ref = np.array([[1, 2], [3, 4], [5, 6]])
    got = np.array([[1, 2], [3, 0], [5, 6]])
    m = metrics(ref, got)
    assert m["exact_match"] == pytest.approx(5 / 6) and m["exact_match_samples"] == pytest.approx(2 / 3)
    assert "top1_agreement" not in m
    m = metrics(np.array([2, 1, 0]), np.array([2, 1, 1]), labels=np.array([2, 1, 0]))
    assert m["accuracy"] == pytest.approx(2 / 3) and m["tf_accuracy"] == 1.0
    assert "top1_agreement" not in metrics(np.zeros((2, 3, 4, 1)), np.zeros((2, 3, 4, 1)))  # images are not classes


# ---------------------------------------------------------------- TF 1.4 batch norm through Select

def test_select_based_batch_norm_behind_a_placeholder_with_default_is_switched_off_and_folded():
    g = tf.Graph()
    rng = np.random.RandomState(3)
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 6], name="X")
        training = tf1.placeholder_with_default(False, [], name="training")
        h = tf.matmul(x, tf.constant(rng.randn(6, 4).astype(np.float32)))
        mean, var = tf.nn.moments(h, [0])
        moving_mean = tf.constant(rng.rand(4).astype(np.float32), name="moving_mean")
        moving_var = tf.constant(rng.rand(4).astype(np.float32) + 0.5, name="moving_variance")
        flag = tf.reshape(training, [])
        m = tf1.where(tf.fill([4], flag), mean, moving_mean)  # v1 Select, as TF 1.4's layers wrote it
        v = tf1.where(tf.fill([4], flag), var, moving_var)
        tf.identity(tf.nn.batch_normalization(h, m, v, 0.1, 1.5, 1e-3), name="out")
    gd = _gd(g)
    r = strip_report(gd, outputs=["out"])
    ops = {n.op for n in r.graph_def.node}
    assert not ops & {"Select", "Mean", "SquaredDifference", "PlaceholderWithDefault"}, ops
    feeds = {"X": rng.rand(5, 6).astype(np.float32)}
    np.testing.assert_allclose(run_graph(r.graph_def, feeds, ["out"])[0], run_graph(gd, feeds, ["out"])[0], rtol=1e-5)
    again = strip_report(r.graph_def, outputs=["out"])
    assert sorted(n.op for n in again.graph_def.node) == sorted(n.op for n in r.graph_def.node)  # idempotent


# ---------------------------------------------------------------- graph-transform 8-bit ops

def _quantized_conv():
    """x -> QuantizeV2 -> QuantizedConv2D(quint8 weights) -> Requantize -> Dequantize -> QuantizedRelu path."""
    g = tf.Graph()
    rng = np.random.RandomState(4)
    w = rng.uniform(-1, 1, (3, 3, 2, 4)).astype(np.float32)
    scale = 2.0 / 255  # quantize_nodes' FloatToQuantized over [-1, 1]: zero point 128 (-127.5 rounded away)
    wq = np.clip(np.round(w / scale) + 128, 0, 255).astype(np.uint8)
    with g.as_default():
        x = tf1.placeholder(tf.float32, [1, 6, 6, 2], name="x")
        xmin, xmax = tf.reduce_min(x), tf.reduce_max(x)
        q = tf.raw_ops.QuantizeV2(input=x, min_range=xmin, max_range=xmax, T=tf.quint8, mode="MIN_FIRST")
        wc = tf.constant(wq, dtype=tf.quint8, name="w_quint8_const")
        c = tf.raw_ops.QuantizedConv2D(input=q.output, filter=wc, min_input=q.output_min, max_input=q.output_max,
                                       min_filter=tf.constant(-1.0), max_filter=tf.constant(1.0),
                                       strides=[1, 1, 1, 1], padding="SAME", out_type=tf.qint32)
        rr = tf.raw_ops.RequantizationRange(input=c.output, input_min=c.min_output, input_max=c.max_output)
        rq = tf.raw_ops.Requantize(input=c.output, input_min=c.min_output, input_max=c.max_output,
                                   requested_output_min=rr.output_min, requested_output_max=rr.output_max,
                                   out_type=tf.quint8)
        relu = tf.raw_ops.QuantizedRelu(features=rq.output, min_features=rq.output_min, max_features=rq.output_max,
                                        out_type=tf.quint8)
        tf.raw_ops.Dequantize(input=relu.activations, min_range=relu.min_activations,
                              max_range=relu.max_activations, mode="MIN_FIRST", name="y")  # as quantize_nodes
        wf = ((wq.astype(np.float64) - 128) * scale).astype(np.float32)
        tf.nn.relu(tf.nn.conv2d(x, wf, [1, 1, 1, 1], "SAME"), name="float_y")
    return _gd(g), rng.rand(1, 6, 6, 2).astype(np.float32)


def test_graph_transform_8bit_ops_become_float_ops_that_convert(tmp_path):
    gd, x = _quantized_conv()
    r = strip_report(gd, outputs=["y"])
    ops = {n.op for n in r.graph_def.node}
    assert not ops & {"QuantizeV2", "QuantizedConv2D", "Requantize", "RequantizationRange", "Dequantize",
                      "QuantizedRelu"}, ops
    assert {"Conv2D", "Relu"} <= ops
    assert not any(n.attr["dtype"].type in (11, 12, 13) for n in r.graph_def.node if n.op == "Const")
    got = run_graph(r.graph_def, {"x": x}, ["y"])[0]
    float_ref, quant_ref = run_graph(gd, {"x": x}, ["float_y", "y"])
    np.testing.assert_allclose(got, float_ref, rtol=1e-5, atol=1e-5)  # the float model it approximated
    assert np.abs(got - quant_ref).max() < 0.01 * np.abs(quant_ref).max()  # and the 8-bit graph, but for rounding
    model = graphtools.convert(r.graph_def, ["x"], ["y"], {"x": [1, 6, 6, 2]})
    from graphtools.core import tflite

    assert not tflite.summarize(model)["blockers"]
    assert graphtools.inspect_graph_def(r.graph_def, ["y"])["blockers"] == []


def test_remove_quantized_alone_dequantizes_and_is_idempotent():
    gd, x = _quantized_conv()
    r = strip_report(gd, remove=["quantized"], outputs=["y"])
    assert [p.name for p in r.passes][:1] == ["dequantize_ops"]
    assert not {n.op for n in r.graph_def.node} & {"QuantizeV2", "QuantizedConv2D", "Dequantize"}
    np.testing.assert_allclose(run_graph(r.graph_def, {"x": x}, ["y"])[0], run_graph(gd, {"x": x}, ["float_y"])[0],
                               rtol=1e-5, atol=1e-5)
    consts = [n for n in r.graph_def.node if n.op == "Const" and n.name.endswith("/dequantized")]
    assert len(consts) == 1  # one float copy of the one weight constant
    with pytest.raises(graphtools.InputError, match="nothing to do"):  # nothing quantized is left
        strip_report(r.graph_def, remove=["quantized"], outputs=["y"])


# ---------------------------------------------------------------- nothing wrong is written quietly

def _unscaled_noise():
    """A 'dropout' no pass can prove removable: a random mask without the 1/keep scale."""
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        mask = tf.cast(tf1.random_uniform(tf.shape(x)) > 0.5, tf.float32)
        tf.identity(x * mask * 3.0, name="y")
    return _gd(g)


def test_strip_refuses_to_write_random_ops_it_could_not_remove(tmp_path):
    gd = _unscaled_noise()
    with pytest.raises(graphtools.InputError, match=r"after strip the graph still has random ops: .*RandomUniform.*"
                                                    r"--allow-leftovers"):
        strip_report(gd, outputs=["y"], verify=False)
    r = strip_report(gd, outputs=["y"], verify=False, allow_leftovers=True)
    assert "RandomUniform" in {n.op for n in r.graph_def.node}
    pb = tmp_path / "noise.pb"
    pb.write_bytes(gd.SerializeToString())
    res = run_cli("strip", "--in", pb, "--out", tmp_path / "o.pb", "--logdir", "", "--no-verify")
    from conftest import assert_clean_error

    assert_clean_error(res, "still has random ops", "--allow-leftovers")
    assert not (tmp_path / "o.pb").exists()
    res = run_cli("strip", "--in", pb, "--out", tmp_path / "o.pb", "--logdir", "", "--no-verify", "--allow-leftovers")
    assert res.code == 0, res.err
    # only what was asked for is checked: --remove identity leaves dropout alone by request
    assert strip_report(gd, remove=["identity"], outputs=["y"], verify=False).graph_def is not None


def test_strip_refuses_batch_statistics_and_outputs_computed_from_labels():
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        mean, var = tf.nn.moments(x, [0])  # batch statistics with no moving averages to switch to
        tf.identity(tf.nn.batch_normalization(x, mean, var, None, None, 1e-3), name="bn")
    with pytest.raises(graphtools.InputError, match="batch statistics"):
        strip_report(_gd(g), outputs=["bn"], verify=False)
    gd, _ = _lenet_like()
    with pytest.raises(graphtools.InputError, match="outputs computed from label placeholders: Placeholder_1"):
        strip_report(gd, outputs=["Mean_1"], verify=False)


# ---------------------------------------------------------------- input pipelines

def _pipeline_checkpoint(d, kind):
    """A training checkpoint whose model reads a tf.data iterator over TFRecords, a queue, or decoded JPEGs."""
    g = tf.Graph()
    rng = np.random.RandomState(5)
    with g.as_default():
        if kind == "iterator":
            def parse(rec):
                f = tf1.parse_single_example(rec, {"x": tf1.FixedLenFeature([6], tf.float32),
                                                   "y": tf1.FixedLenFeature([], tf.int64)})
                return f["x"], f["y"]
            ds = tf1.data.TFRecordDataset(os.path.join(d, "never-read.tfrecord")).map(parse).batch(4)
            x, y = tf1.data.make_one_shot_iterator(ds).get_next()
        elif kind == "queue":
            q = tf1.FIFOQueue(32, [tf.float32, tf.int64], shapes=[[6], []])
            q.enqueue_many([tf.constant(rng.rand(8, 6).astype(np.float32)), tf.constant(np.arange(8) % 3)])
            x, y = q.dequeue_many(4)
        else:  # decode
            jpeg = tf1.placeholder(tf.string, [], name="jpeg_bytes")
            img = tf.cast(tf.io.decode_jpeg(jpeg, channels=1), tf.float32) / 255.0
            x = tf.reshape(tf1.image.resize_images(img, [2, 3]), [1, 6])
            y = tf1.placeholder(tf.int64, [None], name="labels")
        w = tf1.get_variable("w", [6, 3], initializer=tf1.random_normal_initializer(seed=5))
        logits = tf.matmul(x, w, name="logits")
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        tf1.train.GradientDescentOptimizer(0.1).minimize(loss)
        with builders._session(g) as sess:
            sess.run(tf1.global_variables_initializer())
            prefix = tf1.train.Saver().save(sess, os.path.join(d, "model.ckpt"))
            wv = sess.run(w)
    return prefix, wv


@pytest.mark.parametrize("kind,tensor,dtype,shape", [
    ("iterator", "IteratorGetNext:0", "float32", [-1, 6]),
    ("queue", "fifo_queue_DequeueMany:0", "float32", [-1, 6]),  # (dequeue_many(4): the pipeline's batch, not the model's)
    ("decode", "DecodeJpeg:0", "uint8", [-1, -1, 1]),
])
def test_input_pipelines_become_placeholders_and_are_gone_before_anything_runs(tmp_path, kind, tensor, dtype, shape):
    prefix, w = _pipeline_checkpoint(str(tmp_path), kind)
    r = graphtools.freeze(ckpt=prefix)  # zero-config: the TFRecord reader is never run, so it does not block
    assert r.outputs == ["logits"]
    [(cut, ph)] = r.cuts.items()
    assert cut == tensor and ph == tensor.split(":")[0]  # output 0 of a node that is gone: its own name
    [inp] = [i for i in r.inputs if i["role"] == "data"]
    assert (inp["name"], inp["dtype"], inp["shape"]) == (ph, dtype, shape)
    ops = {n.op for n in r.graph_def.node}
    assert not ops & {"IteratorGetNext", "OneShotIterator", "TFRecordDataset", "FIFOQueueV2",
                      "QueueDequeueManyV2", "DecodeJpeg", "ParseExampleV2"}, ops
    if kind != "decode":
        x = np.random.RandomState(0).rand(4, 6).astype(np.float32)
        np.testing.assert_allclose(run_graph(r.graph_def, {ph: x}, ["logits"])[0], x @ w, rtol=1e-5)
    res = run_cli("freeze", "--ckpt", prefix, "--out", tmp_path / "f.pb", "--logdir", "")
    assert res.code == 0 and f"input pipeline: {tensor} is now fed by placeholder {ph}" in res.out


def test_an_unsafe_op_on_the_outputs_path_still_blocks_freezing(tmp_path):
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 2], name="x")
        w = tf1.get_variable("w", [2, 2])
        n = tf.cast(tf.strings.length(tf.io.read_file(str(tmp_path / "secret"))), tf.float32)
        tf.identity(tf.matmul(x, w) + n, name="out")
        with builders._session(g) as sess:
            sess.run(tf1.global_variables_initializer())
            prefix = tf1.train.Saver().save(sess, str(tmp_path / "model.ckpt"))
    with pytest.raises(graphtools.InputError, match="ReadFile"):
        graphtools.freeze(ckpt=prefix, output_nodes="out")


@pytest.mark.parametrize("mode", ["MIN_COMBINED", "MIN_FIRST", "SCALED"])
@pytest.mark.parametrize("dtype", ["quint8", "qint8"])
def test_weight_dequantization_matches_tensorflows_dequantize_kernel(mode, dtype):
    from graphtools.surgery.passes.dequantize_ops import dequantized

    np_dtype = np.uint8 if dtype == "quint8" else np.int8
    info = np.iinfo(np_dtype)
    q = np.random.RandomState(6).randint(info.min, info.max + 1, (64,)).astype(np_dtype)
    lo, hi = (-0.37, 1.91) if mode != "SCALED" else (-1.91, 1.91)
    if mode == "SCALED" and dtype == "quint8":
        lo = 0.0
    g = tf.Graph()
    with g.as_default():
        t = tf.raw_ops.Dequantize(input=tf.constant(q, dtype=getattr(tf, dtype)), min_range=lo, max_range=hi, mode=mode)
        with builders._session(g) as sess:
            want = sess.run(t)
    np.testing.assert_allclose(dequantized(q, np_dtype, lo, hi, mode), want, rtol=1e-6, atol=1e-6)


def test_a_quantized_concat_becomes_a_float_concat():
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [2, 3], name="x")
        q = tf.raw_ops.QuantizeV2(input=x, min_range=-1.0, max_range=1.0, T=tf.quint8, mode="MIN_FIRST")
        c = tf.constant(np.arange(6, dtype=np.uint8).reshape(2, 3) * 40, dtype=tf.quint8)
        cat = tf.raw_ops.QuantizedConcat(concat_dim=tf.constant(0), values=[q.output, c],
                                         input_mins=[q.output_min, tf.constant(-1.0)],
                                         input_maxes=[q.output_max, tf.constant(1.0)])
        tf.raw_ops.Dequantize(input=cat.output, min_range=cat.output_min, max_range=cat.output_max,
                              mode="MIN_FIRST", name="y")
    gd = _gd(g)
    r = strip_report(gd, outputs=["y"], input_shapes={"x": [2, 3]})
    ops = {n.op for n in r.graph_def.node}
    assert "ConcatV2" in ops and not ops & {"QuantizedConcat", "QuantizeV2", "Dequantize"}, ops
    x = np.random.RandomState(7).uniform(-1, 1, (2, 3)).astype(np.float32)
    got, want = run_graph(r.graph_def, {"x": x}, ["y"])[0], run_graph(gd, {"x": x}, ["y"])[0]
    assert got.shape == (4, 3)
    np.testing.assert_allclose(got[:2], x, atol=1e-6)  # the float input itself, no 8-bit rounding
    np.testing.assert_allclose(got, want, atol=2 * 2.0 / 255)  # within the 8-bit graph's requantizing to one range
