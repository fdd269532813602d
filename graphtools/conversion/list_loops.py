"""Functional While loops over TensorLists in a v1 graph, made ready for the TFLite converter.

tf_keras recurrent layers built in graph mode (a session, a Keras-2 model loaded into one) give a
``While`` whose body reads the sequence from a TensorList and writes the outputs to another. Two
things about such a loop stop the converter ("'tf.TensorListReserve' op requires element_shape to be
static"), and plain ``from_frozen_graph`` with them:

* In a v1 graph TensorFlow makes every intermediate of the body a loop output, pushed onto an
  accumulator list each step, in case a gradient is taken later (``_num_original_outputs`` says how
  many outputs the loop really has). Nothing reads them after freezing: they are training
  machinery, and their lists have no static element shape at all. They are dropped.
* The element shapes were written when the batch was unknown (``[-1, units]``). At the conversion's
  fixed batch they are ``[batch, units]``: filled in.

Both rewrites are checked by running the graph before and after in TensorFlow (TensorFlow refuses an
item whose shape does not match its list's element shape), by the caller.
"""
import numpy as np

from ..core.graph import node_name

from ..core.ops import WHILE_OPS, list_loops  # noqa: F401 (list_loops: which loops this module handles)

DT_INT32 = 3
# TensorList op -> input position of its element shape
ELEMENT_SHAPE_INPUT = {"TensorListReserve": 0, "EmptyTensorList": 0, "TensorListFromTensor": 1,
                       "TensorListStack": 1, "TensorListGetItem": 2, "TensorListGather": 2,
                       "TensorListConcatV2": 1, "TensorListPopBack": 1}


def prepare(graph_def, outputs, batch):
    """(GraphDef, report) with the loops' gradient accumulators dropped and, when ``batch`` is known,
    the batch filled into the lists' element shapes; the graph is returned as given when neither applies."""
    out = type(graph_def)()
    out.CopyFrom(graph_def)
    dropped = drop_accumulators(out)
    if dropped:
        from ..core.graph import Graph

        g = Graph(out)
        g.prune(list(outputs))
        g.compact()
        out = g.graph_def
    filled = fill_batch(out, batch) if batch else 0
    if not dropped and not filled:
        return graph_def, None
    what = ", ".join(x for x in (f"{dropped} gradient accumulators dropped" if dropped else "",
                                 f"batch {batch} in {filled} list element shapes" if filled else "") if x)
    return out, {"route": "while", "loops": [{"frame": name, "route": "while", "why": what}
                                             for name in list_loops(graph_def)],
                 "accumulators_dropped": dropped, "element_shapes_filled": filled, "batch": batch}


def _uses(graph_def):
    """{While name: the highest output index anything reads}."""
    loops = {n.name for n in graph_def.node if n.op in WHILE_OPS}
    used = {}
    for n in graph_def.node:
        for ref in n.input:
            if ref.startswith("^"):
                continue
            name = node_name(ref)
            if name in loops:
                port = int(ref.rsplit(":", 1)[1]) if ":" in ref else 0
                used[name] = max(used.get(name, -1), port)
    return used


def drop_accumulators(graph_def):
    """Drop, in place, the loop outputs a v1 graph added to each While beyond ``_num_original_outputs``
    when nothing reads them. Returns how many were dropped."""
    fns = {f.signature.name: f for f in graph_def.library.function}
    refs = {}
    for n in graph_def.node:
        if n.op in WHILE_OPS:
            for a in ("body", "cond"):
                refs[n.attr[a].func.name] = refs.get(n.attr[a].func.name, 0) + 1
    used = _uses(graph_def)
    dropped = 0
    for w in graph_def.node:
        if w.op not in WHILE_OPS or "_num_original_outputs" not in w.attr:
            continue
        keep = w.attr["_num_original_outputs"].i
        total = len(w.attr["T"].list.type)
        body, cond = fns.get(w.attr["body"].func.name), fns.get(w.attr["cond"].func.name)
        if not 0 < keep < total or used.get(w.name, -1) >= keep or body is None or cond is None or \
                refs.get(body.signature.name) != 1 or refs.get(cond.signature.name) != 1 or \
                len(body.signature.output_arg) != total or len(cond.signature.input_arg) != total:
            continue
        body_keep = [o.name for o in body.signature.output_arg][:keep]
        if _reads_args(body, [a.name for a in body.signature.input_arg[keep:]],
                       [body.ret[o] for o in body_keep]) or _reads_args(
                cond, [a.name for a in cond.signature.input_arg[keep:]], list(cond.ret.values())):
            continue  # (an accumulator the kept outputs read: not a TensorFlow-made one)
        data = [i for i in w.input if not i.startswith("^")]
        ctrl = [i for i in w.input if i.startswith("^")]
        del w.input[:]
        w.input.extend(data[:keep] + ctrl)
        for attr, field in (("T", "type"), ("output_shapes", "shape"), ("_output_shapes", "shape")):
            if attr in w.attr:
                values = list(getattr(w.attr[attr].list, field))[:keep]
                del getattr(w.attr[attr].list, field)[:]
                getattr(w.attr[attr].list, field).extend(values)
        if "_read_only_resource_inputs" in w.attr:
            ro = [i for i in w.attr["_read_only_resource_inputs"].list.i if i < keep]
            del w.attr["_read_only_resource_inputs"].list.i[:]
            w.attr["_read_only_resource_inputs"].list.i.extend(ro)
        _truncate(body, keep, outputs=True)
        _truncate(cond, keep, outputs=False)
        dropped += total - keep
    return dropped


def _reads_args(fn, args, rets):
    """True when the function values ``rets`` depend on any of the input ``args``."""
    nodes = {n.name: n for n in fn.node_def}
    args = set(args)
    seen, todo = set(), [node_name(r) for r in rets]
    while todo:
        cur = todo.pop().lstrip("^")
        if cur in args:
            return True
        if cur in seen or cur not in nodes:
            continue
        seen.add(cur)
        todo.extend(node_name(i.lstrip("^")) for i in nodes[cur].input)
    return False


def _truncate(fn, keep, outputs):
    """Keep the first ``keep`` inputs (and outputs) of a loop function; drop the nodes nothing needs."""
    args = list(fn.signature.input_arg)[:keep]
    del fn.signature.input_arg[:]
    fn.signature.input_arg.extend(args)
    for k in [k for k in fn.arg_attr if k >= keep]:
        del fn.arg_attr[k]
    for k in [k for k in fn.resource_arg_unique_id if k >= keep]:
        del fn.resource_arg_unique_id[k]
    if outputs:
        outs = list(fn.signature.output_arg)
        for o in outs[keep:]:
            fn.ret.pop(o.name, None)
        del fn.signature.output_arg[:]
        fn.signature.output_arg.extend(outs[:keep])
    nodes = {n.name: n for n in fn.node_def}
    need, todo = set(), [node_name(v) for v in fn.ret.values()] + list(fn.control_ret.values())
    while todo:
        cur = node_name(todo.pop().lstrip("^"))
        if cur in need or cur not in nodes:
            continue
        need.add(cur)
        todo.extend(i.lstrip("^") for i in nodes[cur].input)
    kept = [n for n in fn.node_def if n.name in need]
    del fn.node_def[:]
    fn.node_def.extend(kept)


def fill_batch(graph_def, batch):
    """Set, in place, an unknown leading dimension of the lists' element shapes (``[-1, units]``, written
    before the batch was known) to ``batch``. Returns how many element shapes were set."""
    filled = 0
    for nodes in [graph_def.node] + [f.node_def for f in graph_def.library.function]:
        index = {n.name: n for n in nodes}
        readers = {}
        for n in nodes:
            for ref in n.input:
                readers[node_name(ref)] = readers.get(node_name(ref), 0) + 1
        for n in nodes:
            pos = ELEMENT_SHAPE_INPUT.get(n.op)
            if pos is None or pos >= len(n.input):
                continue
            const = index.get(node_name(n.input[pos]))
            if const is None or const.op != "Const" or const.attr["dtype"].type != DT_INT32 or \
                    readers.get(const.name) != 1:  # (a shape something else reads too stays)
                continue
            value = _int32s(const)
            if value is not None and value.ndim == 1 and len(value) >= 2 and value[0] == -1 and (value[1:] > 0).all():
                value[0] = batch
                t = const.attr["value"].tensor
                t.ClearField("int_val")
                t.tensor_content = value.astype(np.int32).tobytes()
                filled += 1
    return filled


def _int32s(const):
    t = const.attr["value"].tensor
    dims = [d.size for d in t.tensor_shape.dim]
    if len(dims) != 1:
        return None
    if t.tensor_content:
        return np.frombuffer(t.tensor_content, np.int32).copy()
    vals = list(t.int_val)
    if len(vals) == dims[0]:
        return np.array(vals, np.int32)
    if len(vals) == 1:
        return np.full(dims[0], vals[0], np.int32)
    return None
