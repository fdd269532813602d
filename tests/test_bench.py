"""The benchmark script stays runnable (its full sizes run outside the test suite)."""
import json

from conftest import run_script


def test_bench_strip_runs_on_a_small_graph(tmp_path):
    out = tmp_path / "bench.json"
    res = run_script("bench_strip", "--sizes", "600", "--json", out)
    assert res.code == 0, res.err
    (row,) = json.loads(out.read_text())
    assert row["graphtools_dropouts_left"] == 0 and row["tf_dropouts_left"] > 0
    assert row["graphtools_nodes_after"] < row["tf_nodes_after"]
    assert len(row["paired_ratios"]) == 3 and min(row["paired_ratios"]) <= row["paired_median"]  # one per round
