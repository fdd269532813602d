"""GraphDef, NodeDef and MetaGraphDef without importing TensorFlow.

The structural commands (inspect, diff, audit, --dot) only parse and read graphs: importing
TensorFlow (3-4 s) would be nearly all of their time. TensorBoard ships the same protos
(``tensorboard.compat.proto``), wire-compatible with TensorFlow's, but of other Python classes, which
TensorFlow's APIs refuse. So: by default (the library, and every command that runs TensorFlow) the
first proto made imports TensorFlow and its classes are used throughout; a structural command calls
``structural_only()`` first and gets TensorBoard's classes, and TensorFlow is never imported.
``as_tf`` converts a message across when a structural caller hands one to TensorFlow after all.
"""
import sys

import numpy as np

# DataType enum (types.proto) -> numpy dtype name, as tf.as_dtype(...).name spells it
DTYPE_NAMES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string",
               8: "complex64", 9: "int64", 10: "bool", 11: "qint8", 12: "quint8", 13: "qint32", 14: "bfloat16",
               15: "qint16", 16: "quint16", 17: "uint16", 18: "complex128", 19: "float16", 20: "resource",
               21: "variant", 22: "uint32", 23: "uint64"}
_NUMPY = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
          10: np.bool_, 17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64, 11: np.int8, 12: np.uint8,
          13: np.int32, 15: np.int16, 16: np.uint16, 8: np.complex64, 18: np.complex128}
# the TensorProto field that holds each dtype's values when tensor_content is empty
_VAL_FIELD = {1: "float_val", 2: "double_val", 3: "int_val", 4: "int_val", 5: "int_val", 6: "int_val",
              9: "int64_val", 10: "bool_val", 17: "int_val", 19: "half_val", 22: "uint32_val", 23: "uint64_val",
              11: "int_val", 12: "int_val", 13: "int_val", 15: "int_val", 16: "int_val", 7: "string_val"}


_PREFER_TENSORFLOW = [True]


class structural_only:
    """Within the block only graphs are read: protos come from TensorBoard (unless TensorFlow is
    imported already), and TensorFlow stays unimported."""

    def __enter__(self):
        self.saved = _PREFER_TENSORFLOW[0]
        _PREFER_TENSORFLOW[0] = False

    def __exit__(self, *exc):
        _PREFER_TENSORFLOW[0] = self.saved
        return False


def tensorflow_loaded():
    return "tensorflow" in sys.modules


def _modules():
    if _PREFER_TENSORFLOW[0] and not tensorflow_loaded():
        from .._tf import tf

        tf()
    if tensorflow_loaded():
        from tensorflow.core.framework import graph_pb2, node_def_pb2
        from tensorflow.core.protobuf import meta_graph_pb2
    else:
        from tensorboard.compat.proto import graph_pb2, meta_graph_pb2, node_def_pb2
    return graph_pb2, node_def_pb2, meta_graph_pb2


def GraphDef():  # noqa: N802 (a class, as the protobuf API spells it)
    return _modules()[0].GraphDef()


def MetaGraphDef():  # noqa: N802
    return _modules()[2].MetaGraphDef()


def NodeDef(like=None, **fields):  # noqa: N802
    """A NodeDef of the same protobuf class as ``like`` (a GraphDef or NodeDef) when given: a pass
    adds nodes of its graph's own class, whichever module made it."""
    if like is not None:
        graph_cls = type(like) if hasattr(like, "node") else None
        cls = type(graph_cls().node.add()) if graph_cls is not None else type(like)
        return cls(**fields)
    return _modules()[1].NodeDef(**fields)


def as_tf(message):
    """``message`` as TensorFlow's own protobuf class (a copy through bytes when it is not)."""
    from .._tf import tf

    tf()
    from tensorflow.core.framework import graph_pb2, node_def_pb2
    from tensorflow.core.protobuf import meta_graph_pb2

    for cls in (graph_pb2.GraphDef, node_def_pb2.NodeDef, meta_graph_pb2.MetaGraphDef):
        if message.DESCRIPTOR.full_name == cls.DESCRIPTOR.full_name:
            return message if isinstance(message, cls) else cls.FromString(message.SerializeToString())
    return message


def dtype_name(enum_value):
    enum_value = int(enum_value)
    if enum_value > 100:  # reference types (DT_FLOAT_REF = 101)
        return DTYPE_NAMES.get(enum_value - 100, f"dtype({enum_value})") + "_ref"
    return DTYPE_NAMES.get(enum_value, f"dtype({enum_value})")


def make_ndarray(tensor):
    """A TensorProto's value as numpy, as tf.make_ndarray gives it (without TensorFlow)."""
    if tensorflow_loaded():
        import tensorflow

        return tensorflow.make_ndarray(tensor)
    dtype = tensor.dtype
    shape = [d.size for d in tensor.tensor_shape.dim]
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if dtype == 7:
        vals = np.array(list(tensor.string_val), dtype=object)
        return (np.full(count, vals[0] if len(vals) else b"", dtype=object) if len(vals) <= 1
                else vals).reshape(shape)
    if dtype not in _NUMPY:
        raise TypeError(f"cannot read a {dtype_name(dtype)} tensor")
    np_dtype = np.dtype(_NUMPY[dtype])
    if tensor.tensor_content:
        return np.frombuffer(tensor.tensor_content, dtype=np_dtype).copy().reshape(shape)
    vals = getattr(tensor, _VAL_FIELD[dtype])
    if dtype == 19:  # half_val holds the float16 bits as ints
        arr = np.array(list(vals), dtype=np.uint16).view(np.float16)
    elif dtype in (8, 18):
        flat = np.array(list(tensor.scomplex_val if dtype == 8 else tensor.dcomplex_val))
        arr = (flat[0::2] + 1j * flat[1::2]).astype(np_dtype)
    else:
        arr = np.array(list(vals), dtype=np_dtype)
    if arr.size == count:
        return arr.reshape(shape)
    if arr.size == 0:
        return np.zeros(shape, dtype=np_dtype)
    out = np.empty(count, dtype=np_dtype)  # fewer values than elements: the last one repeats
    out[: arr.size] = arr
    out[arr.size:] = arr[-1]
    return out.reshape(shape)
