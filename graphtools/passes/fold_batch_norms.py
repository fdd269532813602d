"""fold_batch_norms: fold batch norms (fused, and decomposed into Mul/Add) into the weights of the
preceding Conv2D, DepthwiseConv2dNative or MatMul."""
import logging

import numpy as np

from ..graph import node_name
from . import candidates, const_expr, const_value, data_inputs, register

log = logging.getLogger(__name__)
FUSED = ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
T_ENUM = {np.dtype(np.float32): 1, np.dtype(np.float64): 2, np.dtype(np.float16): 19}
WEIGHTED = ("Conv2D", "DepthwiseConv2dNative", "MatMul")


@register("fold_batch_norms")
def fold_batch_norms(graph, ctx):
    """Fold every batch norm that follows a weighted op into its weights and a bias.

    Before::  y = BN(conv(x, W) [+ b])  with  s = gamma / sqrt(var + eps),  t = beta - mean * s
    After::   y = BiasAdd(conv(x, W * s), b * s + t)

    Decomposed batch norms ``Add(Mul(conv, s), t)`` are folded with ``s`` and ``t`` evaluated from
    the constant arithmetic that computes them (``const_expr``); training-mode ones are first
    switched to their moving statistics by
    ``use_moving_statistics``. Skipped, with a log line: weights that are not constants, a conv output read elsewhere,
    per-channel shapes that do not match, NCHW layouts.
    """
    rewrites = 0
    memo = {}  # constant expressions evaluated so far (their nodes are never rewritten by this pass)
    for n in candidates(graph, ctx, FUSED + ("Add", "AddV2", "BiasAdd")):
        if n.name not in graph:
            continue
        if n.op in FUSED and not n.attr["is_training"].b:
            rewrites += _fold_fused(graph, ctx, n)
        elif n.op in ("Add", "AddV2", "BiasAdd"):
            rewrites += _fold_mul_add(graph, ctx, n, memo)
    return rewrites


def _weighted_producer(graph, ref):
    """(weighted node, bias ref or None, out ref) when ``ref`` is conv/matmul [+ const bias]."""
    node = graph.index().get(node_name(ref))
    if node is not None and node.op in ("BiasAdd", "Add", "AddV2"):
        a, b = data_inputs(node)[:2]
        for w, c in ((a, b), (b, a)):
            wn = graph.index().get(node_name(w))
            cv = const_value(graph, c)
            if wn is not None and wn.op in WEIGHTED and cv is not None and cv.ndim == 1:
                return wn, c, node
        return None, None, None
    if node is not None and node.op in WEIGHTED:
        return node, None, node
    return None, None, None


def _fold(graph, ctx, bn_name, x_ref, scale, offset, inner=()):
    """Fold y = x * scale + offset (per output channel) into the weighted op producing ``x_ref``."""
    w_node, bias_ref, head = _weighted_producer(graph, x_ref)
    if w_node is None:
        log.info("kept %s: not preceded by Conv2D/DepthwiseConv2dNative/MatMul", bn_name)
        return 0
    chain = {w_node.name, head.name}
    for name in chain:
        if name in ctx.protected:
            log.info("kept %s: %s is protected", bn_name, name)
            return 0
        readers = [r.name for r in graph.readers(name)]
        if any(r not in chain and r != bn_name and r not in inner for r in readers) or len(readers) != 1 \
                or graph.used_ports(name) - {0}:
            log.info("kept %s: %s is read outside the batch norm", bn_name, name)
            return 0
    if w_node.op != "MatMul" and w_node.attr["data_format"].s not in (b"", b"NHWC"):
        log.info("kept %s: %s is not NHWC", bn_name, w_node.name)
        return 0
    w_ref = data_inputs(w_node)[1]
    weights = const_value(graph, w_ref)
    if weights is None or weights.dtype.kind != "f":
        log.info("kept %s: weights of %s are not float constants", bn_name, w_node.name)
        return 0
    if w_node.op == "MatMul" and w_node.attr["transpose_a"].b:
        return 0
    channels = _out_channels(w_node, weights)
    scale = np.broadcast_to(np.asarray(scale, np.float64).reshape(-1), (channels,)) if np.size(scale) in (1, channels) else None
    offset = np.broadcast_to(np.asarray(offset, np.float64).reshape(-1), (channels,)) if np.size(offset) in (1, channels) else None
    if scale is None or offset is None:
        log.info("kept %s: per-channel sizes do not match %d output channels of %s", bn_name, channels, w_node.name)
        return 0
    if w_node.op == "Conv2D":
        new_w = weights * scale.reshape(1, 1, 1, -1)
    elif w_node.op == "DepthwiseConv2dNative":
        h, w, cin, mult = weights.shape
        new_w = weights * scale.reshape(1, 1, cin, mult)
    elif w_node.attr["transpose_b"].b:
        new_w = weights * scale.reshape(-1, 1)
    else:
        new_w = weights * scale.reshape(1, -1)
    bias = const_value(graph, bias_ref) if bias_ref is not None else np.zeros(channels)
    new_b = bias.astype(np.float64) * scale + offset
    dtype = weights.dtype
    w_const = graph.add_const(graph.unique_name(f"{w_node.name}/folded_weights"), new_w.astype(dtype))
    graph.rewrite(w_node, inputs=[data_inputs(w_node)[0], w_const.name] + data_inputs(w_node)[2:]
                  + [i for i in w_node.input if i.startswith("^")])
    b_const = graph.add_const(graph.unique_name(f"{bn_name}/folded_bias"), new_b.astype(dtype))
    bn = graph.index()[bn_name]
    ctrl = [i for i in bn.input if i.startswith("^")]
    graph.rewrite(bn, op="BiasAdd", inputs=[w_node.name, b_const.name] + ctrl)
    bn.attr.clear()
    bn.attr["T"].type = T_ENUM[np.dtype(dtype)]
    bn.attr["data_format"].s = b"NHWC"
    log.info("folded batch norm %s into %s", bn_name, w_node.name)
    return 1


def _out_channels(w_node, weights):
    if w_node.op == "Conv2D":
        return weights.shape[-1]
    if w_node.op == "DepthwiseConv2dNative":
        return weights.shape[2] * weights.shape[3]
    return weights.shape[0] if w_node.attr["transpose_b"].b else weights.shape[-1]


def _fold_fused(graph, ctx, n):
    if graph.used_ports(n.name) - {0}:
        return 0
    if n.attr["data_format"].s not in (b"", b"NHWC"):
        log.info("kept %s: NCHW", n.name)
        return 0
    x, gamma, beta, mean, var = data_inputs(n)[:5]
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


def _fold_mul_add(graph, ctx, n, memo=None):
    """Add(Mul(x, s), t) with constant per-channel s and t (a decomposed batch norm)."""
    ins = data_inputs(n)
    if len(ins) != 2:
        return 0
    for m_ref, t_ref in ((ins[0], ins[1]), (ins[1], ins[0])):
        mul = graph.index().get(node_name(m_ref))
        t = const_expr(graph, t_ref, memo=memo)
        if mul is None or mul.op != "Mul" or t is None or t.ndim > 4 or mul.name in ctx.protected:
            continue
        if [r.name for r in graph.readers(mul.name)] != [n.name]:
            continue
        a, b = data_inputs(mul)[:2]
        for x, s_ref in ((a, b), (b, a)):
            s = const_expr(graph, s_ref, memo=memo)
            if s is None or s.ndim > 4 or (s.ndim and any(d != 1 for d in s.shape[:-1])):
                continue
            if t.ndim and any(d != 1 for d in t.shape[:-1]):
                continue
            w_node, _, _ = _weighted_producer(graph, x)
            if w_node is None:
                continue
            return _fold(graph, ctx, n.name, x, s, t, inner={mul.name})
    return 0
