"""A verdict a person can act on: ship, check or do not ship, per model, against gates; and the model a
run recommends (the smallest that passes every gate).

Gates (``--gate agreement=0.99,error=1e-3,fallback=check``; these are the defaults):

- ``agreement``: for class scores, the share of samples whose top class is TensorFlow's. At or above it:
  ship; within 0.04 below: check; lower: do not ship.
- ``error``: for every other float output, max |TFLite - TF| relative to max |TF| (the output's scale).
  At or below it: ship; up to 50 times it: check (what 8-bit models of regressions usually give); above:
  do not ship.
- ``fallback``: a Flex (select TF) op, or ops left in float in an integer-quantized model: ``check``
  (the default), ``fail`` (do not ship) or ``allow``.

Always: a model that is not deterministic or holds random ops is not shipped. Detection models (compare
by detection matching) use ``found``: the share of TensorFlow's detections found (default 0.9; within
0.2 below it: check).
"""
from ..errors import InputError

DEFAULT_GATES = {"agreement": 0.99, "error": 1e-3, "fallback": "check", "found": 0.9}
SHIP, CHECK, NO = "ship", "check", "do not ship"
_RANK = {SHIP: 0, CHECK: 1, NO: 2}


def parse_gates(text):
    """``'agreement=0.98,error=0.01'`` -> the gates (defaults for what is not given)."""
    gates = dict(DEFAULT_GATES)
    for part in [p.strip() for p in (text or "").split(",") if p.strip()]:
        key, _, value = part.partition("=")
        key = key.strip()
        if key not in gates or not value:
            raise InputError(f"--gate {part}: give NAME=VALUE with NAME one of {', '.join(DEFAULT_GATES)} "
                             f"(e.g. --gate agreement=0.98,error=0.01)")
        if key == "fallback":
            if value not in ("check", "fail", "allow"):
                raise InputError(f"--gate fallback={value}: choose check, fail or allow")
            gates[key] = value
            continue
        try:
            gates[key] = float(value)
        except ValueError:
            raise InputError(f"--gate {part}: {value} is not a number")
        if not 0 <= gates[key] <= (1 if key in ("agreement", "found") else float("inf")):
            raise InputError(f"--gate {part}: out of range")
    return gates


def judge(model, gates):
    """(verdict, reasons) for one model entry of a comparison."""
    worst, why, met = SHIP, [], []

    def say(verdict, reason):
        nonlocal worst
        if _RANK[verdict] > _RANK[worst]:
            worst = verdict
        (why if verdict != SHIP else met).append(reason)

    if "found_fraction" in model:  # a detection model
        f = model.get("worst_image_fraction") if model.get("worst_image_fraction") is not None else 0.0
        g = gates["found"]
        say(SHIP if f >= g else CHECK if f >= g - 0.2 else NO,
            f"{f:.0%} of the detections matched on the worst image (gate {g:.0%})")
        return worst, why or met
    if not model.get("deterministic", True) or model.get("random_ops"):
        say(NO, "not deterministic: random ops in the model")
    for name, o in (model.get("outputs") or {}).items():
        if "top1_agreement" in o and class_scores(name, o):
            a, g = o["top1_agreement"], gates["agreement"]
            say(SHIP if a >= g else CHECK if a >= g - 0.04 else NO,
                f"{name}: top-1 agreement {a:.4f} (gate {g:g})")
        elif "exact_match" in o:
            a, g = o["exact_match"], gates["agreement"]
            say(SHIP if a >= g else CHECK if a >= g - 0.04 else NO, f"{name}: {a:.4f} of its values equal TF's (gate {g:g})")
        else:
            e, g = relative_error(o), gates["error"]
            say(SHIP if e <= g else CHECK if e <= 50 * g else NO,
                f"{name}: max |d| {e:.3g} of the output's scale (gate {g:g})")
    fallback = model.get("fallback") or []
    if fallback and gates["fallback"] != "allow":
        say(CHECK if gates["fallback"] == "check" else NO, f"ops that fell back: {', '.join(fallback[:3])}")
    return worst, why or met or ["within every gate"]


def class_scores(name, o):
    """True for an output that holds class scores: its values are probabilities, or it is named so."""
    import re

    return bool(o.get("probabilities")) or bool(re.search(r"(soft_?max|prob|logit|class|predict|score)", name, re.I))


def relative_error(o):
    scale = o.get("ref_max_abs")
    return o["max_abs_diff"] / scale if scale else o["max_abs_diff"]


def apply(report, gates=None):
    """Set ``verdict``/``verdict_why`` in every model entry of a compare report and ``recommended`` at its
    top: the smallest model that ships (None, with why, when none does). Returns the report."""
    gates = gates or dict(DEFAULT_GATES)
    models = report.get("models") or []
    for m in models:
        m["verdict"], m["verdict_why"] = judge(m, gates)
    shipping = [m for m in models if m["verdict"] == SHIP]
    if shipping:
        best = min(shipping, key=lambda m: (m.get("size_bytes") or 0, str(m["model"])))
        report["recommended"] = {"model": best["model"], "why": "the smallest that passes every gate"
                                 + (f", {best['size_bytes'] / 1024:.1f} KB" if best.get("size_bytes") else "")}
    else:
        report["recommended"] = {"model": None, "why": "no model passes every gate: " + "; ".join(
            f"{m['model']}: {m['verdict_why'][0]}" for m in models[:3])}
    report["gates"] = gates
    return report


def summary_lines(report):
    """The verdicts and the recommendation, one line each (for the CLI)."""
    import os

    lines = []
    for m in report.get("models") or []:
        if "verdict" in m:
            lines.append(f"  {m['verdict'].upper():<11} {os.path.basename(str(m['model']))}: {m['verdict_why'][0]}")
    rec = report.get("recommended")
    if rec:
        lines.append(f"  recommended: {os.path.basename(str(rec['model']))} ({rec['why']})" if rec["model"] else
                     f"  recommended: none ({rec['why']})")
    return lines
