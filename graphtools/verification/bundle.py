"""The golden bundle for the device: real inputs, each model's expected outputs, tolerances, an I/O
card and a standalone ``verify.py`` (numpy + a TFLite runtime only) that says pass or fail per sample.

``make_bundle(out_dir)`` reads what ``pipeline`` wrote (``optimized.pb``, ``model*.tflite``,
``report.json``) and writes ``out_dir/golden/``:

- ``models/``: copies of the models it checks;
- ``inputs.npz`` (as fed: after --scale/--mean/--std, one array per input, one row per run) and
  ``raw_inputs.npz`` (as given);
- ``expected.npz``: each model's outputs on those inputs, run here with the reference kernels (the builtin
  ones where the reference set lacks an op);
- ``golden.json``: per model its file, sha256, inputs/outputs, the shapes fed, per-output tolerance,
  the I/O card (dtype, shape, scale and zero point) and how far it is from the TF graph; the data's
  normalisation; ``golden_data.json``: the same inputs and outputs as JSON lists (Android / iOS tests);
- ``verify.py`` and ``README.txt``.

Tolerances: the spread between LiteRT's kernel sets here (XNNPACK, builtin, reference) times four,
at least a relative 1e-5 of the output's range for float outputs and one quantum for integer ones:
another CPU's kernels must agree that closely; a different model (the int8 file in place of the
float one) does not.
"""
import hashlib
import json
import os
import shutil
import tempfile

import numpy as np

from ..errors import InputError
from .golden_verify import _quantize  # (verify.py's own: the bundle feeds exactly what the device will)

SAMPLES = 32


def pipeline_data(report, sig, data=None, scale=None, mean=None, std=None, samples=None, seed=0, labels=None):
    """The data a pipeline ran on (its report's ``data``), or ``data``: (raw, fed, labels, source, norm)."""
    from .comparison import labels_for
    from ..core.data import load_samples

    names, shapes = sig.names, sig.shapes()
    given = (report.get("data") or {}) if data is None else {"path": data, "scale": scale, "mean": mean, "std": std}
    norm = {k: given.get(k) for k in ("scale", "mean", "std")}
    source = given.get("path")
    if source == "fixture":
        from ..core.io import fixture_dir

        d = np.load(os.path.join(fixture_dir(), "digits.npz"))
        raw = fed = {names[0]: d["x_test"][:samples]}
        return raw, fed, d["y_test"][:samples], "the bundled fixture's digits (x_test)", norm
    if source:
        raw = load_samples(source, names, shapes, limit=samples)
        fed = load_samples(source, names, shapes, norm["scale"], norm["mean"], norm["std"], limit=samples)
        y = labels_for(source, labels)
        return raw, fed, (None if y is None else y[:samples]), source, norm
    from ..core.feeds import random_feeds

    n = samples or 64
    fed, why = random_feeds([dict(i.as_dict(), shape=[n] + list(shapes[i.name][1:])) for i in sig.inputs],
                            seed, batch=n)
    if fed is None:
        raise InputError(f"cannot make random inputs: {why}; give real inputs with --data")
    return fed, fed, None, f"random (seed {seed}): give --data for real inputs", norm


def _run(model, runs, kernels):
    from ..core.bench import _first_run, _outputs
    from ..core.tflite import interpreter

    it = interpreter(model, 1, kernels)
    ins = it.get_input_details()
    results = []
    for k, feeds in enumerate(runs):
        for d, v in zip(ins, feeds):
            it.set_tensor(d["index"], _quantize(v, d))
        if k == 0:
            _first_run(it, kernels)
        else:
            it.invoke()
        results.append([v for _, v, _ in _outputs(it)])
    return results, it


def _output_quanta(model):
    """Per model output, the scale of the integer tensor it is dequantized from (0.0: float all along)."""
    from . import perop

    m = perop._Model(model)
    schema = m.schema
    integer = (schema.TensorType.INT8, schema.TensorType.UINT8)
    weights8 = any(m.sub.tensors[t].type in integer for t in m.const)
    acts8 = any(m.sub.tensors[t].type in integer for t in range(len(m.sub.tensors)) if t not in m.const)
    out = []
    for t in perop._ix(m.sub.outputs):
        p = m.producer.get(t)
        q = 0.0
        if p is not None and m.ops[p][0] == "DEQUANTIZE":
            src = m.sub.tensors[perop._ix(m.ops[p][1].inputs)[0]]
            qp = src.quantization
            if qp is not None and qp.scale is not None and len(qp.scale):
                q = float(qp.scale[0])
        out.append(q)
    return out, weights8 and not acts8


def _model_inputs(model):
    from ..core.tflite import interpreter

    it = interpreter(model, 1, "builtin")
    return it.get_input_details(), it.get_output_details()


def make_bundle(out_dir, data=None, models=None, graph=None, samples=SAMPLES, scale=None, mean=None, std=None,
                seed=0):
    """Write ``out_dir/golden``; return a JSON-ready summary (see the module doc)."""
    from ..core import io, tflite
    from ..core.runtime import run_tf_batched
    from ..core.signature import resolve

    report_path = os.path.join(out_dir, "report.json")
    report = {}
    if os.path.exists(report_path):
        try:
            with open(report_path) as f:
                report = json.load(f)
        except ValueError:
            raise InputError(f"{report_path}: not JSON; run graphtools pipeline again")
    detector = report.get("detector") or {}
    detecting = bool(detector) and "op" not in detector  # an SSD export: its own graph, detections matched
    graph = graph or os.path.join(out_dir, "frozen.pb" if detecting else "optimized.pb")
    if not os.path.exists(graph):
        raise InputError(f"{graph}: missing; give the pipeline's output directory (or --graph FILE)")
    if models is None:
        models = sorted((os.path.join(out_dir, f) for f in os.listdir(out_dir) if f.endswith(".tflite")),
                        key=lambda p: (os.path.basename(p) != "model.tflite", p))
    if not models:
        raise InputError(f"{out_dir}: no .tflite models to bundle; run graphtools pipeline first")
    for m in models:
        if not os.path.isfile(m):
            raise InputError(f"{m}: no such file")
    gd = io.load_graph_def(graph)
    sig = resolve(gd, report.get("inputs"), report.get("outputs"), report.get("input_shapes"))
    names = sig.names
    # a model that takes several samples a run (a graph with a fixed batch of 100) gets whole runs
    first_in, _ = _model_inputs(io.read_bytes(models[0]))
    row = int(np.prod([max(1, int(v)) for v in sig.shapes()[names[0]][1:]]))
    block = max(1, int(np.prod(first_in[0]["shape"])) // max(1, row))
    samples = -(-samples // block) * block
    raw, fed, _, source, norm = pipeline_data(report, sig, data, scale, mean, std, samples, seed)
    if detecting:  # (uint8 images, as the app feeds them)
        fed = {k: np.clip(np.round(v), 0, 255).astype(np.uint8) for k, v in fed.items()}
    entries, expected, runs_of = [], {}, {}
    with_tf = run_tf_batched(gd, fed, list(sig.outputs), batch=sig.batch or 64, fixed_batch=sig.batch)
    first_model_runs = None
    for path in models:
        model = io.read_bytes(path)
        tflite.load_model(model, path)
        in_det, out_det = _model_inputs(model)
        if len(in_det) != len(names):
            raise InputError(f"{path}: {len(in_det)} inputs, the graph has {len(names)}; bundle models of this graph")
        block = max(1, int(np.prod(in_det[0]["shape"])) // max(1, int(np.prod(np.shape(fed[names[0]])[1:]))))
        n = len(fed[names[0]]) // block
        if n < 1:
            raise InputError(f"{path}: takes {block} samples a run; give at least that many (--samples)")
        runs = [[fed[name][k * block:(k + 1) * block].reshape(d["shape"]).astype(
            np.uint8 if detecting else np.float32) for name, d in zip(names, in_det)] for k in range(n)]
        if first_model_runs is None:
            first_model_runs = runs
        # expected outputs: the reference kernels' (the plainest), or the builtin ones' where the reference
        # set lacks an op (ELU has no reference kernel); the spread is measured over the sets that run
        results, missing = {}, {}
        for kernels in ("reference", "builtin", "xnnpack"):
            try:
                results[kernels], _ = _run(model, runs, kernels)
            except InputError as e:
                missing[kernels] = str(e)
        if not results:
            raise InputError(f"{path}: LiteRT here cannot run it ({missing['builtin']}); nothing to bundle")
        expected_by, ref = next(iter(results.items()))
        spread = [0.0] * len(out_det)
        for got in results.values():
            for j in range(len(out_det)):
                spread[j] = max(spread[j], max(float(np.max(np.abs(g[j] - r[j]))) for g, r in zip(got, ref)))
        card = tflite.io_card(model) or {}
        stem = os.path.splitext(os.path.basename(path))[0]
        outputs = list(sig.outputs)
        tolerance, vs_tf = {}, {}
        quanta, hybrid = _output_quanta(model)
        for j, (d, name) in enumerate(zip(out_det, outputs)):
            values = np.stack([r[j] for r in ref])
            expected[f"{stem}/{name}"] = values
            # an integer output, or a float one DEQUANTIZEd from an integer tensor: one step of it
            scale = d["quantization"][0] or (quanta[j] if j < len(quanta) else 0.0)
            size = max(1.0, float(np.max(np.abs(values))) if values.size else 1.0)
            # dynamic-range (hybrid) kernels quantize activations at run time, each CPU its own way
            floor = 1.01 * scale if scale else (1e-3 if hybrid else 1e-5) * size
            tolerance[name] = float(max(4 * spread[j], floor))
            tf_rows = np.asarray(with_tf[j])[: n * block].reshape(values.shape) if np.size(with_tf[j]) >= values.size \
                else None
            vs_tf[name] = float(np.max(np.abs(values - tf_rows))) if tf_rows is not None else None
        rule = None
        if detecting:
            from .detection_match import match

            # as close as LiteRT's kernel sets here agree with each other (an int8 model's near-tied scores
            # order differently on XNNPACK and the reference kernels), and never looser than that
            agree = [1.0]
            for got in results.values():
                for k in range(n):
                    m = match({o: ref[k][j] for j, o in enumerate(outputs)}, {o: got[k][j] for j, o in enumerate(outputs)})
                    agree.append(m["found"] / m["checked"] if m["checked"] else 1.0)
            rule = {"top": 10, "min_iou": 0.9, "max_score_diff": 0.02, "min_found": min(0.9, min(agree))}
            shares = []
            for k in range(n):
                m = match({o: np.asarray(with_tf[j])[k] for j, o in enumerate(outputs)},
                          {o: expected[f"{stem}/{o}"][k] for o in outputs})
                shares.append(m["found"] / m["checked"] if m["checked"] else 1.0)
            vs_tf = {"detections_found_worst_sample": float(min(shares)) if shares else None}
        runs_of[stem] = runs
        entries.append({"name": stem, "file": f"models/{os.path.basename(path)}", "sha256": hashlib.sha256(model).hexdigest(),
                        "inputs": names, "outputs": outputs,
                        "input_shapes": {name: [int(s) for s in d["shape"]] for name, d in zip(names, in_det)},
                        "samples_per_run": block, "runs": n, "tolerance": tolerance, "kernel_spread": dict(zip(outputs, spread)),
                        "expected_from": f"{expected_by} kernels", "kernels_not_run": sorted(missing),
                        "max_abs_diff_vs_tf": vs_tf, "io_card": card, "bytes": len(model),
                        **({"detections": rule} if rule else {})})
    inputs = {name: np.stack([r[k] for r in first_model_runs]) for k, name in enumerate(names)}
    for e in entries:  # (every model of one graph takes the same runs; a model that does not is refused)
        if e["input_shapes"] != entries[0]["input_shapes"]:
            raise InputError(f"{e['file']}: its input shapes {e['input_shapes']} differ from "
                             f"{entries[0]['input_shapes']}; bundle models of one input shape together")
    meta = {"created_by": "graphtools", "source": report.get("source"), "data": source, "normalisation": norm,
            "normalisation_note": "inputs.npz holds the inputs as fed (after normalisation); raw_inputs.npz as given",
            "samples": int(sum(e["runs"] * e["samples_per_run"] for e in entries[:1])), "models": entries}
    as_json = {"inputs": {k: v.tolist() for k, v in inputs.items()},
               "expected": {k: v.tolist() for k, v in expected.items()},
               "tolerance": {e["name"]: e["tolerance"] for e in entries}}
    target = os.path.join(out_dir, "golden")
    tmp = tempfile.mkdtemp(prefix=".golden-", dir=out_dir)
    try:
        os.makedirs(os.path.join(tmp, "models"))
        for path in models:
            shutil.copyfile(path, os.path.join(tmp, "models", os.path.basename(path)))
        np.savez(os.path.join(tmp, "inputs.npz"), **inputs)
        np.savez(os.path.join(tmp, "raw_inputs.npz"), **{k: np.asarray(v) for k, v in raw.items()})
        np.savez(os.path.join(tmp, "expected.npz"), **expected)
        with open(os.path.join(tmp, "golden.json"), "w") as f:
            json.dump(meta, f, indent=1)
        with open(os.path.join(tmp, "golden_data.json"), "w") as f:
            json.dump(as_json, f)
        shutil.copyfile(os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_verify.py"),
                        os.path.join(tmp, "verify.py"))
        with open(os.path.join(tmp, "README.txt"), "w") as f:
            f.write(_readme(meta))
        old = None
        if os.path.exists(target):
            old = target + ".old"
            shutil.rmtree(old, ignore_errors=True)
            os.rename(target, old)
        os.rename(tmp, target)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"bundle": target, "models": [e["name"] for e in entries], "samples": meta["samples"], "data": source,
            "tolerance": {e["name"]: e["tolerance"] for e in entries},
            "files": sorted(os.listdir(target))}


def _readme(meta):
    rows = "\n".join(f"  {e['name']:<20} {e['file']:<32} tolerance {min(e['tolerance'].values()):.3g}"
                     for e in meta["models"])
    return f"""Golden bundle made by graphtools from {meta['source'] or 'a graph'} ({meta['samples']} samples: {meta['data']}).

On the device (a Raspberry Pi, a Jetson, ...), with only numpy and a TFLite runtime:

  pip install numpy ai-edge-litert        # or: pip install tflite-runtime
  python verify.py                        # every model below: PASS or FAIL per model, exit 1 on a failure
  python verify.py my_build.tflite        # your own file against the entry of the same name (--as NAME)

{rows}

inputs.npz: the inputs as fed (normalisation: {meta['normalisation']}); raw_inputs.npz: as given.
Integer models: verify.py quantizes each input with the model's own scale and zero point (see the
io_card in golden.json) -- the step an app must do the same way. golden_data.json holds the same
inputs, expected outputs and tolerances as JSON lists, for an Android or iOS test.
"""
