"""Graphs with ops that reach the file system or Python are not run unless the user trusts them."""
import os

import numpy as np
import pytest

import builders
import graphtools
from conftest import assert_clean_error, run_cli
from graphtools.verification.comparison import compare
from graphtools.errors import InputError
from graphtools.surgery.passes import PassContext, run_passes

tf, tf1 = builders.tf, builders.tf1


def _read_file_graph(path):
    """out = x + length of the file at ``path`` (a graph that reads the disk when run)."""
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 2], name="x")
        n = tf.cast(tf.strings.length(tf.io.read_file(str(path))), tf.float32)
        tf.identity(x + n, name="out")
    return g.as_graph_def()


def test_strip_refuses_to_run_a_file_reading_graph_unless_trusted(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("abc")
    src = tmp_path / "g.pb"
    graphtools.save_graph_def(_read_file_graph(secret), str(src))
    res = run_cli("strip", "--in", src, "--out", tmp_path / "o.pb", "--outputs", "out", "--logdir", "")
    assert_clean_error(res, "ReadFile", "--allow-unsafe-ops")
    assert not (tmp_path / "o.pb").exists()
    # structural commands still work on it
    assert run_cli("strip", "--in", src, "--out", tmp_path / "o.pb", "--outputs", "out", "--no-verify",
                   "--logdir", "").code == 0
    assert run_cli("inspect", src).code == 0
    res = run_cli("strip", "--in", src, "--out", tmp_path / "o2.pb", "--outputs", "out", "--logdir", "",
                  "--allow-unsafe-ops")
    assert res.code == 0 and "verified" in res.out


def test_constant_folding_never_reads_files(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("abcdef")
    gd = _read_file_graph(secret)
    out, _ = run_passes(gd, ["fold_constants"], PassContext(inputs=["x"], outputs=["out"]))
    assert "ReadFile" in {n.op for n in out.node}


def test_compare_refuses_unsafe_graphs(tmp_path):
    gd = _read_file_graph(tmp_path / "nothing.txt")
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [1, 2], name="x")
        tf.identity(x + 1.0, name="out")
    model = graphtools.convert(g.as_graph_def(), outputs=["out"])
    with pytest.raises(InputError, match="ReadFile"):
        compare(gd, [model], {"x": np.zeros((2, 2), np.float32)}, outputs=["out"])


def test_freeze_checks_what_would_run_a_file_writer_off_the_outputs_path_never_runs(tmp_path):
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 2], name="x")
        w = tf1.get_variable("w", [2, 2], use_resource=False)
        tf.identity(tf.matmul(x, w), name="out")
        tf.io.write_file(str(tmp_path / "pwned.txt"), "hello", name="sneaky")
        saver = tf1.train.Saver()
        with tf1.Session(graph=g) as sess:
            sess.run(tf1.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "model.ckpt"))
    # freezing runs the restore and reads the variables the outputs need: 'sneaky' is not among them
    res = run_cli("freeze", "--ckpt", prefix, "--output-nodes", "out", "--out", tmp_path / "f.pb", "--logdir", "")
    assert res.code == 0, res.err
    assert not os.path.exists(tmp_path / "pwned.txt")
    assert "WriteFile" not in {n.op for n in graphtools.load_graph_def(str(tmp_path / "f.pb")).node}
    # asked for as an output, it would run: refused
    res = run_cli("freeze", "--ckpt", prefix, "--output-nodes", "out,sneaky", "--out", tmp_path / "g.pb",
                  "--logdir", "")
    assert_clean_error(res, "WriteFile at sneaky", "--allow-unsafe-ops")
    assert not os.path.exists(tmp_path / "pwned.txt") and not (tmp_path / "g.pb").exists()
