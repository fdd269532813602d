"""Benchmark: graphtools strip --remove all vs TensorFlow's remove_training_nodes + optimize_for_inference.

Builds frozen graphs of about 13k, 52k and 208k nodes (repeated blocks of MatMul, Identity, batch
norm, Relu and keep_prob dropout) and times both tools on the same graphs in the same run:

    python scripts/bench_strip.py [--sizes 13000,52000,208000] [--repeat 1] [--json out.json]

Prints a table: nodes, TensorFlow seconds, graphtools seconds, ratio, dropouts left by each, and
graphtools' peak memory as a multiple of the GraphDef's in-memory size.
"""
import argparse
import gc
import json
import os
import sys
import time
import tracemalloc

sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from graphtools import _tf  # noqa: E402

_tf.quiet()
tf = _tf.tf()
import numpy as np  # noqa: E402


def block_graph_def():
    """One block, built by TensorFlow: x -> MatMul -> Identity -> batch norm -> Relu -> dropout."""
    rng = np.random.RandomState(0)
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 8], name="x")
        keep = tf.compat.v1.placeholder(tf.float32, name="keep_prob")
        h = tf.matmul(x, tf.constant(rng.randn(8, 8).astype(np.float32), name="w"), name="matmul")
        h = tf.identity(h, name="identity")
        h = tf.nn.batch_normalization(h, rng.randn(8).astype(np.float32), rng.rand(8).astype(np.float32) + 0.5,
                                      rng.randn(8).astype(np.float32), rng.rand(8).astype(np.float32) + 0.5,
                                      1e-3, name="bn")
        h = tf.nn.relu(h, name="relu")
        tf.compat.v1.nn.dropout(h, keep_prob=keep, name="dropout")
    return g.as_graph_def()


def chain(blocks):
    """Repeat the block ``blocks`` times, each reading the previous block's dropout output."""
    block = block_graph_def()
    out_name = [n.name for n in block.node if n.op == "SelectV2"][0]
    gd = tf.compat.v1.GraphDef()
    for n in block.node:
        if n.name in ("x", "keep_prob"):
            gd.node.add().CopyFrom(n)
    prev = "x"
    for b in range(blocks):
        p = f"b{b}/"
        for n in block.node:
            if n.name in ("x", "keep_prob"):
                continue
            m = gd.node.add()
            m.CopyFrom(n)
            m.name = p + n.name
            del m.input[:]
            for i in n.input:
                ctrl = i.startswith("^")
                src = i.lstrip("^")
                base = src.split(":")[0]
                if base == "x":
                    new = prev
                elif base == "keep_prob":
                    new = src
                else:
                    new = p + src
                m.input.append(("^" if ctrl else "") + new)
        prev = p + out_name
    out = gd.node.add()
    out.name, out.op = "output", "Identity"
    out.input.append(prev)
    out.attr["T"].type = tf.float32.as_datatype_enum
    return gd


def count(gd, ops):
    return sum(1 for n in gd.node if n.op in ops)


def time_tf(gd):
    from tensorflow.python.tools import optimize_for_inference_lib

    t = time.perf_counter()
    a = tf.compat.v1.graph_util.remove_training_nodes(gd, protected_nodes=["x", "output"])
    b = optimize_for_inference_lib.optimize_for_inference(a, ["x"], ["output"], tf.float32.as_datatype_enum)
    return time.perf_counter() - t, b


def time_graphtools(gd, verify):
    """Seconds for strip --remove all (best of ``repeat``), and its result."""
    from graphtools.surgery import strip_report as strip

    gc.collect()
    t = time.perf_counter()
    r = strip(gd, remove=["all"], inputs=["x"], outputs=["output"], verify=verify)
    return time.perf_counter() - t, r.graph_def


def peak_memory(gd):
    """Peak Python-heap bytes allocated while stripping (a separate run: tracemalloc slows Python down)."""
    from graphtools.surgery import strip_report as strip

    gc.collect()
    tracemalloc.start()
    strip(gd, remove=["all"], inputs=["x"], outputs=["output"], verify=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="13000,52000,208000", help="approximate node counts")
    ap.add_argument("--verify", action="store_true", help="include the equivalence check in graphtools' time")
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs per tool and size (default 1)")
    ap.add_argument("--memory", action="store_true", help="also measure peak memory (a separate, slower run)")
    ap.add_argument("--json", help="write the rows as JSON")
    args = ap.parse_args()
    per_block = len(block_graph_def().node) - 2
    warm = chain(20)  # first calls pay for imports; time neither tool on them
    time_tf(warm)
    time_graphtools(warm, args.verify)
    rows = []
    print(f"{'nodes':>8} {'TF s':>8} {'graphtools s':>13} {'ratio':>6} {'TF dropouts left':>17} "
          f"{'ours left':>9} {'ours nodes':>10} {'peak mem / GraphDef':>20}")
    for size in [int(s) for s in args.sizes.split(",")]:
        gd = chain(max(1, size // per_block))
        n = len(gd.node)
        gd_bytes = gd.ByteSize()
        t_tf, out_tf = min((time_tf(gd) for _ in range(args.repeat)), key=lambda r: r[0])
        t_gt, out_gt = min((time_graphtools(gd, args.verify) for _ in range(args.repeat)), key=lambda r: r[0])
        peak = peak_memory(gd) if args.memory else float("nan")
        row = {"nodes": n, "tf_s": round(t_tf, 3), "graphtools_s": round(t_gt, 3), "ratio": round(t_gt / t_tf, 3),
               "tf_dropouts_left": count(out_tf, {"RandomUniform"}),
               "graphtools_dropouts_left": count(out_gt, {"RandomUniform"}),
               "graphtools_nodes_after": len(out_gt.node), "tf_nodes_after": len(out_tf.node),
               "peak_memory_over_graphdef": round(peak / gd_bytes, 2)}
        rows.append(row)
        print(f"{n:>8} {t_tf:>8.2f} {t_gt:>13.2f} {row['ratio']:>6.2f} {row['tf_dropouts_left']:>17} "
              f"{row['graphtools_dropouts_left']:>9} {row['graphtools_nodes_after']:>10} "
              f"{row['peak_memory_over_graphdef']:>20.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
