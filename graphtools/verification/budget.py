"""int8 (or 16x8) that meets an accuracy budget: the fewest ops kept in float.

``meet_budget`` calibrates once, quantizes fully, and measures the model against the TF graph on
the evaluation data. When the budget is missed it ranks the ops by their local error
(``perop.per_op``: the op alone fed TF's inputs) and keeps the worst ones in float --
``mlir_quantize`` with ``denylisted_nodes``, the mechanism TensorFlow's QuantizationDebugger uses for
its selective models -- one more op per attempt, then more, until the budget is met or every op is
float. Every attempt is a row (float ops kept, size, agreement, accuracy, max |d|, latency). The
result carries a recipe (the quantization settings, the float ops and a fingerprint of the
calibration data) that ``replay`` turns back into the same bytes.
"""
import dataclasses
import hashlib
import json
import os

import numpy as np

from ..errors import InputError

RECIPE_VERSION = 1
NO_SELECTIVE_16X8 = ("keeping ops in float is not available for int16x8: TensorFlow's selective quantizer "
                     "(mlir_quantize, what QuantizationDebugger uses) writes int16 activations with non-zero zero "
                     "points that LiteRT's kernels refuse (tensorflow/tensorflow#56899); use --quantize int8 --budget, "
                     "or int16x8 without a budget")
KEYS = ("agreement", "accuracy-drop", "max-diff")
MODES = ("int8", "int16x8")


def parse_budget(text):
    """'agreement=0.99,max-diff=0.1' -> {'agreement': 0.99, 'max-diff': 0.1}."""
    out = {}
    for item in str(text).split(","):
        if not item.strip():
            continue
        key, _, value = item.partition("=")
        key = key.strip().lower().replace("_", "-")
        if key not in KEYS:
            raise InputError(f"--budget {item.strip()}: unknown; give {', '.join(k + '=X' for k in KEYS)}")
        try:
            out[key] = float(value)
        except ValueError:
            raise InputError(f"--budget {item.strip()}: '{value}' is not a number (e.g. agreement=0.99)")
        if key == "agreement" and not 0 < out[key] <= 1:
            raise InputError(f"--budget agreement={value}: give a share between 0 and 1 (0.99 = 99 %)")
        if out[key] < 0:
            raise InputError(f"--budget {key}={value}: must not be negative")
    if not out:
        raise InputError("--budget needs at least one of " + ", ".join(k + "=X" for k in KEYS))
    return out


def data_fingerprint(data, names, limit):
    """sha256 of the calibration arrays the converter will read (in input order, the first ``limit``)."""
    h = hashlib.sha256()
    for name in names:
        v = np.ascontiguousarray(np.asarray(data[name])[:limit])
        h.update(f"{name}:{v.dtype.str}:{v.shape}".encode())
        h.update(v.tobytes())
    return h.hexdigest()


class _Quiet:
    """Hide fd 1 and fd 2 (mlir_quantize prints its settings on stdout, which would break --json)."""

    def __enter__(self):
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = [os.dup(1), os.dup(2)]
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *exc):
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)
        for fd in self.saved:
            os.close(fd)
        return False


def quantize(calibrated, inputs, outputs, mode="int8", float_nodes=(), float_ops=()):
    """The calibrated model quantized (``mode``: int8 or int16x8 activations), the op outputs named in
    ``float_nodes`` and the builtin ops in ``float_ops`` left in float; with its serving_default."""
    from .._tf import tf
    from ..core.tflite import add_signature

    if mode == "int16x8" and (float_nodes or float_ops):
        raise InputError(NO_SELECTIVE_16X8)
    tf()
    from tensorflow.lite.python import convert as lite_convert

    types = lite_convert._types_pb2
    itype = types.QUANTIZED_INT16 if mode == "int16x8" else types.QUANTIZED_INT8
    try:
        with _Quiet():
            model = lite_convert.mlir_quantize(calibrated, fully_quantize=False, inference_type=itype,
                                               denylisted_nodes=list(float_nodes) or None,
                                               denylisted_ops=list(float_ops) or None)
    except Exception as e:  # noqa: BLE001 -- the quantizer's own error, in one line
        raise InputError(f"the quantizer refused the {mode} model with {len(float_nodes)} float op(s): "
                         f"{str(e).strip().splitlines()[0][:200]}")
    return add_signature(bytes(model), inputs, outputs)


@dataclasses.dataclass
class Attempt:
    float_ops: list
    size_bytes: int
    metrics: dict
    latency_ms: float
    met: bool
    model: bytes = dataclasses.field(repr=False, default=b"")

    def row(self):
        return {"float_ops": list(self.float_ops), "size_bytes": self.size_bytes, "met": self.met,
                "latency_ms_per_sample": round(self.latency_ms, 4), **self.metrics}


@dataclasses.dataclass
class BudgetResult:
    model: bytes
    met: bool
    attempts: list
    recipe: dict
    candidates: list  # the ops in the order they would be kept in float (worst local error first)
    note: str = ""    # why the search stopped short (int16x8)


def _evaluate(model, eval_data, ref, ins, outs, labels, budget, batch):
    from .comparison import LiteModel, metrics

    m = LiteModel(model)
    got, times, _ = m.run(eval_data, ins, outs, batch)
    n = len(next(iter(eval_data.values())))
    worst = {}
    for r, g in zip(ref, got):
        mt = metrics(r, g, labels)
        worst["max_abs_diff"] = max(worst.get("max_abs_diff", 0.0), mt["max_abs_diff"])
        if "top1_agreement" in mt:
            worst["agreement"] = min(worst.get("agreement", 1.0), mt["top1_agreement"])
        if "accuracy" in mt:
            worst["accuracy"] = min(worst.get("accuracy", 1.0), mt["accuracy"])
            worst["tf_accuracy"] = mt["tf_accuracy"]
            worst["accuracy_drop"] = max(worst.get("accuracy_drop", -1.0), mt["tf_accuracy"] - mt["accuracy"])
    met = True
    for key, limit in budget.items():
        if key == "agreement":
            met &= worst["agreement"] >= limit
        elif key == "accuracy-drop":
            met &= worst["accuracy_drop"] <= limit
        else:
            met &= worst["max_abs_diff"] <= limit
    return worst, 1000 * sum(times) / max(n, 1), bool(met)


def _schedule(n):
    """How many of the ranked ops each attempt keeps in float: one at a time, then growing steps."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k = k + 1 if k < 6 else int(k * 1.5)
    return ks + [n]


def meet_budget(graph_def, budget, representative_data, eval_data, labels=None, mode="int8", signature=None,
                calibration_samples=100, batch=64, max_attempts=16, progress=None, data_path=None):
    """Quantize ``graph_def`` in ``mode`` and keep the fewest ops in float that meet ``budget``
    ({'agreement': 0.99, 'accuracy-drop': 0.005, 'max-diff': X}); return a BudgetResult."""
    from ..conversion import converter as conversion
    from ..core.runtime import run_tf_batched

    if mode not in MODES:
        raise InputError(f"--budget works with --quantize int8 or int16x8, not {mode}")
    budget = parse_budget(budget) if isinstance(budget, str) else dict(budget)
    if "accuracy-drop" in budget and labels is None:
        raise InputError("--budget accuracy-drop needs labels: give --labels (or an .npz with y)")
    sig = signature or conversion.resolve_signature(graph_def)
    calibrated, ins, outs = conversion.convert(graph_def, quantize=mode, representative_data=representative_data,
                                               calibration_samples=calibration_samples, signature=sig,
                                               calibrate_only=True)
    full16 = None
    if mode == "int16x8":  # (the converter's own 16x8 model: mlir_quantize's is not runnable, see above)
        full16 = conversion.convert(graph_def, quantize=mode, representative_data=representative_data,
                                    calibration_samples=calibration_samples, signature=sig)
    missing = [i for i in ins if i not in eval_data]
    if missing:
        raise InputError(f"the evaluation data has no values for input {', '.join(missing)}")
    ref = run_tf_batched(graph_def, eval_data, outs, batch, fixed_batch=sig.batch)
    if "agreement" in budget and not any(np.ndim(r) == 2 and np.shape(r)[1] > 1 for r in ref):
        raise InputError("--budget agreement needs class scores ([N, classes] outputs); use max-diff=X for this model")
    attempts = []

    def attempt(nodes):
        seen = next((a for a in attempts if sorted(a.float_ops) == sorted(nodes)), None)
        if seen is not None:  # (tried already: same model)
            return seen
        model = full16 if full16 is not None and not nodes else quantize(calibrated, ins, outs, mode, nodes)
        worst, latency, met = _evaluate(model, eval_data, ref, ins, outs, labels, budget, sig.batch or batch)
        a = Attempt(list(nodes), len(model), worst, latency, met, model)
        attempts.append(a)
        if progress:
            progress(a)
        return a

    best = attempt([])
    candidates = []
    note = ""
    if not best.met and mode == "int16x8":
        note = NO_SELECTIVE_16X8
    elif not best.met:
        candidates = float_candidates(graph_def, best.model, calibrated, eval_data, ins, sig)
        for k in _schedule(len(candidates))[:max_attempts]:
            best = attempt(candidates[:k])
            if best.met:
                break
        if best.met and len(best.float_ops) > 8:
            # fewest, coarsely first: the ops kept last (the least suspect) dropped back to int8 in halves
            step = len(best.float_ops) // 2
            while step >= 1 and len(attempts) < 2 * max_attempts:
                a = attempt(best.float_ops[:-step])
                if a.met:
                    best = a
                else:
                    step //= 2
        if best.met and 1 < len(best.float_ops) <= 8:
            # fewest: an op kept in float on the way may not be needed once the later ones are
            for op in list(best.float_ops):
                trial = [o for o in best.float_ops if o != op]
                a = attempt(trial)
                if a.met:
                    best = a
        if best.met and candidates and set(candidates) <= set(best.float_ops):
            # every op in float is the float model again: not a quantized model that meets the budget
            partial = [a for a in attempts if a.float_ops and not set(candidates) <= set(a.float_ops)]
            close = max(partial, key=lambda a: len(a.float_ops)) if partial else attempts[0]
            figures = ", ".join(f"{k} {v:.4g}" for k, v in close.metrics.items() if k in ("agreement", "max_abs_diff",
                                                                                           "accuracy_drop"))
            note = (f"met only with every op in float ({len(best.float_ops)}): no {mode} op is left, so {mode} "
                    f"cannot meet it; the most quantized attempt reached {figures} with {len(close.float_ops)} "
                    f"op(s) in float: loosen the budget, or use float16 or dynamic")
            best = dataclasses.replace(best, met=False)
    recipe = {
        "graphtools_recipe": RECIPE_VERSION, "mode": mode, "float_ops": list(best.float_ops),
        "inputs": list(ins), "outputs": list(outs), "budget": budget, "met": best.met,
        "calibration": {"samples": int(calibration_samples), "data": data_path,
                        "sha256": data_fingerprint(representative_data, ins, calibration_samples)
                        if isinstance(representative_data, dict) else None},
        "model_sha256": hashlib.sha256(best.model).hexdigest(),
    }
    return BudgetResult(best.model, best.met, attempts, recipe, candidates, note)


def float_candidates(graph_def, quantized, calibrated, eval_data, ins, sig, samples=16):
    """The calibrated model's op outputs, worst local error first (per-op on the full model)."""
    from . import perop

    feeds = {k: v[:samples * (sig.batch or 1)] for k, v in eval_data.items()}
    r = perop.per_op(graph_def, quantized, feeds, ins, fixed_batch=sig.batch)
    names = [n for n in _op_output_names(calibrated)]
    order = sorted((row for row in r["rows"] if row["local"] and row["op"] not in perop.PASS_THROUGH),
                   key=lambda row: -row["local"]["relative"])
    out = []
    for row in order:
        hit = next((n for n in names if n == row["tensor"] or row["node"] in n.split(";")), None)
        if hit and hit not in out:
            out.append(hit)
    out += [n for n in names if n not in out]  # ops per-op could not measure come last
    return out


def _op_output_names(model):
    from . import perop

    m = perop._Model(model)
    return [m.tensor_name(t) for i, (_, o) in enumerate(m.ops) if i not in m.const_ops for t in perop._ix(o.outputs)]


def load_recipe(path):
    try:
        with open(path) as f:
            recipe = json.load(f)
    except OSError as e:
        raise InputError(f"--recipe {path}: cannot read it ({e.strerror}); give the .recipe.json convert wrote")
    except ValueError:
        raise InputError(f"--recipe {path}: not JSON; give the .recipe.json convert wrote")
    if not isinstance(recipe, dict) or recipe.get("graphtools_recipe") != RECIPE_VERSION or recipe.get("mode") not in MODES:
        raise InputError(f"--recipe {path}: not a graphtools recipe (version {RECIPE_VERSION}); give the .recipe.json "
                         f"convert --budget wrote")
    return recipe


def replay(graph_def, recipe, representative_data, signature=None):
    """The model ``recipe`` describes, from the same graph and calibration data; (bytes, identical)."""
    from ..conversion import converter as conversion

    samples = int(recipe["calibration"]["samples"])
    want = recipe["calibration"].get("sha256")
    sig = signature or conversion.resolve_signature(graph_def, recipe.get("inputs"), recipe.get("outputs"))
    if want and isinstance(representative_data, dict):
        got = data_fingerprint(representative_data, sig.names, samples)
        if got != want:
            raise InputError("the calibration data differs from the recipe's (sha256 mismatch); give the "
                             f"--representative-data the recipe was made with ({recipe['calibration'].get('data')})")
    if recipe["mode"] == "int16x8" and not recipe["float_ops"]:
        model = conversion.convert(graph_def, quantize="int16x8", representative_data=representative_data,
                                   calibration_samples=samples, signature=sig)
    else:
        calibrated, ins, outs = conversion.convert(graph_def, quantize=recipe["mode"],
                                                   representative_data=representative_data,
                                                   calibration_samples=samples, signature=sig, calibrate_only=True)
        model = quantize(calibrated, ins, outs, recipe["mode"], recipe["float_ops"])
    return model, hashlib.sha256(model).hexdigest() == recipe.get("model_sha256")
