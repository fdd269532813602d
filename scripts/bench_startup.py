"""Benchmark: the structural commands (no TensorFlow) against `python -c "import tensorflow"`.

    python scripts/bench_startup.py [--graph PB] [--runs 5]

Runs `graphtools inspect`, `audit`, `diff` and `inspect --dot` on a GraphDef (default: the corpus
MobileNet, ../shared/corpus/mobilenet_v1_025_128/frozen_graph.pb, else the bundled fixture frozen
here) as a user would, alternating with a bare TensorFlow import, and prints the median wall time of
each and its ratio to the import (target: <= 0.25, under 1 s).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOBILENET = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "mobilenet_v1_025_128", "frozen_graph.pb")


def _fixture_graph(tmp):
    sys.path[0] = ROOT
    import graphtools

    path = os.path.join(tmp, "fixture.pb")
    gd = graphtools.freeze(ckpt=os.path.join(ROOT, "fixtures", "digits_cnn", "model.ckpt"),
                           output_nodes="prediction").graph_def
    graphtools.save_graph_def(gd, path)
    return path


def _wall(argv):
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", help="GraphDef to read (default: the corpus MobileNet)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        graph = args.graph or (MOBILENET if os.path.exists(MOBILENET) else _fixture_graph(tmp))
        cli = [sys.executable, "-m", "graphtools.cli"]
        cases = {
            "import tensorflow": [sys.executable, "-c", "import tensorflow"],
            "inspect": cli + ["inspect", graph],
            "audit": cli + ["audit", graph],
            "diff": cli + ["diff", graph, graph],
            "inspect --dot": cli + ["inspect", graph, "--dot", os.path.join(tmp, "g.dot")],
        }
        times = {k: [] for k in cases}
        for _ in range(args.runs):  # alternating, so machine noise hits every case alike
            for k, argv in cases.items():
                times[k].append(_wall(argv))
    base = statistics.median(times["import tensorflow"])
    print(f"{os.path.basename(graph)} ({os.path.getsize(graph) / 1e6:.1f} MB), median of {args.runs} runs")
    print("| command | seconds | vs import tensorflow |")
    print("|---|---|---|")
    for k, v in times.items():
        print(f"| {k} | {statistics.median(v):.2f} | {statistics.median(v) / base:.2f} |")


if __name__ == "__main__":
    main()
