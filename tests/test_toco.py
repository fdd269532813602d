"""The old toco command line, flag by flag, GRAPHVIZ_DOT output, and audit."""
import os

import pytest

import graphtools
from conftest import FIXTURES, assert_clean_error, run_cli, run_script
from graphtools.core import tflite
from graphtools.surgery.stripping import strip


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    d = tmp_path_factory.mktemp("toco")
    frozen = graphtools.freeze(ckpt=os.path.join(FIXTURES, "digits_cnn", "model.ckpt"),
                               output_nodes="prediction").graph_def
    graphtools.save_graph_def(frozen, str(d / "frozen.pb"))
    graphtools.save_graph_def(strip(frozen, outputs=["prediction"]), str(d / "optimized.pb"))
    return d


BOOK = ["--input_format=TENSORFLOW_GRAPHDEF", "--output_format=TFLITE", "--inference_type=FLOAT",
        "--input_type=FLOAT", "--input_arrays=x", "--output_arrays=prediction", "--input_shapes=1,8,8,1"]


def test_the_book_command_works_unchanged(graphs):
    out = graphs / "model" / "mnist.tflite"
    res = run_script("toco", f"--input_file={graphs / 'optimized.pb'}", *BOOK, f"--output_file={out}")
    assert res.code == 0, res.err
    info = tflite.summarize(str(out))
    assert info["inputs"][0]["name"] == "x" and info["inputs"][0]["shape"] == [1, 8, 8, 1]
    assert info["outputs"][0]["name"] == "prediction" and info["inputs"][0]["dtype"] == "float32"


def test_quantized_uint8_with_mean_std_and_default_ranges(graphs):
    out = graphs / "q.tflite"
    res = run_cli("toco", f"--input_file={graphs / 'optimized.pb'}", f"--output_file={out}",
                  "--input_format=TENSORFLOW_GRAPHDEF", "--output_format=TFLITE", "--inference_type=QUANTIZED_UINT8",
                  "--input_arrays=x", "--output_arrays=prediction", "--input_shapes=1,8,8,1", "--mean_values=0",
                  "--std_dev_values=255", "--default_ranges_min=0", "--default_ranges_max=6")
    assert res.code == 0, res.err
    info = tflite.summarize(str(out))
    i = info["inputs"][0]
    assert i["dtype"] == "uint8" and i["quantization"]["zero_point"] == [0]
    assert abs(i["quantization"]["scale"][0] - 1 / 255) < 1e-6
    # --std_values is the older spelling; a float input with uint8 inside is --inference_input_type=FLOAT
    res = run_cli("toco", f"--input_file={graphs / 'optimized.pb'}", f"--output_file={graphs / 'q2.tflite'}",
                  "--inference_type=QUANTIZED_UINT8", "--inference_input_type=FLOAT", "--mean_values=0",
                  "--std_values=255", "--default_ranges_min=0", "--default_ranges_max=6")
    assert res.code == 0, res.err
    assert tflite.summarize(str(graphs / "q2.tflite"))["inputs"][0]["dtype"] == "float32"


@pytest.mark.parametrize("flag,check", [
    ("--post_training_quantize", lambda f, q: q < 0.6 * f),
    ("--quantize_to_float16", lambda f, q: 0.4 * f < q < 0.7 * f),
])
def test_post_training_flags(graphs, flag, check):
    base = run_cli("toco", f"--input_file={graphs / 'optimized.pb'}", f"--output_file={graphs / 'f.tflite'}")
    res = run_cli("toco", f"--input_file={graphs / 'optimized.pb'}", f"--output_file={graphs / 'p.tflite'}", flag)
    assert base.code == 0 and res.code == 0, res.err
    assert check(os.path.getsize(graphs / "f.tflite"), os.path.getsize(graphs / "p.tflite"))


def test_graphviz_dot_output_and_dump_dir_are_valid_dot(graphs):
    import pydot

    dot = graphs / "graph.dot"
    dump = graphs / "dump"
    res = run_cli("toco", f"--input_file={graphs / 'optimized.pb'}", f"--output_file={dot}",
                  "--output_format=GRAPHVIZ_DOT", f"--dump_graphviz_dir={dump}", "--allow_custom_ops")
    assert res.code == 0, res.err
    for path in (dot, dump / "toco_AT_IMPORT.dot", dump / "toco_AFTER_TRANSFORMATIONS.dot"):
        (g,) = pydot.graph_from_dot_file(str(path))
        assert len(g.get_nodes()) >= 5 and g.get_edges()
    labels = " ".join(n.get_label() or "" for n in pydot.graph_from_dot_file(str(dot))[0].get_nodes())
    assert "CONV_2D" in labels and "SOFTMAX" in labels
    before = " ".join(n.get_label() or "" for n in pydot.graph_from_dot_file(str(dump / "toco_AT_IMPORT.dot"))[0].get_nodes())
    assert "Conv2D" in before and "Softmax" in before


def test_no_op_and_unknown_flags(graphs):
    res = run_cli("toco", f"--input_file={graphs / 'optimized.pb'}", f"--output_file={graphs / 'n.tflite'}",
                  "--drop_control_dependency", "--reorder_across_fake_quant=true")
    assert res.code == 0
    assert "--drop_control_dependency is accepted and has no effect" in res.err
    assert "--reorder_across_fake_quant is accepted and has no effect" in res.err
    res = run_cli("toco", f"--input_file={graphs / 'optimized.pb'}", f"--output_file={graphs / 'n.tflite'}",
                  "--inference_typ=FLOAT")
    assert_clean_error(res, "--inference_typ", "did you mean --inference_type")
    res = run_cli("toco", f"--input_file={graphs / 'optimized.pb'}", f"--output_file={graphs / 'n.tflite'}",
                  "--inference_type=QUANTIZED_UINT8")
    assert_clean_error(res, "--mean_values and --std_dev_values")
    res = run_cli("toco", "--input_file=nowhere.pb", f"--output_file={graphs / 'n.tflite'}")
    assert_clean_error(res, "nowhere.pb")


def test_audit_lists_what_will_fail(graphs):
    res = run_cli("audit", graphs / "frozen.pb", "--json")
    assert res.code == 1
    import json

    kinds = {p["kind"] for p in json.loads(res.out)["problems"]}
    assert {"stochastic", "unfed_placeholders"} <= kinds
    res = run_cli("audit", graphs / "optimized.pb")
    assert res.code == 0 and "nothing found" in res.out
    res = run_cli("audit", graphs / "optimized.pb", "--output-arrays", "predictions")
    assert res.code == 1 and "closest: prediction" in res.out
    res = run_cli("audit", graphs / "frozen.pb", "--input-arrays", "x")
    assert "placeholders neither listed nor bound: keep_prob, is_training" in res.out or \
        "placeholders neither listed nor bound: is_training, keep_prob" in res.out


def test_audit_names_ops_tflite_lacks(tmp_path):
    tf1 = __import__("builders").tf1
    tf = __import__("builders").tf
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [1, 4], name="x")
        tf.identity(tf.linalg.det(tf.reshape(tf.concat([x, x, x, x], 0), [4, 4]), name="determinant"), name="out")
    path = tmp_path / "g.pb"
    graphtools.save_graph_def(g.as_graph_def(), str(path))
    res = run_cli("audit", path, "--output-arrays", "out")
    assert res.code == 1 and "--select-tf-ops" in res.out and "determinant (MatrixDeterminant)" in res.out
