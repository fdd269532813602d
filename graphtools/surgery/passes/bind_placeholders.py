"""bind_placeholders: turn named placeholders into constants (``is_training=false``, ``keep_prob=1.0``)."""
import logging

import numpy as np

from ...errors import InputError, NodeNotFoundError
from ...core.protos import NodeDef
from . import register

log = logging.getLogger(__name__)
PLACEHOLDERS = ("Placeholder", "PlaceholderV2", "PlaceholderWithDefault")


def parse_value(text, dtype):
    """'false' / '1.0' / '3' -> a numpy scalar of the placeholder's dtype; '[100]' or '[[1, 2]]' (JSON) -> an
    array of it (a sequence-length placeholder the authors feed a list)."""
    dtype = np.dtype(dtype)
    if not isinstance(text, str):
        return np.asarray(text, dtype=dtype)
    low = text.strip().lower()
    if low.startswith("["):
        import json

        try:
            return np.asarray(json.loads(low), dtype=dtype)
        except (ValueError, TypeError):
            raise InputError(f"--bind value '{text}' is not a JSON list of numbers")
    if dtype.kind == "b":
        if low in ("true", "1", "yes"):
            return np.asarray(True)
        if low in ("false", "0", "no"):
            return np.asarray(False)
        raise InputError(f"--bind value '{text}' is not a boolean; use true or false")
    try:
        return np.asarray(float(low) if dtype.kind == "f" else int(float(low)), dtype=dtype)
    except ValueError:
        raise InputError(f"--bind value '{text}' is not a number")


@register("bind_placeholders", group="training", after=("dequantize_ops",))
def bind_placeholders(graph, ctx):
    """Replace each placeholder named in ``ctx.options.bind`` by a Const of the given value.

    The node keeps its name, so its readers are untouched. A value must fit the placeholder's
    shape (a scalar fits an unknown-rank placeholder, and fills one of fixed shape).
    """
    from ..._tf import tf

    tf = tf()
    rewrites = 0
    for name, value in (ctx.options.bind or {}).items():
        if name not in graph:
            if name in ctx.done["bind_placeholders"]:
                continue
            raise NodeNotFoundError(name, [n.name for n in graph.nodes if n.op in PLACEHOLDERS],
                                    what="--bind placeholder")
        node = graph.node(name)
        if node.op not in PLACEHOLDERS:
            if node.op == "Const" and name in ctx.done["bind_placeholders"]:
                continue
            raise InputError(f"--bind {name}: is a {node.op}, not a placeholder; --cut replaces any node")
        dtype = tf.as_dtype(node.attr["dtype"].type)
        arr = parse_value(value, dtype.as_numpy_dtype)
        if node.op != "PlaceholderWithDefault" and "shape" in node.attr and not node.attr["shape"].shape.unknown_rank:
            want = [d.size for d in node.attr["shape"].shape.dim]
            if arr.ndim == 0 and want and min(want) >= 0:  # a scalar fills a placeholder of fixed shape (zeros)
                arr = np.full(want, arr, dtype=arr.dtype)
            if len(want) != arr.ndim or any(w >= 0 and w != s for w, s in zip(want, arr.shape)):
                raise InputError(f"--bind {name}: value of shape {list(arr.shape)} does not fit the "
                                 f"placeholder's shape {want}")
        const = NodeDef(graph.graph_def, name=name, op="Const")
        const.attr["dtype"].type = node.attr["dtype"].type
        const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(arr, dtype=dtype))
        graph.replace_node(const)
        ctx.done["bind_placeholders"].add(name)
        ctx.protected.discard(name)
        log.info("bound %s = %s", name, arr.tolist())
        rewrites += 1
    return rewrites
