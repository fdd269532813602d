"""inspect: inputs, output candidates, histogram, parameters and blockers for every format."""
import json
import os
import subprocess
import sys

import numpy as np

import builders
import graphtools
from conftest import FIXTURE_CKPT, ROOT, run_cli
from graphtools.presentation.inspection import inspect_graph_def, inspect_path


def test_checkpoint_prefix_reports_variables_and_graph():
    r = inspect_path(FIXTURE_CKPT)
    assert r["format"] == "checkpoint" and r["variable_count"] == 33
    assert r["outputs"] == ["prediction"]
    assert [i["name"] for i in r["inputs"]] == ["x", "keep_prob", "is_training"]
    kinds = {b["kind"] for b in r["blockers"]}
    assert {"not_frozen", "stochastic", "unfed_placeholders"} <= kinds
    assert "y_" not in {i["name"] for i in r["inputs"]}  # labels are not an inference input


def test_meta_and_frozen_graph(tmp_path, fixture_frozen):
    r = inspect_path(FIXTURE_CKPT + ".meta")
    assert r["format"] == "meta_graph" and r["tensorflow_version"]
    path = str(tmp_path / "frozen.pb")
    graphtools.save_graph_def(fixture_frozen.graph_def, path)
    r = inspect_path(path)
    assert r["nodes"] == len(fixture_frozen.graph_def.node)
    assert r["inputs"][0] == {"name": "x", "dtype": "float32", "shape": [-1, 8, 8, 1], "optional": False,
                              "role": "data"}
    assert "not_frozen" not in {b["kind"] for b in r["blockers"]}
    # parameters = the conv/fc weights + biases + BN beta/gamma/moving stats, counted exactly
    assert r["parameters"]["used_by_outputs"] == 3 * 3 * 16 + 16 + 3 * 3 * 16 * 32 + 32 + 128 * 64 + 64 + 64 * 10 + 10 + 4 * 16
    txt = str(tmp_path / "frozen.pbtxt")
    graphtools.save_graph_def(fixture_frozen.graph_def, txt)
    rt = inspect_path(txt)
    assert rt["format"] == "graph_def_text" and rt["inputs"] == r["inputs"]


def test_placeholder_with_default_is_optional_not_an_input(tmp_path):
    b = builders.mlp(str(tmp_path), cond=2)
    r = inspect_graph_def(graphtools.freeze(ckpt=b.prefix, output_nodes="prob").graph_def)
    assert [i["name"] for i in r["inputs"]] == ["x"]
    assert [i["name"] for i in r["optional_inputs"]] == ["is_training"]


def test_tflite_without_tensorflow(tmp_path, fixture_frozen):

    # a small float model: the SavedModel builder's softmax regression
    b = builders.saved_model_v1(str(tmp_path / "sm"))
    gd = graphtools.freeze(saved_model=b.path).graph_def
    path = builders.tflite_from_graph_def(gd, tmp_path / "m.tflite", ["images"], ["scores"], {"images": [1, 5]})
    r = inspect_path(path)
    assert r["format"] == "tflite"
    assert r["inputs"][0]["name"] == "images" and r["inputs"][0]["shape"] == [1, 5]
    assert r["inputs"][0]["dtype"] == "float32"
    assert r["parameters"]["count"] == 5 * 4 + 4
    assert "SOFTMAX" in r["op_histogram"]
    code = ("import sys; from graphtools.cli import main; rc = main(['inspect', sys.argv[1], '--json']); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'; sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["outputs"][0]["name"] == "scores"


def test_tflite_with_dropout_left_in_is_flagged(tmp_path):
    gd, _, out = builders.dense_with_dropout("select", "placeholder")
    path = builders.tflite_from_graph_def(gd, tmp_path / "drop.tflite", ["x", "keep_prob"], [out],
                                          {"x": [1, 6], "keep_prob": []})
    r = inspect_path(path)
    assert "RANDOM_UNIFORM" in r["op_histogram"]
    assert "stochastic" in {b["kind"] for b in r["blockers"]}


def test_cli_inspect_text_and_json(tmp_path):
    res = run_cli("inspect", FIXTURE_CKPT)
    assert res.code == 0
    assert "input:  x  float32  [?,8,8,1]" in res.out
    assert "* prediction" in res.out
    res = run_cli("inspect", FIXTURE_CKPT, "--json", "--outputs", "fc2/logits")
    r = json.loads(res.out)
    assert r["outputs"] == ["fc2/logits"]


def test_corrupt_tflite_is_a_clean_error(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x18\x00\x00\x00TFL3" + os.urandom(200))
    res = run_cli("inspect", bad)
    assert res.code == 2 and "bad.tflite" in res.err and "Traceback" not in res.err


def test_parameter_count_is_exact_on_a_built_graph():
    g = builders.tf.Graph()
    with g.as_default():
        x = builders.tf1.placeholder(builders.tf.float32, [None, 3], name="x")
        w = builders.tf.constant(np.ones((3, 7), np.float32))
        b = builders.tf.constant(np.ones((7,), np.float16))
        builders.tf.identity(builders.tf.matmul(x, w) + builders.tf.cast(b, builders.tf.float32), name="y")
    r = inspect_graph_def(g.as_graph_def(), outputs=["y"])
    assert r["parameters"]["used_by_outputs"] == 28
    assert r["parameters"]["used_bytes"] == 21 * 4 + 7 * 2


def test_saved_model_directory(tmp_path):
    b = builders.saved_model_v1(str(tmp_path / "sm"))
    r = inspect_path(b.path)
    assert r["format"] == "saved_model" and r["tags"] == [["serve"]]
    assert r["signatures"]["serving_default"]["outputs"] == {"scores": "scores:0"}
    assert r["outputs"] == ["scores"] and [i["name"] for i in r["inputs"]] == ["images"]
    assert "not_frozen" in {b["kind"] for b in r["blockers"]}
