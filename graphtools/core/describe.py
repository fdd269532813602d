"""Describing a GraphDef without analysing it: dtype names, shapes, placeholders, the op histogram, and
what changed between two graphs."""
import collections
from ..errors import InputError, NodeNotFoundError
from .heuristics import FLAG_NAME


# DataType enum values (types.proto) that hold model weights -> bytes per element.
PARAM_DTYPES = {1: 4, 2: 8, 19: 2, 14: 2, 11: 1, 12: 1, 13: 4, 15: 2, 16: 2, 101: 4, 102: 8, 119: 2, 114: 2}


def product(it):
    out = 1
    for v in it:
        out *= v
    return out


def dtype_name(enum_value):
    from .protos import dtype_name

    return dtype_name(enum_value)


def shape_of(shape_proto):
    """TensorShapeProto -> list of ints (-1 unknown) or None for unknown rank."""
    if shape_proto.unknown_rank:
        return None
    return [d.size for d in shape_proto.dim]


def placeholder_shape(node, producer=None):
    """A placeholder's static shape by TensorFlow's own rules: None for unknown rank.

    Graphs of producer version 21 and older (TF 1.0/1.1) store an unconstrained placeholder as
    ``shape {}``, which TensorFlow reads as unknown, not as a scalar; their ``_output_shapes``, when
    written, often holds the real static shape.
    """
    declared = shape_of(node.attr["shape"].shape) if "shape" in node.attr else None
    legacy = producer is not None and producer <= 21 and declared == []
    if "shape" in node.attr and not legacy:
        return declared
    if "_output_shapes" in node.attr and node.attr["_output_shapes"].list.shape:
        recorded = shape_of(node.attr["_output_shapes"].list.shape[0])
        if not (legacy and recorded == []):
            return recorded
    return None


def describe_placeholder(node, producer=None):
    shape = placeholder_shape(node, producer)
    dtype = dtype_name(node.attr["dtype"].type)
    scalarish = shape is None or shape == []
    is_flag = scalarish and (dtype == "bool" or bool(FLAG_NAME.search(node.name)))
    return {"name": node.name, "dtype": dtype, "shape": shape,
            "optional": node.op == "PlaceholderWithDefault",
            "role": "training_flag" if is_flag else "data"}


def named_inputs(described, names, op_of, outputs):
    """``described`` (``discover_inputs``'s list) in the order of ``names``, then the others.

    Each named input must be a placeholder the outputs read, else an InputError says what it is
    (a tensor inside the graph becomes an input with ``strip --cut``).
    """
    by_name = {i["name"]: i for i in described}
    outs = ", ".join(outputs)
    for name in names:
        if name in by_name:
            continue
        op = op_of.get(name)
        if op is None:
            raise NodeNotFoundError(name, list(by_name) or list(op_of), what="--inputs node",
                                    where=f"the graph the outputs {outs} read")
        if op in ("Placeholder", "PlaceholderV2", "PlaceholderWithDefault"):
            raise InputError(f"--inputs {name}: the outputs {outs} do not read it; drop it, or name the outputs "
                             f"that do with --outputs")
        raise InputError(f"--inputs {name}: is a {op}, not a placeholder; the graph's own inputs are its "
                         f"placeholders -- make this one an input with graphtools strip --cut {name}:DTYPE:SHAPE")
    return [by_name[n] for n in dict.fromkeys(names)] + [i for i in described if i["name"] not in names]


def op_histogram(graph_def):
    return dict(collections.Counter(n.op for n in graph_def.node).most_common())


def format_shape(shape):
    if shape is None:
        return "<unknown rank>"
    return "[" + ",".join("?" if d < 0 else str(d) for d in shape) + "]"


