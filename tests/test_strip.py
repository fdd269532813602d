"""strip: every pass keeps inference numbers, removes what it targets, refuses what it must, and is idempotent."""
import json
import os

import numpy as np
import pytest

import builders
import graphtools
from conftest import FIXTURE_CKPT, assert_clean_error, run_cli, sha256
from graphtools.core.ops import STOCHASTIC_OPS
from graphtools.errors import InputError, NodeNotFoundError
from graphtools.surgery.passes import PassContext, run_passes
from graphtools.core.runtime import run_graph
from graphtools.surgery.stripping import strip_report
from graphtools.surgery.equivalence import NotEquivalentError

tf, tf1 = builders.tf, builders.tf1
CONTROL_FLOW = {"Switch", "Merge", "RefSwitch", "RefMerge", "If", "StatelessIf"}


def ops_of(gd):
    return {n.op for n in gd.node}


def reachable_ops(gd, outputs):
    a = graphtools.GraphAnalysis(gd)
    return {a.index[n].op for n in a.reachable(outputs)}


def assert_idempotent(result, **kwargs):
    again = strip_report(result.graph_def, **kwargs)
    assert again.graph_def == result.graph_def


# ---------------------------------------------------------------- dropout

@pytest.mark.parametrize("keep", ["placeholder", "default", "const"])
@pytest.mark.parametrize("form", builders.DROPOUT_FORMS)
def test_strip_dropout_every_form(form, keep):
    gd, feeds, out = builders.dense_with_dropout(form, keep)
    r = strip_report(gd, remove=["dropout"], outputs=[out])
    assert not reachable_ops(r.graph_def, [out]) & STOCHASTIC_OPS
    assert "keep_prob" not in {n.name for n in r.graph_def.node}
    assert [i["name"] for i in r.inputs] == ["x"]
    assert r.equivalence.checked
    # the inference numbers: the graph with dropout switched off (keep_prob fed 1.0 where it can be)
    if keep != "const" and form not in ("rate_const", "stateless"):
        want = run_graph(gd, {**feeds, "keep_prob": 1.0}, [out])[0]
    else:
        want = _without_dropout(gd, feeds, out)
    np.testing.assert_allclose(run_graph(r.graph_def, feeds, [out])[0], want, rtol=1e-6)
    assert_idempotent(r, remove=["dropout"], outputs=[out])


def _without_dropout(gd, feeds, out):
    """relu(x @ W1) @ W2 computed in numpy from the graph's own constants."""
    consts = [tf.make_ndarray(n.attr["value"].tensor) for n in gd.node if n.op == "Const"
              and tf.make_ndarray(n.attr["value"].tensor).ndim == 2]
    w1, w2 = consts[0], consts[-1]
    return np.maximum(feeds["x"] @ w1, 0) @ w2


def test_dropout_that_is_an_output_keeps_its_name():
    gd, feeds, out = builders.dense_with_dropout("select", "placeholder", dropout_is_output=True)
    r = strip_report(gd, remove=["dropout"], outputs=[out])
    node = {n.name: n for n in r.graph_def.node}[out]
    assert node.op == "Identity"
    np.testing.assert_allclose(run_graph(r.graph_def, feeds, [out])[0],
                               run_graph(gd, {**feeds, "keep_prob": 1.0}, [out])[0], rtol=1e-6)


def test_dropout_with_a_wrong_scale_is_not_touched():
    """A mask whose scale is not 1/keep_prob is not dropout: the pass must leave it alone."""
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        keep = tf1.placeholder(tf.float32, name="keep_prob")
        noise = tf.floor(keep + tf1.random_uniform(tf.shape(x)))
        tf.identity(tf.math.truediv(x, tf.constant(0.7)) * noise, name="out")  # 0.7 is not keep_prob
    gd = g.as_graph_def()
    out, records = run_passes(gd, ["strip_dropout"], PassContext(inputs=["x"], outputs=["out"]))
    assert "RandomUniform" in ops_of(out)
    assert not records


def test_dropout_placeholder_without_a_default_is_gone_and_keras_flags_bound():
    """tf.compat.v1.layers.dropout behind a flag, in both control-flow versions, is folded away."""
    for cond in (1, 2):
        g = tf.Graph()
        with g.as_default(), builders.control_flow(cond):
            x = tf1.placeholder(tf.float32, [None, 4], name="x")
            flag = tf1.placeholder(tf.bool, [], name="phase_train")
            h = tf1.layers.dropout(x * 2.0, rate=0.5, training=flag)
            tf.identity(h + 1.0, name="out")
        gd = g.as_graph_def()
        r = strip_report(gd, remove=["training", "dropout"], outputs=["out"])
        assert not ops_of(r.graph_def) & (CONTROL_FLOW | STOCHASTIC_OPS), (cond, ops_of(r.graph_def))
        assert r.bound == {"phase_train": False}
        feeds = {"x": np.arange(8, dtype=np.float32).reshape(2, 4)}
        np.testing.assert_allclose(run_graph(r.graph_def, feeds, ["out"])[0], feeds["x"] * 2 + 1)


def test_keras_learning_phase_model_in_a_tf1_session(tmp_path):
    """A Keras-2 Sequential (Dropout, BatchNormalization) trained in a TF1 session, frozen live."""
    import tf_keras
    from tf_keras.src import backend as K

    g = tf.Graph()
    rng = np.random.RandomState(0)
    with g.as_default(), builders.control_flow(1):
        sess = tf1.Session(graph=g)
        K.set_session(sess)
        tf_keras.utils.set_random_seed(0)
        model = tf_keras.Sequential([
            tf_keras.layers.Dense(8, activation="relu", input_shape=(5,), name="d1"),
            tf_keras.layers.BatchNormalization(name="bn"),
            tf_keras.layers.Dropout(0.5, name="drop"),
            tf_keras.layers.Dense(3, name="logits"),
        ])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(rng.rand(32, 5), rng.rand(32, 3), epochs=2, verbose=0)
        out_name = model.outputs[0].op.name
        x = rng.rand(4, 5).astype(np.float32)
        want = model.predict(x, verbose=0)
        gd = graphtools.freeze_session(sess, [out_name])
        sess.close()
    K.clear_session()
    r = strip_report(gd, remove=["all"], outputs=[out_name])
    assert not ops_of(r.graph_def) & (CONTROL_FLOW | STOCHASTIC_OPS | {"Identity", "FusedBatchNormV3"})
    inp = r.inputs[0]["name"]
    np.testing.assert_allclose(run_graph(r.graph_def, {inp: x}, [out_name])[0], want, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- training flags, batch norm, TFLite

LAYERS_CASES = {
    "cond_v1_fused": dict(cond=1),
    "cond_v2_fused": dict(cond=2),
    "cond_v1_moments": dict(cond=1, fused=False),
    "cond_v2_moments": dict(cond=2, fused=False),
    "always_training_fused": dict(training_flag=False),
    "always_training_moments": dict(training_flag=False, fused=False),
    "depthwise": dict(cond=1, depthwise=True),
    # issue 13's forms: no gamma / no beta (tf-slim arg scopes), resource variables, both kinds of cond
    "always_training_fused_no_scale": dict(training_flag=False, scale=False),
    "always_training_moments_no_center": dict(training_flag=False, fused=False, center=False),
    "cond_v2_fused_no_center_no_scale_resource": dict(cond=2, center=False, scale=False, resource=True),
    "cond_v1_moments_resource": dict(cond=1, fused=False, resource=True),
    "cond_v2_moments_resource": dict(cond=2, fused=False, resource=True),
    "always_training_fused_other_scope": dict(training_flag=False, op_scope="tower_0"),
    "always_training_moments_other_scope": dict(training_flag=False, fused=False, op_scope="tower_0"),
}


@pytest.mark.parametrize("case", sorted(LAYERS_CASES))
def test_layers_training_graph_matches_the_hand_written_inference_graph(tmp_path, case):
    prefix, reference, feeds = builders.layers_cnn(str(tmp_path / "ckpt"), **LAYERS_CASES[case])
    frozen = graphtools.freeze(ckpt=prefix, output_nodes="logits").graph_def
    r = strip_report(frozen, remove=["all"], outputs=["logits"])
    ops = ops_of(r.graph_def)
    assert not ops & (CONTROL_FLOW | STOCHASTIC_OPS)
    assert not ops & {"FusedBatchNorm", "FusedBatchNormV3", "Rsqrt", "Mean", "Identity"} - {"Identity"}
    assert "Identity" not in {n.op for n in r.graph_def.node if n.name != "logits"}
    assert [i["name"] for i in r.inputs] == ["x"]
    want = run_graph(reference, feeds, ["logits"])[0]
    np.testing.assert_allclose(run_graph(r.graph_def, feeds, ["logits"])[0], want, rtol=1e-5, atol=1e-6)
    shapes = {"x": [3, 8, 8, 3]}
    n_ours, ops_ours, (lo,) = builders.tflite_run(r.graph_def, tmp_path / "ours.tflite", ["x"], ["logits"], shapes, feeds)
    n_ref, ops_ref, (lr,) = builders.tflite_run(reference, tmp_path / "ref.tflite", ["x"], ["logits"], shapes, feeds)
    assert n_ours <= n_ref, (ops_ours, ops_ref)
    assert np.max(np.abs(lo - lr)) <= 1e-4 * np.max(np.abs(lr))
    assert_idempotent(r, remove=["all"], outputs=["logits"])


def test_fixture_strips_to_an_inference_cnn(fixture_frozen):
    r = strip_report(fixture_frozen.graph_def, remove=["all"], outputs=["prediction"])
    assert r.bound == {"keep_prob": 1.0, "is_training": False}
    assert ops_of(r.graph_def) == {"Const", "Placeholder", "Conv2D", "BiasAdd", "AddV2", "Relu", "MaxPool",
                                   "Reshape", "MatMul", "Softmax"}
    d = np.load(os.path.join(os.path.dirname(FIXTURE_CKPT), "..", "digits.npz"))
    got = run_graph(r.graph_def, {"x": d["x_test"]}, ["prediction"])[0]
    want = run_graph(fixture_frozen.graph_def, {"x": d["x_test"], "keep_prob": 1.0, "is_training": False},
                     ["prediction"])[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert (got.argmax(1) == d["y_test"]).mean() >= 0.95


def _conv_bn(shared=False, matmul=False):
    rng = np.random.RandomState(1)
    g = tf.Graph()
    with g.as_default():
        if matmul:
            x = tf1.placeholder(tf.float32, [None, 6], name="x")
            h = tf.matmul(x, tf.constant(rng.randn(6, 4).astype(np.float32)))
            mean, var = rng.randn(4).astype(np.float32), rng.rand(4).astype(np.float32) + 0.5
            y = tf.nn.batch_normalization(h, mean, var, rng.randn(4).astype(np.float32),
                                          rng.rand(4).astype(np.float32) + 0.5, 1e-3)
        else:
            x = tf1.placeholder(tf.float32, [None, 5, 5, 2], name="x")
            h = tf.nn.conv2d(x, tf.constant(rng.randn(3, 3, 2, 4).astype(np.float32)), 1, "SAME")
            y, _, _ = tf1.nn.fused_batch_norm(h, rng.rand(4).astype(np.float32) + 0.5, rng.randn(4).astype(np.float32),
                                              mean=rng.randn(4).astype(np.float32),
                                              variance=rng.rand(4).astype(np.float32) + 0.5, is_training=False)
        if shared:
            y = y + tf.reduce_sum(h)  # the conv output is read outside the batch norm
        tf.identity(y, name="out")
    shape = [2, 6] if matmul else [2, 5, 5, 2]
    return g.as_graph_def(), {"x": rng.randn(*shape).astype(np.float32)}


@pytest.mark.parametrize("matmul", [False, True], ids=["conv_fused", "matmul_decomposed"])
def test_fold_batch_norm_into_weights(matmul):
    gd, feeds = _conv_bn(matmul=matmul)
    r = strip_report(gd, remove=["batchnorm", "identity"], outputs=["out"])
    assert not ops_of(r.graph_def) & {"FusedBatchNormV3", "Rsqrt", "Mul", "Sub"}
    assert "BiasAdd" in ops_of(r.graph_def)
    np.testing.assert_allclose(run_graph(r.graph_def, feeds, ["out"])[0], run_graph(gd, feeds, ["out"])[0],
                               rtol=1e-5, atol=1e-5)
    assert_idempotent(r, remove=["batchnorm", "identity"], outputs=["out"])


@pytest.mark.parametrize("shared_weights", [False, True], ids=["own_weights", "shared_weights"])
def test_folded_weights_replace_a_constant_only_its_conv_reads(shared_weights):
    """The conv's own weight Const is scaled in place (it keeps its name, as TensorFlow's fold does);
    weights another conv also reads get a folded copy, and the other conv keeps the original."""
    rng = np.random.RandomState(3)
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 6], name="x")
        w = tf.constant(rng.randn(6, 4).astype(np.float32), name="w")
        y = tf.nn.batch_normalization(tf.matmul(x, w, name="mm"), rng.randn(4).astype(np.float32),
                                      rng.rand(4).astype(np.float32) + 0.5, rng.randn(4).astype(np.float32),
                                      rng.rand(4).astype(np.float32) + 0.5, 1e-3, name="bn")
        if shared_weights:
            y = y + tf.matmul(x, w, name="other")
        tf.identity(y, name="out")
    gd = g.as_graph_def()
    before = gd.SerializeToString()
    feeds = {"x": rng.randn(3, 6).astype(np.float32)}
    r = strip_report(gd, remove=["batchnorm"], outputs=["out"])
    nodes = {n.name: n for n in r.graph_def.node}
    assert not ops_of(r.graph_def) & {"Rsqrt", "Sub"} and "bn/add/folded_bias" in nodes
    original = tf.make_ndarray(next(n for n in gd.node if n.name == "w").attr["value"].tensor)
    kept = tf.make_ndarray(nodes["w"].attr["value"].tensor)
    if shared_weights:
        assert "mm/folded_weights" in nodes and list(nodes["mm"].input) == ["x", "mm/folded_weights"]
        assert list(nodes["other"].input) == ["x", "w"]
        np.testing.assert_array_equal(kept, original)
    else:
        assert not [n for n in nodes if n.endswith("folded_weights")] and list(nodes["mm"].input) == ["x", "w"]
        assert not np.allclose(kept, original)
    np.testing.assert_allclose(run_graph(r.graph_def, feeds, ["out"])[0], run_graph(gd, feeds, ["out"])[0],
                               rtol=1e-5, atol=1e-5)
    assert gd.SerializeToString() == before  # the caller's graph is untouched
    assert_idempotent(r, remove=["batchnorm"], outputs=["out"])


def test_batch_norm_is_not_folded_when_the_conv_output_is_shared():
    gd, feeds = _conv_bn(shared=True)
    r = strip_report(gd, remove=["batchnorm"], outputs=["out"])
    assert "FusedBatchNormV3" in ops_of(r.graph_def)
    np.testing.assert_allclose(run_graph(r.graph_def, feeds, ["out"])[0], run_graph(gd, feeds, ["out"])[0],
                               rtol=1e-5)


# ---------------------------------------------------------------- training, debug, identity, loops

def test_training_subgraph_and_debug_ops_are_removed(tmp_path):
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        w = tf.constant(np.eye(3, dtype=np.float32) * 2)
        h = tf.debugging.check_numerics(tf.matmul(x, w), "bad")
        with tf.control_dependencies([tf.debugging.Assert(tf.reduce_all(h > -1e9), [h])]):
            h = tf1.Print(h, [h], "h=")
            h = tf.identity(tf.identity(h, name="chain1"), name="chain2")
        tf.identity(h + 1.0, name="out")
    gd = g.as_graph_def()
    r = strip_report(gd, remove=["all"], outputs=["out"])
    assert not ops_of(r.graph_def) & {"CheckNumerics", "Assert", "Print", "PrintV2"}
    assert "chain1" not in {n.name for n in r.graph_def.node}
    feeds = {"x": np.ones((2, 3), np.float32)}
    np.testing.assert_allclose(run_graph(r.graph_def, feeds, ["out"])[0], 3 * np.ones((2, 3)))


def test_v1_while_loop_is_left_intact_and_correct(tmp_path):
    g = tf.Graph()
    with g.as_default(), builders.control_flow(1):
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        keep = tf1.placeholder(tf.float32, name="keep_prob")
        w = tf.constant(np.full((3, 3), 0.1, np.float32))
        _, h = tf.while_loop(lambda i, h: i < 3, lambda i, h: (i + 1, tf.tanh(tf.matmul(h, w) + 0.5)),
                             [tf.constant(0), x])
        tf.identity(tf1.nn.dropout(tf.identity(h), keep_prob=keep), name="out")
    gd = g.as_graph_def()
    r = strip_report(gd, remove=["all"], outputs=["out"])
    assert {"Enter", "Exit", "NextIteration", "LoopCond"} <= ops_of(r.graph_def)
    assert not reachable_ops(r.graph_def, ["out"]) & STOCHASTIC_OPS
    feeds = {"x": np.random.RandomState(0).randn(2, 3).astype(np.float32)}
    want = run_graph(gd, {**feeds, "keep_prob": 1.0}, ["out"])[0]
    np.testing.assert_allclose(run_graph(r.graph_def, feeds, ["out"])[0], want, rtol=1e-6)
    # and it still converts: the loop becomes a TFLite WHILE
    _, tfl_ops, (got,) = builders.tflite_run(r.graph_def, tmp_path / "loop.tflite", ["x"], ["out"], {"x": [2, 3]}, feeds)
    assert "WHILE" in tfl_ops
    np.testing.assert_allclose(got, want, rtol=1e-5)


# ---------------------------------------------------------------- bind, cut, splice

def test_bind_checks_names_and_values():
    gd, feeds, out = builders.dense_with_dropout("select", "placeholder")
    with pytest.raises(NodeNotFoundError, match="keep_prob"):
        strip_report(gd, remove=[], bind={"keep_prb": "1.0"}, outputs=[out])
    with pytest.raises(InputError, match="not a number"):
        strip_report(gd, remove=[], bind={"keep_prob": "high"}, outputs=[out])
    r = strip_report(gd, remove=[], bind={"keep_prob": "1.0"}, outputs=[out])
    assert "keep_prob" not in {n.name for n in r.graph_def.node if n.op == "Placeholder"}


def test_cut_replaces_an_iterator_with_a_placeholder():
    g = tf.Graph()
    with g.as_default():
        ds = tf1.data.Dataset.from_tensor_slices(np.ones((4, 3), np.float32)).batch(2)
        batch = tf1.data.make_one_shot_iterator(ds).get_next()
        tf.identity(tf.matmul(batch, tf.constant(np.eye(3, dtype=np.float32))) * 3.0, name="out")
    gd = g.as_graph_def()
    iterator = [n.name for n in gd.node if n.op == "IteratorGetNext"][0]
    r = strip_report(gd, remove=["all"], outputs=["out"], cut=[f"{iterator}:float32:?,3"])
    assert [i["name"] for i in r.inputs] == [iterator]
    assert not {n.op for n in r.graph_def.node} & {"OneShotIterator", "IteratorV2", "IteratorGetNext"}
    np.testing.assert_allclose(run_graph(r.graph_def, {iterator: np.ones((2, 3), np.float32)}, ["out"])[0],
                               np.full((2, 3), 3.0))
    with pytest.raises(InputError, match="NODE:DTYPE:SHAPE"):
        strip_report(gd, outputs=["out"], cut=["nonsense"])
    with pytest.raises(NodeNotFoundError, match="closest"):
        strip_report(gd, outputs=["out"], cut=["IteratorGetNxt:float32:2,3"])


def test_splice_a_scope_and_refuse_an_ambiguous_one():
    gd, feeds, out = builders.dense_with_dropout("select", "placeholder")
    r = strip_report(gd, remove=[], splice=["dropout"], outputs=[out])
    assert not any(n.name.startswith("dropout/") for n in r.graph_def.node)
    np.testing.assert_allclose(run_graph(r.graph_def, feeds, [out])[0],
                               run_graph(gd, {**feeds, "keep_prob": 1.0}, [out])[0], rtol=1e-6)
    g = tf.Graph()
    with g.as_default():
        a = tf1.placeholder(tf.float32, [None, 2], name="a")
        b = tf1.placeholder(tf.float32, [None, 2], name="b")
        with tf.name_scope("mix"):
            m = a * 2.0 + b
        tf.identity(m, name="out")
    with pytest.raises(InputError, match=r"found inputs \[a:0, b:0\]"):
        strip_report(g.as_graph_def(), remove=[], splice=["mix"], outputs=["out"])


def test_a_rewrite_that_changes_the_numbers_is_refused(tmp_path):
    """Splicing away a real computation is caught by the equivalence check."""
    gd, feeds, out = builders.dense_with_dropout("select", "const")
    relu = [n.name for n in gd.node if n.op == "Relu"][0]
    with pytest.raises(NotEquivalentError, match=f"output '{out}' differs"):
        strip_report(gd, remove=["dropout"], splice=[relu], outputs=[out])
    r = strip_report(gd, remove=["dropout"], splice=[relu], outputs=[out], verify=False)
    assert "Relu" not in ops_of(r.graph_def)


def test_consume_edits_in_place_and_still_checks_against_the_original(fixture_frozen):
    """strip(consume=True), as the CLI runs it: the same result without copying the caller's graph."""
    import copy

    ref = strip_report(fixture_frozen.graph_def, outputs=["prediction"])
    own = copy.deepcopy(fixture_frozen.graph_def)
    got = strip_report(own, outputs=["prediction"], consume=True)
    assert got.graph_def.SerializeToString(deterministic=True) == ref.graph_def.SerializeToString(deterministic=True)
    assert got.equivalence.checked and own.SerializeToString() != fixture_frozen.graph_def.SerializeToString()
    gd, feeds, out = builders.dense_with_dropout("select", "const")  # the check still sees the original
    relu = [n.name for n in gd.node if n.op == "Relu"][0]
    with pytest.raises(NotEquivalentError, match=f"output '{out}' differs"):
        strip_report(gd, remove=["dropout"], splice=[relu], outputs=[out], consume=True)


def test_strip_refuses_graphs_with_variables():
    mg = graphtools.load_graph_def(FIXTURE_CKPT + ".meta")
    with pytest.raises(InputError, match="freeze it first"):
        strip_report(mg, outputs=["prediction"])


# ---------------------------------------------------------------- command line

def test_cli_strip_writes_graph_report_and_tensorboard_runs(tmp_path, fixture_frozen):
    src = tmp_path / "frozen.pb"
    graphtools.save_graph_def(fixture_frozen.graph_def, str(src))
    before = sha256(src)
    out, report = tmp_path / "optimized.pb", tmp_path / "report.json"
    res = run_cli("strip", "--in", src, "--out", out, "--remove", "dropout,training", "--remove", "identity",
                  "--remove", "batchnorm", "--outputs", "prediction", "--logdir", tmp_path / "logs",
                  "--report", report)
    assert res.code == 0, res.err
    assert "verified: outputs equal" in res.out
    rep = json.loads(report.read_text())
    assert rep["verified"] and rep["nodes_after"] < rep["nodes_before"]
    assert {p["pass"] for p in rep["passes"]} >= {"bind_placeholders", "fold_switches", "strip_dropout",
                                                   "remove_identity", "fold_batch_norms"}
    assert "RandomUniform" in rep["ops_before"] and "RandomUniform" not in rep["ops_after"]
    from tensorboard.backend.event_processing import event_accumulator

    for run, n in (("before", rep["nodes_before"]), ("after", rep["nodes_after"])):
        acc = event_accumulator.EventAccumulator(str(tmp_path / "logs" / run))
        acc.Reload()
        assert len(acc.Graph().node) == n
    assert sha256(src) == before


def test_cli_strip_refuses_to_write_a_non_equivalent_graph(tmp_path):
    gd, feeds, out = builders.dense_with_dropout("select", "const")
    src = tmp_path / "g.pb"
    graphtools.save_graph_def(gd, str(src))
    relu = [n.name for n in gd.node if n.op == "Relu"][0]
    res = run_cli("strip", "--in", src, "--out", tmp_path / "o.pb", "--splice", relu, "--outputs", out,
                  "--logdir", "")
    assert_clean_error(res, f"output '{out}' differs", "--no-verify")
    assert not (tmp_path / "o.pb").exists()
    res = run_cli("strip", "--in", src, "--out", tmp_path / "o.pb", "--remove", "everything")
    assert_clean_error(res, "--remove everything: unknown")


@pytest.mark.parametrize("arch", ["resnet", "inception"])
def test_tf_slim_training_graphs_built_with_is_training_true(tmp_path, arch):
    """Always-training tf-slim nets: batch norm on batch statistics and dropout always on."""
    prefix, reference, feeds, out = builders.slim_net(str(tmp_path), arch)
    frozen = graphtools.freeze(ckpt=prefix, output_nodes=out).graph_def
    assert any(n.op.startswith("FusedBatchNorm") and n.attr["is_training"].b for n in frozen.node)
    r = strip_report(frozen, remove=["all"], outputs=[out])
    ops = ops_of(r.graph_def)
    assert not ops & (STOCHASTIC_OPS | {"FusedBatchNorm", "FusedBatchNormV3", "Rsqrt"})
    np.testing.assert_allclose(run_graph(r.graph_def, feeds, [out])[0], run_graph(reference, feeds, [out])[0],
                               rtol=1e-5, atol=1e-5)
    shapes = {"input": [2, 64, 64, 3]}
    n_ours, ops_ours, (lo,) = builders.tflite_run(r.graph_def, tmp_path / "o.tflite", ["input"], [out], shapes, feeds)
    n_ref, ops_ref, (lr,) = builders.tflite_run(reference, tmp_path / "r.tflite", ["input"], [out], shapes, feeds)
    assert n_ours <= n_ref, (ops_ours, ops_ref)
    assert np.max(np.abs(lo - lr)) <= 1e-4 * np.max(np.abs(lr))


def test_public_api_returns_graph_defs_and_runs_single_passes():
    gd, feeds, out = builders.dense_with_dropout("floor", "placeholder")
    stripped = graphtools.strip(gd, remove=["dropout"], outputs=[out])
    assert isinstance(stripped, type(gd)) and graphtools.strip(stripped, remove=["dropout"], outputs=[out]) == stripped
    one = graphtools.run_pass(gd, "strip_dropout", outputs=[out], inputs=["x"])
    assert "RandomUniform" not in ops_of(one) and "RandomUniform" in ops_of(gd)


def _log_graph(wrap):
    import tensorflow as tf

    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        tf.math.log(wrap(tf, x), name="out")  # NaN for the negative random inputs
    return g.as_graph_def()


def test_equivalence_check_compares_nan_and_inf_by_position():
    from graphtools.surgery.equivalence import check_equivalent

    inputs = [{"name": "x", "dtype": "float32", "shape": [-1, 4]}]
    before = _log_graph(lambda tf, x: x)
    same = check_equivalent(before, _log_graph(lambda tf, x: tf.identity(x)), inputs, ["out"], {})
    assert same.checked and same.outputs["out"]["ok"] and same.outputs["out"]["nonfinite"] > 0
    with pytest.raises(NotEquivalentError, match="output 'out' differs by inf"):  # NaN became a number
        check_equivalent(before, _log_graph(lambda tf, x: tf.abs(x)), inputs, ["out"], {})


# ---------------------------------------------------------------- the Graph's incremental indexes

def _indexes(graph):
    """What the Graph's indexes say, as plain sets (live nodes only)."""
    live = set(graph.names())
    return ({n: graph.op_of(n) for n in live}, {n: list(graph.inputs(n)) for n in live},
            {n: set(graph.consumers(n)) & live for n in live}, {op: set(graph.names_of(op)) for op in graph.op_counts()})


def test_graph_indexes_after_edits_match_a_rebuild():
    """Kills, sweeps, rewires, new constants and retyping keep every index equal to one built from
    scratch on the compacted GraphDef (readers kept as one name or a set must agree with both)."""
    from graphtools.core.graph import Graph

    rng = np.random.RandomState(5)
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        a = tf.identity(x, name="a")
        sq = tf.multiply(a, a, name="sq")            # reads a twice
        with tf.control_dependencies([sq]):
            b = tf.identity(a, name="b")            # reads a, and sq by a control edge
        c = tf.add(sq, b, name="c")
        d = tf.matmul(c, tf.constant(rng.randn(4, 4).astype(np.float32), name="w"), name="d")
        tf.identity(d, name="out")
    graph = Graph(g.as_graph_def())
    graph.replace_all_uses("b:0", "a")             # c now reads sq and a; b is orphaned
    graph.sweep(keep=["out", "x"])
    graph.set_const("w", rng.randn(4, 4).astype(np.float32))                  # bytes only
    graph.set_const("w", rng.randn(4, 3).astype(np.float32).T[:4, :3].copy())  # new shape: rebuilt
    k = graph.add_const("k", np.ones(4, np.float32))
    graph.rewrite("c", op="AddV2", inputs=["sq", k.name, "^a"])
    graph.replace_all_uses("a:0", "x")              # a keeps only the control reader... then loses it
    graph.rewrite("c", inputs=["sq", k.name])
    graph.sweep(keep=["out", "x"])
    assert "b" not in graph and "a" not in graph and graph.consumers("sq") == ["c"]
    assert sorted(graph.consumers("x")) == ["sq"]
    incremental = _indexes(graph)
    graph.compact()
    assert _indexes(Graph(graph.graph_def)) == incremental == _indexes(graph)


def test_ancestors_by_sweeping_from_the_sinks_equal_a_walk_from_the_roots():
    """Without cycles, ``Graph.ancestors`` finds what the roots need as what a sweep from the sinks
    would leave (a cost per unneeded node); it must agree with the plain walk up from the roots on
    random graphs with ports, control edges, repeated inputs, a missing source, and after kills."""
    from graphtools.core.graph import Graph

    rng = np.random.RandomState(0)
    for trial in range(150):
        n = rng.randint(1, 40)
        gd = tf1.GraphDef()
        for i in range(n):
            node = gd.node.add()
            node.name, node.op = f"n{i}", "Op"
            for _ in range(rng.randint(0, 4) if i else 0):
                j = rng.randint(0, i)
                node.input.append([f"n{j}", f"n{j}:1", f"^n{j}", f"n{j}:0"][rng.randint(0, 4)])
            if rng.rand() < 0.05:
                node.input.append("missing")
        graph = Graph(gd)
        roots = [f"n{rng.randint(0, n)}" for _ in range(rng.randint(1, 3))]
        walked = graph._index().walk_up(roots)
        assert graph.ancestors(roots) == walked, trial
        assert set(roots) <= walked and walked <= set(graph.names())
        graph.prune(roots)  # everything else is killed: the indexes change, the answer must not
        assert len(graph) == len(walked)
        assert graph.ancestors(roots) == graph._index().walk_up(roots) == walked, trial
