"""What the two loop routes share: the frames of v1 while loops, a loop's parts and its trip count."""
import collections
import logging

import numpy as np

from ..core.graph import node_name
from ..core.ops import TENSOR_ARRAY_OPS
from ..core.protos import make_ndarray

log = logging.getLogger(__name__)

FLOW_CARRIERS = {"Enter", "Merge", "Switch", "Exit", "NextIteration", "Identity"}

DT_INT32 = 3

# Ops a loop's trip count may be computed with (evaluated in numpy, the bounds read from one run).
_COUNTER_OPS = {
    "Identity": lambda a: a[0], "Add": lambda a: a[0] + a[1], "AddV2": lambda a: a[0] + a[1],
    "Sub": lambda a: a[0] - a[1], "Mul": lambda a: a[0] * a[1], "Less": lambda a: a[0] < a[1],
    "LessEqual": lambda a: a[0] <= a[1], "Greater": lambda a: a[0] > a[1], "GreaterEqual": lambda a: a[0] >= a[1],
    "Equal": lambda a: a[0] == a[1], "NotEqual": lambda a: a[0] != a[1], "LogicalAnd": lambda a: a[0] & a[1],
    "LogicalOr": lambda a: a[0] | a[1], "LogicalNot": lambda a: ~a[0], "Minimum": lambda a: np.minimum(a[0], a[1]),
    "Maximum": lambda a: np.maximum(a[0], a[1]), "Cast": lambda a: a[0],
}

SHAPE_ONLY = {"Shape", "ShapeN", "Size", "Rank", "ZerosLike", "OnesLike"}  # (values from a shape alone)

MAX_UNROLL = 4096


def port_of(ref):
    ref = ref.lstrip("^")
    return int(ref.rsplit(":", 1)[1]) if ":" in ref else 0


def ref_at(name, port):
    return name if port == 0 else f"{name}:{port}"


def has_tensor_arrays(graph_def):
    return any(n.op in TENSOR_ARRAY_OPS for n in graph_def.node)


def frames(graph_def):
    """{node: frame name} ('' outside every loop) by TensorFlow's rule: an Enter starts its frame, an
    Exit returns to the parent's, a Merge is in its Enter's frame, anything else in its inputs' frame."""
    index = {n.name: n for n in graph_def.node}
    frame, parent = {}, {"": ""}

    def inputs_of(n):
        ins = [node_name(i) for i in n.input]
        if n.op == "Merge":
            ins = [i for i in ins if i in index and index[i].op != "NextIteration"] or ins
        return [i for i in ins if i in index]

    for start in index:
        stack = [start]
        while stack:
            name = stack[-1]
            if name in frame:
                stack.pop()
                continue
            n = index[name]
            ins = inputs_of(n)
            todo = [i for i in ins[:1] if i not in frame]
            if todo:
                if todo[0] in stack:  # a cycle not through a Merge: give up on it
                    frame[name] = ""
                    stack.pop()
                    continue
                stack.append(todo[0])
                continue
            outer = frame[ins[0]] if ins else ""
            if n.op == "Enter":
                f = n.attr["frame_name"].s.decode()
                parent.setdefault(f, outer)
            elif n.op == "Exit":
                f = parent.get(outer, "")
            else:
                f = outer
            frame[name] = f
            stack.pop()
    return frame, parent


def is_range_from_zero(index, ref):
    n = index.get(node_name(ref))
    if n is not None and n.op == "Const":  # (a range constant folding computed)
        try:
            v = make_ndarray(n.attr["value"].tensor)
        except (ValueError, TypeError):
            return False
        return v.ndim == 1 and np.array_equal(v, np.arange(v.size))
    if n is None or n.op != "Range" or len(n.input) < 3:
        return False
    start, delta = index.get(node_name(n.input[0])), index.get(node_name(n.input[2]))
    return all(c is not None and c.op == "Const" and _const(c) == v for c, v in ((start, 0), (delta, 1)))


def _const(node):
    try:
        return make_ndarray(node.attr["value"].tensor).item()
    except (ValueError, TypeError):
        return None


class Loop:
    """One v1 while loop: its frame, loop variables (Enter -> Merge -> Switch -> Identity / Exit,
    NextIteration), constants (Enter is_constant) and LoopCond."""

    def __init__(self, graph_def, frame_name, frame_of, index):
        self.frame = frame_name
        self.nodes = [n for n in graph_def.node if frame_of.get(n.name) == frame_name]
        self.index = index
        names = {n.name for n in self.nodes}
        consumers = collections.defaultdict(list)
        for n in graph_def.node:
            for i in n.input:
                if node_name(i) in names:
                    consumers[node_name(i)].append(n)
        self.consumers = consumers
        self.vars = []  # (enter, merge, switch, identity, exit or None, next_iteration)
        self.cond = next((n for n in self.nodes if n.op == "LoopCond"), None)
        for merge in (n for n in self.nodes if n.op == "Merge"):
            ins = [index[node_name(i)] for i in merge.input if not i.startswith("^")]
            enter = next((i for i in ins if i.op == "Enter"), None)
            nxt = next((i for i in ins if i.op == "NextIteration"), None)
            switch = next((c for c in consumers[merge.name] if c.op == "Switch"), None)
            if enter is None or nxt is None or switch is None:
                raise NotUnrollable(f"loop variable {merge.name} has an unusual form")
            ident = next((c for c in consumers[switch.name] if c.op == "Identity"
                          and any(i == switch.name + ":1" for i in c.input)), None)
            exit_ = next((c for c in consumers[switch.name] if c.op == "Exit"), None)
            self.vars.append((enter, merge, switch, ident, exit_, nxt))
        self.constants = [n for n in graph_def.node if n.op == "Enter" and n.attr["is_constant"].b
                          and n.attr["frame_name"].s.decode() == frame_name]
        nested = [n for n in self.nodes if n.op == "Enter" and n.attr["frame_name"].s.decode() != frame_name]
        if nested:
            raise NotUnrollable("it holds a nested loop")
        if self.cond is None:
            raise NotUnrollable("it has no LoopCond")


class NotUnrollable(Exception):
    pass


def ancestors_of(index, refs, stop, data_only=False):
    """Names ``refs`` need (through control edges too unless ``data_only``), not walking past ``stop``."""
    seen, todo = set(), [node_name(r) for r in refs]
    while todo:
        n = todo.pop()
        if n in seen or n not in index:
            continue
        seen.add(n)
        if n in stop:
            continue
        todo += [node_name(i) for i in index[n].input if not (data_only and i.startswith("^"))]
    return seen


def trip_count_of(loop, values):
    """The loop's trip count from the counter variables the condition reads, simulated in numpy;
    ``values``: {outside tensor: value} measured by a run. Raises NotUnrollable when the condition
    reads anything else."""
    index = loop.index
    var_of = {}
    for k, (enter, merge, switch, ident, _, nxt) in enumerate(loop.vars):
        var_of[merge.name] = k
        if ident is not None:
            var_of[ident.name] = k
        var_of[switch.name] = k
    const_of = {c.name: c.input[0] for c in loop.constants}

    def evaluate(ref, env, memo):
        name = node_name(ref)
        if name in memo:
            return memo[name]
        if name in var_of:
            v = env[var_of[name]]
        elif name in const_of:
            outside = const_of[name]
            if outside not in values:
                raise NotUnrollable(f"its condition reads {outside}")
            v = values[outside]
        else:
            n = index[name]
            if n.op == "Const":
                v = tensor_value(n)
            elif n.op in _COUNTER_OPS:
                v = _COUNTER_OPS[n.op]([evaluate(i, env, memo) for i in n.input if not i.startswith("^")])
            else:
                raise NotUnrollable(f"its condition goes through {n.op} ({name})")
        memo[name] = v
        return v

    # the variables the condition needs, and what their updates need, closed
    needed, todo = set(), [loop.cond.input[0]]
    while todo:
        ref = todo.pop()
        anc = ancestors_of(index, [ref], set(var_of) | set(const_of))
        for a in anc:
            if a in var_of and var_of[a] not in needed:
                needed.add(var_of[a])
                todo.append(loop.vars[var_of[a]][5].input[0])
    env = {}
    for k in needed:
        outside = loop.vars[k][0].input[0]
        if outside not in values:
            raise NotUnrollable(f"its counter starts from {outside}")
        env[k] = values[outside]
    for count in range(MAX_UNROLL + 1):
        if not bool(evaluate(loop.cond.input[0], env, {})):
            return count
        memo = {}
        env = {k: evaluate(loop.vars[k][5].input[0], env, memo) for k in needed}
    raise NotUnrollable(f"it runs more than {MAX_UNROLL} times")


def tensor_value(node):
    return make_ndarray(node.attr["value"].tensor)


def data_dependent(index, refs):
    """True when ``refs`` are computed from a placeholder's values (not only from its shape)."""
    shape_only = {name for name, node in index.items() if node.op in SHAPE_ONLY}
    return any(index[n].op in ("Placeholder", "PlaceholderV2", "PlaceholderWithDefault")
               for n in ancestors_of(index, refs, shape_only, data_only=True) if n not in shape_only)


def first_dim(index, ref, at_least):
    n = index.get(node_name(ref))
    for key in ("_output_shapes",):
        if n is not None and key in n.attr and n.attr[key].list.shape:
            dims = n.attr[key].list.shape[port_of(ref)].dim
            if dims and dims[0].size > 0:
                return dims[0].size
    return at_least
