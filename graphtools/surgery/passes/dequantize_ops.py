"""dequantize_ops: turn graph-transform 8-bit ops (QuantizeV2, QuantizedConv2D, ...) back into float ops."""
import logging

import numpy as np

from ...core.graph import node_name
from ...core.protos import NodeDef
from . import register

log = logging.getLogger(__name__)

# quantized op -> (float op, data input positions kept, {kept position: (min position, max position)}
# for quantized-constant inputs, attrs copied)
FLOAT_FORM = {
    "QuantizedConv2D": ("Conv2D", (0, 1), {0: (2, 3), 1: (4, 5)}, ("strides", "padding", "dilations")),
    "QuantizedMatMul": ("MatMul", (0, 1), {0: (2, 3), 1: (4, 5)}, ("transpose_a", "transpose_b")),
    "QuantizedBiasAdd": ("BiasAdd", (0, 1), {0: (2, 3), 1: (4, 5)}, ()),
    "QuantizedAdd": ("AddV2", (0, 1), {0: (2, 3), 1: (4, 5)}, ()),
    "QuantizedMul": ("Mul", (0, 1), {0: (2, 3), 1: (4, 5)}, ()),
    "QuantizedRelu": ("Relu", (0,), {0: (1, 2)}, ()),
    "QuantizedRelu6": ("Relu6", (0,), {0: (1, 2)}, ()),
    "QuantizedReshape": ("Reshape", (0, 1), {0: (2, 3)}, ("Tshape",)),
    "QuantizedAvgPool": ("AvgPool", (0,), {0: (1, 2)}, ("ksize", "strides", "padding")),
    "QuantizedMaxPool": ("MaxPool", (0,), {0: (1, 2)}, ("ksize", "strides", "padding")),
    # ops that only carry a quantized value on: its float value passes through
    "QuantizeV2": ("Identity", (0,), {}, ()),
    "Dequantize": ("Identity", (0,), {0: (1, 2)}, ()),
    "Requantize": ("Identity", (0,), {0: (1, 2)}, ()),
    "QuantizeDownAndShrinkRange": ("Identity", (0,), {0: (1, 2)}, ()),
}
# DT_QINT8, DT_QUINT8, DT_QINT32, DT_QINT16, DT_QUINT16 -> storage
QUANTIZED_DTYPES = {11: np.int8, 12: np.uint8, 13: np.int32, 15: np.int16, 16: np.uint16}


@register("dequantize_ops", group="quantized", after=("splice_nodes",))
def dequantize_ops(graph, ctx):
    """Replace each 8-bit op of TensorFlow's old graph transforms by its float op, in place (same name).

    Before::  x -> QuantizeV2 -> QuantizedConv2D(w_quint8, mins, maxes) -> Requantize -> Dequantize -> y
    After::   x -> Identity -> Conv2D(w_float) -> Identity -> Identity -> y

    Quantized weight constants become float constants, dequantized by the rule the op that read them
    applied (``dequantized``); the min/max side outputs lose their readers and are swept.
    The activations are no longer rounded to 8 bits between ops: the result is the float model the
    quantized graph approximated, ready for today's --quantize modes.
    """
    from ..._tf import tf

    tf = tf()
    rewrites = 0
    quantized_consts = {}
    for n in list(graph.nodes_of(*FLOAT_FORM, "QuantizedConcat")):
        op, keep, ranges, attrs = _form(n)
        ins = graph.data_inputs(n.name)
        if len(ins) <= max(keep):
            continue
        new = NodeDef(graph.graph_def, name=n.name, op=op)
        for k in keep:
            ref = ins[k]
            if k in ranges and _quantized_const(graph, ref):
                lo, hi = (graph.const(node_name(ins[p])) for p in ranges[k])
                if lo is None or hi is None:
                    break
                # Dequantize says how its input was quantized; the 8-bit ops read theirs by their zero point
                mode = (n.attr["mode"].s.decode() or "MIN_COMBINED") if n.op == "Dequantize" else "QUANTIZED_OP"
                key = (node_name(ref), float(lo), float(hi), mode)
                if key not in quantized_consts:  # one float copy per constant and range
                    quantized_consts[key] = _float_const(graph, *key)
                ref = quantized_consts[key]
            new.input.append(ref)
        else:
            for a in attrs:
                if a in n.attr:
                    new.attr[a].CopyFrom(n.attr[a])
            if op == "Reshape" and "Tshape" not in n.attr:
                new.attr["Tshape"].type = tf.int32.as_datatype_enum
            if op == "ConcatV2":
                new.attr["Tidx"].type = tf.int32.as_datatype_enum
            new.attr["T"].type = tf.float32.as_datatype_enum
            new.input.extend(i for i in graph.inputs(n.name) if i.startswith("^"))
            graph.replace_node(new)
            rewrites += 1
    if rewrites:
        log.info("dequantized %d ops (%d weight constants)", rewrites, len(quantized_consts))
    return rewrites


def _form(n):
    """FLOAT_FORM's entry for ``n``; QuantizedConcat(dim, values[N], mins[N], maxes[N]) -> ConcatV2(values, dim)."""
    if n.op != "QuantizedConcat":
        return FLOAT_FORM[n.op]
    count = n.attr["N"].i
    return ("ConcatV2", tuple(range(1, count + 1)) + (0,),
            {k: (count + k, 2 * count + k) for k in range(1, count + 1)}, ("N",))


def _quantized_const(graph, ref):
    node = graph.get(node_name(ref))
    return node is not None and node.op == "Const" and node.attr["dtype"].type in QUANTIZED_DTYPES


def dequantized(q, dtype, lo, hi, mode):
    """Float values of the quantized integers ``q`` (numpy ``dtype``) in [lo, hi], as TensorFlow's kernels
    compute them: Dequantize's MIN_COMBINED ``lo + (q - lowest) * (hi - lo) / (2^bits - 1)``, its MIN_FIRST
    the same step with ``lo`` rounded to a whole step (in float32, QuantizedToFloat), its SCALED
    ``q * max(|lo|, |hi|) / max_q``; QUANTIZED_OP how QuantizedConv2D and the other 8-bit ops read an
    input: ``(q - zero) * step`` with the zero point ``lowest - round(lo / step)`` in double precision
    (FloatToQuantized), which differs from MIN_FIRST when ``lo`` falls on half a step."""
    import math

    info = np.iinfo(dtype)
    steps = float(2 ** info.bits - 1)
    q = np.asarray(q, np.float64)
    if mode == "SCALED":
        return (q * (max(abs(lo), abs(hi)) / float(info.max))).astype(np.float32)
    scale = (hi - lo) / steps
    if hi == lo:
        return np.full(q.shape, lo, np.float32)
    if mode == "QUANTIZED_OP":
        x = lo * ((steps + 1) / ((hi - lo) * ((steps + 1) / steps)))  # lo in steps, as FloatToQuantized does
        zero = info.min - math.copysign(math.floor(abs(x) + 0.5), x)  # C's round: half away from zero
        return ((q - zero) * scale).astype(np.float32)
    if mode == "MIN_FIRST":
        fscale = float(np.float32(scale))
        lo = round(lo / fscale) * fscale
    return (lo + (q - info.min) * scale).astype(np.float32)


def _float_const(graph, name, lo, hi, mode):
    """A float Const beside the quantized constant ``name``: its values dequantized with [lo, hi]."""
    t = graph.node(name).attr["value"].tensor
    dt = t.dtype
    shape = [d.size for d in t.tensor_shape.dim]
    if t.tensor_content:
        q = np.frombuffer(t.tensor_content, dtype=QUANTIZED_DTYPES[dt]).astype(np.float64)
    else:
        vals = np.asarray(list(t.int_val), dtype=np.float64)
        q = np.full(int(np.prod(shape)), vals[-1] if len(vals) else 0.0)
        q[: len(vals)] = vals
    values = dequantized(q.reshape(shape), QUANTIZED_DTYPES[dt], lo, hi, mode)
    out = graph.unique_name(name + "/dequantized")
    graph.add_const(out, values)
    return out
