"""splice_nodes: remove a named node or a whole name scope by wiring its data input to its readers."""
import logging

from ...core.heuristics import FLAG_NAME
from ...errors import InputError, NodeNotFoundError
from ...core.graph import node_name, tensor_ref
from . import register

log = logging.getLogger(__name__)


@register("splice_nodes")
def splice_nodes(graph, ctx):
    """Splice out each node or scope in ``ctx.options.splice``.

    Before::  x -> [scope: dropout_1/...] -> y readers
    After::   x -> y readers

    The scope must have exactly one data input from outside (constants and training-flag
    placeholders do not count) and exactly one output tensor read outside; otherwise it is refused
    with the tensors that could not be matched up.
    """
    rewrites = 0
    for target in ctx.options.splice or []:
        target = target.rstrip("/")
        members = {n.name for n in graph.nodes if n.name == target or n.name.startswith(target + "/")}
        if not members:
            if target in ctx.done["splice_nodes"]:
                continue
            raise NodeNotFoundError(target, _scopes(graph), what="--splice node or scope")
        protected = members & ctx.protected
        if protected:
            raise InputError(f"--splice {target}: contains the input/output {sorted(protected)[0]}; "
                             f"choose another scope or change --inputs/--outputs")
        ins = []
        for m in [n.name for n in graph.nodes if n.name in members]:  # graph order: stable messages
            for i in graph.data_inputs(m):
                src = node_name(i)
                if src in members or _settings_only(graph, src):
                    continue
                if graph.op_of(src) == "Shape":  # dropout's noise shape reads the input's shape
                    continue
                t = tensor_ref(i)
                if t not in ins:
                    ins.append(t)
        outs = []
        for n in graph.nodes:
            if n.name in members:
                continue
            for i in graph.data_inputs(n.name):
                if node_name(i) in members and tensor_ref(i) not in outs:
                    outs.append(tensor_ref(i))
        if len(ins) != 1 or len(outs) != 1:
            raise InputError(f"--splice {target}: needs one data input and one output read outside it, found "
                             f"inputs [{', '.join(ins) or 'none'}] and outputs [{', '.join(outs) or 'none'}]; "
                             f"splice a narrower scope")
        graph.replace_all_uses(outs[0], ins[0])
        for n in graph.nodes:  # control edges on spliced nodes go away with them
            if n.name not in members:
                graph.drop_control_inputs(n.name, lambda s: s in members)
        ctx.done["splice_nodes"].add(target)
        log.info("spliced %s (%d nodes): %s now reads %s", target, len(members), outs[0], ins[0])
        rewrites += 1
    return rewrites


def _settings_only(graph, name):
    """True for tensors computed only from constants and training-flag placeholders (keep_prob, 1 - keep_prob)."""
    for a in graph.ancestors([name]):
        n = graph.node(a)
        if n.op == "Const":
            continue
        if n.op.startswith("Placeholder") and FLAG_NAME.search(n.name):
            continue
        if a != name and not graph.inputs(a) and n.op != "Const":
            return False
        if n.op.startswith("Placeholder"):
            return False
    return True


def _scopes(graph):
    names = set()
    for n in graph.nodes:
        parts = n.name.split("/")
        for k in range(1, len(parts) + 1):
            names.add("/".join(parts[:k]))
    return names
