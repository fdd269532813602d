"""pipeline: the whole job on the bundled fixture, every stage's files and TensorBoard runs."""
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import run_cli


def _hashes(d):
    return {f: hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest()
            for f in sorted(os.listdir(d)) if f.endswith((".pb", ".tflite"))}


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipeline")
    res = run_cli("pipeline", "--out-dir", d / "out", "--logdir", d / "logs", "--json")
    assert res.code == 0, res.err
    return d, json.loads(res.out)


def test_pipeline_writes_every_stage(ran):
    d, report = ran
    assert sorted(os.listdir(d / "out")) == sorted(["frozen.pb", "optimized.pb", "model.tflite",
                                                   "model.dynamic.tflite", "model.float16.tflite",
                                                   "model.int8.tflite", "model.int16x8.tflite", "report.html",
                                                   "report.json"])
    assert sorted(os.listdir(d / "logs")) == ["compare", "freeze", "optimized", "tflite"]
    assert json.loads((d / "out" / "report.json").read_text())["files"] == report["files"]
    freeze, strip = report["stages"]
    assert strip["nodes"] < freeze["nodes"] and report["strip"]["verified"]
    models = report["compare"]["models"]
    assert [os.path.basename(m["model"]) for m in models][0] == "model.tflite"
    for m in models:
        o = m["outputs"]["prediction"]
        assert o["accuracy"] >= 0.95 and o["top1_agreement"] >= 0.97 and m["deterministic"]


def test_rerun_gives_identical_files(ran, tmp_path):
    d, _ = ran
    res = run_cli("pipeline", "--out-dir", tmp_path / "out", "--logdir", tmp_path / "logs", "--quantize", "all")
    assert res.code == 0, res.err
    assert _hashes(tmp_path / "out") == _hashes(d / "out")
    assert "pipeline on bundled fixture" in res.out and "TensorBoard: tensorboard --logdir" in res.out


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tensorboard_serves_every_stage(ran):
    d, _ = ran
    port = _free_port()
    tb = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    cmd = [tb] if os.path.exists(tb) else [sys.executable, "-m", "tensorboard.main"]
    proc = subprocess.Popen(cmd + ["--logdir", str(d / "logs"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        runs = None
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                runs = json.loads(urllib.request.urlopen(base + "/data/runs", timeout=5).read())
                if {"freeze", "optimized", "tflite", "compare"} <= set(runs):
                    break
            except OSError:
                pass
            time.sleep(1)
        assert runs is not None and {"freeze", "optimized", "tflite", "compare"} <= set(runs), runs
        for run in ("freeze", "optimized"):
            graph = urllib.request.urlopen(f"{base}/data/plugin/graphs/graph?run={run}", timeout=30).read().decode()
            assert 'name: "prediction"' in graph
        frozen = urllib.request.urlopen(f"{base}/data/plugin/graphs/graph?run=freeze", timeout=30).read().decode()
        assert "RandomUniform" in frozen  # the frozen graph still has its dropout; the optimized one does not
        optimized = urllib.request.urlopen(f"{base}/data/plugin/graphs/graph?run=optimized", timeout=30).read().decode()
        assert "RandomUniform" not in optimized
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_diff_between_stages(ran):
    d, _ = ran
    res = run_cli("diff", d / "out" / "frozen.pb", d / "out" / "optimized.pb", "--json")
    assert res.code == 0, res.err
    r = json.loads(res.out)
    assert "keep_prob" in r["removed"] and r["op_delta"]["RandomUniform"] == -1 and r["op_delta"]["BiasAdd"] == 1
    assert r["nodes"][1] < r["nodes"][0] and r["size_bytes"][1] < r["size_bytes"][0]
    same = run_cli("diff", d / "out" / "optimized.pb", d / "out" / "optimized.pb")
    assert "removed: 0" in same.out and "ops: unchanged" in same.out


def test_inspect_dot_for_graphs_and_tflite(ran, tmp_path):
    import pydot

    d, _ = ran
    for src, needle in ((d / "out" / "frozen.pb", "Conv2D"), (d / "out" / "model.tflite", "CONV_2D")):
        out = tmp_path / (src.name + ".dot")
        res = run_cli("inspect", src, "--dot", out)
        assert res.code == 0, res.err
        (g,) = pydot.graph_from_dot_file(str(out))
        assert needle in " ".join(n.get_label() or "" for n in g.get_nodes())
    res = run_cli("inspect", d / "out" / "frozen.pb", "--dot", tmp_path / "small.dot", "--max-nodes", "5")
    (g,) = pydot.graph_from_dot_file(str(tmp_path / "small.dot"))
    assert len([n for n in g.get_nodes() if n.get_name() not in ("node", "edge", "graph")]) == 6  # 5 + the note
    import shutil

    if shutil.which("dot") is None:
        assert "apt-get install graphviz" in res.out
    else:
        assert (tmp_path / "small.svg").exists()


def test_pipeline_takes_the_single_commands_flags(tmp_path):
    res = run_cli("pipeline", "--quantize", "none,dynamic", "--bind", "is_training=false", "--rtol", "1e-3",
                  "--out-dir", tmp_path / "out", "--logdir", "", "--json")
    assert res.code == 0, res.err
    r = json.loads(res.out)
    assert [os.path.basename(m["model"]) for m in r["compare"]["models"]] == ["model.tflite", "model.dynamic.tflite"]
    assert r["strip"]["bound"]["is_training"] is False and r["strip"]["verified"]
    assert r["skipped_modes"] == [] and not (tmp_path / "logs").exists()
    # bind/cut/splice do not switch off the default --remove all: dropout is gone too
    assert r["strip"]["bound"]["keep_prob"] == 1.0
    res = run_cli("pipeline", "--quantize", "none,int4", "--out-dir", tmp_path / "o2", "--logdir", "")
    assert res.code == 2 and "--quantize int4: unknown" in res.err and not (tmp_path / "o2").exists()


def test_pipeline_says_which_modes_it_skipped_and_why(tmp_path):
    from conftest import FIXTURE_CKPT

    res = run_cli("pipeline", "--ckpt", FIXTURE_CKPT, "--output-nodes", "prediction", "--quantize", "none,int8",
                  "--input-shapes", "1,8,8,1", "--out-dir", tmp_path / "out", "--logdir", "")
    assert res.code == 0, res.err
    assert "skipped --quantize int8: needs calibration data: give --data" in res.out
    assert sorted(f for f in os.listdir(tmp_path / "out") if f.endswith(".tflite")) == ["model.tflite"]


def test_pipeline_with_keras_and_normalised_data(tmp_path):
    import numpy as np

    import builders

    b = builders.keras_h5(str(tmp_path / "m.h5"))
    x = np.random.RandomState(0).uniform(0, 255, [20] + list(b.feeds[next(iter(b.feeds))].shape[1:]))
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    res = run_cli("pipeline", "--keras", tmp_path / "m.h5", "--data", tmp_path / "x.npy", "--scale", "0.00392157",
                  "--mean", "0.5", "--std", "0.25", "--quantize", "none", "--out-dir", tmp_path / "out", "--logdir", "",
                  "--json")
    assert res.code == 0, res.err
    r = json.loads(res.out)
    assert r["compare"]["samples"] == 20 and r["compare"]["data"] == "given data"
    assert r["compare"]["models"][0]["outputs"][r["outputs"][0]]["max_abs_diff"] < 1e-4
