"""The unroll route: a loop whose trip count the input shapes fix is repeated that many times as straight-line
ops; then the TensorList reads and writes fold into one Unpack and one Pack, and shape-only work folds away."""
import collections
import logging

import numpy as np

from ..core.graph import node_name
from ..core.ops import LOOP_OPS
from .loop_analysis import DT_INT32, NotUnrollable, ancestors_of, first_dim, port_of, ref_at, tensor_value

log = logging.getLogger(__name__)


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
    body = ancestors_of(index, [v[5].input[0] for v in loop.vars], set(var_nodes) | set(const_of))
    body = [n for n in loop.nodes if n.name in body and n.name not in structure and n.name not in var_nodes]
    values = [v[0].input[0] for v in loop.vars]  # iteration 0: what entered the loop
    new_nodes = []
    for it in range(count):

        def remap(ref, it=it):
            ctrl = ref.startswith("^")
            name, port = node_name(ref), port_of(ref)
            if name in var_nodes:
                if ctrl:
                    return None
                if index[name].op == "Switch" and port != 1:
                    raise NotUnrollable(f"the body reads the exit side of {name}")
                return values[var_nodes[name]]
            if name in const_of:
                return None if ctrl else const_of[name]
            if name in in_loop:
                new = f"{name}/unroll_{it}"
                return "^" + new if ctrl else ref_at(new, port)
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
                    raise NotUnrollable(f"{n.name} reads {name} from inside the loop")
            else:
                refs.append(i)
        del m.input[:]
        m.input.extend(refs)
    out.node.extend(new_nodes)
    return out


def fold_lists(graph_def):
    """Replace TensorList ops whose indices are constants: reads of an unstacked tensor become one
    Unpack, a list written at 0..n-1 and stacked becomes a Pack; lengths become constants.
    Returns (GraphDef, rewrites)."""
    from .._tf import tf

    tf = tf()
    index = {n.name: n for n in graph_def.node}

    def const(ref):
        n = index.get(node_name(ref))
        for _ in range(10):
            if n is None:
                return None
            if n.op == "Const":
                return tensor_value(n)
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
            refs[name] = ref_at(unpacks[r[1]], r[2])
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
        num = first_dim(index, src, sizes[src])
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
        return tensor_value(n) if n is not None and n.op == "Const" else None

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
                        m.input[k] = ref_at(n.name, count - 1 - port_of(i))
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
            from .._tf import tf

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
                    n.input[k] = ("^" + same[name]) if i.startswith("^") else ref_at(same[name], port_of(i))
        rewrites += len(same)
    return graph_def, rewrites
