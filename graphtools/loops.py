"""TF1 recurrent loops to TFLite builtins: v1 while loops over TensorArrays (dynamic_rnn,
bidirectional_dynamic_rnn, tf.while_loop with TensorArrays) have no TFLite kernel. Two routes:

- **unroll**: when the loop's trip count is fixed by the input shapes (the sequence length is known at
  conversion), the loop body is repeated that many times as straight-line ops; TensorList reads of an
  unstacked input become one Unpack, the writes one Pack. The converter then sees a plain graph.
- **while**: otherwise (a ``sequence_length`` input decides the trip count) the ``TensorArrayV3``
  family becomes the TensorList ops the converter lowers, so the loop converts to a TFLite ``WHILE``
  with builtin ops inside.

Both need the element shapes and trip counts at the shapes the model is converted with; they are
read from one TensorFlow run of the graph on seeded inputs of the signature's shapes.
"""
import collections
import logging

import numpy as np

from .errors import InputError
from .graph import node_name
from .ops import LOOP_OPS, TENSOR_ARRAY_OPS  # noqa: F401 (TENSOR_ARRAY_OPS re-exported)
from .protos import make_ndarray

log = logging.getLogger(__name__)

FLOW_CARRIERS = {"Enter", "Merge", "Switch", "Exit", "NextIteration", "Identity"}
ROUTES = ("auto", "unroll", "while")
DT_INT32, DT_VARIANT = 3, 21
# Ops a loop's trip count may be computed with (evaluated in numpy, the bounds read from one run).
_COUNTER_OPS = {
    "Identity": lambda a: a[0], "Add": lambda a: a[0] + a[1], "AddV2": lambda a: a[0] + a[1],
    "Sub": lambda a: a[0] - a[1], "Mul": lambda a: a[0] * a[1], "Less": lambda a: a[0] < a[1],
    "LessEqual": lambda a: a[0] <= a[1], "Greater": lambda a: a[0] > a[1], "GreaterEqual": lambda a: a[0] >= a[1],
    "Equal": lambda a: a[0] == a[1], "NotEqual": lambda a: a[0] != a[1], "LogicalAnd": lambda a: a[0] & a[1],
    "LogicalOr": lambda a: a[0] | a[1], "LogicalNot": lambda a: ~a[0], "Minimum": lambda a: np.minimum(a[0], a[1]),
    "Maximum": lambda a: np.maximum(a[0], a[1]), "Cast": lambda a: a[0],
}
SHAPE_ONLY = {"Shape", "ShapeN", "Size", "Rank"}
MAX_UNROLL = 4096


def _port(ref):
    ref = ref.lstrip("^")
    return int(ref.rsplit(":", 1)[1]) if ":" in ref else 0


def _ref(name, port):
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


# ---------------------------------------------------------------- TensorArray -> TensorList

def _array_of(index, ref):
    """The TensorArrayV3 node a handle reference comes from (through Enter/Identity)."""
    n = index.get(node_name(ref))
    for _ in range(50):
        if n is None:
            return None
        if n.op == "TensorArrayV3":
            return n
        if n.op not in ("Enter", "Identity", "Switch", "Merge") or not n.input:
            return None
        n = index.get(node_name(n.input[0]))
    return None


def element_shapes(graph_def, run_shapes):
    """{TensorArrayV3 name: element shape} from the arrays' attrs, what is scattered into them and
    what is gathered from them; ``run_shapes`` ({tensor: shape}) has the shapes one run measured."""
    index = {n.name: n for n in graph_def.node}
    out = {}

    def merge(name, dims):
        if dims is None:
            return
        dims = [d if d is not None and d >= 0 else None for d in dims]
        cur = out.get(name)
        out[name] = dims if cur is None or len(cur) != len(dims) else [a if a is not None else b
                                                                       for a, b in zip(cur, dims)]

    for n in graph_def.node:
        if n.op == "TensorArrayV3":
            es = n.attr["element_shape"].shape
            if not es.unknown_rank:
                merge(n.name, [d.size for d in es.dim])
    for n in graph_def.node:
        ta = _array_of(index, n.input[0]) if n.op in TENSOR_ARRAY_OPS and n.input else None
        if ta is None:
            continue
        if n.op == "TensorArrayScatterV3" and n.input[2] in run_shapes:
            merge(ta.name, run_shapes[n.input[2]][1:])
        elif n.op == "TensorArrayGatherV3" and n.name in run_shapes:
            merge(ta.name, run_shapes[n.name][1:])
    return out


def tensor_arrays_to_lists(graph_def, shapes):
    """The GraphDef with the TensorArrayV3 family replaced by TensorList ops (the flow tensor becomes
    the list; the handle goes). ``shapes``: element shapes by array (``element_shapes``)."""
    from ._tf import tf

    tf = tf()
    index = {n.name: n for n in graph_def.node}
    new = type(graph_def)()
    new.versions.CopyFrom(graph_def.versions)
    new.library.CopyFrom(graph_def.library)
    handle_users = {n.name for n in graph_def.node if n.op == "Enter" and n.input
                    and _array_of(index, n.input[0]) is not None and _port(n.input[0]) == 0
                    and index[node_name(n.input[0])].op in ("TensorArrayV3", "Enter")}
    closes = {n.name for n in graph_def.node if n.op == "TensorArrayCloseV3"}
    unsupported = sorted({n.op for n in graph_def.node if n.op in TENSOR_ARRAY_OPS} -
                         {"TensorArrayV3", "TensorArrayScatterV3", "TensorArrayReadV3", "TensorArrayWriteV3",
                          "TensorArrayGatherV3", "TensorArraySizeV3", "TensorArrayCloseV3"})
    if unsupported:
        raise InputError(f"{unsupported[0]} has no TensorList form here; convert with --select-tf-ops")

    def shape_const(ta, name, anchor):
        dims = shapes.get(ta.name)
        value = np.array(-1, np.int32) if dims is None else np.array([-1 if d is None else d for d in dims], np.int32)
        c = new.node.add()
        c.name, c.op = name, "Const"
        if anchor:  # inside a loop frame a constant must be anchored there
            c.input.append("^" + node_name(anchor))
        c.attr["dtype"].type = DT_INT32
        c.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
        return name

    def flow(ref):  # the array's flow output is now the list itself
        src = index.get(node_name(ref))
        return node_name(ref) if src is not None and src.op == "TensorArrayV3" and _port(ref) == 1 else ref

    for n in graph_def.node:
        if n.name in handle_users or n.name in closes:
            continue
        ins = list(n.input)
        ctrl = [i for i in ins if i.startswith("^") and node_name(i) not in closes | handle_users]
        m = new.node.add()
        if n.op not in TENSOR_ARRAY_OPS:
            m.CopyFrom(n)
            del m.input[:]
            m.input.extend([flow(i) for i in ins if not i.startswith("^")] + ctrl)
            continue
        m.name = n.name
        m.device = n.device
        ta = n if n.op == "TensorArrayV3" else _array_of(index, ins[0])
        dtype = ta.attr["dtype"].type
        m.attr["element_dtype"].type = dtype
        if n.op == "TensorArrayV3":
            m.op = "TensorListReserve"
            m.input.extend([shape_const(ta, n.name + "/element_shape", None), ins[0]])
            m.attr["shape_type"].type = DT_INT32
        elif n.op == "TensorArrayScatterV3":  # (handle, indices, value, flow)
            m.op = "TensorListScatterIntoExistingList"
            m.input.extend([flow(ins[3]), ins[2], ins[1]])
            if _is_range_from_zero(index, ins[1]):
                del m.input[:]
                m.op = "TensorListFromTensor"
                m.input.extend([ins[2], shape_const(ta, n.name + "/element_shape", ins[3])])
                m.attr["shape_type"].type = DT_INT32
        elif n.op == "TensorArrayReadV3":  # (handle, index, flow)
            m.op = "TensorListGetItem"
            m.input.extend([flow(ins[2]), ins[1], shape_const(ta, n.name + "/element_shape", ins[2])])
        elif n.op == "TensorArrayWriteV3":  # (handle, index, value, flow)
            m.op = "TensorListSetItem"
            m.input.extend([flow(ins[3]), ins[1], ins[2]])
        elif n.op == "TensorArrayGatherV3":  # (handle, indices, flow)
            if _is_range_from_zero(index, ins[1]):  # the whole array, in order
                m.op = "TensorListStack"
                m.input.extend([flow(ins[2]), shape_const(ta, n.name + "/element_shape", ins[2])])
                m.attr["num_elements"].i = -1
            else:
                m.op = "TensorListGather"
                m.input.extend([flow(ins[2]), ins[1], shape_const(ta, n.name + "/element_shape", ins[2])])
        elif n.op == "TensorArraySizeV3":  # (handle, flow)
            m.op = "TensorListLength"
            del m.attr["element_dtype"]
            m.input.append(flow(ins[1]))
        m.input.extend(ctrl)
    # what carries a flow now carries a list: a variant
    listy = {n.name for n in new.node if n.op.startswith("TensorList") and n.op not in
             ("TensorListGetItem", "TensorListStack", "TensorListGather", "TensorListLength")}
    carriers = [n for n in new.node if n.op in FLOW_CARRIERS]
    changed = True
    while changed:
        changed = False
        for n in carriers:
            if n.name not in listy and any(node_name(i) in listy for i in n.input if not i.startswith("^")):
                listy.add(n.name)
                n.attr["T"].type = DT_VARIANT
                changed = True
    return new


def _is_range_from_zero(index, ref):
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


# ---------------------------------------------------------------- loops

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
                raise _NotUnrollable(f"loop variable {merge.name} has an unusual form")
            ident = next((c for c in consumers[switch.name] if c.op == "Identity"
                          and any(i == switch.name + ":1" for i in c.input)), None)
            exit_ = next((c for c in consumers[switch.name] if c.op == "Exit"), None)
            self.vars.append((enter, merge, switch, ident, exit_, nxt))
        self.constants = [n for n in graph_def.node if n.op == "Enter" and n.attr["is_constant"].b
                          and n.attr["frame_name"].s.decode() == frame_name]
        nested = [n for n in self.nodes if n.op == "Enter" and n.attr["frame_name"].s.decode() != frame_name]
        if nested:
            raise _NotUnrollable("it holds a nested loop")
        if self.cond is None:
            raise _NotUnrollable("it has no LoopCond")


class _NotUnrollable(Exception):
    pass


def _ancestors(index, refs, stop, data_only=False):
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


def _trip_count(loop, values):
    """The loop's trip count from the counter variables the condition reads, simulated in numpy;
    ``values``: {outside tensor: value} measured by a run. Raises _NotUnrollable when the condition
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
                raise _NotUnrollable(f"its condition reads {outside}")
            v = values[outside]
        else:
            n = index[name]
            if n.op == "Const":
                v = _tensor_value(n)
            elif n.op in _COUNTER_OPS:
                v = _COUNTER_OPS[n.op]([evaluate(i, env, memo) for i in n.input if not i.startswith("^")])
            else:
                raise _NotUnrollable(f"its condition goes through {n.op} ({name})")
        memo[name] = v
        return v

    # the variables the condition needs, and what their updates need, closed
    needed, todo = set(), [loop.cond.input[0]]
    while todo:
        ref = todo.pop()
        anc = _ancestors(index, [ref], set(var_of) | set(const_of))
        for a in anc:
            if a in var_of and var_of[a] not in needed:
                needed.add(var_of[a])
                todo.append(loop.vars[var_of[a]][5].input[0])
    env = {}
    for k in needed:
        outside = loop.vars[k][0].input[0]
        if outside not in values:
            raise _NotUnrollable(f"its counter starts from {outside}")
        env[k] = values[outside]
    for count in range(MAX_UNROLL + 1):
        if not bool(evaluate(loop.cond.input[0], env, {})):
            return count
        memo = {}
        env = {k: evaluate(loop.vars[k][5].input[0], env, memo) for k in needed}
    raise _NotUnrollable(f"it runs more than {MAX_UNROLL} times")


def _tensor_value(node):
    return make_ndarray(node.attr["value"].tensor)


def _data_dependent(index, refs):
    """True when ``refs`` are computed from a placeholder's values (not only from its shape)."""
    shape_only = {name for name, node in index.items() if node.op in SHAPE_ONLY}
    return any(index[n].op in ("Placeholder", "PlaceholderV2", "PlaceholderWithDefault")
               for n in _ancestors(index, refs, shape_only, data_only=True) if n not in shape_only)


def unroll(graph_def, loop, count):
    """The GraphDef with ``loop`` replaced by ``count`` copies of its body, in line."""
    index = loop.index
    in_loop = {n.name for n in loop.nodes}
    structure = {n.name for n in loop.nodes if n.op in LOOP_OPS}
    var_nodes = {}
    for k, (enter, merge, switch, ident, exit_, nxt) in enumerate(loop.vars):
        var_nodes[merge.name] = k
        var_nodes[switch.name] = k
        if ident is not None:
            var_nodes[ident.name] = k
    const_of = {c.name: c.input[0] for c in loop.constants}
    # the body: what the NextIteration inputs need inside the frame
    body = _ancestors(index, [v[5].input[0] for v in loop.vars], set(var_nodes) | set(const_of))
    body = [n for n in loop.nodes if n.name in body and n.name not in structure and n.name not in var_nodes]
    values = [v[0].input[0] for v in loop.vars]  # iteration 0: what entered the loop
    new_nodes = []
    for it in range(count):
        def remap(ref, it=it):
            ctrl = ref.startswith("^")
            name, port = node_name(ref), _port(ref)
            if name in var_nodes:
                if ctrl:
                    return None
                if index[name].op == "Switch" and port != 1:
                    raise _NotUnrollable(f"the body reads the exit side of {name}")
                return values[var_nodes[name]]
            if name in const_of:
                return None if ctrl else const_of[name]
            if name in in_loop:
                new = f"{name}/unroll_{it}"
                return "^" + new if ctrl else _ref(new, port)
            return ref

        for n in body:
            m = type(n)()
            m.CopyFrom(n)
            m.name = f"{n.name}/unroll_{it}"
            del m.input[:]
            m.input.extend([r for r in (remap(i) for i in n.input) if r is not None])
            new_nodes.append(m)
        values = [remap(v[5].input[0]) for v in loop.vars]
    exits = {v[4].name: values[k] for k, v in enumerate(loop.vars) if v[4] is not None}
    out = type(graph_def)()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    for n in graph_def.node:
        if n.name in in_loop or n.name in const_of or n.name in exits:
            continue
        m = out.node.add()
        m.CopyFrom(n)
        refs = []
        for i in n.input:
            name = node_name(i)
            if name in exits:
                if i.startswith("^"):
                    target = exits[name]
                    refs.append("^" + node_name(target))
                else:
                    refs.append(exits[name])
            elif name in const_of or name in in_loop:
                if not i.startswith("^"):
                    raise _NotUnrollable(f"{n.name} reads {name} from inside the loop")
            else:
                refs.append(i)
        del m.input[:]
        m.input.extend(refs)
    out.node.extend(new_nodes)
    return out


# ---------------------------------------------------------------- TensorList folding (after unrolling)

def fold_lists(graph_def):
    """Replace TensorList ops whose indices are constants: reads of an unstacked tensor become one
    Unpack, a list written at 0..n-1 and stacked becomes a Pack; lengths become constants.
    Returns (GraphDef, rewrites)."""
    from ._tf import tf

    tf = tf()
    index = {n.name: n for n in graph_def.node}

    def const(ref):
        n = index.get(node_name(ref))
        for _ in range(10):
            if n is None:
                return None
            if n.op == "Const":
                return _tensor_value(n)
            if n.op != "Identity":
                return None
            n = index.get(node_name(n.input[0]))
        return None

    def source(ref):
        n = index.get(node_name(ref))
        while n is not None and n.op == "Identity":
            n = index.get(node_name(n.input[0]))
        return n

    def items(ref):
        """{position: item ref} and the base list (Reserve/FromTensor node) of a SetItem chain."""
        got, n = {}, source(ref)
        while n is not None and n.op == "TensorListSetItem":
            k = const(n.input[1])
            if k is None:
                return None, None
            got.setdefault(int(k), n.input[2])
            n = source(n.input[0])
        return got, n

    replace = {}
    unpacks = {}
    for n in graph_def.node:
        if n.op == "TensorListGetItem":
            k = const(n.input[1])
            if k is None:
                continue
            got, base = items(n.input[0])
            if got is None:
                continue
            if int(k) in got:
                replace[n.name] = got[int(k)]
            elif base is not None and base.op == "TensorListFromTensor":
                src = base.input[0]
                if src not in unpacks:
                    unpacks[src] = base.name + "/unstack"
                replace[n.name] = ("unpack", src, int(k))
        elif n.op == "TensorListStack":
            got, base = items(n.input[0])
            if got is None or base is None:
                continue
            if base.op == "TensorListFromTensor" and not got:
                replace[n.name] = base.input[0]
            elif base.op == "TensorListReserve":  # written at 0..n-1 by n unrolled steps
                size = const(base.input[1])
                if got and sorted(got) == list(range(len(got))) and (size is None or int(size) == len(got)):
                    replace[n.name] = ("pack", [got[i] for i in range(len(got))], n)
        elif n.op == "TensorListLength":
            got, base = items(n.input[0])
            if base is not None and base.op == "TensorListReserve" and const(base.input[1]) is not None:
                replace[n.name] = ("const", np.array(int(const(base.input[1])), np.int32))
    if not replace:
        return graph_def, 0
    # one Unpack per unstacked tensor, of as many parts as its first dimension
    sizes = {}
    for name, r in replace.items():
        if isinstance(r, tuple) and r[0] == "unpack":
            sizes[r[1]] = max(sizes.get(r[1], 0), r[2] + 1)
    out = type(graph_def)()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    refs = {}
    for name, r in replace.items():
        if isinstance(r, str):
            refs[name] = r
        elif r[0] == "unpack":
            refs[name] = _ref(unpacks[r[1]], r[2])
        elif r[0] == "pack":
            p = out.node.add()
            p.name, p.op = name, "Pack"
            p.input.extend(r[1])
            p.attr["N"].i = len(r[1])
            p.attr["T"].type = r[2].attr["element_dtype"].type
            p.attr["axis"].i = 0
        elif r[0] == "const":
            c = out.node.add()
            c.name, c.op = name, "Const"
            c.attr["dtype"].type = DT_INT32
            c.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(r[1]))
    for src, unpack in unpacks.items():
        num = _first_dim(index, src, sizes[src])
        u = out.node.add()
        u.name, u.op = unpack, "Unpack"
        u.input.append(src)
        u.attr["num"].i = num
        u.attr["axis"].i = 0
        u.attr["T"].type = next(index[k].attr["element_dtype"].type for k, r in replace.items()
                                if isinstance(r, tuple) and r[0] == "unpack" and r[1] == src)
    for n in graph_def.node:
        if n.name in replace and not isinstance(replace[n.name], str) and replace[n.name][0] != "unpack":
            continue  # (rebuilt above under the same name)
        if n.name in replace:
            continue
        m = out.node.add()
        m.CopyFrom(n)
        del m.input[:]
        for i in n.input:
            name = node_name(i)
            if name not in refs:
                m.input.append(i)
            elif i.startswith("^"):
                m.input.append("^" + node_name(refs[name]))
            else:
                m.input.append(refs[name])
    return out, len(replace)


def simplify_stacks(graph_def):
    """What unrolling leaves around the sequence: dynamic_rnn's batch-major <-> time-major transposes
    and the last step sliced out of the stacked outputs. Unpack(Transpose(x)) -> Unpack(x) on the
    transposed axis; Transpose(Pack(items)) -> Pack(items) on the transposed axis; a single step
    sliced out of a Pack -> that step. Returns (GraphDef, rewrites)."""
    index = {n.name: n for n in graph_def.node}
    readers = collections.Counter(node_name(i) for n in graph_def.node for i in n.input)

    def const(ref):
        n = index.get(node_name(ref))
        return _tensor_value(n) if n is not None and n.op == "Const" else None

    def keeps_order(perm, axis):
        rest = [p for k, p in enumerate(perm) if k != axis]
        return rest == sorted(rest)

    rewrites, alias = 0, {}
    for n in graph_def.node:
        if n.op == "Unpack" and n.input:
            src = index.get(node_name(n.input[0]))
            perm = const(src.input[1]) if src is not None and src.op == "Transpose" else None
            axis = n.attr["axis"].i
            if perm is not None and axis >= 0 and keeps_order(list(perm), axis):
                n.input[0] = src.input[0]
                n.attr["axis"].i = int(perm[axis])
                rewrites += 1
        elif n.op == "Transpose":
            src = index.get(node_name(n.input[0]))
            perm = const(n.input[1])
            if src is None or src.op != "Pack" or perm is None or readers[src.name] != 1:
                continue
            perm, axis = list(perm), src.attr["axis"].i
            if axis < 0 or axis not in perm:
                continue
            new_axis = perm.index(axis)
            if keeps_order([p for p in perm], new_axis):
                n.op = "Pack"
                del n.input[:]
                n.input.extend(src.input)
                for key in list(n.attr):
                    if key not in ("T",):
                        del n.attr[key]
                n.attr["N"].i = src.attr["N"].i
                n.attr["axis"].i = new_axis
                rewrites += 1
        elif n.op == "StridedSlice":
            src = index.get(node_name(n.input[0]))
            if src is None or src.op != "Pack":
                continue
            begin, end, strides = (const(i) for i in n.input[1:4])
            if begin is None or end is None or strides is None:
                continue
            a, shrink = src.attr["axis"].i, n.attr["shrink_axis_mask"].i
            if n.attr["new_axis_mask"].i or n.attr["ellipsis_mask"].i or a >= len(begin) or shrink != 1 << a:
                continue
            full = all((n.attr["begin_mask"].i >> k) & 1 and (n.attr["end_mask"].i >> k) & 1 and strides[k] == 1
                       for k in range(len(begin)) if k != a)
            if full and strides[a] == 1:
                k = int(begin[a])
                count = src.attr["N"].i
                if -count <= k < count:
                    alias[n.name] = src.input[k % count]
                    rewrites += 1
        elif n.op == "ReverseV2":
            src = index.get(node_name(n.input[0]))
            axes = const(n.input[1])
            if src is None or axes is None or np.size(axes) != 1 or readers[src.name] != 1:
                continue
            ax = int(np.ravel(axes)[0])
            if src.op == "Pack" and src.attr["axis"].i == ax:  # the steps in reverse order
                n.op = "Pack"
                items = list(src.input)
                del n.input[:]
                n.input.extend(items[::-1])
                for key in list(n.attr):
                    if key != "T":
                        del n.attr[key]
                n.attr["N"].i = len(items)
                n.attr["axis"].i = ax
                rewrites += 1
    for n in list(graph_def.node):  # Unpack(ReverseV2(x)) on the reversed axis: x's steps, last first
        if n.op != "Unpack":
            continue
        src = index.get(node_name(n.input[0]))
        axes = const(src.input[1]) if src is not None and src.op == "ReverseV2" else None
        if axes is None or np.size(axes) != 1 or int(np.ravel(axes)[0]) != n.attr["axis"].i:
            continue
        count = n.attr["num"].i
        n.input[0] = src.input[0]
        for m in graph_def.node:
            if m is not n:
                for k, i in enumerate(m.input):
                    if not i.startswith("^") and node_name(i) == n.name:
                        m.input[k] = _ref(n.name, count - 1 - _port(i))
        rewrites += 1
    for n in list(graph_def.node):  # one step sliced out of a concatenation on another axis
        if n.op != "StridedSlice":
            continue
        src = index.get(node_name(n.input[0]))
        if src is None or src.op != "ConcatV2" or readers[src.name] != 1:
            continue
        begin, strides = const(n.input[1]), const(n.input[3])
        c = const(src.input[-1])
        shrink = n.attr["shrink_axis_mask"].i
        if begin is None or strides is None or c is None or shrink == 0 or shrink & (shrink - 1):
            continue
        a, c = shrink.bit_length() - 1, int(c)
        if c < 0 or a == c or n.attr["new_axis_mask"].i or n.attr["ellipsis_mask"].i or a >= len(begin):
            continue
        if not all((n.attr["begin_mask"].i >> k) & 1 and (n.attr["end_mask"].i >> k) & 1 and strides[k] == 1
                   for k in range(len(begin)) if k != a):
            continue
        parts = [i for i in src.input[:-1]]
        for k, part in enumerate(parts):
            m = graph_def.node.add()
            m.CopyFrom(n)
            m.name = f"{n.name}/part_{k}"
            m.input[0] = part
        n.op = "ConcatV2"
        axis_ref = src.input[-1] if c < a else None
        if axis_ref is None:  # the concatenation axis moves down by one
            from ._tf import tf

            ax = graph_def.node.add()
            ax.name, ax.op = n.name + "/axis", "Const"
            ax.attr["dtype"].type = DT_INT32
            ax.attr["value"].tensor.CopyFrom(tf().make_tensor_proto(np.array(c - 1, np.int32)))
            axis_ref = ax.name
        del n.input[:]
        n.input.extend([f"{n.name}/part_{k}" for k in range(len(parts))] + [axis_ref])
        t = n.attr["T"].type
        for key in list(n.attr):
            del n.attr[key]
        n.attr["T"].type = t
        n.attr["N"].i = len(parts)
        n.attr["Tidx"].type = DT_INT32
        rewrites += 1
    if alias:
        for n in graph_def.node:
            for k, i in enumerate(n.input):
                name = node_name(i)
                if name in alias:
                    n.input[k] = "^" + node_name(alias[name]) if i.startswith("^") else alias[name]
    seen, same = {}, {}
    for n in graph_def.node:  # the same Unpack twice (both directions read x): one
        if n.op == "Unpack" and not any(i.startswith("^") for i in n.input):
            key = (n.input[0], n.attr["axis"].i, n.attr["num"].i)
            if key in seen:
                same[n.name] = seen[key]
            else:
                seen[key] = n.name
    if same:
        for n in graph_def.node:
            for k, i in enumerate(n.input):
                name = node_name(i)
                if name in same:
                    n.input[k] = ("^" + same[name]) if i.startswith("^") else _ref(same[name], _port(i))
        rewrites += len(same)
    return graph_def, rewrites


def _first_dim(index, ref, at_least):
    n = index.get(node_name(ref))
    for key in ("_output_shapes",):
        if n is not None and key in n.attr and n.attr[key].list.shape:
            dims = n.attr[key].list.shape[_port(ref)].dim
            if dims and dims[0].size > 0:
                return dims[0].size
    return at_least


# ---------------------------------------------------------------- the whole lowering

def lower(graph_def, signature, route="auto"):
    """The GraphDef with its v1 TensorArray loops in a form TFLite builtins can run, and what was done:
    {"route": "unroll"|"while", "loops": [{"frame", "route", "trip_count" or "why"}]}.

    ``route``: 'unroll' (every loop must have a trip count the input shapes fix), 'while' (TensorList
    ops in a TFLite WHILE), or 'auto' (unroll where it can, WHILE elsewhere).
    """
    from .passes import PassContext, run_passes
    from .runtime import GraphRunner

    if route not in ROUTES:
        raise InputError(f"--rnn {route}: choose from {', '.join(ROUTES)}")
    frame_of, _ = frames(graph_def)
    index = {n.name: n for n in graph_def.node}
    # one run at the conversion's shapes: element shapes and the counters' bounds
    shapes = signature.shapes()
    from .validate import random_feeds

    feeds, why = random_feeds([dict(i.as_dict(), shape=shapes[i.name]) for i in signature.inputs], 0, 1)
    if feeds is None:
        raise InputError(f"cannot run the loops to measure them: {why}; convert with --select-tf-ops")
    feeds = signature.feeds_for(set(index), feeds)
    loop_frames = sorted({n.attr["frame_name"].s.decode() for n in graph_def.node if n.op == "Enter"})
    fetch = set()
    for n in graph_def.node:
        if n.op == "TensorArrayScatterV3" and frame_of.get(node_name(n.input[2])) == "":
            fetch.add(n.input[2])
        if n.op == "TensorArrayGatherV3" and frame_of.get(n.name) == "":
            fetch.add(n.name)
        if n.op == "Enter" and frame_of.get(node_name(n.input[0])) == "" and \
                index[node_name(n.input[0])].op not in TENSOR_ARRAY_OPS | {"Const", "VarHandleOp"}:
            fetch.add(n.input[0])
    fetch = sorted(fetch)
    measured = {}
    with GraphRunner(graph_def, path="the recurrent graph") as runner:
        vals = runner.run(feeds, fetch) if fetch else []
    for f, v in zip(fetch, vals):
        measured[f] = np.asarray(v)
    run_shapes = {f: list(np.shape(v)) for f, v in measured.items()}
    lists = tensor_arrays_to_lists(graph_def, element_shapes(graph_def, run_shapes))
    report = {"loops": []}
    if route == "while":
        report["loops"] = [{"frame": f, "route": "while"} for f in loop_frames]
        report["route"] = "while"
        return lists, report
    gd = lists
    values = {k: v for k, v in measured.items() if v.ndim == 0 or v.size <= 64}  # (counters and bounds)
    values.update({c.name: _tensor_value(c) for c in gd.node if c.op == "Const" and frame_of.get(c.name) == ""
                   and not len(c.attr["value"].tensor.tensor_shape.dim)})
    for f in loop_frames:
        frame_of, _ = frames(gd)
        idx = {n.name: n for n in gd.node}
        if not any(frame_of.get(n.name) == f for n in gd.node):
            continue
        try:
            loop = Loop(gd, f, frame_of, idx)
            bounds = [c.input[0] for c in loop.constants] + [v[0].input[0] for v in loop.vars]
            count = _trip_count(loop, values)
            cond_inputs = [b for b in bounds if b in values]
            if _data_dependent(idx, cond_inputs):
                raise _NotUnrollable("its trip count depends on input values (a sequence_length input)")
            gd = unroll(gd, loop, count)
            report["loops"].append({"frame": f, "route": "unroll", "trip_count": count})
        except _NotUnrollable as e:
            if route == "unroll":
                raise InputError(f"--rnn unroll: the loop {f} cannot be unrolled: {e}; use --rnn while")
            report["loops"].append({"frame": f, "route": "while", "why": str(e)})
    if any(lp["route"] == "unroll" for lp in report["loops"]):
        outs = list(signature.outputs)
        for _ in range(12):  # counters become constants, then the list reads and writes fold
            gd, _ = run_passes(gd, ["fold_constants"], PassContext(inputs=signature.names, outputs=outs))
            gd, n = fold_lists(gd)
            gd, m = simplify_stacks(gd)
            if not n + m:
                break
        gd, _ = run_passes(gd, ["fold_constants"], PassContext(inputs=signature.names, outputs=outs))
    routes = {lp["route"] for lp in report["loops"]}
    report["route"] = routes.pop() if len(routes) == 1 else "mixed"
    return gd, report
