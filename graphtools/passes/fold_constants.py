"""fold_constants: evaluate nodes whose inputs are all constants and store the results as Const."""
import logging

from ..graph import node_name
from . import data_inputs, register

log = logging.getLogger(__name__)
NEVER = {"Const", "Placeholder", "PlaceholderV2", "PlaceholderWithDefault", "NoOp", "Switch", "RefSwitch",
         "Merge", "RefMerge", "Enter", "RefEnter", "Exit", "RefExit", "NextIteration", "RefNextIteration",
         "LoopCond", "If", "StatelessIf", "While", "StatelessWhile", "PartitionedCall",
         "StatefulPartitionedCall", "Case", "StatelessCase", "Assert", "Print", "PrintV2", "CheckNumerics",
         "CheckNumericsV2", "Identity", "IdentityN", "Snapshot", "FakeQuantWithMinMaxVars",
         "FakeQuantWithMinMaxArgs", "FakeQuantWithMinMaxVarsPerChannel", "Dequantize", "QuantizeV2"}
MAX_ELEMENTS = 1 << 22  # do not materialise huge tensors (Fill, Tile, ...) as constants


def _stateful(op, cache={}):
    if op not in cache:
        from tensorflow.python.framework import op_def_registry

        od = op_def_registry.get(op)
        cache[op] = od is None or od.is_stateful
    return cache[op]


@register("fold_constants")
def fold_constants(graph, ctx):
    """Replace every deterministic node computed only from constants by a Const holding its value.

    Runs one TensorFlow session over all foldable nodes at once. Nodes with several outputs, with
    control inputs, stateful ops and control flow are left alone; protected nodes keep their op.
    """
    from .._tf import tf
    from .fold_switches import _toposort

    tf = tf()
    idx = graph.index()
    consts = {n.name for n in graph.nodes if n.op == "Const"}
    foldable = []
    known = set(consts)
    for name in _toposort(graph):
        n = idx[name]
        if name in known or n.op in NEVER or name in ctx.protected:
            continue
        ins = data_inputs(n)
        if not ins or len(ins) != len(n.input) or n.op.startswith(("Random", "Stateless", "Stateful")) \
                or n.op in graph.function_names():
            continue
        if any(node_name(i) not in known for i in ins) or any(":" in i and not i.endswith(":0") for i in ins):
            continue
        if _stateful(n.op):
            continue
        foldable.append(name)
        known.add(name)
    if not foldable:
        return 0
    # multi-output readers (Split:1, Unpack:2) make a node unfoldable as a single Const
    used_ports = {}
    for n in graph.nodes:
        for i in data_inputs(n):
            src = node_name(i)
            if src in known:
                used_ports.setdefault(src, set()).add(i.split(":")[1] if ":" in i else "0")
    foldable = [f for f in foldable if used_ports.get(f, {"0"}) <= {"0"}]
    needed = set(foldable)
    for f in foldable:
        needed.update(node_name(i) for i in data_inputs(idx[f]))
    sub = tf.compat.v1.GraphDef()
    sub.library.CopyFrom(graph.graph_def.library)
    sub.versions.CopyFrom(graph.graph_def.versions)
    for n in graph.nodes:
        if n.name in needed:
            sub.node.add().CopyFrom(n)
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(sub, name="")
    fetch = []
    for f in foldable:
        fetch.append(g.get_operation_by_name(f).outputs[0])
    with tf.compat.v1.Session(graph=g) as sess:
        values = sess.run(fetch)
    rewrites = 0
    for f, t, v in zip(foldable, fetch, values):
        if getattr(v, "size", 1) > MAX_ELEMENTS:
            continue
        const = tf.compat.v1.NodeDef(name=f, op="Const")
        const.attr["dtype"].type = t.dtype.as_datatype_enum
        const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(v, dtype=t.dtype))
        graph.replace_node(const)
        rewrites += 1
    log.info("folded %d constant subexpressions", rewrites)
    return rewrites
