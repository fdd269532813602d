"""Seeded inputs for a graph's data inputs, and the value a training flag takes at inference.

Every TensorFlow run graphtools makes without the user's data (the equivalence check, the randomness
probe, the conversion's loop check, compare without --data) feeds what this module makes.
"""
import numpy as np

from ..errors import InputError

MAX_FEED_VALUES = 50_000_000  # per input: enough for any image batch, far from exhausting memory


def inference_flag_value(placeholder):
    """The value a training flag takes at inference: keep_prob 1.0, is_training False, learning_phase 0."""
    import re

    name = placeholder["name"]
    if "inference_value" in placeholder:  # decided by what the flag drives (analysis.discover_inputs)
        return placeholder["inference_value"]
    if placeholder["dtype"] == "bool":
        return bool(re.search(r"is_?test|inference|eval", name, re.I))
    if re.search(r"keep", name, re.I):
        return 1.0
    if re.search(r"dropout|rate", name, re.I):
        return 0.0
    return 0


def unfeedable(inputs):
    """Why no random feeds can be made for ``inputs`` (unknown rank, a string or other non-numeric
    tensor), or '' -- without making them."""
    for i in inputs:
        if i["shape"] is None:
            return f"input {i['name']} has unknown rank"
        if i["dtype"] == "string":
            return f"input {i['name']} is a string tensor"
        try:
            kind = np.dtype(i["dtype"]).kind
        except TypeError:  # (resource, variant, bfloat16: no numpy dtype)
            kind = None
        if kind is None or kind not in "fiub":
            return f"input {i['name']} has dtype {i['dtype']}"
    return ""


def random_feeds(inputs, seed=0, batch=2):
    """Seeded feeds for data inputs; None when a shape cannot be guessed (unknown rank)."""
    rng = np.random.RandomState(seed)
    feeds = {}
    for i in inputs:
        shape = i["shape"]
        if shape is None:
            return None, f"input {i['name']} has unknown rank"
        shape = [batch if (k == 0 and d < 0) else (d if d >= 0 else 1) for k, d in enumerate(shape)]
        if int(np.prod(shape, dtype=np.float64)) > MAX_FEED_VALUES:
            raise InputError(f"input '{i['name']}' has shape {shape}: too large to run for the equivalence check; "
                             f"give a smaller shape with --input-shapes or skip the check with --no-verify")
        dt = np.dtype(i["dtype"]) if i["dtype"] not in ("string",) else None
        if dt is None:
            return None, f"input {i['name']} is a string tensor"
        if dt.kind == "f" and i.get("int_range"):  # ids carried as floats into a Cast and an embedding
            lo, hi = i["int_range"]
            feeds[i["name"]] = rng.randint(lo, hi, size=shape).astype(dt)
        elif dt.kind == "f":
            feeds[i["name"]] = rng.standard_normal(shape).astype(dt)
        elif dt.kind in "iu":  # ids below the embedding table they index, when they index one
            lo, hi = i.get("int_range") or (0, 10)
            feeds[i["name"]] = rng.randint(lo, hi, size=shape).astype(dt)
        elif dt.kind == "b":
            feeds[i["name"]] = np.zeros(shape, dtype=bool)
        else:
            return None, f"input {i['name']} has dtype {i['dtype']}"
    return feeds, ""
