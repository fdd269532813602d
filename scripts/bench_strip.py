"""Benchmark: graphtools strip --remove all vs TensorFlow's remove_training_nodes + optimize_for_inference.

Builds frozen graphs of about 13k, 52k and 208k nodes (repeated blocks of MatMul, Identity, batch
norm, Relu and keep_prob dropout) and times both tools on the same graphs in the same run:

    python scripts/bench_strip.py [--sizes 13000,52000,208000] [--repeat 3] [--json out.json]

Prints a table: nodes, TensorFlow seconds and graphtools seconds (best of --repeat), their ratio,
the median of the per-round ratios ("paired": the tools take turns, so each round's two timings see
the same machine), dropouts left by each, and graphtools' peak memory as a multiple of the
GraphDef's in-memory size.
"""
import argparse
import gc
import json
import os
import statistics
import sys
import time

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
    """Seconds for strip --remove all as ``graphtools strip`` runs it (on the graph it loaded, which it
    hands over instead of copying), and its result."""
    from graphtools.surgery.stripping import strip_report as strip

    own = type(gd)()
    own.CopyFrom(gd)
    gc.collect()
    t = time.perf_counter()
    r = strip(own, remove=["all"], inputs=["x"], outputs=["output"], verify=verify, consume=True)
    return time.perf_counter() - t, r.graph_def


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def memory_child(path, verify):
    """In a fresh process: resident memory of the parsed GraphDef, and the peak while stripping it.

    RSS, not tracemalloc: the GraphDef lives in protobuf's C++/upb arena, which Python's allocator
    never sees. The peak is sampled every millisecond and also read from the kernel's high-water mark.
    """
    import threading

    from graphtools.surgery.stripping import strip_report as strip

    strip(chain(20), remove=["all"], inputs=["x"], outputs=["output"], verify=verify)  # imports, caches
    gc.collect()
    data = open(path, "rb").read()
    base = _rss()
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(data)
    graph_bytes = _rss() - base
    del data
    gc.collect()
    floor = _rss() - graph_bytes  # the process without the GraphDef: peaks are measured from here
    try:  # reset the kernel's high-water mark so it covers the strip alone
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        hwm_ok = True
    except OSError:
        hwm_ok = False
    peak, stop = [_rss()], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.001)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    strip(gd, remove=["all"], inputs=["x"], outputs=["output"], verify=verify, consume=True)
    stop.set()
    th.join()
    top = max(peak[0], _peak_rss() if hwm_ok else 0)
    print(json.dumps({"graph_bytes": graph_bytes, "peak_bytes": top - floor, "serialized": os.path.getsize(path)}))


def peak_memory(gd, verify):
    """(peak resident memory while stripping, the parsed GraphDef's resident size), from a fresh process."""
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pb", delete=False) as f:
        f.write(gd.SerializeToString())
    try:
        argv = [sys.executable, os.path.abspath(__file__), "--memory-child", f.name] + (["--verify"] if verify else [])
        p = subprocess.run(argv, capture_output=True, text=True, check=True)
        r = json.loads(p.stdout.strip().splitlines()[-1])
    finally:
        os.unlink(f.name)
    return r["peak_bytes"], r["graph_bytes"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="13000,52000,208000", help="approximate node counts")
    ap.add_argument("--verify", action="store_true", help="include the equivalence check in graphtools' time")
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds per size; each round times both tools, taking turns (default 3)")
    ap.add_argument("--memory", action="store_true", help="also measure peak memory (a separate, slower run)")
    ap.add_argument("--json", help="write the rows as JSON")
    ap.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child, args.verify)
    per_block = len(block_graph_def().node) - 2
    warm = chain(20)  # first calls pay for imports; time neither tool on them
    time_tf(warm)
    time_graphtools(warm, args.verify)
    rows = []
    print(f"{'nodes':>8} {'TF s':>8} {'graphtools s':>13} {'ratio':>6} {'paired':>7} {'TF dropouts left':>17} "
          f"{'ours left':>9} {'ours nodes':>10} {'peak mem / GraphDef':>20}")
    for size in [int(s) for s in args.sizes.split(",")]:
        gd = chain(max(1, size // per_block))
        n = len(gd.node)
        # the two tools take turns (TF, ours, ours, TF, ...): this machine's speed drifts by up to 2x
        # within minutes, and timing one tool's runs all before the other's would charge the drift to one
        tf_runs, gt_runs = [], []
        for r in range(args.repeat):
            if r % 2 == 0:
                tf_runs.append(time_tf(gd))
            gt_runs.append(time_graphtools(gd, args.verify))
            if r % 2 == 1:
                tf_runs.append(time_tf(gd))
        t_tf, out_tf = min(tf_runs, key=lambda r: r[0])
        t_gt, out_gt = min(gt_runs, key=lambda r: r[0])
        paired = sorted(g[0] / t[0] for t, g in zip(tf_runs, gt_runs))
        paired_median = statistics.median(paired)
        peak, gd_bytes = peak_memory(gd, args.verify) if args.memory else (float("nan"), 1)
        row = {"nodes": n, "tf_s": round(t_tf, 3), "graphtools_s": round(t_gt, 3), "ratio": round(t_gt / t_tf, 3),
               "paired_ratios": [round(p, 3) for p in paired], "paired_median": round(paired_median, 3),
               "tf_dropouts_left": count(out_tf, {"RandomUniform"}),
               "graphtools_dropouts_left": count(out_gt, {"RandomUniform"}),
               "graphtools_nodes_after": len(out_gt.node), "tf_nodes_after": len(out_tf.node),
               "peak_memory_mb": round(peak / 2 ** 20, 1), "graphdef_memory_mb": round(gd_bytes / 2 ** 20, 1),
               "peak_memory_over_graphdef": round(peak / gd_bytes, 2)}
        rows.append(row)
        print(f"{n:>8} {t_tf:>8.2f} {t_gt:>13.2f} {row['ratio']:>6.2f} {paired_median:>7.2f} {row['tf_dropouts_left']:>17} "
              f"{row['graphtools_dropouts_left']:>9} {row['graphtools_nodes_after']:>10} "
              f"{row['peak_memory_over_graphdef']:>20.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
