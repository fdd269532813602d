"""fold_batch_norms: fold batch norms (fused, and decomposed into Mul/Add) into the weights of the
preceding Conv2D, DepthwiseConv2dNative or MatMul."""
import logging

import numpy as np

from ...core.graph import node_name
from . import candidate_names, register
from ...core.constants import const_expr, const_value

log = logging.getLogger(__name__)
FUSED = ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
T_ENUM = {np.dtype(np.float32): 1, np.dtype(np.float64): 2, np.dtype(np.float16): 19}
WEIGHTED = ("Conv2D", "DepthwiseConv2dNative", "MatMul")


@register("fold_batch_norms", group="batchnorm", after=("remove_identity",))
def fold_batch_norms(graph, ctx):
    """Fold every batch norm that follows a weighted op into its weights and a bias.

    Before::  y = BN(conv(x, W) [+ b])  with  s = gamma / sqrt(var + eps),  t = beta - mean * s
    After::   y = BiasAdd(conv(x, W * s), b * s + t)

    ``W * s`` replaces W's value in place when the conv is W's only reader (W keeps its name, as in
    TensorFlow's own fold); otherwise it is a new ``<conv>/folded_weights``. The bias is a new
    ``<batch norm>/folded_bias``.

    Decomposed batch norms ``Add(Mul(conv, s), t)`` are folded with ``s`` and ``t`` evaluated from
    the constant arithmetic that computes them (``const_expr``); training-mode ones are first
    switched to their moving statistics by
    ``use_moving_statistics``. Skipped, with a log line: weights that are not constants, a conv output read elsewhere,
    per-channel shapes that do not match, NCHW layouts.
    """
    rewrites = 0
    memo = {}  # constant expressions evaluated so far (their nodes are never rewritten by this pass)
    with np.errstate(all="ignore"):  # overflow in a constant expression is its value, as in TensorFlow
        op_of = graph.ops()
        for name in candidate_names(graph, ctx, FUSED + ("Add", "AddV2", "BiasAdd")):
            op = op_of.get(name)  # (None: removed by an earlier fold)
            if op in FUSED and not graph.node(name).attr["is_training"].b:
                rewrites += _fold_fused(graph, ctx, graph.node(name))
            elif op in ("Add", "AddV2", "BiasAdd"):
                rewrites += _fold_mul_add(graph, ctx, name, memo)
    return rewrites


def _weighted_producer(graph, ref):
    """(weighted node's name, bias ref or None, output's name) when ``ref`` is conv/matmul [+ const bias]."""
    name = node_name(ref)
    op_of = graph.ops()
    op = op_of.get(name)
    if op in WEIGHTED:
        return name, None, name
    if op in ("BiasAdd", "Add", "AddV2"):
        a, b = graph.data_inputs(name)[:2]
        for w, c in ((a, b), (b, a)):
            wname = node_name(w)
            if op_of.get(wname) in WEIGHTED:
                cv = const_value(graph, c)
                if cv is not None and cv.ndim == 1:
                    return wname, c, name
    return None, None, None


def _read_only_by(graph, name, allowed):
    """True when exactly one node reads ``name`` through data edges, it is in ``allowed`` and reads output 0
    only (control edges from elsewhere are fine: they only order)."""
    data_readers = 0
    prefix = name + ":"
    for r in graph.consumers(name):
        refs = [i for i in graph.inputs(r) if i == name or i.startswith(prefix)]
        if not refs:
            continue  # a control edge only
        if r not in allowed or any(i != name and i != prefix + "0" for i in refs):
            return False
        data_readers += 1
    return data_readers == 1


def _per_channel(v, channels):
    """``v`` as a float64 vector of ``channels`` values (a scalar is repeated), else None."""
    if v.ndim == 1 and v.size == channels:  # (the usual case, without a reshape)
        return v.astype(np.float64, copy=False)
    v = np.asarray(v, np.float64).reshape(-1)
    if v.size == channels:
        return v
    return np.full(channels, v[0]) if v.size == 1 else None


def _fold(graph, ctx, bn_name, x_ref, scale, offset, inner=(), producer=None):
    """Fold y = x * scale + offset (per output channel) into the weighted op producing ``x_ref``."""
    w_name, bias_ref, head = producer or _weighted_producer(graph, x_ref)
    if w_name is None:
        log.info("kept %s: not preceded by Conv2D/DepthwiseConv2dNative/MatMul", bn_name)
        return 0
    allowed = {w_name, head, bn_name, *inner}
    for name in (w_name,) if head == w_name else (w_name, head):
        if name in ctx.protected:
            log.info("kept %s: %s is protected", bn_name, name)
            return 0
        if not _read_only_by(graph, name, allowed):
            log.info("kept %s: %s is read outside the batch norm", bn_name, name)
            return 0
    op_of = graph.ops()
    op = op_of[w_name]
    attr = graph.node(w_name).attr
    if op == "MatMul":
        if attr["transpose_a"].b:
            return 0
        transpose_b = attr["transpose_b"].b
    else:
        transpose_b = False
        if attr["data_format"].s not in (b"", b"NHWC"):
            log.info("kept %s: %s is not NHWC", bn_name, w_name)
            return 0
    w_inputs = graph.inputs(w_name)
    w_data = [i for i in w_inputs if i[0] != "^"]
    weights = const_value(graph, w_data[1])
    if weights is None or weights.dtype.kind != "f":
        log.info("kept %s: weights of %s are not float constants", bn_name, w_name)
        return 0
    channels = _out_channels(op, weights, transpose_b)
    scale, offset = _per_channel(scale, channels), _per_channel(offset, channels)
    if scale is None or offset is None:
        log.info("kept %s: per-channel sizes do not match %d output channels of %s", bn_name, channels, w_name)
        return 0
    if op == "Conv2D":
        new_w = weights * scale.reshape(1, 1, 1, -1)
    elif op == "DepthwiseConv2dNative":
        h, w, cin, mult = weights.shape
        new_w = weights * scale.reshape(1, 1, cin, mult)
    elif transpose_b:
        new_w = weights * scale.reshape(-1, 1)
    else:
        new_w = weights * scale
    new_b = (const_value(graph, bias_ref).astype(np.float64) * scale + offset) if bias_ref is not None else offset
    dtype = weights.dtype
    weights_name = node_name(w_data[1])
    if op_of[weights_name] == "Const" and graph.consumers(weights_name) == [w_name] \
            and weights_name not in ctx.protected:
        graph.set_const(weights_name, new_w.astype(dtype))  # its only reader: scaled in place (as TensorFlow's own fold does)
    else:  # shared or behind an Identity: the folded copy is a new constant
        w_const = graph.add_const(graph.unique_name(w_name + "/folded_weights"), new_w.astype(dtype))
        graph.rewrite(w_name,
                      inputs=[w_data[0], w_const.name] + w_data[2:] + [i for i in w_inputs if i[0] == "^"])
    b_name = graph.unique_name(bn_name + "/folded_bias")
    graph.add_const(b_name, new_b.astype(dtype))
    bn = graph.node(bn_name)
    ctrl = [i for i in graph.inputs(bn_name) if i[0] == "^"]
    graph.rewrite(bn_name, op="BiasAdd", inputs=[w_name, b_name] + ctrl)
    bn.attr.clear()
    bn_attr = bn.attr
    bn_attr["T"].type = T_ENUM[dtype]
    bn_attr["data_format"].s = b"NHWC"
    log.info("folded batch norm %s into %s", bn_name, w_name)
    return 1


def _out_channels(op, weights, transpose_b):
    if op == "Conv2D":
        return weights.shape[-1]
    if op == "DepthwiseConv2dNative":
        return weights.shape[2] * weights.shape[3]
    return weights.shape[0] if transpose_b else weights.shape[-1]


def _fold_fused(graph, ctx, n):
    if graph.used_ports(n.name) - {0}:
        return 0
    if n.attr["data_format"].s not in (b"", b"NHWC"):
        log.info("kept %s: NCHW", n.name)
        return 0
    x, gamma, beta, mean, var = graph.data_inputs(n.name)[:5]
    vals = [const_value(graph, r) for r in (gamma, beta, mean, var)]
    if any(v is None for v in vals):
        log.info("kept %s: its parameters are not constants", n.name)
        return 0
    gamma, beta, mean, var = [v.astype(np.float64) for v in vals]
    eps = n.attr["epsilon"].f
    if eps <= 0 or np.any(var + eps <= 0):
        log.info("kept %s: epsilon/variance would divide by zero", n.name)
        return 0
    scale = gamma / np.sqrt(var + eps)
    return _fold(graph, ctx, n.name, x, scale, beta - mean * scale)


def _channel_shaped(v):
    """True for a value that broadcasts per output channel: a scalar or [1, ..., 1, C] (rank <= 4)."""
    return v is not None and v.ndim <= 4 and not (v.ndim and any(d != 1 for d in v.shape[:-1]))


def _fold_mul_add(graph, ctx, name, memo=None):
    """Add(Mul(x, s), t) with constant per-channel s and t (a decomposed batch norm) at node ``name``."""
    ins = graph.data_inputs(name)
    if len(ins) != 2:
        return 0
    op_of = graph.ops()
    for m_ref, t_ref in ((ins[0], ins[1]), (ins[1], ins[0])):
        mul_name = node_name(m_ref)
        # structure first (cheap), constant values second
        if op_of.get(mul_name) != "Mul" or mul_name in ctx.protected or m_ref not in (mul_name, mul_name + ":0") \
                or graph.consumers(mul_name) != [name]:
            continue
        t = const_expr(graph, t_ref, memo=memo)
        if not _channel_shaped(t):
            continue
        a, b = graph.data_inputs(mul_name)[:2]
        for x, s_ref in ((a, b), (b, a)):
            producer = _weighted_producer(graph, x)
            if producer[0] is None:
                continue
            s = const_expr(graph, s_ref, memo=memo)
            if not _channel_shaped(s):
                continue
            return _fold(graph, ctx, name, x, s, t, inner={mul_name}, producer=producer)
    return 0
