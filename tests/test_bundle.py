"""Issue 17.3: the golden bundle -- inputs, expected outputs, tolerances, an I/O card and a
standalone verify.py that needs only numpy and a TFLite runtime."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import assert_clean_error, run_cli


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipe")
    res = run_cli("pipeline", "--out-dir", d / "out", "--logdir", d / "logs", "--bundle", "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["bundle"]["bundle"] == str(d / "out" / "golden")
    return d / "out"


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A fresh venv with only numpy and ai-edge-litert (what a board has)."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")
    r = subprocess.run([py, "-m", "pip", "install", "-q", "numpy", "ai-edge-litert"], capture_output=True, text=True,
                       timeout=900)
    if r.returncode:
        pytest.skip(f"cannot install numpy and ai-edge-litert into a venv here: {r.stderr.strip()[-200:]}")
    mods = subprocess.run([py, "-c", "import importlib.util as u; print([m for m in ('tensorflow', 'graphtools') "
                                     "if u.find_spec(m)])"], capture_output=True, text=True, cwd=venv).stdout.strip()
    assert mods == "[]", mods
    return py


def test_the_bundle_holds_models_data_tolerances_and_the_io_card(out):
    g = out / "golden"
    assert sorted(os.listdir(g)) == ["README.txt", "expected.npz", "golden.json", "golden_data.json", "inputs.npz",
                                     "models", "raw_inputs.npz", "verify.py"]
    meta = json.loads((g / "golden.json").read_text())
    names = [e["name"] for e in meta["models"]]
    assert names[0] == "model" and set(names) == {"model", "model.dynamic", "model.float16", "model.int8", "model.int16x8"}
    assert sorted(os.listdir(g / "models")) == sorted(os.path.basename(e["file"]) for e in meta["models"])
    inputs, expected = np.load(g / "inputs.npz"), np.load(g / "expected.npz")
    assert inputs["x"].shape == (32, 1, 8, 8, 1) and expected["model/prediction"].shape == (32, 1, 10)
    by = {e["name"]: e for e in meta["models"]}
    assert by["model"]["tolerance"]["prediction"] < by["model.int8"]["tolerance"]["prediction"]  # a quantum
    assert by["model"]["max_abs_diff_vs_tf"]["prediction"] < 1e-5
    assert by["model"]["io_card"]["inputs"][0]["key"] == "x"
    data = json.loads((g / "golden_data.json").read_text())
    assert np.allclose(np.array(data["inputs"]["x"]), inputs["x"])
    assert np.allclose(np.array(data["expected"]["model.int8/prediction"]), expected["model.int8/prediction"])


def test_verify_passes_with_only_numpy_and_litert_and_fails_clearly_on_the_wrong_model(out, bare_python, tmp_path):
    g = tmp_path / "golden"
    shutil.copytree(out / "golden", g)  # (the board gets a copy of the folder)
    r = subprocess.run([bare_python, "verify.py"], cwd=g, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("PASS ") == 5 and "FAIL" not in r.stdout
    r = subprocess.run([bare_python, "verify.py", str(out / "model.float16.tflite")], cwd=g, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("PASS model.float16"), r.stdout + r.stderr
    shutil.copyfile(g / "models" / "model.int8.tflite", g / "models" / "model.tflite")
    r = subprocess.run([bare_python, "verify.py"], cwd=g, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert "FAIL model (models/model.tflite)" in r.stdout and "not the file the bundle was made from" in r.stdout
    assert "sample(s) differ" in r.stdout and r.stdout.count("PASS ") == 4
    r = subprocess.run([bare_python, "verify.py", "--nope"], cwd=g, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    os.remove(g / "expected.npz")
    r = subprocess.run([bare_python, "verify.py"], cwd=g, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "the bundle is incomplete" in r.stderr and "Traceback" not in r.stderr


def test_bundle_command_and_bad_input(out, tmp_path):
    res = run_cli("bundle", out, "--samples", "8", "--json")
    assert res.code == 0, res.err
    r = json.loads(res.out)
    assert r["samples"] == 8 and "the bundled fixture's digits" in r["data"]
    assert_clean_error(run_cli("bundle", tmp_path / "nothing"), "not a directory")
    (tmp_path / "empty").mkdir()
    assert_clean_error(run_cli("bundle", tmp_path / "empty"), "optimized.pb: missing")


def test_the_python_api_names(out, tmp_path):
    import graphtools
    import graphtools.verification.bundle  # noqa: F401  (a submodule import must not hide the API names)
    import graphtools.presentation.report  # noqa: F401

    r = graphtools.make_bundle(str(out), samples=4)
    assert r["samples"] == 4 and os.path.isdir(r["bundle"])
    page = graphtools.make_report(str(out), path=str(tmp_path / "r.html"))
    assert os.path.getsize(page["path"]) > 10000 and set(page["models"]) >= {"model.tflite", "model.int8.tflite"}
    assert graphtools.view_overlays(str(out))[0][0].endswith("frozen.pb")


def _out_dir(tmp_path, build):
    """An output directory holding optimized.pb and model.tflite of the graph ``build`` makes."""
    import graphtools
    from builders import tf

    g = tf.Graph()
    with g.as_default():
        inputs, outputs = build()
    d = tmp_path / "out"
    d.mkdir()
    graphtools.save_graph_def(g.as_graph_def(), str(d / "optimized.pb"))
    (d / "model.tflite").write_bytes(graphtools.convert(g.as_graph_def(), inputs=inputs, outputs=outputs))
    return d


def test_bundle_and_bench_on_id_inputs_ops_without_reference_kernels_and_a_fixed_batch(tmp_path):
    """Three classes met on the corpus: int32 ids into a gather (bench fed them out-of-range random ints,
    char-rnn), an op the reference kernels lack (ELU, bn_text: the builtin kernels give the expected
    outputs), and a graph whose batch is fixed at 8 (MNIST's 100: the samples are rounded up to whole runs)."""
    import graphtools
    from builders import tf, tf1

    def ids():
        x = tf1.placeholder(tf.int32, [1, 5], name="ids")
        emb = tf.constant(np.random.RandomState(0).randn(7, 3).astype(np.float32))
        tf.nn.elu(tf.reduce_sum(tf.gather(emb, x), axis=1), name="y")
        return ["ids"], ["y"]

    (tmp_path / "a").mkdir()
    d = _out_dir(tmp_path / "a", ids)
    b = graphtools.bench_model((d / "model.tflite").read_bytes(), threads=[1], runs=2)
    assert b["latency"] and "reference" in b["unavailable"] and "ELU" in b["unavailable"]["reference"]
    r = graphtools.make_bundle(str(d), samples=3)
    meta = json.loads((d / "golden" / "golden.json").read_text())
    assert r["samples"] == 3 and meta["models"][0]["expected_from"] == "builtin kernels"
    assert meta["models"][0]["kernels_not_run"] == ["reference"]

    def fixed():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        tf.identity(tf.reshape(x * 2.0, [8, 4]), name="y")
        return ["x"], ["y"]

    (tmp_path / "b").mkdir()
    d = _out_dir(tmp_path / "b", fixed)
    r = graphtools.make_bundle(str(d), samples=3)
    assert r["samples"] == 8 and json.loads((d / "golden" / "golden.json").read_text())["models"][0]["runs"] == 1
