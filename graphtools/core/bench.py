"""Latency of .tflite models per thread count and kernel set, and whether the kernel sets agree.

LiteRT's Python interpreter chooses its kernels with ``OpResolverType``: ``AUTO`` (the builtin
kernels with the XNNPACK delegate applied), ``BUILTIN_WITHOUT_DEFAULT_DELEGATES`` (the optimized
builtin kernels alone) and ``BUILTIN_REF`` (the reference kernels, the slow and plain ones the others
are checked against). Every model is fed the same seeded inputs; integer inputs get values in their
quantized range. Times are of ``invoke()`` alone, after warm-up runs, reported as median and p90.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np

from ..errors import InputError
from .tflite import KERNELS, interpreter



def default_threads():
    cores = os.cpu_count() or 1
    return sorted({1, min(2, cores), cores})


def _feeds(it, seed):
    rng = np.random.RandomState(seed)
    feeds = []
    for d in it.get_input_details():
        shape = [1 if s < 0 else int(s) for s in d.get("shape_signature", d["shape"])]
        dt = np.dtype(d["dtype"])
        if dt.kind == "f":
            v = rng.randn(*shape).astype(dt)
        elif dt.kind in "iu" and d["quantization"][0]:  # a quantized input: anywhere in its range
            info = np.iinfo(dt)
            v = rng.randint(max(info.min, -128), min(info.max, 127) + 1, size=shape).astype(dt)
        elif dt.kind in "iu":  # ids, indices, lengths: 0 is valid for every embedding and gather
            v = np.zeros(shape, dt)
        elif dt == np.bool_:
            v = rng.rand(*shape) < 0.5
        else:
            raise InputError(f"bench: input {d['name']} is {dt}; feed such models yourself")
        feeds.append((d, v))
    return feeds


def _first_run(it, kernels):
    """The first invoke (where the XNNPACK delegate is applied, and says so on fd 2), inputs set."""
    from .._tf import stderr_quiet

    try:
        with stderr_quiet():
            it.invoke()
    except (ValueError, RuntimeError) as e:
        raise InputError(f"LiteRT cannot run the model with the {kernels} kernels ({str(e).splitlines()[0][:120]})")


def _outputs(it):
    out = []
    for d in it.get_output_details():
        v = it.get_tensor(d["index"]).astype(np.float64)
        scale, zp = d.get("quantization", (0.0, 0))
        if scale:
            v = (v - zp) * scale
        out.append((d["name"], v, scale))
    return out


def bench_model(model, threads=None, kernels=KERNELS, runs=50, warmup=5, seed=0, progress=None):
    """Time one model (bytes); return a JSON-ready dict: per kernel set and thread count the median
    and p90 ms, and per kernel set the largest output difference from the reference kernels."""
    threads = threads or default_threads()
    it0 = interpreter(model, 1, "builtin")
    feeds = [v for _, v in _feeds(it0, seed)]
    rows, outputs, unavailable = [], {}, {}
    plan = [(k, t) for k in kernels for t in (threads if k != "reference" else [1])]
    for n, (k, t) in enumerate(plan):
        if progress:
            progress(n, len(plan), f"{k} x{t}")
        if k in unavailable:
            continue
        try:
            it = interpreter(model, t, k)
            for d, v in zip(it.get_input_details(), feeds):
                it.set_tensor(d["index"], v)
            _first_run(it, k)
        except InputError as e:  # (the reference set has no ELU kernel, for one): the others still run
            unavailable[k] = str(e).split(": ", 1)[-1]
            continue
        for _ in range(warmup):
            it.invoke()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            it.invoke()
            times.append(time.perf_counter() - start)
        ms = np.array(times) * 1000
        rows.append({"kernels": k, "threads": t, "median_ms": round(float(np.median(ms)), 4),
                     "p90_ms": round(float(np.percentile(ms, 90)), 4), "min_ms": round(float(ms.min()), 4),
                     "runs": runs})
        outputs.setdefault(k, _outputs(it))
    if not rows:
        raise InputError(next(iter(unavailable.values()), "bench: no kernel set could run the model"))
    agreement = {}
    ref = outputs.get("reference")
    for k, outs in outputs.items():
        if ref is None or k == "reference":
            continue
        diffs = {name: float(np.max(np.abs(v - r))) if v.size else 0.0
                 for (name, v, _), (_, r, _) in zip(outs, ref)}
        quanta = {name: round(diffs[name] / scale, 3) for name, _, scale in outs if scale}
        worst = max(diffs.values()) if diffs else 0.0
        agreement[k] = {"max_abs_diff_vs_reference": diffs, "max_diff_in_quanta": quanta,
                        "agrees": bool(worst <= 1e-4 or (quanta and max(quanta.values()) <= 1.0))}
    if progress:
        progress(len(plan), len(plan), "done")
    return {"latency": rows, "agreement": agreement, "unavailable": unavailable, "inputs_seed": seed}


def litert_benchmark(path, threads, runs=50, warmup=5, timeout=600):
    """Run the ``litert-benchmark`` tool that ships with ai-edge-litert (CompiledModel API, the
    model's signature) and return its JSON, or None when the tool is absent; a failure is reported."""
    exe = shutil.which("litert-benchmark")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory(prefix="graphtools-bench-") as tmp:
        out = os.path.join(tmp, "result.json")
        cmd = [exe, "--model", path, "--num_runs", str(runs), "--warmup_runs", str(warmup),
               "--num_threads", str(threads), "--result_json", out]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"litert-benchmark did not finish in {timeout} s"}
        if r.returncode != 0 or not os.path.exists(out):
            tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
            return {"error": f"litert-benchmark exited {r.returncode}: {tail[0][:200]}"}
        with open(out) as f:
            try:
                return json.load(f)
            except ValueError:
                return {"error": "litert-benchmark wrote no valid JSON"}
