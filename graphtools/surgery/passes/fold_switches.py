"""fold_switches: fold v1 conds (Switch/Merge) and Selects whose predicate is a constant, pruning dead branches."""
import logging

from ...core.graph import node_name, tensor_ref
from ...core.protos import NodeDef
from ...core.constants import const_value
from . import register

log = logging.getLogger(__name__)
SWITCH = ("Switch", "RefSwitch")
MERGE = ("Merge", "RefMerge")


@register("fold_switches", group="training", after=("bind_placeholders",))
def fold_switches(graph, ctx):
    """Route every Switch with a constant predicate to its live output and resolve the Merges.

    Before (pred const False)::  x -> Switch:0 -> f(.) -> Merge <- g(.) <- Switch:1 <- x
    After::                       x -> f(.) -> (readers of Merge:0)

    Dead tensors are the untaken Switch outputs and everything computed from them (through data
    or control edges, as TensorFlow's executor propagates deadness), except Merges with a live
    input. Switches inside while loops (fed by LoopCond) are left alone.
    """
    selects = _fold_selects(graph)
    live_routes = {}
    dead_tensors = set()
    for n in graph.nodes_of(*SWITCH):
        if len(graph.data_inputs(n.name)) < 2:
            continue
        ins = graph.inputs(n.name)
        pred_src = graph.get(node_name(ins[1]))
        if pred_src is not None and pred_src.op == "LoopCond":
            continue
        pred = const_value(graph, ins[1])
        if pred is None or pred.shape != ():
            continue
        live = 1 if bool(pred) else 0
        live_routes[n.name] = (live, ins[0])
        dead_tensors.add(f"{n.name}:{1 - live}")
    if not live_routes:
        return selects
    dead_nodes, merge_fix = _propagate(graph, live_routes, dead_tensors)
    rewrites = 0
    for name, (live, src) in live_routes.items():
        # readers of the dead port are dead themselves; the sweep removes them with the Switch
        rewrites += graph.replace_all_uses(f"{name}:{live}", src, move_control=False)
    for name, (k, src) in merge_fix.items():
        graph.replace_all_uses(f"{name}:0", src, move_control=False)
        _replace_value_index(graph, name, k)
        rewrites += 1
    # nothing alive may keep a control edge on a dead node or on a folded Switch
    gone = dead_nodes | set(live_routes)
    for d in gone:
        for r in graph.consumers(d):
            if r not in dead_nodes and r in graph:
                graph.drop_control_inputs(r, lambda src: src in gone)
    log.info("folded %d switches, %d merges; %d nodes dead", len(live_routes), len(merge_fix), len(dead_nodes))
    return rewrites + len(live_routes) + selects


SELECT = ("Select", "SelectV2")


def _fold_selects(graph):
    """Wire the readers of a Select whose condition is a constant, all true or all false, to that branch.

    TF 1.4's ``tf.layers.batch_normalization(training=PlaceholderWithDefault)`` chose between batch and
    moving statistics with Select instead of a cond. A v1 Select's branches have its output's shape; a
    SelectV2 broadcasts, so only a scalar condition is folded there (the equivalence check runs after).
    """
    rewrites = 0
    op_of = graph.ops()
    for name in graph.names_of(*SELECT):
        ins = graph.data_inputs(name)
        if len(ins) != 3 or op_of.get(node_name(ins[0])) not in ("Const", "Identity", "Snapshot"):
            continue  # (the usual case, a computed mask: no constant to look for)
        cond = const_value(graph, ins[0])
        if cond is None or cond.size == 0 or (op_of[name] == "SelectV2" and cond.shape != ()):
            continue
        if cond.all():
            rewrites += graph.replace_all_uses(name, ins[1], move_control=False) > 0
        elif not cond.any():
            rewrites += graph.replace_all_uses(name, ins[2], move_control=False) > 0
    if rewrites:
        log.info("folded %d selects with a constant condition", rewrites)
    return rewrites


def _propagate(graph, live_routes, dead_tensors):
    """Dead nodes (reading a dead tensor or a dead node) and Merges left with one live input."""
    dead = set()
    merges = set()
    stack = [node_name(t) for t in dead_tensors]
    while stack:
        src = stack.pop()
        for r in graph.consumers(src):
            if r in dead or r in live_routes:
                continue
            if graph.op_of(r) in MERGE:
                merges.add(r)
                continue
            reads_dead = any((not i.startswith("^") and tensor_ref(i) in dead_tensors) or node_name(i) in dead
                             for i in graph.inputs(r))
            if reads_dead:
                dead.add(r)
                stack.append(r)
        if not stack:  # a Merge whose every input is dead is dead too; settle them, then go on
            for m in list(merges):
                ins = graph.data_inputs(m)
                if all(tensor_ref(i) in dead_tensors or node_name(i) in dead for i in ins):
                    merges.discard(m)
                    dead.add(m)
                    stack.append(m)
    merge_fix = {}
    for m in merges:
        ins = graph.data_inputs(m)
        alive = [(k, i) for k, i in enumerate(ins) if not (tensor_ref(i) in dead_tensors or node_name(i) in dead)]
        if len(alive) == 1 and len(alive) < len(ins):
            merge_fix[m] = alive[0]
    return dead, merge_fix


def _replace_value_index(graph, merge, k):
    """Readers of Merge:1 (which input fired) get a constant."""
    if not graph.consumers(f"{merge}:1", data=True):
        return
    from ..._tf import tf

    tf = tf()
    name = graph.unique_name(f"{merge}/value_index")
    const = NodeDef(graph.graph_def, name=name, op="Const")
    const.attr["dtype"].type = tf.int32.as_datatype_enum
    const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(k, dtype=tf.int32))
    graph.add_node(const)
    graph.replace_all_uses(f"{merge}:1", name, move_control=False)
