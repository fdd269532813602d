"""One signature per command (issue 13, class 3): resolved once with the user's flags, passed to the
randomness probe, the equivalence check, the converter and compare; the graph's own fixed batch;
bound placeholders are not inputs; string inputs are never fed random numbers."""
import json

import numpy as np
import pytest

import graphtools
from builders import tf, tf1
from conftest import assert_clean_error, run_cli
from graphtools.errors import InputError
from graphtools.core.signature import resolve
from graphtools.surgery.stripping import strip_report

RNG = np.random.RandomState(0)
W = RNG.randn(12, 3).astype(np.float32)


def _fixed_by_reshape(target, width=4):
    """x [?, width] -> dropout(keep_prob) -> Reshape to a constant ``target`` -> MatMul -> softmax."""
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, width], name="x")
        keep = tf1.placeholder_with_default(0.5, [], name="keep_prob")
        h = tf1.nn.dropout(x, keep_prob=keep)
        flat = tf.reshape(h, target)  # the batch the author trained with, fixed
        tf.nn.softmax(tf.matmul(flat, W), name="probs")
    return g.as_graph_def()


@pytest.mark.parametrize("target,width,x_batch", [([3, 12], 4, 9), ([1, -1], 12, 1)])
def test_a_batch_fixed_by_a_reshape_is_the_batch_every_run_uses(tmp_path, target, width, x_batch):
    # [3, 12] on [?, 4]: 36 values = batch 9; [1, -1] on [?, 12]: one sample a run (the legacy
    # flatten before a dense layer) -- either way batch 2 fails in TensorFlow
    gd = _fixed_by_reshape(target, width)
    sig = resolve(gd, outputs="probs")
    assert sig.batch == x_batch and sig.names == ["x"]
    assert sig.shapes() == {"x": [x_batch, width]} and sig.check_batch() == x_batch
    r = strip_report(gd)
    assert r.equivalence.checked and all(o["ok"] for o in r.equivalence.outputs.values())
    assert not {"RandomUniform", "Floor"} & set(r.ops_after)
    assert r.signature.batch == x_batch and "keep_prob" not in r.signature.placeholders
    src = tmp_path / "g.pb"
    graphtools.save_graph_def(gd, str(src))
    res = run_cli("pipeline", "--graph", src, "--output-nodes", "probs", "--quantize", "none,dynamic",
                  "--out-dir", tmp_path / "out", "--logdir", "", "--json")
    assert res.code == 0, res.err
    rep = json.loads(res.out)
    assert rep["input_shapes"] == {"x": [x_batch, width]}
    diff = rep["compare"]["models"][0]["outputs"]["probs"]["max_abs_diff"]
    assert diff < 1e-5


def test_a_fixed_size_placeholder_fixes_the_batch_of_the_open_ones():
    # an RNN-style initial state [1, 8] concatenated with [?, 8] inputs: only batch 1 runs
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 8], name="x")
        state = tf1.placeholder(tf.float32, [1, 8], name="state")
        keep = tf1.placeholder_with_default(1.0, [], name="keep_prob")
        h = tf1.nn.dropout(tf.concat([x, state], axis=1), keep_prob=keep)
        tf.tanh(h, name="out")
    gd = g.as_graph_def()
    sig = resolve(gd, outputs="out")
    assert sig.batch == 1 and sig.names == ["x", "state"]
    r = strip_report(gd, outputs="out")
    assert r.equivalence.checked and all(o["ok"] for o in r.equivalence.outputs.values())


def test_a_batch_fixed_where_no_analysis_sees_it_is_checked_at_batch_1():
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        keep = tf1.placeholder_with_default(1.0, [], name="keep_prob")
        h = tf1.nn.dropout(x, keep_prob=keep)
        n = tf.size(x) * 0 + 4  # a computed shape: [1, 4] whatever the batch claims
        tf.matmul(tf.reshape(h, tf.stack([1, n])), W[:4], name="out")
    gd = g.as_graph_def()
    assert resolve(gd, outputs="out").batch is None
    r = strip_report(gd, outputs="out")
    assert r.equivalence.checked and "batch 1" in r.equivalence.note


def test_input_shapes_reach_the_randomness_probe():
    # an input of unknown rank: without its shape the probe cannot run and (conservatively) took the
    # keep_prob dropout for a fixed-rate one; with --input-shapes it runs and sees keep 1.0 is not random
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, None, name="x")
        keep = tf1.placeholder(tf.float32, [], name="Placeholder_2")
        tf.identity(tf1.nn.dropout(x, keep_prob=keep) * 2.0, name="out")
    gd = g.as_graph_def()
    r = strip_report(gd, outputs="out", input_shapes="2,3")
    assert r.equivalence.checked and r.equivalence.note == ""
    assert r.signature.input("x").given == (2, 3)
    assert r.bound == {"Placeholder_2": 1.0}
    r2 = strip_report(gd, outputs="out")  # no shape: nothing can run; it says how to verify
    assert not r2.equivalence.checked and "--input-shapes" in r2.equivalence.note


def _with_bound_scale():
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, None], name="x")
        scale = tf1.placeholder(tf.float32, [], name="scale")
        tf.identity(x * scale, name="out")
    return g.as_graph_def()


def test_bound_placeholders_are_not_inputs_for_input_shapes(tmp_path):
    src, out = tmp_path / "g.pb", tmp_path / "o.pb"
    graphtools.save_graph_def(_with_bound_scale(), str(src))
    res = run_cli("strip", "--in", src, "--out", out, "--outputs", "out", "--remove", "all",
                  "--bind", "scale=2.0", "--input-shapes", "2,3", "--json")
    assert res.code == 0, res.err
    rep = json.loads(res.out)
    assert [i["name"] for i in rep["inputs"]] == ["x"] and rep["verified"]
    res = run_cli("pipeline", "--graph", src, "--output-nodes", "out", "--bind", "scale=2.0", "--input-shapes", "1,3",
                  "--quantize", "none", "--out-dir", tmp_path / "p", "--logdir", "", "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["input_shapes"] == {"x": [1, 3]}
    # too many shapes for the one data input: one line naming it
    res = run_cli("strip", "--in", src, "--out", tmp_path / "o2.pb", "--outputs", "out", "--remove", "all",
                  "--bind", "scale=2.0", "--input-shapes", "2,3:1")
    assert_clean_error(res, "2 shape(s) for 1 input(s)", "x")
    assert not (tmp_path / "o2.pb").exists()


def _string_input():
    g = tf.Graph()
    with g.as_default():
        s = tf1.placeholder(tf.string, [None], name="text")
        keep = tf1.placeholder_with_default(1.0, [], name="keep_prob")
        v = tf.strings.to_number(s)
        tf.identity(tf1.nn.dropout(tf.reshape(v, [-1, 1]), keep_prob=keep), name="out")
    return g.as_graph_def()


def test_string_inputs_are_never_fed_random_numbers(tmp_path):
    gd = _string_input()
    sig = resolve(gd, outputs="out")
    feeds, why = sig.random_feeds()
    assert feeds is None and "string" in why
    r = strip_report(gd, outputs="out")  # stripped by structure; nothing random is run on a string input
    assert "RandomUniform" not in r.ops_after
    assert not r.equivalence.checked and "string" in r.equivalence.note
    src = tmp_path / "g.pb"
    graphtools.save_graph_def(r.graph_def, str(src))
    lite = tmp_path / "m.tflite"
    lite.write_bytes(b"TFL3")  # (compare refuses before it reads the model)
    res = run_cli("compare", "--graph", src, "--tflite", lite, "--outputs", "out")
    assert res.code == 2 and "Traceback" not in res.err


def test_the_signature_is_the_users_flags_applied_once():
    gd = _fixed_by_reshape([-1, 12])  # batch-preserving: nothing fixed
    sig = resolve(gd, outputs="probs", shapes={"x": [6, 4]})
    assert sig.batch is None and sig.input("x").given == (6, 4) and sig.shapes() == {"x": [6, 4]}
    assert sig.flags == {"keep_prob": 1.0} and not sig.outputs_discovered
    with pytest.raises(InputError, match="not a data input"):
        resolve(gd, outputs="probs", shapes={"keep_prob": [1]})
    with pytest.raises(graphtools.errors.NodeNotFoundError):
        resolve(gd, outputs="probs", bind={"kep_prob": 1.0})
    r = strip_report(gd, outputs="probs", input_shapes={"x": [6, 4]})
    after = r.signature
    assert after.names == ["x"] and after.placeholders.keys() == {"x"} and after.input("x").given == (6, 4)
    assert after.against(r.graph_def) == after  # idempotent


def test_input_shapes_may_name_only_the_inputs_whose_shape_is_open():
    g = tf.Graph()
    with g.as_default():
        img = tf1.placeholder(tf.float32, None, name="image")  # unknown: needs a shape
        style = tf1.placeholder(tf.float32, [26], name="style")  # fixed by the graph
        tf.identity(tf.reduce_mean(img) * tf.reduce_sum(style), name="out")
    gd = g.as_graph_def()
    sig = resolve(gd, outputs="out", shapes="1,8,8,3")
    assert sig.shapes() == {"image": [1, 8, 8, 3], "style": [26]}
    assert any("leaves open" in n for n in sig.notes)
    assert resolve(gd, outputs="out", shapes="1,8,8,3:26").shapes()["style"] == [26]  # one per input still works
    with pytest.raises(InputError, match="3 shape"):
        resolve(gd, outputs="out", shapes="1:2:3")
