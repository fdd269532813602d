"""Issue 16.2: compare --per-op -- where a difference is born (cumulative and local error per op)."""
import csv
import io
import json
import os

import numpy as np
import pytest

import builders
import graphtools
from conftest import FIXTURES, run_cli
from graphtools.conversion import converter as conversion
from graphtools.verification import perop
from graphtools.core.graph import Graph

tf, tf1 = builders.tf, builders.tf1
DIGITS = np.load(os.path.join(FIXTURES, "digits.npz"))


def _mlp(rng, batch=None):
    g = tf.Graph()
    with g.as_default():
        h = tf1.placeholder(tf.float32, [batch, 12], name="x")
        for k, units in enumerate([16, 16, 8]):
            w = tf.constant((rng.randn(int(h.shape[-1]), units) / np.sqrt(int(h.shape[-1]))).astype(np.float32),
                            name=f"d{k}/w")
            h = tf.nn.bias_add(tf.matmul(h, w), tf.constant(0.1 * rng.randn(units).astype(np.float32)), name=f"d{k}/out")
            h = tf.nn.relu(h, name=f"d{k}/relu") if k < 2 else h
        tf.identity(h, name="y")
    return g.as_graph_def()


def _damaged(graph_def, weight, factor=1.1):
    g = Graph(type(graph_def).FromString(graph_def.SerializeToString()))
    g.set_const(weight, g.const(weight) * factor)
    return g.graph_def


def _row_of(report, weight, graph_def):
    """The row of the TFLite op that computes the TF node reading ``weight``."""
    g = Graph(graph_def)
    (reader,) = g.consumers(weight)
    return next(r for r in report["rows"] if reader in g.ancestors([r["node"]]) and
                weight not in g.ancestors([x["node"] for x in report["rows"] if x["tensor"] in r["inputs"]] or []))


@pytest.mark.parametrize("mode", ["none", "int8"])
def test_the_damaged_layer_ranks_first_by_local_error_and_its_readers_inherit_little(mode):
    rng = np.random.RandomState(3)
    gd = _mlp(rng)
    x = rng.randn(40, 12).astype(np.float32)
    model = graphtools.convert(gd, inputs=["x"], outputs=["y"], quantize=mode, representative_data={"x": x[:32]})
    clean = perop.per_op(gd, model, {"x": x[32:]}, ["x"])
    assert clean["coverage"] == 1.0 and clean["local_skipped"] == 0
    for w in ("d0/w", "d1/w", "d2/w"):
        bad = _damaged(gd, w)
        r = perop.per_op(bad, model, {"x": x[32:]}, ["x"])
        first = next(row for row in r["rows"] if row["tensor"] == r["top_local"][0])
        assert first is _row_of(r, w, bad), (w, r["top_local"])
        assert first["local"]["relative"] > 0.05  # the x1.1 damage shows as ~10 %
        later = [row for row in r["rows"] if row["op_index"] > first["op_index"] and row["local"]]
        # downstream ops make little error of their own, and the one right after the damage carries it
        assert all(row["local"]["relative"] < 0.2 * first["local"]["relative"] for row in later), w
        if later:
            assert max(row["cumulative"]["relative"] for row in later) >= 0.2 * first["local"]["relative"], w


@pytest.mark.parametrize("mode", conversion.MODES)
def test_every_mode_maps_every_op_output_of_the_fixture(mode, fixture_optimized):
    gd = fixture_optimized
    model = graphtools.convert(gd, quantize=mode, representative_data={"x": DIGITS["x_train"][:50]})
    r = perop.per_op(gd, model, {"x": DIGITS["x_test"][:6]}, ["x"])
    assert r["coverage"] == 1.0 and r["local_skipped"] == 0 and r["samples"] == 6
    fused = [row for row in r["rows"] if ";" in row["tensor"]]
    assert fused and all(row["node"] in row["tensor"].split(";") or row["tf_tensor"] for row in fused)
    for row in r["rows"]:
        c = row["cumulative"]
        assert 0 <= c["mean_abs"] <= c["max_abs"] and -1 <= c["cosine"] <= 1 + 1e-9
    worst = max(row["local"]["relative"] for row in r["rows"])
    assert worst < (1e-5 if mode == "none" else 0.05)  # float: equal; quantized: its own rounding


def test_a_fixed_batch_graph_runs_whole_batches():
    rng = np.random.RandomState(0)
    gd = _mlp(rng, batch=4)
    model = graphtools.convert(gd, inputs=["x"], outputs=["y"])
    r = perop.per_op(_damaged(gd, "d1/w"), model, {"x": rng.randn(9, 12).astype(np.float32)}, ["x"], fixed_batch=4)
    assert r["runs"] == 2 and r["samples"] == 8 and r["coverage"] == 1.0
    assert "d1/out" in r["top_local"][0] or "d1/relu" in r["top_local"][0]


def test_cli_per_op_writes_table_json_csv_and_model_explorer_overlays(tmp_path, fixture_optimized):
    gd = fixture_optimized
    graphtools.save_graph_def(gd, str(tmp_path / "o.pb"))
    (tmp_path / "m.tflite").write_bytes(graphtools.convert(gd))
    graphtools.save_graph_def(_damaged(gd, "fc1/W"), str(tmp_path / "bad.pb"))
    np.save(tmp_path / "x.npy", DIGITS["x_test"][:20])
    out = tmp_path / "per"
    res = run_cli("compare", "--graph", tmp_path / "bad.pb", "--tflite", tmp_path / "m.tflite", "--data",
                  tmp_path / "x.npy", "--per-op", out, "--per-op-samples", "5", "--top", "3", "--logdir", "")
    assert res.code == 0, res.err
    assert "per-op m.tflite: 8 of 8 op outputs mapped" in res.out
    table = res.out[res.out.index("  rank  "):].splitlines()
    assert "fc1/MatMul" in table[1] and len([line for line in table if line.strip()[:1].isdigit()]) == 3
    files = sorted(os.listdir(out))
    assert files == ["m.graph.node_data.json", "m.per_op.csv", "m.per_op.json", "m.tflite.node_data.json"]
    rows = list(csv.DictReader(io.StringIO((out / "m.per_op.csv").read_text())))
    assert len(rows) == 8 and max(rows, key=lambda r: float(r["local_relative"]))["tf_node"].startswith("fc1/")
    lite = json.loads((out / "m.tflite.node_data.json").read_text())
    graph = json.loads((out / "m.graph.node_data.json").read_text())
    assert set(lite) == {"results", "gradient"} and all(set(v) == {"value"} for v in lite["results"].values())
    assert [g["stop"] for g in lite["gradient"]][::len(lite["gradient"]) - 1] == [0, 1]
    assert set(graph["results"]) <= {n.name for n in gd.node} and max(graph["results"].items(),
                                                                      key=lambda kv: kv[1]["value"])[0].startswith("fc1/")
    report = json.loads(run_cli("compare", "--graph", tmp_path / "o.pb", "--tflite", tmp_path / "m.tflite",
                                "--per-op", out, "--per-op-samples", "2", "--logdir", "", "--json").out)
    assert report["models"][0]["per_op"]["samples"] == 2 and len(report["per_op_files"]) == 4


def test_every_output_of_a_multi_output_op_is_mapped():
    """SPLIT names its outputs 'a/split', 'a/split1', ...: output k stands for TF's 'a/split:k'."""
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [1, 12], name="x")
        a, b, c = tf.split(tf.nn.relu(x) * 2.0, 3, axis=1, name="s")
        tf.concat([tf.tanh(a), tf.sigmoid(b) * c], axis=1, name="y")
    model = graphtools.convert(g.as_graph_def(), inputs=["x"], outputs=["y"])
    r = perop.per_op(g.as_graph_def(), model, {"x": np.random.RandomState(0).randn(3, 12).astype(np.float32)}, ["x"])
    split = [row for row in r["rows"] if row["op"] == "SPLIT"]
    assert sorted(row["tf_tensor"] for row in split) == ["s:0", "s:1", "s:2"]
    assert r["coverage"] == 1.0 and r["local_skipped"] == 0


def test_a_name_the_converter_made_unique_still_maps():
    """The converter renames a tensor whose name is taken ('sq' -> 'sq1'); the node without the
    number is its TF counterpart (MobileNet's SpatialSqueeze)."""
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [1, 1, 1, 6], name="x")
        sq = tf.squeeze(tf.nn.relu(x), [1, 2], name="sq")
        tf.nn.softmax(sq, name="y")
    model = graphtools.convert(g.as_graph_def(), inputs=["x"], outputs=["y"])
    r = perop.per_op(g.as_graph_def(), model, {"x": np.random.RandomState(0).randn(2, 1, 1, 6).astype(np.float32)}, ["x"])
    assert r["coverage"] == 1.0 and r["local_skipped"] == 0, [(row["tensor"], row.get("local_skipped")) for row in r["rows"]]


def test_the_python_api_names(fixture_optimized):
    gd = fixture_optimized
    model = graphtools.convert(gd)
    assert graphtools.io_card(model)["inputs"][0]["key"] == "x"
    r = graphtools.per_op(gd, model, {"x": DIGITS["x_test"][:3]}, ["x"])
    assert r["coverage"] == 1.0 and len(r["top_local"]) == len(r["rows"])
    cmp = graphtools.compare(gd, [model], {"x": DIGITS["x_test"][:8]}, per_op=2)
    assert cmp["models"][0]["per_op"]["samples"] == 2
