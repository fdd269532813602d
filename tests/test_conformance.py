"""scripts/conformance.py: a case folder built in code through the named, zero-config and plain routes."""
import json
import os

import numpy as np
import pytest

from builders import tf, tf1
from conftest import ROOT, run_script


def _case(d, scale=1.0):
    """A frozen classifier with a keep_prob placeholder, as a case folder (case.json + ref.npz)."""
    os.makedirs(d, exist_ok=True)
    rng = np.random.RandomState(0)
    w = rng.randn(6, 4).astype(np.float32)
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 6], name="x")
        keep = tf1.placeholder(tf.float32, None, name="keep_prob")
        h = tf.nn.dropout(tf.matmul(x, tf.constant(w)), rate=1 - keep)
        tf.nn.softmax(h, name="prob")
    with open(os.path.join(d, "model.pb"), "wb") as f:
        f.write(g.as_graph_def().SerializeToString())
    xs = rng.rand(4, 6).astype(np.float32)
    e = np.exp(xs @ w)
    y = (e / e.sum(1, keepdims=True) * scale)[:, None, :]  # y[i]: the output of sample i, batch dim included
    np.savez(os.path.join(d, "ref.npz"), x=xs, x0=xs, y=y)
    case = {"id": os.path.basename(d), "repo": "built/in-code", "commit": "0" * 40, "kind": "frozen",
            "source": {"graph": "model.pb"}, "files": {"model.pb": "model.pb"},
            "inputs": [{"name": "x", "tensor": "x:0", "shape": [1, 6], "dtype": "float32", "range": [0, 1]}],
            "output": "prob", "feeds": {"keep_prob": 1.0}, "tol": 1e-4, "why_hard": "keep_prob placeholder"}
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(case, f)
    return d


@pytest.mark.heavy  # (25 s: every route of two cases in their own processes; .ci/run runs it)
def test_the_runner_scores_every_route_and_flags_a_wrong_model(tmp_path):
    _case(str(tmp_path / "cases" / "good"))
    _case(str(tmp_path / "other" / "bad_ref"), scale=1.5)  # a reference the model cannot meet
    res = run_script("conformance", tmp_path / "cases", "--json", "--markdown", tmp_path / "table.md")
    assert res.code == 0, res.err
    rows = {r["case"]: r for r in json.loads(res.out)["rows"]}
    res = run_script("conformance", tmp_path / "other", "--routes", "named", "--json")
    assert res.code == 0, res.err
    rows.update({r["case"]: r for r in json.loads(res.out)["rows"]})
    good = rows["good"]["routes"]
    assert good["named"]["status"] == "pass" and good["zero"]["status"] == "pass", good
    assert good["named"]["rel_diff"] < 1e-5 and good["zero"]["picked"]["outputs"] == ["prob"]
    # plain from_frozen_graph cannot take the unbound keep_prob placeholder: the floor fails, graphtools does not
    assert good["plain"]["status"] == "error" and rows["good"]["worse_than_plain"] == []
    assert rows["bad_ref"]["routes"]["named"]["status"] == "wrong"
    table = (tmp_path / "table.md").read_text()
    assert "| good | built/in-code@0000000000: model.pb | frozen |" in table


def test_the_runner_refuses_what_is_not_a_case_folder(tmp_path):
    res = run_script("conformance", tmp_path)
    assert res.code == 2 and "no case folder" in res.err and "Traceback" not in res.err
    assert os.path.exists(os.path.join(ROOT, "scripts", "conformance.py"))
