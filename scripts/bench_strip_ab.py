"""A/B benchmark: strip --remove all with this checkout's graphtools against another git revision's.

This machine's speed drifts by up to 2x within minutes, so two benchmark runs minutes apart cannot
show a 10 % change. This script loads both versions into one process (the other revision's
``graphtools/`` is extracted with ``git archive`` under another package name: the package imports
itself only relatively) and alternates them on the same graphs (A, B, B, A, ...), then prints the
median of the per-pair time ratios:

    python scripts/bench_strip_ab.py --rev HEAD~3 [--sizes 13000,52000] [--pairs 8]

ratio < 1: this checkout is faster. The graphs are bench_strip.py's (repeated MatMul, Identity,
batch norm, Relu and keep_prob dropout blocks); the equivalence check is not timed.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[0] = ROOT  # first: scripts/ holds inspect.py, which would shadow the standard library's

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import inspect  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def fail(message):
    """Bad input: one line on stderr, exit code 2."""
    print(f"bench_strip_ab: {message}", file=sys.stderr)
    sys.exit(2)


def load_revision(rev, tmp):
    """Import ``graphtools`` as of ``rev`` under the name ``graphtools_ab``; exit 2 with one line if it cannot."""
    dest = os.path.join(tmp, "rev")
    os.makedirs(dest)
    try:
        tar = subprocess.run(["git", "-C", ROOT, "archive", rev, "graphtools"], capture_output=True, check=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        err = (getattr(e, "stderr", b"") or b"").decode(errors="replace").strip().splitlines()
        fail(f"cannot read revision {rev!r} ({err[0] if err else e}); "
             f"give a commit of this repository, e.g. --rev HEAD~1")
    subprocess.run(["tar", "-x", "-C", dest], input=tar, check=True)
    shutil.move(os.path.join(dest, "graphtools"), os.path.join(dest, "graphtools_ab"))
    sys.path.insert(0, dest)
    try:
        module = importlib.import_module("graphtools_ab.surgery")
        # (strip_report's home: graphtools/surgery.py before the sub-packages, surgery/stripping.py since)
        return module if hasattr(module, "strip_report") else importlib.import_module("graphtools_ab.surgery.stripping")
    except Exception as e:  # noqa: BLE001  (any failure of the other version's import is the same answer)
        fail(f"graphtools at {rev!r} does not import here ({type(e).__name__}: {e}); choose a newer revision")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rev", required=True, help="the git revision to compare against (e.g. HEAD~1, a tag)")
    ap.add_argument("--sizes", default="13000,52000", help="approximate node counts (default 13000,52000)")
    ap.add_argument("--pairs", type=int, default=8, help="timed pairs per size (default 8)")
    args = ap.parse_args()
    if args.pairs < 1:
        fail("--pairs must be at least 1")
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        fail(f"--sizes {args.sizes!r}: give node counts separated by commas, e.g. 13000,52000")

    with tempfile.TemporaryDirectory() as tmp:
        other = load_revision(args.rev, tmp)  # first: a wrong revision fails before TensorFlow loads
        spec = importlib.util.spec_from_file_location("bench_strip", os.path.join(ROOT, "scripts", "bench_strip.py"))
        bench_strip = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench_strip)  # its graphs, and TensorFlow imported quietly
        from graphtools.surgery import stripping as current

        # revisions before strip_report(consume=...) copy the graph first, as the CLI then did
        options = {"rev": {"consume": True} if "consume" in inspect.signature(other.strip_report).parameters else {},
                   "cur": {"consume": True}}
        per_block = len(bench_strip.block_graph_def().node) - 2
        print(f"{'nodes':>8} {args.rev + ' s':>14} {'this checkout s':>16} {'median ratio':>13}  (best / median seconds)")
        for size in sizes:
            graph = bench_strip.chain(max(1, size // per_block))
            nodes, data = len(graph.node), graph.SerializeToString()
            times = {"rev": [], "cur": []}
            for k in range(args.pairs + 1):  # the first pair warms both up and is not counted
                order = (("rev", other), ("cur", current)) if k % 2 == 0 else (("cur", current), ("rev", other))
                for label, module in order:
                    gd = bench_strip.tf.compat.v1.GraphDef()
                    gd.ParseFromString(data)
                    gc.collect()
                    t = time.perf_counter()
                    module.strip_report(gd, remove=["all"], inputs=["x"], outputs=["output"], verify=False,
                                        **options[label])
                    if k:
                        times[label].append(time.perf_counter() - t)
            ratio = statistics.median(c / r for c, r in zip(times["cur"], times["rev"]))
            rev_s = f"{min(times['rev']):.3f}/{statistics.median(times['rev']):.3f}"
            cur_s = f"{min(times['cur']):.3f}/{statistics.median(times['cur']):.3f}"
            print(f"{nodes:>8} {rev_s:>14} {cur_s:>16} {ratio:>13.3f}", flush=True)


if __name__ == "__main__":
    main()
