"""Channels-first graphs on a CPU: NCHW ops rewritten to NHWC between transposes, for running only.

GPU exports (Grappler's layout optimizer, TF-TRT, ``data_format='channels_first'``) hold ops in NCHW, which
TensorFlow's CPU kernels refuse ("Default MaxPoolingOp only supports NHWC on device type CPU"). The
TFLite converter turns them to NHWC itself, so graphs are converted as written; but every check and
comparison runs the graph here. ``runnable_on_cpu`` gives that run an equivalent graph: each NCHW op
becomes the same op in NHWC, its data input transposed in and its output transposed back under the
op's own name (a chain of such ops passes NHWC tensors straight through).
"""
import numpy as np

from .graph import node_name
from .protos import NodeDef

# op -> (input positions that carry a layout tensor, list attrs in layout order, input position of a
# layout shape vector or None)
LAYOUT_OPS = {
    "Conv2D": ((0,), ("strides", "dilations"), None),
    "DepthwiseConv2dNative": ((0,), ("strides", "dilations"), None),
    "Conv2DBackpropInput": ((2,), ("strides", "dilations"), 0),
    "BiasAdd": ((0,), (), None),
    "MaxPool": ((0,), ("ksize", "strides"), None),
    "AvgPool": ((0,), ("ksize", "strides"), None),
    "FusedBatchNorm": ((0,), (), None),
    "FusedBatchNormV2": ((0,), (), None),
    "FusedBatchNormV3": ((0,), (), None),
    "DepthToSpace": ((0,), (), None),
    "SpaceToDepth": ((0,), (), None),
    "Conv3D": ((0,), ("strides", "dilations"), None),
    "MaxPool3D": ((0,), ("ksize", "strides"), None),
    "AvgPool3D": ((0,), ("ksize", "strides"), None),
}
CHANNELS_FIRST = {b"NCHW": b"NHWC", b"NCDHW": b"NDHWC"}
_TO_LAST = {4: [0, 2, 3, 1], 5: [0, 2, 3, 4, 1]}
_TO_FIRST = {4: [0, 3, 1, 2], 5: [0, 4, 1, 2, 3]}


def channels_first(graph_def):
    """The ops of ``graph_def`` that compute in NCHW/NCDHW (names)."""
    return [n.name for n in graph_def.node if n.op in LAYOUT_OPS and n.attr["data_format"].s in CHANNELS_FIRST]


def runnable_on_cpu(graph_def):
    """``graph_def`` with no device pins and every channels-first op in channels-last form (a copy when
    anything changed), and {tensor name of the input graph: its name in the copy} for the outputs the
    rewrite moved (a batch norm's statistics)."""
    rewrite = set(channels_first(graph_def))
    if not rewrite and not any(n.device for n in graph_def.node):
        return graph_def, {}
    out = type(graph_def)()
    out.CopyFrom(graph_def)
    for n in out.node:
        n.device = ""
    if not rewrite:
        return out, {}
    moved = {}
    index = {n.name: n for n in out.node}
    added = []
    for name in sorted(rewrite):
        node = index[name]
        rank = 5 if node.attr["data_format"].s == b"NCDHW" else 4
        data_ins, list_attrs, shape_in = LAYOUT_OPS[node.op]
        new = NodeDef(like=out)
        new.CopyFrom(node)
        new.name = f"{name}/nhwc"
        new.attr["data_format"].s = CHANNELS_FIRST[node.attr["data_format"].s]
        new.attr.pop("_output_shapes", None)
        for a in list_attrs:
            values = list(new.attr[a].list.i)
            if len(values) == rank:
                del new.attr[a].list.i[:]
                new.attr[a].list.i.extend(values[p] for p in _TO_LAST[rank])
        if "explicit_paddings" in new.attr and len(new.attr["explicit_paddings"].list.i) == 2 * rank:
            pads = list(new.attr["explicit_paddings"].list.i)
            del new.attr["explicit_paddings"].list.i[:]
            new.attr["explicit_paddings"].list.i.extend(v for p in _TO_LAST[rank] for v in pads[2 * p:2 * p + 2])
        dtype = node.attr["T"].type
        for k in data_ins:
            src = new.input[k]
            if node_name(src) in rewrite and _port(src) == 0:
                new.input[k] = f"{node_name(src)}/nhwc"  # an NHWC op's output: no transpose back and forth
                continue
            perm = _const(out, f"{name}/to_nhwc/perm", _TO_LAST[rank], src)
            added += [perm, _node(out, f"{name}/to_nhwc", "Transpose", [src, perm.name], dtype)]
            new.input[k] = added[-1].name
        if shape_in is not None:  # an output shape given in NCHW order: gathered into NHWC order
            src = new.input[shape_in]
            perm = _const(out, f"{name}/sizes_nhwc/perm", _TO_LAST[rank], src)
            axis = _const(out, f"{name}/sizes_nhwc/axis", 0, src)
            gather = _node(out, f"{name}/sizes_nhwc", "GatherV2", [src, perm.name, axis.name], None)
            gather.attr["Tparams"].type = 3
            gather.attr["Tindices"].type = 3
            gather.attr["Taxis"].type = 3
            added += [perm, axis, gather]
            new.input[shape_in] = gather.name
        added.append(new)
        back_perm = _const(out, f"{name}/to_nchw/perm", _TO_FIRST[rank], f"{name}/nhwc")
        keep = {k: node.attr[k] for k in ("_output_shapes",) if k in node.attr}
        node.Clear()
        node.name, node.op = name, "Transpose"
        node.input.extend([f"{name}/nhwc", back_perm.name])
        node.attr["T"].type = dtype
        node.attr["Tperm"].type = 3
        if keep.get("_output_shapes") is not None and keep["_output_shapes"].list.shape:
            node.attr["_output_shapes"].list.shape.add().CopyFrom(keep["_output_shapes"].list.shape[0])
        added.append(back_perm)
        if node.op and new.op.startswith("FusedBatchNorm"):
            for k in range(1, 6):
                moved[f"{name}:{k}"] = f"{name}/nhwc:{k}"
    out.node.extend(added)
    if moved:  # a batch norm's statistics (outputs 1..) are read from the NHWC op
        for n in out.node:
            for i, ref in enumerate(n.input):
                if ref in moved:
                    n.input[i] = moved[ref]
    return out, moved


def _port(ref):
    ref = ref.lstrip("^")
    return int(ref.rsplit(":", 1)[1]) if ":" in ref else 0


def _node(like, name, op, inputs, dtype):
    n = NodeDef(like=like)
    n.name, n.op = name, op
    n.input.extend(inputs)
    if dtype is not None:
        n.attr["T"].type = dtype
        n.attr["Tperm"].type = 3
    return n


def _const(like, name, value, frame_of):
    """An int32 constant, run in the frame (while loop) of ``frame_of`` through a control input."""
    n = NodeDef(like=like)
    n.name, n.op = name, "Const"
    if not frame_of.startswith("^"):
        n.input.append("^" + node_name(frame_of))
    value = np.asarray(value, np.int32)
    n.attr["dtype"].type = 3
    t = n.attr["value"].tensor
    t.dtype = 3
    for d in value.shape:
        t.tensor_shape.dim.add().size = d
    t.tensor_content = value.tobytes()
    return n
