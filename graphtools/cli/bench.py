"""graphtools bench: latency of .tflite models per thread count and kernel set (no TensorFlow)."""
import argparse
import os
import sys

from .common import _common, _emit, _input_error

BENCH_HELP = """Time .tflite models the way they will run: per thread count (default 1, 2 and all cores)
and per kernel set -- xnnpack (LiteRT's default: builtin kernels + the XNNPACK delegate),
builtin (the optimized builtin kernels alone) and reference (the plain reference kernels, one
thread) -- median and p90 of invoke() over --runs runs after --warmup runs, all on the same seeded
inputs. It also says whether each kernel set's outputs agree with the reference kernels' (XNNPACK
changing outputs is a frequent report): the largest difference, and in quanta for integer outputs.
With --litert-benchmark the litert-benchmark tool that ships with ai-edge-litert (CompiledModel API,
through the model's signature) is run too and its JSON included."""


def _add_bench(sub):
    p = sub.add_parser("bench", help="latency of .tflite models per thread count and kernel set",
                       description=BENCH_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", metavar="MODEL.tflite")
    p.add_argument("--threads", metavar="N,M", help="thread counts (default: 1, 2 and all cores)")
    p.add_argument("--kernels", metavar="K,L", default="xnnpack,builtin,reference",
                   help="kernel sets: xnnpack, builtin, reference (default: all three)")
    p.add_argument("--runs", type=int, default=50, help="timed runs per setting (default 50)")
    p.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--litert-benchmark", action="store_true",
                   help="also run litert-benchmark (ships with ai-edge-litert) and include its JSON")
    _common(p)
    p.set_defaults(run=run_bench)


def _ints(text, what):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise _input_error(f"{what} {text}: give positive whole numbers, comma-separated (e.g. 1,2,4)")
    return values


def _progress(path):
    def show(done, total, what):
        print(f"\rbench {os.path.basename(path)}: {done}/{total} {what:<16}", end="\n" if done == total else "",
              file=sys.stderr, flush=True)

    return show


def run_bench(args):
    from ..core import bench, io

    kernels = [k.strip().lower() for k in args.kernels.split(",") if k.strip()]
    bad = [k for k in kernels if k not in bench.KERNELS]
    if bad or not kernels:
        raise _input_error(f"--kernels {args.kernels}: choose from {', '.join(bench.KERNELS)}")
    threads = _ints(args.threads, "--threads") if args.threads else bench.default_threads()
    if args.runs < 1 or args.warmup < 0:
        raise _input_error("--runs must be at least 1 and --warmup at least 0")
    models = []
    for path in args.models:
        if not os.path.isfile(path):
            raise _input_error(f"{path}: no such file; give .tflite files")
        data = io.read_bytes(path)
        if data[4:8] != io.TFLITE_MAGIC:
            raise _input_error(f"{path}: not a TensorFlow Lite model (no TFL3 identifier); give .tflite files")
        from ..core import tflite

        tflite.load_model(data, path)  # (a truncated or corrupt file: one line, before any timing)
        models.append((path, data))
    report = {"threads": threads, "kernels": kernels, "runs": args.runs, "warmup": args.warmup, "models": []}
    lines = []
    for path, data in models:
        r = bench.bench_model(data, threads, kernels, args.runs, args.warmup, args.seed,
                              progress=_progress(path) if sys.stderr.isatty() else None)
        r["model"], r["size_bytes"] = path, len(data)
        if args.litert_benchmark:
            r["litert_benchmark"] = bench.litert_benchmark(path, max(threads), args.runs, args.warmup) or \
                {"error": "litert-benchmark is not installed (it ships with ai-edge-litert)"}
        report["models"].append(r)
        lines.append(f"{path} ({len(data):,} bytes)")
        lines.append(f"  {'kernels':<10}{'threads':>8}{'median ms':>12}{'p90 ms':>10}")
        for row in r["latency"]:
            lines.append(f"  {row['kernels']:<10}{row['threads']:>8}{row['median_ms']:>12.4f}{row['p90_ms']:>10.4f}")
        for k, a in r["agreement"].items():
            worst = max(a["max_abs_diff_vs_reference"].values(), default=0.0)
            q = f", {max(a['max_diff_in_quanta'].values())} quanta" if a["max_diff_in_quanta"] else ""
            lines.append(f"  {k} vs reference kernels: {'agree' if a['agrees'] else 'DIFFER'} "
                         f"(max |d| {worst:.3g}{q})")
        for k, why in r.get("unavailable", {}).items():
            lines.append(f"  {k} kernels: cannot run this model ({why[:100]})")
        lb = r.get("litert_benchmark")
        if lb:
            lines.append(f"  litert-benchmark: {lb['error']}" if "error" in lb else
                         f"  litert-benchmark ({lb.get('num_threads')} threads): median "
                         f"{lb.get('latency', {}).get('median_ms')} ms, p95 {lb.get('latency', {}).get('p95_ms')} ms")
    _emit(args, report, "\n".join(lines))
    return 0
