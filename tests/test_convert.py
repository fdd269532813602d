"""convert: every quantization mode really changes the model and stays close to the float model."""
import json
import os

import numpy as np
import pytest

import builders
import graphtools
from conftest import FIXTURES, assert_clean_error, run_cli
from graphtools.conversion import converter as conversion
from graphtools.core import tflite
from graphtools.errors import InputError
from graphtools.core.runtime import run_graph
from graphtools.surgery.stripping import strip

tf, tf1 = builders.tf, builders.tf1
DIGITS = np.load(os.path.join(FIXTURES, "digits.npz"))
# measured on the fixture (360 test digits): max |prob - TF prob|, top-1 agreement with TF
THRESHOLDS = {"none": (1e-5, 1.0), "dynamic": (0.05, 0.99), "float16": (0.01, 0.99), "int8": (0.15, 0.97),
              "int16x8": (0.08, 0.99)}


@pytest.fixture(scope="module")
def fixture_graph():
    frozen = graphtools.freeze(ckpt=os.path.join(FIXTURES, "digits_cnn", "model.ckpt"),
                               output_nodes="prediction").graph_def
    return strip(frozen, remove=["all"], outputs=["prediction"])


def run_tflite(model, x):
    """Run a .tflite (bytes) sample by sample, quantizing inputs and dequantizing outputs by its own params."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    out = []
    for s in x:
        v = s[None]
        if i["dtype"] != np.float32:
            scale, zp = i["quantization"]
            v = np.clip(np.round(v / scale + zp), np.iinfo(i["dtype"]).min, np.iinfo(i["dtype"]).max)
        it.set_tensor(i["index"], v.astype(i["dtype"]))
        it.invoke()
        r = it.get_tensor(o["index"])[0].astype(np.float32)
        if o["dtype"] != np.float32:
            scale, zp = o["quantization"]
            r = (r - zp) * scale
        out.append(r)
    return np.array(out)


@pytest.mark.parametrize("mode", conversion.MODES)
def test_every_mode_stays_close_to_the_float_graph(fixture_graph, mode):
    data = {"x": DIGITS["x_train"][:100]}
    model = graphtools.convert(fixture_graph, quantize=mode, representative_data=data)
    ref = run_graph(fixture_graph, {"x": DIGITS["x_test"]}, ["prediction"])[0]
    got = run_tflite(model, DIGITS["x_test"])
    max_diff, agreement = THRESHOLDS[mode]
    assert np.max(np.abs(got - ref)) <= max_diff
    assert (got.argmax(1) == ref.argmax(1)).mean() >= agreement
    assert (got.argmax(1) == DIGITS["y_test"]).mean() >= 0.95
    info = tflite.summarize(model)
    types = {t["dtype"] for t in info["inputs"] + info["outputs"]}
    assert types == {"float32"}
    inner = info["tensor_types"]
    if mode == "none":
        assert set(inner) <= {"float32", "int32"}
    elif mode == "float16":
        assert inner.get("float16", 0) >= 4  # the weights
    elif mode == "dynamic":
        # int8 weights (TFLite leaves tensors under 1,024 values in float), float activations
        assert inner.get("int8", 0) >= 2 and inner.get("float32", 0) > 0
    elif mode == "int8":
        assert inner.get("int8", 0) > inner.get("float32", 0)  # float only at the model's edges
    elif mode == "int16x8":
        assert inner.get("int16", 0) > 0 and inner.get("int8", 0) > 0


def test_int8_with_integer_inputs_and_outputs(fixture_graph):
    data = {"x": DIGITS["x_train"][:100]}
    for io_type in ("int8", "uint8"):
        model = graphtools.convert(fixture_graph, quantize="int8", representative_data=data,
                                   inference_input_type=io_type, inference_output_type=io_type)
        info = tflite.summarize(model)
        assert info["inputs"][0]["dtype"] == io_type and info["outputs"][0]["dtype"] == io_type
        assert info["inputs"][0]["quantization"]["scale"][0] > 0
        got = run_tflite(model, DIGITS["x_test"])
        ref = run_graph(fixture_graph, {"x": DIGITS["x_test"]}, ["prediction"])[0]
        assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.97


def _weight_heavy():
    rng = np.random.RandomState(0)
    g = tf.Graph()
    with g.as_default():
        h = tf1.placeholder(tf.float32, [None, 256], name="x")
        for k in range(3):
            h = tf.nn.relu(tf.matmul(h, tf.constant(rng.randn(256, 256).astype(np.float32) * 0.05)))
        tf.identity(h, name="out")
    return g.as_graph_def()


def test_sizes_on_a_weight_heavy_model():
    gd = _weight_heavy()
    data = {"x": np.random.RandomState(1).rand(50, 256).astype(np.float32)}
    size = {m: len(graphtools.convert(gd, outputs=["out"], quantize=m, representative_data=data))
            for m in conversion.MODES}
    assert 0.2 <= size["dynamic"] / size["none"] <= 0.3
    assert 0.2 <= size["int8"] / size["none"] <= 0.3
    assert 0.45 <= size["float16"] / size["none"] <= 0.55
    assert 0.2 <= size["int16x8"] / size["none"] <= 0.3


def test_cli_all_modes_writes_one_file_each_and_a_table(tmp_path, fixture_graph):
    src = tmp_path / "optimized.pb"
    graphtools.save_graph_def(fixture_graph, str(src))
    np.save(tmp_path / "calib.npy", DIGITS["x_train"][:64])
    res = run_cli("convert", "--in", src, "--out", tmp_path / "m.tflite", "--quantize", "all",
                  "--representative-data", tmp_path / "calib.npy", "--logdir", tmp_path / "logs", "--json")
    assert res.code == 0, res.err
    rep = json.loads(res.out)
    assert [r["mode"] for r in rep["models"]] == list(conversion.MODES)
    for r in rep["models"]:
        assert os.path.getsize(r["file"]) == r["size_bytes"]
    assert sorted(os.listdir(tmp_path)) == sorted(["calib.npy", "logs", "m.tflite", "m.dynamic.tflite",
                                                   "m.float16.tflite", "m.int8.tflite", "m.int16x8.tflite",
                                                   "optimized.pb"])
    assert "inputs (discovered): x" in rep["notes"]


def test_representative_data_formats(tmp_path, fixture_graph):
    from graphtools.core.data import load_samples

    shapes = {"x": [1, 8, 8, 1]}
    flat = (DIGITS["x_train"][:10].reshape(10, 64) * 16).astype(np.uint8)
    np.savez(tmp_path / "d.npz", x=flat)
    got = load_samples(str(tmp_path / "d.npz"), ["x"], shapes, scale=1 / 16)
    np.testing.assert_allclose(got["x"], DIGITS["x_train"][:10], atol=1e-6)
    # an IDX file the way MNIST ships them
    import gzip
    import struct

    with gzip.open(tmp_path / "imgs-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, 10, 8, 8) + flat.tobytes())
    got = load_samples(str(tmp_path / "imgs-idx3-ubyte.gz"), ["x"], shapes, scale=1 / 16)
    np.testing.assert_allclose(got["x"], DIGITS["x_train"][:10], atol=1e-6)
    from PIL import Image

    (tmp_path / "imgs").mkdir()
    for k in range(3):
        Image.fromarray(flat[k].reshape(8, 8)).save(tmp_path / "imgs" / f"{k}.png")
    got = load_samples(str(tmp_path / "imgs"), ["x"], shapes, scale=1 / 16)
    np.testing.assert_allclose(got["x"], DIGITS["x_train"][:3], atol=1e-6)
    np.save(tmp_path / "bad.npy", np.zeros((4, 7, 7)))
    with pytest.raises(InputError, match=r"sample shape|have shape \[7, 7\], the input takes \[8, 8, 1\]"):
        load_samples(str(tmp_path / "bad.npy"), ["x"], shapes)


def test_convert_errors_are_one_clear_line(tmp_path, fixture_graph, fixture_frozen):
    src = tmp_path / "optimized.pb"
    graphtools.save_graph_def(fixture_graph, str(src))
    res = run_cli("convert", "--in", src, "--out", tmp_path / "m.tflite", "--quantize", "int8")
    assert_clean_error(res, "needs --representative-data")
    res = run_cli("convert", "--in", src, "--out", tmp_path / "m.tflite", "--output-arrays", "predction")
    assert_clean_error(res, "closest: prediction")
    np.save(tmp_path / "bad.npy", np.zeros((4, 5), np.float32))
    res = run_cli("convert", "--in", src, "--out", tmp_path / "m.tflite", "--quantize", "int8",
                  "--representative-data", tmp_path / "bad.npy")
    assert_clean_error(res, "bad.npy", "[8, 8, 1]")
    with pytest.raises(InputError, match="needs --quantize int8"):
        graphtools.convert(fixture_graph, quantize="dynamic", inference_input_type="int8")
    # the unstripped training graph: its training placeholders are not inputs -> a readable converter error
    raw = tmp_path / "frozen.pb"
    graphtools.save_graph_def(fixture_frozen.graph_def, str(raw))
    res = run_cli("convert", "--in", raw, "--out", tmp_path / "raw.tflite", "--input-arrays", "x",
                  "--output-arrays", "prediction", "--logdir", "")
    assert_clean_error(res, "tf.Placeholder (nodes is_training, keep_prob)", "strip")
    res = run_cli("convert", "--in", raw, "--out", tmp_path / "raw.tflite", "--logdir", "")
    assert_clean_error(res, "training-flag placeholders keep_prob, is_training", "graphtools strip")
    assert not (tmp_path / "raw.tflite").exists() and not (tmp_path / "m.tflite").exists()
