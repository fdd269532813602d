"""Benchmark: the two routes for a TF1 recurrent loop, side by side at a few sequence lengths.

    python scripts/bench_rnn.py [--lengths 8,32,128] [--units 64] [--layers 2] [--runs 50]

Builds a frozen TF1 ``dynamic_rnn`` (MultiRNNCell of LSTMs, v1 while loop over TensorArrays) for each
sequence length, converts it both ways (``--rnn unroll``: the body repeated T times; ``--rnn while``:
TensorList ops in a TFLite WHILE), checks both against TensorFlow, and prints op count, .tflite
size, conversion time and LiteRT latency per sequence (median of --runs invokes, batch 1).
"""
import argparse
import os
import statistics
import sys
import time

sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from graphtools import _tf  # noqa: E402

_tf.quiet()
import numpy as np  # noqa: E402

FEATURES = 16


def build(length, units, layers):
    from tensorflow.python.ops import control_flow_util

    tf = _tf.tf()
    tf1 = tf.compat.v1
    old = control_flow_util.ENABLE_CONTROL_FLOW_V2
    control_flow_util.ENABLE_CONTROL_FLOW_V2 = False  # the v1 loops TF 1.x wrote
    try:
        g = tf.Graph()
        with g.as_default():
            tf1.set_random_seed(0)
            x = tf1.placeholder(tf.float32, [None, length, FEATURES], name="x")
            cell = tf1.nn.rnn_cell.MultiRNNCell([tf1.nn.rnn_cell.LSTMCell(units) for _ in range(layers)])
            out, _ = tf1.nn.dynamic_rnn(cell, x, dtype=tf.float32)
            tf.identity(tf1.layers.dense(out[:, -1], 10), name="logits")
            with tf1.Session(graph=g) as s:
                s.run(tf1.global_variables_initializer())
                return tf1.graph_util.convert_variables_to_constants(s, g.as_graph_def(), ["logits"])
    finally:
        control_flow_util.ENABLE_CONTROL_FLOW_V2 = old


def latency(model, x, runs):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model, num_threads=1)
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    it.set_tensor(i, x)
    it.invoke()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        it.invoke()
        times.append(time.perf_counter() - t)
    return it.get_tensor(o), 1000 * statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", default="8,32,128")
    ap.add_argument("--units", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    from graphtools.conversion import converter as conversion
    from graphtools.core import tflite
    from graphtools.core.runtime import run_graph
    from graphtools.core.signature import resolve

    rows = []
    for length in [int(v) for v in args.lengths.split(",")]:
        gd = build(length, args.units, args.layers)
        x = np.random.RandomState(0).randn(1, length, FEATURES).astype(np.float32)
        ref = run_graph(gd, {"x": x}, ["logits"])[0]
        sig = resolve(gd, outputs="logits", shapes={"x": [1, length, FEATURES]})
        for route in ("unroll", "while"):
            t = time.perf_counter()
            lowered, lsig, _ = conversion.prepare_loops(gd, sig, route)
            model = conversion.convert(lowered, signature=lsig)
            seconds = time.perf_counter() - t
            got, ms = latency(model, x, args.runs)
            info = tflite.summarize(model)
            rows.append((length, route, info["operators"], len(model), seconds, ms, float(np.abs(got - ref).max())))
            print(f"  T={length} {route}: done", file=sys.stderr, flush=True)
    print(f"dynamic_rnn, {args.layers} x LSTM({args.units}), {FEATURES} features, batch 1, LiteRT 1 thread, "
          f"median of {args.runs}")
    print("| T | route | ops | .tflite | convert s | ms / sequence | max abs diff vs TF |")
    print("|---|---|---|---|---|---|---|")
    for length, route, ops, size, seconds, ms, diff in rows:
        print(f"| {length} | {route} | {ops} | {size / 1024:.1f} KB | {seconds:.2f} | {ms:.3f} | {diff:.1e} |")
    print("ratios (unroll / while):")
    for length in sorted({r[0] for r in rows}):
        u, w = [r for r in rows if r[0] == length]
        print(f"  T={length}: ops {u[2] / w[2]:.1f}x, size {u[3] / w[3]:.2f}x, latency {u[5] / w[5]:.2f}x")


if __name__ == "__main__":
    main()
