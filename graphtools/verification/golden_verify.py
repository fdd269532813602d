#!/usr/bin/env python3
"""Check .tflite models against this golden bundle, on the device: needs only numpy and a TFLite
runtime (ai-edge-litert, or tflite-runtime on a board). No TensorFlow, no graphtools.

    python verify.py                 # every model the bundle holds (models/*.tflite)
    python verify.py path/to.tflite  # that file, against the bundle entry of the same name
                                     # (or the only entry, or --as NAME)

For each sample it feeds the stored input (quantized with the model's own scale and zero point
when the model takes integers: the step apps most often get wrong), runs the model, and compares
every output with the expected one within the bundle's tolerance (a detection model: its detections
matched with the expected ones, class, box and score). Prints PASS/FAIL per model and
the failing samples; exit 0 when everything passes, 1 when something fails, 2 on bad usage.
"""
import hashlib
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter
        return Interpreter
    except ImportError:
        pass
    try:
        import tensorflow as tf  # (works too, where it is installed)
        return tf.lite.Interpreter
    except ImportError:
        raise SystemExit("verify.py: error: no TFLite runtime; pip install ai-edge-litert "
                         "(or tflite-runtime on a board)")


def _quantize(x, d):
    dt = np.dtype(d["dtype"])
    scale, zp = d["quantization"]
    if dt.kind in "iu" and scale:
        info = np.iinfo(dt)
        return np.clip(np.round(x / scale + zp), info.min, info.max).astype(dt)
    return x.astype(dt)


def _dequantize(y, d):
    scale, zp = d["quantization"]
    if np.dtype(d["dtype"]).kind in "iu" and scale:
        return (y.astype(np.float64) - zp) * scale
    return y.astype(np.float64)


def check(path, entry, inputs, expected, Interpreter):
    """(passed, lines) for the model at ``path`` against the bundle ``entry``."""
    lines = []
    try:
        it = Interpreter(model_path=path)
        it.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        return False, [f"  cannot load {path}: {str(e).splitlines()[0][:120]}"]
    ins = {d["name"]: d for d in it.get_input_details()}
    outs = {d["name"]: d for d in it.get_output_details()}
    in_det = [ins.get(k) or list(ins.values())[i] for i, k in enumerate(entry["inputs"])]
    out_det = [outs.get(k) or list(outs.values())[i] for i, k in enumerate(entry["outputs"])]
    if len(ins) != len(entry["inputs"]) or len(outs) != len(entry["outputs"]):
        return False, [f"  {path} has {len(ins)} inputs and {len(outs)} outputs; the bundle's model has "
                       f"{len(entry['inputs'])} and {len(entry['outputs'])}: not the model this bundle checks"]
    for d, name in zip(in_det, entry["inputs"]):
        want = [int(s) for s in entry["input_shapes"][name]]
        if list(d["shape"]) != want:
            return False, [f"  {path}: input {d['name']} has shape {list(d['shape'])}, the bundle feeds {want}"]
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != entry["sha256"]:
        lines.append(f"  note: {os.path.basename(path)} is not the file the bundle was made from (sha256 differs)")
    n = len(inputs[entry["inputs"][0]])
    if entry.get("detections"):
        return _check_detections(it, entry, in_det, out_det, inputs, expected, n, lines)
    failed = []
    worst = 0.0
    for s in range(n):
        for d, name in zip(in_det, entry["inputs"]):
            it.set_tensor(d["index"], _quantize(inputs[name][s], d))
        it.invoke()
        for d, name in zip(out_det, entry["outputs"]):
            got = _dequantize(it.get_tensor(d["index"]), d)
            want = expected[f"{entry['name']}/{name}"][s]
            if got.shape != want.shape:
                return False, lines + [f"  output {name} has shape {list(got.shape)}, expected {list(want.shape)}"]
            diff = float(np.max(np.abs(got - want))) if got.size else 0.0
            worst = max(worst, diff)
            tol = entry["tolerance"][name]
            if diff > tol:
                failed.append((s, name, diff, tol))
    if failed:
        s, name, diff, tol = max(failed, key=lambda f: f[2] / max(f[3], 1e-30))
        lines.append(f"  {len(failed)} of {n} sample(s) differ: worst sample {s}, output {name}: "
                     f"|d| {diff:.3g} > tolerance {tol:.3g}")
        return False, lines
    lines.append(f"  {n} samples, worst |d| {worst:.3g} (tolerance {min(entry['tolerance'].values()):.3g})")
    return True, lines


def _check_detections(it, entry, in_det, out_det, inputs, expected, n, lines):
    """A detection model: each sample's detections matched with the expected ones (slot order among
    near-tied scores means nothing): enough of the expected best found with the same class, IoU and score."""
    rule = entry["detections"]
    worst = 1.0
    failed = []
    for s in range(n):
        for d, name in zip(in_det, entry["inputs"]):
            it.set_tensor(d["index"], _quantize(inputs[name][s], d))
        it.invoke()
        got = {name: _dequantize(it.get_tensor(d["index"]), d) for d, name in zip(out_det, entry["outputs"])}
        want = {name: expected[f"{entry['name']}/{name}"][s] for name in entry["outputs"]}
        found, checked = _match(want, got, rule["top"], rule["min_iou"], rule["max_score_diff"])
        share = found / checked if checked else 1.0
        worst = min(worst, share)
        if share < rule["min_found"]:
            failed.append((s, found, checked))
    if failed:
        s, found, checked = min(failed, key=lambda f: f[1] / max(f[2], 1))
        lines.append(f"  {len(failed)} of {n} sample(s) lose detections: worst sample {s}, {found} of the expected "
                     f"{checked} best found (same class, IoU >= {rule['min_iou']}, score within {rule['max_score_diff']})")
        return False, lines
    lines.append(f"  {n} samples, at least {worst:.0%} of the best detections matched both ways on each")
    return True, lines


def _match(want, got, top, min_iou, max_score_diff):
    """(found, checked): the expected ``top`` best detections ``got`` has, and ``got``'s best the expected
    has (class, box and score alike; identical boxes match, also degenerate ones)."""
    def rows(out):
        n = int(np.asarray(out["num_detections"]).reshape(-1)[0])
        return (np.asarray(out["detection_boxes"], np.float64).reshape(-1, 4)[:n],
                np.asarray(out["detection_scores"], np.float64).reshape(-1)[:n],
                np.asarray(out["detection_classes"], np.float64).reshape(-1)[:n])

    def iou(a, b):
        if np.allclose(a, b, atol=1e-6):
            return 1.0
        y1, x1, y2, x2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
        inter = max(0.0, y2 - y1) * max(0.0, x2 - x1)
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union if union > 0 else 0.0

    def one_way(w, g):
        (wb, ws, wc), (gb, gs, gc) = w, g
        found, used = 0, set()
        order = np.argsort(-ws, kind="stable")[:top]
        for i in order:
            for j in range(len(gs)):
                if j not in used and gc[j] == wc[i] and abs(gs[j] - ws[i]) <= max_score_diff and \
                        iou(wb[i], gb[j]) >= min_iou:
                    used.add(j)
                    found += 1
                    break
        return found, len(order)

    a, b = rows(want), rows(got)
    f1, c1 = one_way(a, b)
    f2, c2 = one_way(b, a)
    return f1 + f2, c1 + c2


def main(argv):
    args = list(argv)
    as_name = None
    if "--as" in args:
        k = args.index("--as")
        if k + 1 >= len(args):
            raise SystemExit("verify.py: error: --as needs a model name from the bundle")
        as_name = args[k + 1]
        del args[k:k + 2]
    if any(a.startswith("-") for a in args) or len(args) > 1:
        print(__doc__)
        return 2
    try:
        with open(os.path.join(HERE, "golden.json")) as f:
            bundle = json.load(f)
        inputs = dict(np.load(os.path.join(HERE, "inputs.npz")))
        expected = dict(np.load(os.path.join(HERE, "expected.npz")))
    except (OSError, ValueError) as e:
        raise SystemExit(f"verify.py: error: the bundle is incomplete ({e}); copy the whole golden folder")
    entries = {e["name"]: e for e in bundle["models"]}
    Interpreter = _interpreter_class()
    if args:
        path = args[0]
        if not os.path.isfile(path):
            raise SystemExit(f"verify.py: error: {path}: no such file")
        name = as_name or os.path.splitext(os.path.basename(path))[0]
        if name not in entries:
            if len(entries) != 1:
                raise SystemExit(f"verify.py: error: {os.path.basename(path)} is not one of the bundle's models "
                                 f"({', '.join(entries)}); say which with --as NAME")
            name = next(iter(entries))
        todo = [(path, entries[name])]
    else:
        todo = [(os.path.join(HERE, e["file"]), e) for e in bundle["models"]]
    ok = True
    for path, entry in todo:
        passed, lines = check(path, entry, inputs, expected, Interpreter)
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'} {entry['name']} ({os.path.relpath(path)})")
        for line in lines:
            print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
