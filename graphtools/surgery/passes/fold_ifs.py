"""fold_ifs: replace v2 conds (If/StatelessIf/Case) whose predicate is a constant by the taken branch."""
import logging

from ...core.graph import node_name
from ...core.protos import NodeDef
from ...core.constants import const_value
from . import register

log = logging.getLogger(__name__)


@register("fold_ifs", group="training", after=("fold_switches",))
def fold_ifs(graph, ctx):
    """Inline the body of the branch a constant predicate selects.

    Before::  y = If(is_training=False, x, then=dropout_fn, else=identity_fn)
    After::   y = <nodes of identity_fn, named 'cond/else/...', reading x>

    The function library is left as it is (other callers may use the functions).
    """
    from ..._tf import tf

    tf = tf()
    from tensorflow.python.framework import function_def_to_graph as f2g

    library = {f.signature.name: f for f in graph.graph_def.library.function}
    rewrites = 0
    for n in graph.nodes_of("If", "StatelessIf", "Case", "StatelessCase"):
        if n.name not in graph:
            continue
        pred = const_value(graph, graph.inputs(n.name)[0])
        if pred is None or pred.shape != ():
            continue
        if n.op.endswith("If"):
            key, branch = ("then_branch", "then") if bool(pred) else ("else_branch", "else")
            fname = n.attr[key].func.name
        else:
            branches = n.attr["branches"].list.func
            k = int(pred)
            k = k if 0 <= k < len(branches) else len(branches) - 1  # Case runs the last branch out of range
            fname, branch = branches[k].name, f"branch{k}"
        fdef = library.get(fname)
        if fdef is None:
            log.info("kept %s: branch function %s is not in the library", n.name, fname)
            continue
        sub, mapping = f2g.function_def_to_graph_def(fdef)
        prefix = graph.unique_name(f"{n.name}/{branch}") + "/"
        actual = graph.data_inputs(n.name)[1:]
        ctrl = [i for i in graph.inputs(n.name) if i.startswith("^")]
        args = {a.name: actual[k] for k, a in enumerate(fdef.signature.input_arg)}
        for node in sub.node:
            if node.name in args and node.op == "Placeholder":
                continue
            new = NodeDef(graph.graph_def)
            new.CopyFrom(node)
            new.name = prefix + node.name
            new.device = ""
            del new.input[:]
            for i in node.input:
                src = node_name(i)
                if src in args:
                    new.input.append("^" + node_name(args[src]) if i.startswith("^") else args[src])
                else:
                    new.input.append(("^" + prefix + src) if i.startswith("^") else prefix + i.lstrip("^"))
            if "_class" in new.attr:
                del new.attr["_class"]
            if not new.input:  # control inputs of the If now order the inlined nodes
                new.input.extend(ctrl)
            graph.add_node(new)
        for k, out in enumerate(fdef.signature.output_arg):
            inner = _resolve(mapping, fdef.ret[out.name], sub)
            src = node_name(inner)
            target = args[src] if src in args else prefix + inner
            graph.replace_all_uses(f"{n.name}:{k}", target, move_control=(k == 0))
        log.info("inlined %s branch of %s", branch, n.name)
        rewrites += 1
    return rewrites


def _resolve(mapping, ret, sub):
    """'node:arg:idx' -> 'node:k' in the body GraphDef.

    Freezing rewrites ReadVariableOp into Identity but leaves the ret string naming the old
    output arg ('ReadVariableOp:value:0'), so fall back to the node's output index.
    """
    if ret in mapping:
        return mapping[ret]
    parts = ret.split(":")
    names = {n.name for n in sub.node}
    if parts[0] in names:
        return f"{parts[0]}:{parts[-1]}" if len(parts) == 3 else parts[0] + ":0"
    raise KeyError(f"function output {ret} not found in the branch body")
