"""TensorProto <-> numpy without TensorFlow's per-call overhead (a hot path when folding)."""
import numpy as np

# DataType enum (types.proto) -> numpy dtype, for the types weights and flags use
NUMPY = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
         10: np.bool_, 17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}
ENUM = {np.dtype(v): k for k, v in NUMPY.items()}
_DTYPE = {k: np.dtype(v) for k, v in NUMPY.items()}  # (np.frombuffer takes a dtype faster than a type)
_VALUES = {1: "float_val", 2: "double_val", 3: "int_val", 4: "int_val", 5: "int_val", 6: "int_val",
           9: "int64_val", 10: "bool_val", 17: "int_val", 22: "uint32_val", 23: "uint64_val"}


def to_array(tensor):
    """numpy value of a TensorProto (falls back to TensorFlow for strings, half floats and the rest)."""
    code = tensor.dtype
    dt = _DTYPE.get(code)
    content = tensor.tensor_content
    shape = [d.size for d in tensor.tensor_shape.dim]
    if dt is not None and content:
        a = np.frombuffer(content, dt)
        # (a reshape is a call per constant: vectors, most weights of a batch norm, come out right)
        return a if len(shape) == 1 and shape[0] == a.size else a.reshape(shape)
    field = _VALUES.get(code)
    if dt is None or field is None:
        from .protos import make_ndarray

        return make_ndarray(tensor)
    vals = getattr(tensor, field)
    if not shape and len(vals) == 1:  # a scalar, the usual flag, epsilon or keep probability
        return np.array(vals[0], dt)
    n = 1
    for d in shape:
        n *= d
    if len(vals) == n:
        # (np.asarray on the repeated field itself is ten times slower than on a list)
        return np.array(vals[0] if n == 1 else list(vals), dtype=dt).reshape(shape)
    # TensorFlow repeats the last value to fill the shape (and zeros when there is none)
    return np.full(shape, vals[-1] if len(vals) else 0, dtype=dt)


def fill_const(node, value, dtype_enum=None):
    """Make ``node`` (a NodeDef) a Const holding ``value``."""
    arr = np.asarray(value)
    enum = dtype_enum or ENUM.get(arr.dtype)
    if enum is None or arr.dtype.kind in "OSU":
        from .._tf import tf

        proto = tf().make_tensor_proto(arr)
        node.op = "Const"
        node.attr["dtype"].type = proto.dtype
        node.attr["value"].tensor.CopyFrom(proto)
        return node
    arr = arr.astype(NUMPY[enum], copy=False)
    node.op = "Const"
    node.attr["dtype"].type = enum
    t = node.attr["value"].tensor
    t.dtype = enum
    for d in arr.shape:
        t.tensor_shape.dim.add(size=d)
    t.tensor_content = np.ascontiguousarray(arr).tobytes()
    return node
