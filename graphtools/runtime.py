"""Run a GraphDef in a tf.compat.v1 Session: the one place graphs are executed."""
import logging

import numpy as np

from .errors import InputError, NodeNotFoundError
from .graph import node_name

log = logging.getLogger(__name__)


def tensor_name(name):
    return name if ":" in name else name + ":0"


def import_graph(graph_def, path="<graph>"):
    """Import ``graph_def`` into a new tf.Graph; raise InputError when TensorFlow rejects it."""
    from ._tf import tf

    tf = tf()
    g = tf.Graph()
    with g.as_default():
        try:
            tf.compat.v1.import_graph_def(graph_def, name="")
        except (ValueError, tf.errors.OpError, TypeError, KeyError) as e:
            first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise InputError(f"{path}: TensorFlow cannot load this graph ({first}); re-export it or check the "
                             f"TensorFlow version it needs")
    return g


def run_graph(graph_def, feeds, fetches, path="<graph>"):
    """Run ``fetches`` (node or tensor names) with ``feeds`` ({name: array}); return a list of arrays."""
    from ._tf import tf

    tf = tf()
    g = import_graph(graph_def, path)
    names = {op.name for op in g.get_operations()}
    for n in list(feeds) + list(fetches):
        if node_name(n) not in names:
            raise NodeNotFoundError(node_name(n), names, where=path)
    feed_dict = {g.get_tensor_by_name(tensor_name(k)): v for k, v in feeds.items()}
    fetch_t = [g.get_tensor_by_name(tensor_name(f)) for f in fetches]
    config = tf.compat.v1.ConfigProto(inter_op_parallelism_threads=2, intra_op_parallelism_threads=2)
    with tf.compat.v1.Session(graph=g, config=config) as sess:
        try:
            out = sess.run(fetch_t, feed_dict)
        except tf.errors.InvalidArgumentError as e:
            raise InputError(f"{path}: running the graph failed: {op_error_text(e)}; check input shapes and "
                             f"fed placeholders")
    return [np.asarray(o) for o in out]


def op_error_text(e):
    """The informative line of a TensorFlow OpError (not 'Graph execution error:'), with its node."""
    lines = [ln.strip() for ln in (getattr(e, "message", None) or str(e)).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("Graph execution error", "Detected at node", "Traceback"))]
    text = lines[0][:200] if lines else type(e).__name__
    op = getattr(e, "op", None)
    name = getattr(op, "name", None)
    return f"{text} (node {name})" if name and name not in text else text
