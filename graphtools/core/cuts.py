"""Cutting a graph at tensors: each becomes a new placeholder and what fed it is pruned.

Freezing cuts a training pipeline's queues and iterators; strip's ``--inputs`` of inner tensors and
the ``cut_nodes`` pass cut where the user says.
"""
import logging

from ..errors import InputError, NodeNotFoundError
from .graph import node_name
from .ops import PLACEHOLDER_OPS
from .protos import NodeDef

log = logging.getLogger(__name__)


def cut_name(tensor):
    """The placeholder a cut of ``tensor`` makes: the node's own name for output 0 (``decoded_sample_data:0``
    is fed as before), ``NODE_K`` for output k (``random_shuffle_queue_DequeueMany:1`` ->
    ``random_shuffle_queue_DequeueMany_1``)."""
    src, _, port = tensor.partition(":")
    return src if port in ("", "0") else f"{src}_{port}"


def cut_tensors(graph_def, cuts, outputs):
    """Feed each tensor in ``cuts`` ([(tensor, dtype, shape)], e.g. ('IteratorGetNext:0', 'float32', [-1, 784]))
    from a new placeholder named by :func:`cut_name` and prune what fed it; return
    (GraphDef, {tensor: placeholder name}). Unlike --cut, any output port can be cut, and several ports of
    one node (a decoder's audio and its sample rate) become one placeholder each.

    Output 0's placeholder takes the node's name when nothing the outputs need reads the node otherwise
    (the node goes away); else it is ``NODE_0``.
    """
    from .._tf import tf
    from .graph import Graph

    tf = tf()
    gd = type(graph_def)()
    gd.CopyFrom(graph_def)
    graph = Graph(gd)
    cuts = [(t if ":" in t else t + ":0", dtype, shape) for t, dtype, shape in cuts]
    cut_set = {t for t, _, _ in cuts}
    needed, todo = set(), [node_name(o) for o in outputs]
    while todo:  # what the outputs read once the cut tensors are placeholders
        n = todo.pop()
        if n in needed or n not in graph:
            continue
        needed.add(n)
        for i in graph.inputs(n):
            ref = i.lstrip("^")
            t = ref if ":" in ref else ref + ":0"
            if t not in cut_set:
                todo.append(node_name(ref))
    names = {}
    takes_name = []
    for tensor, dtype, shape in sorted(cuts, key=lambda c: c[0].endswith(":0")):  # other ports first
        src, _, port = tensor.partition(":")
        ph = NodeDef(graph.graph_def, name="", op="Placeholder")
        ph.attr["dtype"].type = tf.as_dtype(dtype).as_datatype_enum
        ph.attr["shape"].shape.CopyFrom(tf.TensorShape(None if shape is None else
                                                       [None if d < 0 else d for d in shape]).as_proto())
        if port == "0" and src not in needed and graph.op_of(src) not in ("Placeholder", "PlaceholderV2"):
            takes_name.append((tensor, ph))  # after the other ports are rewired: the node is replaced
            continue
        ph.name = graph.unique_name(cut_name(tensor) if port != "0" else f"{src}_0")
        graph.add_node(ph)
        graph.replace_all_uses(tensor, ph.name, move_control=False)
        names[tensor] = ph.name
    for tensor, ph in takes_name:
        src = node_name(tensor)
        for ref in {i for n in graph.consumers(src) for i in graph.inputs(n)
                    if node_name(i) == src and not i.startswith("^") and ":" in i and not i.endswith(":0")}:
            dead = graph.unique_name(f"{src}_unused")  # readers of other ports that the outputs do not need
            graph.add_const(dead, 0)
            graph.replace_all_uses(ref, dead, move_control=False)
        ph.name = src
        graph.replace_node(ph)
        names[tensor] = src
    graph.prune(outputs)
    graph.compact()
    return graph.graph_def, names


BATCHING_OPS = {"IteratorGetNext", "IteratorGetNextSync", "QueueDequeueMany", "QueueDequeueManyV2",
                "QueueDequeueUpTo", "QueueDequeueUpToV2", "ReaderReadUpTo", "ReaderReadUpToV2"}


def pipeline_shape(tensor):
    """The shape a cut of ``tensor`` (a tf.Tensor) gets: TensorFlow's, with the first size left open where a
    queue or iterator made the batch (its dequeue size is the pipeline's, not the model's)."""
    if tensor.shape.rank is None:
        return None
    shape = [-1 if d is None else int(d) for d in tensor.shape.as_list()]
    if shape and tensor.op.type in BATCHING_OPS:
        shape[0] = -1
    return shape


def tensor_inputs(graph_def, inputs, outputs):
    """Make every ``--inputs`` entry a placeholder: ``node:port`` tensors and nodes that are not
    placeholders (a decoder, an iterator's output, a Reshape) are cut there (:func:`cut_tensors`), with
    the dtype and shape TensorFlow infers for them; names a cut already made resolve to its placeholder
    (``X:1`` -> ``X_1``). Returns (graph_def, [placeholder names], {tensor: placeholder}) -- the graph
    unchanged when every entry already is a placeholder.
    """
    from .graph import Graph

    listed = [i.strip() for i in (inputs.split(",") if isinstance(inputs, str) else inputs or []) if str(i).strip()]
    if not listed:
        return graph_def, inputs, {}
    graph = Graph(graph_def)
    names, cuts, made = [], [], {}
    for ref in listed:
        src, _, port = ref.partition(":")
        port = port or "0"
        if not port.isdigit():
            raise InputError(f"--inputs {ref}: expected NODE or NODE:OUTPUT (a number), e.g. IteratorGetNext:0")
        op = graph.op_of(src) if src in graph else None
        if op in PLACEHOLDER_OPS and port == "0":
            names.append(src)
        elif op is None or op in PLACEHOLDER_OPS:  # (a cut's placeholder stands for output 0 of the node it replaced)
            made_by = cut_name(f"{src}:{port}")
            if made_by in graph and graph.op_of(made_by) in PLACEHOLDER_OPS:
                names.append(made_by)  # an earlier cut (freeze's input pipeline) made it
                made[f"{src}:{port}"] = made_by
            else:
                raise NodeNotFoundError(src, graph.names(), what="--inputs node")
        else:
            tensor = f"{src}:{port}"
            cuts.append(tensor)
            names.append(tensor)
    if not cuts:
        return graph_def, names, made
    from .runtime import import_graph

    g = import_graph(graph_def)
    specs = []
    for tensor in cuts:
        try:
            t = g.get_tensor_by_name(tensor)
        except (KeyError, ValueError):
            raise InputError(f"--inputs {tensor}: {node_name(tensor)} has no output {tensor.partition(':')[2]}")
        specs.append((tensor, t.dtype.name, pipeline_shape(t)))
    gd, cut = cut_tensors(graph_def, specs, outputs)
    log.info("inputs cut: %s", ", ".join(f"{t} -> {p}" for t, p in cut.items()))
    made.update(cut)
    return gd, [cut.get(n, n) for n in names], made
