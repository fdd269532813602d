"""strip_dropout: wire the readers of every dropout output to the dropout input."""
import logging

import numpy as np

from ...core.ops import STOCHASTIC_OPS
from ...core.graph import node_name, tensor_ref
from ...core.protos import NodeDef
from ...core.constants import const_value
from . import register

log = logging.getLogger(__name__)
RANDOM_SOURCES = {op for op in STOCHASTIC_OPS if "Uniform" in op and "Int" not in op}
MASK_OPS = {"Add", "AddV2", "Mul", "Sub", "Floor", "GreaterEqual", "Greater", "Cast", "Identity"}
COMBINE_OPS = {"Mul", "SelectV2", "Select"}
# what random_uniform's min/max scaling puts after the random op, and the Enter that takes noise made
# once outside a loop into it (DropoutWrapper(variational_recurrent=True))
SCALE_OPS = {"Mul", "Sub", "Identity", "Enter"}
_WALKED = MASK_OPS | COMBINE_OPS | SCALE_OPS  # every op the walk from a random op can step onto


@register("strip_dropout", group="dropout", after=("fold_ifs",))
def strip_dropout(graph, ctx):
    """Remove dropout in its legacy forms by rewiring its output to its input.

    Forms (all seen in frozen TF 1.x/2.x graphs)::

        TF 1.0-1.12:  mul(div(x, keep), floor(add(keep, random_uniform)))
        TF 1.13-1.15: mul(div(x, 1 - rate), cast(greater_equal(random_uniform, rate)))
        TF 2.x:       select_v2(greater_equal(random_uniform, rate), div(x, 1 - rate) | mul(x, scale), 0)

    The math is checked before a rewrite: the scale must be 1/keep_prob for the same keep_prob
    (or rate) the mask uses; a match that fails the check is kept and logged.
    """
    rewrites = 0
    op_of = graph.ops()
    for r in graph.names_of(*sorted(RANDOM_SOURCES)):
        for combine, mask_in, mask_kind, threshold in _combiners(graph, r):
            scaled_ref = _other_operand(graph, combine, mask_in)
            if scaled_ref is None:
                continue
            x, why = _unscaled(graph, scaled_ref, mask_kind, threshold)
            if x is None:
                log.info("kept %s: %s", combine, why)
                continue
            if op_of[combine] in ("SelectV2", "Select"):
                zero = const_value(graph, graph.inputs(combine)[2])
                if zero is None or np.count_nonzero(zero):
                    log.info("kept %s: the dropped value is not 0", combine)
                    continue
            _rewire(graph, ctx, combine, x)
            log.info("stripped dropout %s (input %s)", combine, x)
            rewrites += 1
    return rewrites


def _combiners(graph, random_name):
    """Yield (combine node's name, mask input ref, mask kind, threshold ref) reachable from a random op."""
    frontier = [random_name]
    seen = set()
    kinds = {random_name: ("random", None)}
    op_of = graph.ops()
    while frontier:
        name = frontier.pop()
        if name in seen:
            continue
        seen.add(name)
        prefix = name + ":"
        for c in graph.consumers(name):
            op = op_of[c]
            kind, thr = kinds[name]
            # cheap op test first: most consumers are none of these
            if op not in _WALKED:
                continue
            ins = graph.data_inputs(c)
            refs = [i for i in ins if i == name or i.startswith(prefix)]
            if not refs:
                continue
            if op == "Floor" and kind == "random":
                kinds[c] = ("floor", thr)
            elif op in ("GreaterEqual", "Greater") and kind == "random" and node_name(ins[0]) == name:
                kinds[c] = ("rate", ins[1])
            elif op in COMBINE_OPS and kind in ("floor", "rate") and (op == "Mul" or node_name(ins[0]) == name):
                yield c, refs[0], kind, thr
                continue
            elif op in ("Add", "AddV2") and kind == "random":
                other = [i for i in ins if node_name(i) != name]
                kinds[c] = ("random", other[0] if other else None)  # keep_prob + U[0,1)
            elif op in (SCALE_OPS if kind == "random" else MASK_OPS):
                kinds[c] = (kind, thr)  # U * (max - min), Cast(mask), ... carry the kind along
            else:
                continue
            frontier.append(c)


def _other_operand(graph, combine, mask_ref):
    ins = graph.data_inputs(combine)
    if graph.op_of(combine) == "Mul":
        others = [i for i in ins if i != mask_ref]
        return others[0] if len(others) == 1 else None
    return ins[1]


def _unscaled(graph, scaled_ref, mask_kind, threshold):
    """Return (x, '') when ``scaled_ref`` is x scaled by exactly 1/keep for the mask's keep, else (None, why)."""
    name = node_name(scaled_ref)
    op = graph.ops().get(name)
    if op not in ("RealDiv", "Div", "Mul"):
        return None, f"no 1/keep_prob scaling feeds the mask ({op or '?'})"
    a, b = graph.data_inputs(name)[:2]
    if op in ("RealDiv", "Div"):
        x, divisor = a, b
        if mask_kind == "floor":
            if _same(graph, divisor, threshold):
                return x, ""
            return None, "divides by something other than the keep_prob of its mask"
        # rate form: divisor must be 1 - rate
        if _is_one_minus(graph, divisor, threshold):
            return x, ""
        return None, "divides by something other than 1 - rate"
    # Mul(x, 1 / (1 - rate)) built from the same rate tensor (TF 1.13-1.15)
    for x, s in ((a, b), (b, a)):
        sname = node_name(s)
        if graph.ops().get(sname) in ("RealDiv", "Div", "Reciprocal", "Inv"):
            sin = graph.data_inputs(sname)
            one = const_value(graph, sin[0]) if len(sin) == 2 else np.ones(())
            den = sin[-1]
            if one is not None and one.size == 1 and float(one) == 1.0:
                ok = (_is_one_minus(graph, den, threshold) if mask_kind == "rate" else _same(graph, den, threshold))
                if ok:
                    return x, ""
    # Mul(x, scale) with scale == 1 / (1 - rate), both constants
    rate = const_value(graph, threshold) if threshold else None
    for x, s in ((a, b), (b, a)):
        scale = const_value(graph, s)
        if scale is not None and rate is not None and scale.size == 1 and rate.size == 1:
            keep = 1.0 - float(rate) if mask_kind == "rate" else float(rate)
            if keep > 0 and abs(float(scale) - 1.0 / keep) <= 1e-6 * abs(1.0 / keep):
                return x, ""
            return None, f"scales by {float(scale)} but the mask keeps {keep}"
    return None, "scale is not a constant"


def _outside(graph, ref):
    """``ref`` seen through the Enter/Identity nodes that carry a loop invariant into a frame."""
    for _ in range(8):
        name = node_name(ref)
        if graph.ops().get(name) not in ("Enter", "Identity"):
            return ref
        ins = graph.data_inputs(name)
        if not ins:
            return ref
        ref = ins[0]
    return ref


def _same(graph, a, b):
    if a is None or b is None:
        return False
    a, b = _outside(graph, a), _outside(graph, b)
    if tensor_ref(a) == tensor_ref(b):
        return True
    va, vb = const_value(graph, a), const_value(graph, b)
    return va is not None and vb is not None and va.shape == vb.shape and np.allclose(va, vb)


def _is_one_minus(graph, ref, rate):
    name = node_name(ref)
    if graph.ops().get(name) == "Sub":
        one, r = graph.data_inputs(name)[:2]
        v = const_value(graph, one)
        if v is not None and v.size == 1 and float(v) == 1.0 and _same(graph, r, rate):
            return True
    # constant folded: 1 - rate computed ahead
    va, vr = const_value(graph, ref), const_value(graph, rate) if rate else None
    return va is not None and vr is not None and va.size == 1 and vr.size == 1 and np.isclose(float(va), 1 - float(vr))


def _rewire(graph, ctx, combine, x):
    if combine in ctx.protected:
        # an output keeps its name: it becomes Identity(x)
        ident = NodeDef(graph.graph_def, name=combine, op="Identity", input=[x])
        ident.attr["T"].CopyFrom(graph.node(combine).attr["T"])
        graph.replace_node(ident)
    else:
        graph.replace_all_uses(combine + ":0", x)
