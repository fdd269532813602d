"""Issue 16.1: every .tflite graphtools writes has a serving_default signature keyed by the TF names."""
import json
import os

import numpy as np
import pytest

import builders
import graphtools
from conftest import FIXTURES, run_cli
from graphtools.conversion import converter as conversion
from graphtools.core import tflite
from graphtools.core.tflite import quantize

tf, tf1 = builders.tf, builders.tf1
DIGITS = np.load(os.path.join(FIXTURES, "digits.npz"))


@pytest.fixture(scope="module")
def digits_graph(fixture_optimized):
    return fixture_optimized


@pytest.mark.parametrize("mode", conversion.MODES)
def test_signature_runner_matches_the_plain_interpreter_in_every_mode(digits_graph, mode):
    from ai_edge_litert.interpreter import Interpreter

    model = graphtools.convert(digits_graph, quantize=mode, representative_data={"x": DIGITS["x_train"][:50]},
                               inference_input_type="int8" if mode == "int8" else None)
    card = tflite.io_card(model)
    assert [i["key"] for i in card["inputs"]] == ["x"] and [o["key"] for o in card["outputs"]] == ["prediction"]
    if mode == "int8":  # integer I/O: the card carries what feeding it needs
        assert card["inputs"][0]["dtype"] == "int8" and "scale" in card["inputs"][0]
    it = Interpreter(model_content=model)
    assert it.get_signature_list() == {"serving_default": {"inputs": ["x"], "outputs": ["prediction"]}}
    runner = it.get_signature_runner("serving_default")
    plain = Interpreter(model_content=model)
    plain.allocate_tensors()
    i, o = plain.get_input_details()[0], plain.get_output_details()[0]
    for sample in DIGITS["x_test"][:5]:
        v = quantize(sample[None], i)
        plain.set_tensor(i["index"], v)
        plain.invoke()
        assert np.array_equal(runner(x=v)["prediction"], plain.get_tensor(o["index"]))


def test_outputs_of_equal_shape_keep_their_order_and_their_values():
    """Two outputs of one shape, named against alphabetical order: the signature lists them as given
    and each key holds its own tensor (relu(h) vs 2h differ in sign)."""
    from ai_edge_litert.interpreter import Interpreter

    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 4], name="in/x")
        h = tf.matmul(x, tf.constant(np.random.RandomState(0).randn(4, 3).astype(np.float32)))
        tf.identity(tf.nn.relu(h), name="z_relu")
        tf.identity(h * 2.0, name="a_double")
    for outputs in (["z_relu", "a_double"], ["a_double", "z_relu"]):
        model = graphtools.convert(g.as_graph_def(), inputs=["in/x"], outputs=outputs)
        assert [o["key"] for o in tflite.io_card(model)["outputs"]] == outputs
        xv = np.random.RandomState(1).randn(1, 4).astype(np.float32)
        got = Interpreter(model_content=model).get_signature_runner()(**{"in/x": xv})
        h = xv @ np.random.RandomState(0).randn(4, 3).astype(np.float32)
        np.testing.assert_allclose(got["z_relu"], np.maximum(h, 0), atol=1e-5)
        np.testing.assert_allclose(got["a_double"], 2 * h, atol=1e-5)
    assert tflite.add_signature(model, ["in/x"], outputs) == model  # has one: unchanged


def test_inspect_prints_the_io_card_with_code_that_feeds_it(tmp_path, digits_graph):
    path = tmp_path / "m.tflite"
    path.write_bytes(graphtools.convert(digits_graph, quantize="int8", representative_data={"x": DIGITS["x_train"][:50]},
                                        inference_input_type="int8", inference_output_type="int8"))
    res = run_cli("inspect", path, "--json")
    assert res.code == 0, res.err
    card = json.loads(res.out)["io_card"]
    assert card["inputs"][0]["key"] == "x" and card["outputs"][0]["dtype"] == "int8"
    res = run_cli("inspect", path)
    assert "serving_default" in res.out and "get_signature_runner('serving_default')" in res.out
    lines = res.out.split("  in Python:\n", 1)[1].splitlines()
    code = []
    for line in lines:
        if line and not line.startswith("    "):
            break
        code.append(line[4:])
    snippet = "\n".join(code).replace("'m.tflite'", repr(str(path)))
    scope = {}
    exec(snippet, scope)  # the printed code runs as printed, and gives the dequantized output
    assert np.asarray(scope["prediction"]).shape == (1, 10)


def test_ai_edge_quantizer_calibrates_a_graphtools_model(tmp_path, digits_graph):
    aq = pytest.importorskip("ai_edge_quantizer")
    path = tmp_path / "float.tflite"
    path.write_bytes(graphtools.convert(digits_graph))
    q = aq.Quantizer(str(path))
    q.load_quantization_recipe(aq.recipe.static_wi8_ai8())
    calib = q.calibrate({"serving_default": [{"x": s[None].astype(np.float32)} for s in DIGITS["x_train"][:20]]})
    result = q.quantize(calib)
    assert result.quantized_model is not None and len(result.quantized_model) < path.stat().st_size
