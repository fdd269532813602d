"""Constant helpers every pass shares: a Const's value through Identity chains, float elementwise
arithmetic computed as TensorFlow's CPU kernels do, and small constant expressions."""
import numpy as np

from .graph import node_name

# float elementwise ops numpy computes exactly as TensorFlow's CPU kernels do (up to rounding)
NUMPY = {
    "Add": np.add, "AddV2": np.add, "Sub": np.subtract, "Mul": np.multiply, "RealDiv": np.divide,
    "Maximum": np.maximum, "Minimum": np.minimum, "Neg": np.negative, "Sqrt": np.sqrt,
    "Rsqrt": lambda a: np.float32(1) / np.sqrt(a) if a.dtype == np.float32 else 1 / np.sqrt(a),
    "Reciprocal": np.reciprocal, "Inv": np.reciprocal, "Square": np.square, "SquaredDifference":
        lambda a, b: np.square(a - b), "Abs": np.abs, "Exp": np.exp, "Log": np.log,
}


def reads_port0_only(inputs):
    """True when every one of ``inputs`` (a node's input references) is a data edge from output 0
    (no control input, no other port)."""
    for i in inputs:  # (a loop, not any(): const_expr calls it for every node it evaluates)
        if i[0] == "^" or (":" in i and i[-2:] != ":0"):
            return False
    return True


def numpy_value(op, args):
    """``op`` over constant ``args`` with numpy, when it is float elementwise arithmetic on one dtype
    (computed as TensorFlow's CPU kernels do, up to rounding); else None.

    Overflow and NaN are values here, as in TensorFlow: callers run it under
    ``np.errstate(all="ignore")`` (once per pass, not per op: it is a hot path).
    """
    fn = NUMPY.get(op)
    if fn is None or not args or args[0] is None:
        return None
    dtype = args[0].dtype
    if dtype.kind != "f":
        return None
    for a in args:  # (a loop, not any(): this runs for every node of every constant expression)
        if a is None or (a.dtype is not dtype and a.dtype != dtype):  # (``is``: mostly the same object)
            return None
    out = fn(*args)
    if type(out) is np.ndarray and (out.dtype is dtype or out.dtype == dtype):
        return out
    return np.asarray(out).astype(dtype, copy=False)


def const_value(graph, ref, max_hops=8):
    """The numpy value of ``ref`` when it is a Const (through Identity chains), else None."""
    name = node_name(ref)
    op_of = graph.ops()
    for _ in range(max_hops):
        op = op_of.get(name)
        if op == "Const":
            return graph.const(name)
        if op in ("Identity", "Snapshot"):
            inputs = graph.inputs(name)
            if inputs:
                name = node_name(inputs[0])
                continue
        return None
    return None


def const_expr(graph, ref, budget=16, memo=None):
    """The value of ``ref`` when it is computed from constants by float elementwise arithmetic
    (``numpy_value``, e.g. ``gamma * Rsqrt(var + eps)``) within ``budget`` nodes, else None.

    Lets fold_batch_norms read a decomposed batch norm's scale and offset without constant folding
    first materialising every intermediate as a Const (which it would then sweep away again).
    ``memo``: a dict shared by calls within one pass (the scale is part of the offset's expression).
    Run it under ``np.errstate(all="ignore")``: overflow is a value here, as in TensorFlow.
    """
    numpy_ops = NUMPY
    left = [budget]
    op_of, inputs_of, const = graph.ops(), graph.inputs, graph.const
    memo = {} if memo is None else memo

    def value(name):
        v = memo.get(name, memo)  # (memo itself: not seen yet)
        if v is not memo:
            return v
        left[0] -= 1
        if left[0] < 0:
            return None  # out of budget: not an answer about this node, so not remembered
        op = op_of.get(name)
        v = None
        if op == "Const":
            v = const(name)
        elif (op in numpy_ops or op in ("Identity", "Snapshot")) and reads_port0_only(inputs_of(name)):
            args = []
            for i in inputs_of(name):
                a = value(i[:-2] if ":" in i else i)
                if a is None:
                    args = None
                    break
                args.append(a)
            if args:
                v = numpy_value(op, args) if op in numpy_ops else args[0] if len(args) == 1 else None
        if left[0] >= 0:
            memo[name] = v
        return v

    return value(node_name(ref))
