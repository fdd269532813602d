"""The WHILE route: the TensorArrayV3 family becomes TensorList ops (element shapes from one run at the
conversion's shapes), which the converter lowers into a TFLite WHILE with builtin ops inside."""
import logging

import numpy as np

from ..errors import InputError
from ..core.graph import node_name
from ..core.ops import DT_VARIANT, TENSOR_ARRAY_OPS
from .loop_analysis import DT_INT32, FLOW_CARRIERS, is_range_from_zero, port_of

log = logging.getLogger(__name__)


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
    from .._tf import tf

    tf = tf()
    index = {n.name: n for n in graph_def.node}
    new = type(graph_def)()
    new.versions.CopyFrom(graph_def.versions)
    new.library.CopyFrom(graph_def.library)
    handle_users = {n.name for n in graph_def.node if n.op == "Enter" and n.input
                    and _array_of(index, n.input[0]) is not None and port_of(n.input[0]) == 0
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
        return node_name(ref) if src is not None and src.op == "TensorArrayV3" and port_of(ref) == 1 else ref

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
            if is_range_from_zero(index, ins[1]):
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
            if is_range_from_zero(index, ins[1]):  # the whole array, in order
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
