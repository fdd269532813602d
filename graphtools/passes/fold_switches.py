"""fold_switches: fold v1 conds (Switch/Merge) whose predicate is a constant, pruning dead branches."""
import logging

from ..graph import node_name, tensor_ref
from . import const_value, data_inputs, register

log = logging.getLogger(__name__)
SWITCH = ("Switch", "RefSwitch")
MERGE = ("Merge", "RefMerge")


@register("fold_switches")
def fold_switches(graph, ctx):
    """Route every Switch with a constant predicate to its live output and resolve the Merges.

    Before (pred const False)::  x -> Switch:0 -> f(.) -> Merge <- g(.) <- Switch:1 <- x
    After::                       x -> f(.) -> (readers of Merge:0)

    Dead tensors are the untaken Switch outputs and everything computed from them (through data
    or control edges, as TensorFlow's executor propagates deadness), except Merges with a live
    input. Switches inside while loops (fed by LoopCond) are left alone.
    """
    idx = graph.index()
    dead_tensors = set()
    live_routes = {}
    for n in list(graph.nodes):
        if n.op not in SWITCH or len(data_inputs(n)) < 2:
            continue
        pred_src = graph.index().get(node_name(n.input[1]))
        if pred_src is not None and pred_src.op == "LoopCond":
            continue
        pred = const_value(graph, n.input[1])
        if pred is None or pred.shape != ():
            continue
        live = 1 if bool(pred) else 0
        live_routes[n.name] = (live, n.input[0])
        dead_tensors.add(f"{n.name}:{1 - live}")
    if not live_routes:
        return 0
    # propagate deadness in topological order over the whole graph
    dead_nodes = set()
    order = _toposort(graph)
    merge_fix = {}
    for name in order:
        n = idx[name]
        if name in live_routes:
            continue
        ins = data_inputs(n)
        dead_in = [i for i in ins if tensor_ref(i) in dead_tensors or node_name(i) in dead_nodes]
        ctrl_dead = [i for i in n.input if i.startswith("^") and i[1:] in dead_nodes]
        if n.op in MERGE:
            alive = [(k, i) for k, i in enumerate(ins) if i not in dead_in]
            if not alive:
                dead_nodes.add(name)
            elif dead_in and len(alive) == 1:
                merge_fix[name] = alive[0]
        elif dead_in or ctrl_dead:
            dead_nodes.add(name)
    rewrites = 0
    for name, (live, src) in live_routes.items():
        # readers of the dead port are dead themselves; prune removes them with the Switch
        rewrites += graph.replace_all_uses(f"{name}:{live}", src, move_control=False)
    for name, (k, src) in merge_fix.items():
        graph.replace_all_uses(f"{name}:0", src, move_control=False)
        _replace_value_index(graph, name, k)
        rewrites += 1
    # nothing alive may keep a control edge on a dead node
    for n in graph.nodes:
        if n.name not in dead_nodes:
            graph.drop_control_inputs(n, lambda src: src in dead_nodes or src in live_routes)
    log.info("folded %d switches, %d merges; %d nodes dead", len(live_routes), len(merge_fix), len(dead_nodes))
    return rewrites + len(live_routes)


def _replace_value_index(graph, merge, k):
    """Readers of Merge:1 (which input fired) get a constant."""
    readers = [n for n in graph.nodes if any(tensor_ref(i) == f"{merge}:1" for i in n.input)]
    if not readers:
        return
    from .._tf import tf

    tf = tf()
    name = graph.unique_name(f"{merge}/value_index")
    const = tf.compat.v1.NodeDef(name=name, op="Const")
    const.attr["dtype"].type = tf.int32.as_datatype_enum
    const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(k, dtype=tf.int32))
    graph.add_node(const)
    graph.replace_all_uses(f"{merge}:1", name, move_control=False)


def _toposort(graph):
    """Topological order that tolerates v1 while-loop cycles (NextIteration back edges cut)."""
    import networkx as nx

    g = graph.to_networkx()
    back = [(u, v) for u, v in g.edges if graph.index()[u].op in ("NextIteration", "RefNextIteration")]
    g.remove_edges_from(back)
    return list(nx.topological_sort(g))
