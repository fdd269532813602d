"""The benchmark script stays runnable (its full sizes run outside the test suite)."""
import json
import subprocess

import pytest

from conftest import ROOT, assert_clean_error, run_script


def test_bench_strip_runs_on_a_small_graph(tmp_path):
    out = tmp_path / "bench.json"
    res = run_script("bench_strip", "--sizes", "600", "--json", out)
    assert res.code == 0, res.err
    (row,) = json.loads(out.read_text())
    assert row["graphtools_dropouts_left"] == 0 and row["tf_dropouts_left"] > 0
    assert row["graphtools_nodes_after"] < row["tf_nodes_after"]
    assert len(row["paired_ratios"]) == 3 and min(row["paired_ratios"]) <= row["paired_median"]  # one per round


def test_bench_strip_ab_compares_two_revisions_in_one_process():
    if subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True).returncode:
        pytest.skip("not a git checkout")
    res = run_script("bench_strip_ab", "--rev", "HEAD", "--sizes", "600", "--pairs", "1")
    assert res.code == 0, res.err
    (row,) = [line.split() for line in res.out.splitlines()[1:]]
    assert int(row[0]) > 500 and float(row[-1]) > 0  # nodes, ..., the median ratio
    bad = run_script("bench_strip_ab", "--rev", "no-such-revision")
    assert_clean_error(bad, "no-such-revision", "--rev")


def test_bench_perop_finds_the_damaged_layer_on_a_small_run():
    res = run_script("bench_perop", "--seeds", "1", "--modes", "none,int8", "--corpus", "/nonexistent")
    assert res.code == 0, res.err
    assert "  all             16    16    100.0%" in res.out, res.out
