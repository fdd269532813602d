"""compare: the TF graph vs .tflite models, measured; gates; locator; TensorBoard."""
import json
import os

import numpy as np
import pytest

import builders
import graphtools
from conftest import CORPUS, FIXTURES, MNIST, assert_clean_error, needs_corpus, needs_mnist, run_cli
from graphtools.verification.comparison import LiteModel, compare

tf, tf1 = builders.tf, builders.tf1
DIGITS = np.load(os.path.join(FIXTURES, "digits.npz"))


@pytest.fixture(scope="module")
def fixture_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("compare")
    frozen = graphtools.freeze(ckpt=os.path.join(FIXTURES, "digits_cnn", "model.ckpt"),
                               output_nodes="prediction").graph_def
    gd = graphtools.strip(frozen, outputs=["prediction"])
    graphtools.save_graph_def(gd, str(d / "optimized.pb"))
    data = {"x": DIGITS["x_train"][:100]}
    paths = {}
    for mode, kw in (("none", {}), ("int8", dict(inference_input_type="int8", inference_output_type="int8"))):
        paths[mode] = str(d / f"{mode}.tflite")
        with open(paths[mode], "wb") as f:
            f.write(graphtools.convert(gd, quantize=mode, representative_data=data, **kw))
    np.savez(d / "test.npz", x=DIGITS["x_test"], y=DIGITS["y_test"])
    return d, gd, paths


def test_float_and_int8_models_measured_against_tf(fixture_models):
    d, gd, paths = fixture_models
    r = compare(gd, [paths["none"], paths["int8"]], {"x": DIGITS["x_test"]}, DIGITS["y_test"], batch=64)
    flt, q = r["models"]
    fo, qo = flt["outputs"]["prediction"], q["outputs"]["prediction"]
    assert fo["max_abs_diff"] < 1e-5 and fo["top1_agreement"] == 1.0 and fo["cosine_similarity"] > 0.999999
    assert fo["accuracy"] == fo["tf_accuracy"] >= 0.95
    assert 0 < qo["max_abs_diff"] < 0.2 and qo["top1_agreement"] >= 0.97  # int8 I/O scaled automatically
    assert flt["deterministic"] and q["deterministic"] and not flt["random_ops"]
    assert flt["batch"] == 64 and flt["latency_ms_per_sample"] > 0 and flt["operators"] > 0
    for w in qo["worst"]:
        assert w["tf_label"] != w["tflite_label"]


def test_batched_and_per_sample_runs_agree(fixture_models):
    _, _, paths = fixture_models
    m = LiteModel(paths["none"])
    (a,), _, step_a = m.run({"x": DIGITS["x_test"][:50]}, ["x"], ["prediction"], batch=1)
    (b,), _, step_b = m.run({"x": DIGITS["x_test"][:50]}, ["x"], ["prediction"], batch=32)
    assert (step_a, step_b) == (1, 32)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_a_model_with_random_ops_is_flagged(tmp_path):
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [1, 4], name="x")
        tf.identity(x + tf1.random_uniform([1, 4]), name="out")
    gd = g.as_graph_def()
    model = graphtools.convert(gd, outputs=["out"])
    r = compare(gd, [model], {"x": np.zeros((8, 4), np.float32)}, outputs=["out"])
    assert r["models"][0]["random_ops"] and not r["models"][0]["deterministic"]


def test_locate_finds_the_layer_that_departs(fixture_models, tmp_path):
    d, gd, paths = fixture_models
    bad = type(gd)()
    bad.CopyFrom(gd)
    for n in bad.node:  # perturb the second dense layer's weights: TF and TFLite agree up to fc1
        if n.op == "Const" and n.name.startswith("fc2"):
            v = tf.make_ndarray(n.attr["value"].tensor)
            if v.ndim == 2:
                n.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(v * -1.0))
    model = graphtools.convert(bad, quantize="none")
    r = compare(gd, [model], {"x": DIGITS["x_test"][:20]}, locate=True)
    first = r["models"][0]["locate"]["first_divergence"]
    assert first is not None and first["node"].startswith("fc2"), first
    assert r["models"][0]["locate"]["checked"] >= 3


def test_cli_gates_json_and_tensorboard(fixture_models, tmp_path):
    d, gd, paths = fixture_models
    args = ["compare", "--graph", d / "optimized.pb", "--tflite", paths["none"], paths["int8"],
            "--data", d / "test.npz", "--logdir", tmp_path / "logs"]
    res = run_cli(*args, "--json", "--min-agreement", "0.9")
    assert res.code == 0, res.err
    rep = json.loads(res.out)
    assert rep["samples"] == 360 and len(rep["models"]) == 2 and rep["failures"] == []
    assert rep["models"][0]["outputs"]["prediction"]["accuracy"] >= 0.95  # labels read from the .npz's y
    res = run_cli(*args, "--max-diff", "1e-4")
    assert res.code == 1 and "int8.tflite: prediction differs by" in res.err
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(str(tmp_path / "logs"))
    acc.Reload()
    assert any(t.startswith("compare/") for t in acc.Tags()["tensors"])
    assert any(t.endswith("/top1_agreement") for t in acc.Tags()["scalars"])


def test_random_data_and_bad_input(fixture_models, tmp_path):
    d, gd, paths = fixture_models
    res = run_cli("compare", "--graph", d / "optimized.pb", "--tflite", paths["none"], "--logdir", "",
                  "--samples", "16")
    assert res.code == 0 and "16 samples (random" in res.out
    res = run_cli("compare", "--graph", d / "optimized.pb", "--tflite", d / "optimized.pb", "--logdir", "")
    assert_clean_error(res, "not a TensorFlow Lite model")
    res = run_cli("compare", "--graph", d / "optimized.pb", "--tflite", paths["none"], "--labels",
                  tmp_path / "none.npy", "--data", d / "test.npz", "--logdir", "")
    assert_clean_error(res, "none.npy")


@needs_corpus
@needs_mnist
def test_mnist_mlp_every_mode_on_the_real_test_set(tmp_path):
    from graphtools.core.data import load_idx

    frozen = graphtools.freeze(ckpt=os.path.join(CORPUS, "mnist_mlp_sgd", "model.ckpt-1999"),
                               output_nodes="softmax_linear/add").graph_def
    gd = graphtools.strip(frozen, outputs=["softmax_linear/add"])
    images = load_idx(os.path.join(MNIST, "t10k-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float32) / 255
    labels = load_idx(os.path.join(MNIST, "t10k-labels-idx1-ubyte.gz"))
    calib = {"Placeholder": np.repeat(images[:100], 1, 0)}
    models = [graphtools.convert(gd, quantize=m, representative_data=calib) for m in
              ("none", "dynamic", "float16", "int8", "int16x8")]
    r = compare(gd, models, {"Placeholder": images}, labels, batch=100)
    accs = [m["outputs"]["softmax_linear/add"]["accuracy"] for m in r["models"]]
    tf_acc = r["models"][0]["outputs"]["softmax_linear/add"]["tf_accuracy"]
    assert 0.895 <= tf_acc <= 0.905 and abs(accs[0] - tf_acc) < 1e-9  # TF and the float model: same accuracy
    for acc, m in zip(accs[1:], r["models"][1:]):
        assert acc > 0.85 and m["outputs"]["softmax_linear/add"]["top1_agreement"] > 0.95


def test_worst_disagreements_as_an_image_strip(fixture_models, tmp_path):
    d, gd, paths = fixture_models
    res = run_cli("compare", "--graph", d / "optimized.pb", "--tflite", paths["int8"], "--data", d / "test.npz",
                  "--logdir", tmp_path / "logs")
    assert res.code == 0, res.err
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(str(tmp_path / "logs"))
    acc.Reload()
    (tag,) = [t for t in acc.Tags()["images"] if t.startswith("worst/")]
    img = acc.Images(tag)[0]
    assert img.encoded_image_string[:4] == b"\x89PNG" and img.height == 64


def test_models_with_signatures_run_through_their_signature_runner(tmp_path):
    rng = np.random.RandomState(0)
    w = rng.randn(4, 3).astype(np.float32)

    class M(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def serve(self, x):
            return {"out": tf.nn.softmax(tf.matmul(x, w))}

    m = M()
    tf.saved_model.save(m, str(tmp_path / "sm"), signatures={"serving_default": m.serve})
    model = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "sm")).convert()
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        tf.nn.softmax(tf.matmul(x, tf.constant(w)), name="out")
    lite = LiteModel(model)
    assert lite.signature == "serving_default"
    data = {"x": rng.rand(37, 4).astype(np.float32)}
    r = compare(g.as_graph_def(), [lite], data, outputs=["out"], batch=16)
    assert "signature runner" in r["models"][0]["note"]
    assert r["models"][0]["outputs"]["out"]["max_abs_diff"] < 1e-5


def test_a_model_that_resizes_but_cannot_run_the_batch_falls_back_to_its_converted_batch(fixture_models,
                                                                                         monkeypatch):
    """A TFLite WHILE whose lists hold the converted batch resizes without complaint, then fails inside invoke
    (XNNPack 'failed to reshape'): the comparison runs it at its converted batch, never an internal error."""
    d, gd, paths = fixture_models
    with open(paths["none"], "rb") as f:
        model = LiteModel(f.read(), name="while.tflite")
    model.signature = None  # (through the interpreter, as a WHILE model runs)
    real = LiteModel._run_interpreter

    def invoke_fails_above_batch_one(self, *args):
        if (self.batch or 1) > 1:
            raise RuntimeError("XNNPack delegate failed to reshape runtime (WHILE) failed to invoke")
        return real(self, *args)

    monkeypatch.setattr(LiteModel, "_run_interpreter", invoke_fails_above_batch_one)
    xs = DIGITS["x_test"][:10]
    out, _, step = model.run({"x": xs}, ["x"], ["prediction"], batch=64)
    assert step == 1 and out[0].shape[0] == 10 and "converted batch" in model.note
