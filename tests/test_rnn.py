"""Legacy recurrent models (issue 14), each built in code as TF1 trained it (v1 while loops over
TensorArrays, dropout by DropoutWrapper, a loss and an optimizer), saved as a training checkpoint,
then frozen, stripped and converted to a model of builtin ops only, checked against the inference
graph built from the same checkpoint."""
import collections
import os

import numpy as np
import pytest

from builders import control_flow, tf, tf1
from graphtools.conversion import converter as conversion, loops
from graphtools.core import tflite
from graphtools.sources.freezing import freeze
from graphtools.surgery.stripping import strip_report

B, T, F, UNITS, CLASSES = 2, 6, 3, 4, 3


def _cell(kind, keep, layer=0):
    rnn = tf1.nn.rnn_cell
    if kind == "gru":
        c = rnn.GRUCell(UNITS, name=f"gru_{layer}")
    else:
        c = rnn.LSTMCell(UNITS, use_peepholes=kind == "peephole", name=f"lstm_{layer}")
    if keep is not None:
        variational = isinstance(keep, tuple)
        k = keep[0] if variational else keep
        c = rnn.DropoutWrapper(c, input_keep_prob=k, state_keep_prob=k, output_keep_prob=k,
                               variational_recurrent=variational, dtype=tf.float32,
                               input_size=F if layer == 0 else UNITS)
    return c


def _model(x, cfg, keep, static=False, seq=None):
    """logits = dense(last output) of the configured recurrent net."""
    kind, layers, bidir = cfg["cell"], cfg.get("layers", 1), cfg.get("bidir", False)

    def make():
        cells = [_cell(kind, keep, k) for k in range(layers)]
        return cells[0] if layers == 1 else tf1.nn.rnn_cell.MultiRNNCell(cells)

    if bidir:
        if static:
            outs, _, _ = tf1.nn.static_bidirectional_rnn(make(), make(), tf.unstack(x, axis=1), dtype=tf.float32,
                                                         sequence_length=seq)
            last = outs[-1]
        else:
            (fw, bw), _ = tf1.nn.bidirectional_dynamic_rnn(make(), make(), x, dtype=tf.float32, sequence_length=seq)
            last = tf.concat([fw, bw], 2)[:, -1]
    elif static:
        outs, _ = tf1.nn.static_rnn(make(), tf.unstack(x, axis=1), dtype=tf.float32, sequence_length=seq)
        last = outs[-1]
    else:
        outs, _ = tf1.nn.dynamic_rnn(make(), x, dtype=tf.float32, sequence_length=seq)
        last = outs[:, -1]
    return tf1.layers.dense(last, CLASSES, name="dense")


def _train_checkpoint(d, cfg):
    """The training graph (dropout on, loss, Adam) as TF1 saved it; returns the checkpoint prefix."""
    g = tf.Graph()
    with g.as_default(), control_flow(1):
        tf1.set_random_seed(0)
        x = tf1.placeholder(tf.float32, [None, T, F], name="x")
        seq = tf1.placeholder(tf.int32, [None], name="seq_len") if cfg.get("seq") else None
        labels = tf1.placeholder(tf.int64, [None], name="labels")
        dropout = cfg.get("dropout")
        if dropout == "placeholder":
            keep = tf1.placeholder(tf.float32, [], name="keep_prob")
        elif dropout == "variational":
            keep = (tf1.placeholder(tf.float32, [], name="keep_prob"),)
        elif dropout == "constant":
            keep = 0.8
        else:
            keep = None
        logits = tf.identity(_model(x, cfg, keep, static=cfg.get("static", False), seq=seq), name="logits")
        loss = tf1.losses.sparse_softmax_cross_entropy(labels, logits)
        tf1.train.AdamOptimizer(1e-3).minimize(loss)
        with tf1.Session(graph=g) as s:
            s.run(tf1.global_variables_initializer())
            prefix = os.path.join(d, "model.ckpt")
            tf1.train.Saver().save(s, prefix)
    return prefix


def _inference(prefix, cfg, feeds, static=False):
    """The inference graph (no dropout) from the same checkpoint: (logits, GraphDef frozen)."""
    g = tf.Graph()
    with g.as_default(), control_flow(1):
        x = tf1.placeholder(tf.float32, [B, T, F], name="x")
        seq = tf1.placeholder(tf.int32, [B], name="seq_len") if cfg.get("seq") else None
        logits = tf.identity(_model(x, cfg, None, static=static or cfg.get("static", False), seq=seq), name="logits")
        with tf1.Session(graph=g) as s:
            tf1.train.Saver().restore(s, prefix)
            fd = {"x:0": feeds["x"]}
            if seq is not None:
                fd["seq_len:0"] = feeds["seq_len"]
            out = s.run(logits, fd)
            gd = tf1.graph_util.convert_variables_to_constants(s, g.as_graph_def(), ["logits"])
    return out, gd


def _run_lite(model, feeds):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model)
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], feeds[d["name"]])
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


CASES = {
    "lstm": {"cell": "lstm"},
    "gru": {"cell": "gru"},
    "peephole": {"cell": "peephole"},
    "multi_layer": {"cell": "lstm", "layers": 2},
    "bidirectional": {"cell": "lstm", "bidir": True},
    "dropout_placeholder": {"cell": "lstm", "dropout": "placeholder"},
    "dropout_constant": {"cell": "gru", "dropout": "constant"},
    "dropout_variational": {"cell": "lstm", "dropout": "variational"},
    "bidir_multi_dropout": {"cell": "lstm", "layers": 2, "bidir": True, "dropout": "placeholder"},
    "sequence_length": {"cell": "lstm", "seq": True},
    "static_rnn": {"cell": "lstm", "static": True, "dropout": "placeholder"},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_recurrent_training_checkpoints_convert_to_builtins(tmp_path, case):
    cfg = CASES[case]
    prefix = _train_checkpoint(str(tmp_path), cfg)
    rng = np.random.RandomState(1)
    feeds = {"x": rng.randn(B, T, F).astype(np.float32)}
    shapes = {"x": [B, T, F]}
    if cfg.get("seq"):
        feeds["seq_len"] = np.array([T, T - 2], np.int32)
        shapes["seq_len"] = [B]
    ref, _ = _inference(prefix, cfg, feeds)
    fz = freeze(ckpt=prefix, output_nodes="logits")
    sr = strip_report(fz.graph_def, input_shapes=shapes)
    assert sr.equivalence.checked or "fixed rate" in sr.equivalence.note, sr.equivalence
    left = collections.Counter(n.op for n in sr.graph_def.node)
    assert not [op for op in left if "Random" in op], left
    assert not {"keep_prob", "labels"} & set(sr.signature.placeholders)
    gd, sig, rnn = conversion.prepare_loops(sr.graph_def, sr.signature)
    assert not loops.has_tensor_arrays(gd)
    if cfg.get("static"):
        assert rnn is None  # nothing recurrent left to lower
    elif cfg.get("seq"):
        assert rnn["route"] == "while" and "sequence_length" in rnn["loops"][0]["why"]
    else:  # --rnn auto: both forms built, verified and timed; the cheaper kept, and why said
        assert rnn["route"] in ("unroll", "while") and set(rnn["measured"]) == {"unroll", "while"}, rnn
        assert rnn["why"] and (rnn["route"] == "while" or all(lp["trip_count"] == T for lp in rnn["loops"]))
    model = conversion.convert(gd, signature=sig)
    ops = tflite.summarize(model)["op_histogram"]
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM" or "RANDOM" in op], ops
    if rnn:
        assert rnn["verified"]  # the lowered graph was run against the loops in TensorFlow
    got = _run_lite(model, feeds)
    scale = np.abs(ref).max()
    assert np.abs(got - ref).max() <= 1e-4 * max(scale, 1.0), (np.abs(got - ref).max(), scale)
    if rnn and rnn["route"] == "unroll":  # no more ops than the same model built with a static unroll
        _, static_gd = _inference(prefix, cfg, feeds, static=True)
        static = conversion.convert(static_gd, inputs=["x"], outputs=["logits"], shapes={"x": [B, T, F]})
        assert tflite.summarize(model)["operators"] <= tflite.summarize(static)["operators"]


def test_while_route_is_forced_and_matches(tmp_path):
    cfg = {"cell": "lstm", "dropout": "placeholder"}
    prefix = _train_checkpoint(str(tmp_path), cfg)
    feeds = {"x": np.random.RandomState(2).randn(B, T, F).astype(np.float32)}
    ref, _ = _inference(prefix, cfg, feeds)
    sr = strip_report(freeze(ckpt=prefix, output_nodes="logits").graph_def, input_shapes={"x": [B, T, F]})
    gd, sig, rnn = conversion.prepare_loops(sr.graph_def, sr.signature, rnn="while")
    assert rnn["route"] == "while"
    model = conversion.convert(gd, signature=sig)
    ops = tflite.summarize(model)["op_histogram"]
    assert "WHILE" in ops and not [op for op in ops if op.startswith("Flex")]
    assert np.abs(_run_lite(model, feeds) - ref).max() < 1e-4
    with pytest.raises(Exception, match="--rnn while"):  # a trip count set by data cannot be unrolled
        cfg2 = {"cell": "lstm", "seq": True}
        p2 = _train_checkpoint(str(tmp_path / "s"), cfg2)
        sr2 = strip_report(freeze(ckpt=p2, output_nodes="logits").graph_def,
                           input_shapes={"x": [B, T, F], "seq_len": [B]})
        conversion.prepare_loops(sr2.graph_def, sr2.signature, rnn="unroll")



def test_strip_inside_a_v1_loop_keeps_every_rewrite_in_its_frame():
    # constants made inside the body (anchored to the frame by a control input) fold into constants
    # that stay anchored; identity chains and dropout inside the frame go; the keep flag is bound
    from graphtools.core.runtime import run_graph

    g = tf.Graph()
    with g.as_default(), control_flow(1):
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        keep = tf1.placeholder(tf.float32, [], name="Placeholder_3")

        def body(i, acc):
            c = tf.constant(2.0) * tf.constant(0.25)
            h = tf.identity(tf.identity(acc * c))
            return i + 1, tf1.nn.dropout(h, keep_prob=keep) + x

        _, out = tf1.while_loop(lambda i, a: i < 4, body, [tf.constant(0), tf.zeros_like(x)])
        tf.identity(out, name="y")
    gd = g.as_graph_def()
    r = strip_report(gd, outputs="y", input_shapes={"x": [2, 3]})
    assert r.equivalence.checked and all(o["ok"] for o in r.equivalence.outputs.values())
    assert r.bound == {"Placeholder_3": 1.0}
    ops = collections.Counter(n.op for n in r.graph_def.node)
    assert not [op for op in ops if "Random" in op] and ops["Mul"] == 1  # 2 * 0.25 folded, in its frame
    folded = [n for n in r.graph_def.node if n.op == "Const" and any(i.startswith("^") for i in n.input)]
    assert folded, "the folded constant lost its frame anchor"
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    want = run_graph(gd, {"x": x, "Placeholder_3": 1.0}, ["y"])[0]
    assert np.allclose(run_graph(r.graph_def, {"x": x}, ["y"])[0], want)
    again = strip_report(r.graph_def, outputs="y", input_shapes={"x": [2, 3]})  # idempotent
    assert collections.Counter(n.op for n in again.graph_def.node) == ops


def test_convert_cli_names_the_route_and_refuses_an_impossible_one(tmp_path):
    import json

    import graphtools
    from conftest import assert_clean_error, run_cli

    cfg = {"cell": "gru", "seq": True}
    prefix = _train_checkpoint(str(tmp_path), cfg)
    sr = strip_report(freeze(ckpt=prefix, output_nodes="logits").graph_def,
                      input_shapes={"x": [B, T, F], "seq_len": [B]})
    src = tmp_path / "optimized.pb"
    graphtools.save_graph_def(sr.graph_def, str(src))
    res = run_cli("convert", "--in", src, "--out", tmp_path / "m.tflite", "--output-arrays", "logits",
                  "--input-shapes", f"{B},{T},{F}:{B}", "--json")
    assert res.code == 0, res.err
    rep = json.loads(res.out)
    assert rep["rnn"]["route"] == "while" and any("TFLite WHILE" in n for n in rep["notes"])
    assert not [op for m in rep["models"] for op in m["op_histogram"] if op.startswith("Flex")]
    res = run_cli("convert", "--in", src, "--out", tmp_path / "u.tflite", "--output-arrays", "logits",
                  "--input-shapes", f"{B},{T},{F}:{B}", "--rnn", "unroll")
    assert_clean_error(res, "cannot be unrolled", "sequence_length", "--rnn while")
    assert not (tmp_path / "u.tflite").exists()


def test_auto_keeps_the_faster_loop_form_or_the_smaller_when_as_fast():
    from graphtools.conversion.converter import choose_loop_form

    peephole = {"unroll": {"ops": 1020, "bytes": 265000, "ms": 0.42}, "while": {"ops": 30, "bytes": 102000, "ms": 0.21}}
    assert choose_loop_form(peephole)[0] == "while" and "faster" in choose_loop_form(peephole)[1]
    short = {"unroll": {"ops": 40, "bytes": 9000, "ms": 0.010}, "while": {"ops": 30, "bytes": 8000, "ms": 0.030}}
    assert choose_loop_form(short)[0] == "unroll"
    tie = {"unroll": {"ops": 40, "bytes": 9000, "ms": 0.0100}, "while": {"ops": 30, "bytes": 8000, "ms": 0.0105}}
    assert choose_loop_form(tie) == ("while", choose_loop_form(tie)[1]) and "smaller" in choose_loop_form(tie)[1]
