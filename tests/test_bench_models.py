"""Issue 16.4: graphtools bench -- latency per thread count and kernel set, and kernel agreement."""
import json
import os

import numpy as np
import pytest

import graphtools
from conftest import FIXTURES, assert_clean_error, run_cli
from test_cli_shape import _trapped

DIGITS = np.load(os.path.join(FIXTURES, "digits.npz"))


@pytest.fixture(scope="module")
def models(tmp_path_factory, fixture_optimized):
    d = tmp_path_factory.mktemp("bench")
    g = fixture_optimized
    (d / "float.tflite").write_bytes(graphtools.convert(g))
    (d / "int8.tflite").write_bytes(graphtools.convert(g, quantize="int8", representative_data={"x": DIGITS["x_train"][:50]},
                                                       inference_input_type="int8", inference_output_type="int8"))
    return d


def test_every_kernel_set_and_thread_count_is_timed_and_checked_against_the_reference(models):
    r = graphtools.bench_model((models / "float.tflite").read_bytes(), threads=[1, 2], runs=5, warmup=1)
    got = [(row["kernels"], row["threads"]) for row in r["latency"]]
    assert got == [("xnnpack", 1), ("xnnpack", 2), ("builtin", 1), ("builtin", 2), ("reference", 1)]
    for row in r["latency"]:
        assert 0 < row["min_ms"] <= row["median_ms"] <= row["p90_ms"] and row["runs"] == 5
    assert set(r["agreement"]) == {"xnnpack", "builtin"}
    for a in r["agreement"].values():
        assert a["agrees"] and a["max_abs_diff_vs_reference"]["prediction"] < 1e-4
    q = graphtools.bench_model((models / "int8.tflite").read_bytes(), threads=[1], kernels=("builtin", "reference"), runs=3)
    assert "prediction" in q["agreement"]["builtin"]["max_diff_in_quanta"]  # integer outputs: said in quanta


def test_cli_prints_a_table_and_json_without_tensorflow(models):
    p = _trapped("bench", models / "float.tflite", models / "int8.tflite", "--runs", "3", "--threads", "1", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert [m["model"].rsplit("/", 1)[-1] for m in r["models"]] == ["float.tflite", "int8.tflite"]
    res = run_cli("bench", models / "float.tflite", "--runs", "3", "--threads", "1", "--kernels", "xnnpack,reference")
    assert res.code == 0 and "xnnpack vs reference kernels: agree" in res.out and "median ms" in res.out


def test_litert_benchmark_is_collected_when_present(models):
    import shutil

    if shutil.which("litert-benchmark") is None:
        pytest.skip("litert-benchmark is not on PATH")
    res = run_cli("bench", models / "float.tflite", "--runs", "3", "--threads", "1", "--litert-benchmark", "--json")
    lb = json.loads(res.out)["models"][0]["litert_benchmark"]
    assert res.code == 0 and lb.get("signature") == "serving_default" and lb["latency"]["num_runs"] == 3


@pytest.mark.parametrize("argv,want", [(["nope.tflite"], "no such file"), (["{pb}"], "not a TensorFlow Lite model"),
                                       (["{f}", "--threads", "0"], "positive whole numbers"),
                                       (["{f}", "--kernels", "gpu"], "choose from xnnpack, builtin, reference")])
def test_bad_input_is_one_line(models, tmp_path, argv, want):
    pb = tmp_path / "m.pb"
    pb.write_bytes(b"\x0a\x03abc")
    argv = [a.format(pb=pb, f=models / "float.tflite") for a in argv]
    assert_clean_error(run_cli("bench", *argv), want)


def test_compare_bench_section(models, fixture_optimized, tmp_path):
    g = fixture_optimized
    graphtools.save_graph_def(g, str(tmp_path / "o.pb"))
    res = run_cli("compare", "--graph", tmp_path / "o.pb", "--tflite", models / "float.tflite", "--bench",
                  "--logdir", "", "--json")
    assert res.code == 0, res.err
    b = json.loads(res.out)["bench"][str(models / "float.tflite")]
    assert b["latency"] and b["agreement"]["xnnpack"]["agrees"]
