"""Freezing every TF1 source: numbers equal the live session, no variables left, library kept."""
import os
import shutil

import numpy as np
import pytest

import builders
from conftest import FIXTURE_CKPT, FIXTURES, assert_clean_error, run_cli, run_script, sha256
from graphtools.sources import freezing
from graphtools.core import ops as analysis  # (the op families)
from graphtools.errors import InputError, NodeNotFoundError
from graphtools.core.runtime import run_graph

tf1 = builders.tf1
STATEFUL = analysis.VARIABLE_OPS | analysis.VARIABLE_READ_OPS | analysis.ASSIGN_OPS


def assert_frozen(gd):
    assert not {n.op for n in gd.node} & STATEFUL
    for f in gd.library.function:
        assert not {n.op for n in f.node_def} & analysis.VARIABLE_OPS


def digits():
    d = np.load(os.path.join(FIXTURES, "digits.npz"))
    return d["x_test"], d["y_test"]


def session_outputs(prefix, feeds, fetches):
    """Restore the checkpoint with its own meta graph in a session, the way the trainer ran it."""
    g = builders.tf.Graph()
    with g.as_default(), tf1.Session(graph=g) as sess:
        saver = tf1.train.import_meta_graph(prefix + ".meta")
        saver.restore(sess, prefix)
        return sess.run([f + ":0" for f in fetches], {k + ":0": v for k, v in feeds.items()})


def test_fixture_checkpoint_freezes_to_the_session_numbers(fixture_frozen):
    x, y = digits()
    feeds = {"x": x, "keep_prob": 1.0, "is_training": False}
    expected = session_outputs(FIXTURE_CKPT, feeds, ["prediction", "fc2/logits"])
    got = run_graph(fixture_frozen.graph_def, feeds, ["prediction", "fc2/logits"])
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
    assert_frozen(fixture_frozen.graph_def)
    acc = float((got[0].argmax(1) == y).mean())
    assert acc >= 0.95  # the fixture promises an honest accuracy for later stages
    assert {i["name"]: i["role"] for i in fixture_frozen.inputs} == {
        "x": "data", "keep_prob": "training_flag", "is_training": "training_flag"}


def test_checkpoint_directory_takes_the_latest(tmp_path):
    b1 = builders.mlp(str(tmp_path), seed=1)
    # a second, newer checkpoint in the same directory with other weights
    b2 = builders.mlp(str(tmp_path / "other"), seed=2)
    for f in os.listdir(tmp_path / "other"):
        if f.startswith("model.ckpt-1."):
            shutil.copy(tmp_path / "other" / f, tmp_path / f.replace("ckpt-1.", "ckpt-7."))
    with open(tmp_path / "checkpoint", "w") as f:
        f.write('model_checkpoint_path: "/somewhere/else/model.ckpt-7"\n')  # trainer's absolute path
    r = freezing.freeze(ckpt=str(tmp_path), output_nodes="prob")
    got = run_graph(r.graph_def, b2.feeds, ["prob"])[0]
    np.testing.assert_allclose(got, b2.expected[0], rtol=1e-6)
    assert not np.allclose(got, b1.expected[0])


@pytest.mark.parametrize("resource", [False, True], ids=["VariableV2", "resource"])
@pytest.mark.parametrize("cond", [None, 1, 2], ids=["plain", "cond_v1", "cond_v2"])
def test_checkpoint_with_meta_graph(tmp_path, resource, cond):
    b = builders.mlp(str(tmp_path), resource=resource, cond=cond)
    r = freezing.freeze(ckpt=b.prefix, output_nodes="prob")
    np.testing.assert_allclose(run_graph(r.graph_def, b.feeds, ["prob"])[0], b.expected[0], rtol=1e-6)
    assert_frozen(r.graph_def)
    ops = {n.op for n in r.graph_def.node}
    if cond == 2:
        assert ops & {"If", "StatelessIf"}
        assert len(r.graph_def.library.function) >= 2  # branch bodies kept
    if cond == 1:
        assert "Switch" in ops and "Merge" in ops


def test_partitioned_variables_from_meta_and_from_graph_def(tmp_path):
    b = builders.mlp(str(tmp_path), partitioned=True)
    assert any(n.name == "dense1/kernel/part_1" for n in b.graph_def.node)
    for kwargs in ({}, {"graph": b.graph_def}):
        r = freezing.freeze(ckpt=b.prefix, output_nodes="prob", **kwargs)
        np.testing.assert_allclose(run_graph(r.graph_def, b.feeds, ["prob"])[0], b.expected[0], rtol=1e-6)
        assert_frozen(r.graph_def)


@pytest.mark.parametrize("fmt", ["pb", "pbtxt"])
@pytest.mark.parametrize("resource", [False, True], ids=["VariableV2", "resource"])
def test_graph_def_plus_checkpoint_like_freeze_graph(tmp_path, fmt, resource):
    b = builders.mlp(str(tmp_path), resource=resource, cond=2, save_meta=False)
    assert not os.path.exists(b.prefix + ".meta")
    import graphtools

    graph_path = str(tmp_path / f"graph.{fmt}")
    graphtools.save_graph_def(b.graph_def, graph_path)
    out = tmp_path / "frozen.pb"
    # the old freeze_graph.py flag names, verbatim
    res = run_cli("freeze", f"--input_graph={graph_path}", f"--input_binary={'true' if fmt == 'pb' else 'false'}",
                  f"--input_checkpoint={b.prefix}", "--output_node_names=prob", f"--output_graph={out}",
                  "--logdir", "")
    assert res.code == 0, res.err
    gd = graphtools.load_graph_def(str(out))
    np.testing.assert_allclose(run_graph(gd, b.feeds, ["prob"])[0], b.expected[0], rtol=1e-6)
    assert_frozen(gd)


def test_saved_model_v1_defaults_to_its_signature(tmp_path):
    b = builders.saved_model_v1(str(tmp_path / "sm"))
    r = freezing.freeze(saved_model=b.path)
    assert r.outputs == ["scores"] and r.discovered
    assert [i["name"] for i in r.inputs] == ["images"]
    np.testing.assert_allclose(run_graph(r.graph_def, b.feeds, ["scores"])[0], b.expected[0], rtol=1e-6)
    assert_frozen(r.graph_def)
    with pytest.raises(InputError, match="available: serve"):
        freezing.freeze(saved_model=b.path, tags="train")


def test_keras_h5_is_frozen_in_inference_mode(tmp_path):
    b = builders.keras_h5(str(tmp_path / "model.h5"))
    r = freezing.freeze(keras=b.path)
    ops = {n.op for n in r.graph_def.node}
    assert not ops & analysis.STOCHASTIC_OPS  # dropout gone: learning phase 0
    assert not ops & {"FusedBatchNormV3", "Switch", "If", "StatelessIf", "Mean"}  # moving statistics, no batch stats
    assert_frozen(r.graph_def)
    np.testing.assert_allclose(run_graph(r.graph_def, {r.inputs[0]["name"]: b.feeds["dense_1_input"]}, r.outputs)[0],
                               b.expected[0], rtol=1e-5, atol=1e-6)


def test_live_session():
    import graphtools

    g, sess, b = builders.mlp_session(cond=2)
    try:
        gd = graphtools.freeze_session(sess, ["out:0"])
    finally:
        sess.close()
    assert_frozen(gd)
    assert len(gd.library.function) >= 2
    np.testing.assert_allclose(run_graph(gd, b.feeds, ["out"])[0], b.expected[0], rtol=1e-6)
    # the true branch (a different constant path through the If) agrees as well
    np.testing.assert_allclose(run_graph(gd, {**b.feeds, "is_training": True}, ["out"])[0], 2 * b.expected[0],
                               rtol=1e-6)


def test_output_discovery_skips_training_and_label_nodes(tmp_path):
    b = builders.mlp(str(tmp_path))
    r = freezing.freeze(ckpt=b.prefix)
    assert r.discovered and r.outputs == ["prob"]
    names = {c["name"] for c in r.candidates}
    assert not any(n.startswith(("loss", "gradients", "Momentum", "save")) for n in names)
    assert [i["name"] for i in r.inputs] == ["x"]  # the label placeholder is not an input


def test_unknown_output_node_lists_close_names(tmp_path):
    with pytest.raises(NodeNotFoundError, match="closest: prediction"):
        freezing.freeze(ckpt=FIXTURE_CKPT, output_nodes="predictions")


def test_cli_freeze_end_to_end_and_ignored_flags(tmp_path):
    out = tmp_path / "deep" / "frozen.pb"
    before = sha256(FIXTURE_CKPT + ".meta")
    res = run_cli("freeze", "--ckpt", FIXTURE_CKPT, "--out", out, "--logdir", tmp_path / "logs",
                  "--clear_devices=true", "--json")
    assert res.code == 0, res.err
    import json

    report = json.loads(res.out)
    assert report["outputs"] == ["prediction"] and report["outputs_discovered"]
    assert report["variables_frozen"] == 33
    assert "--clear_devices is accepted" in res.err
    assert out.exists() and sha256(FIXTURE_CKPT + ".meta") == before
    assert not [f for f in os.listdir(out.parent) if f.endswith(".tmp")]


def test_freeze_script_wrapper_runs_like_the_subcommand(tmp_path):
    out = tmp_path / "f.pb"
    res = run_script("freeze", "--ckpt", FIXTURE_CKPT, "--output-nodes", "fc2/logits", "--out", out,
                     "--logdir", "")
    assert res.code == 0, res.err
    assert "outputs: fc2/logits" in res.out
    assert res.err.strip() == ""  # TensorFlow's start-up noise is silenced
    res = run_script("freeze", "--ckpt", FIXTURE_CKPT, "--output-nodes", "nope", "--out", tmp_path / "g.pb")
    assert_clean_error(res, "nope")
    assert not (tmp_path / "g.pb").exists()
