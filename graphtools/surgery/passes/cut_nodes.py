"""cut_nodes: replace nodes by new Placeholders (for graphs fed by queues, iterators or preprocessing)."""
import logging

from ...errors import InputError, NodeNotFoundError
from ...core.graph import node_name
from ...core.protos import NodeDef
from . import register

log = logging.getLogger(__name__)


def parse_cut(spec):
    """'NAME:DTYPE:SHAPE' (shape '1,28,28,1', '?' or -1 for unknown dims, '' for a scalar) -> tuple."""
    parts = spec.rsplit(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise InputError(f"--cut {spec}: expected NODE:DTYPE:SHAPE, e.g. IteratorGetNext:float32:1,28,28,1")
    name, dtype, shape = parts
    try:
        dims = [-1 if d.strip() in ("?", "-1", "None") else int(d) for d in shape.split(",") if d.strip()]
    except ValueError:
        raise InputError(f"--cut {spec}: shape '{shape}' is not a comma-separated list of sizes")
    return name, dtype.strip(), dims


@register("cut_nodes")
def cut_nodes(graph, ctx):
    """Replace each node in ``ctx.options.cut`` (name, dtype, shape) by a Placeholder of that name.

    What fed the node is no longer needed and is pruned. Readers of other outputs than :0 of a
    cut node make the cut ambiguous and are refused.
    """
    from ..._tf import tf

    tf = tf()
    rewrites = 0
    for name, dtype, shape in ctx.options.cut or []:
        if name not in graph:
            raise NodeNotFoundError(name, graph.names(), what="--cut node")
        node = graph.node(name)
        if node.op == "Placeholder" and name in ctx.done["cut_nodes"]:
            continue
        try:
            dt = tf.as_dtype(dtype)
        except TypeError:
            raise InputError(f"--cut {name}: unknown dtype '{dtype}'; use float32, int32, uint8, bool, ...")
        needed = _needed(graph, ctx)
        other = sorted({i for n in needed for i in graph.inputs(n)
                        if not i.startswith("^") and node_name(i) == name and ":" in i and not i.endswith(":0")})
        if other:
            raise InputError(f"--cut {name}: the outputs read {', '.join(other)} too; a cut replaces output :0 "
                             f"only — cut the nodes that read the other outputs instead")
        ph = NodeDef(graph.graph_def, name=name, op="Placeholder")
        ph.attr["dtype"].type = dt.as_datatype_enum
        ph.attr["shape"].shape.CopyFrom(tf.TensorShape([None if d < 0 else d for d in shape]).as_proto())
        graph.replace_node(ph)
        ctx.done["cut_nodes"].add(name)
        ctx.protected.add(name)
        if name not in ctx.inputs:
            ctx.inputs.append(name)
        log.info("cut %s: now a %s placeholder of shape %s", name, dtype, shape)
        rewrites += 1
    return rewrites


def _needed(graph, ctx):
    return graph.ancestors(ctx.outputs)


