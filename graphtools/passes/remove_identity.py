"""remove_identity: bypass Identity chains (``W/read``, leftovers of freezing and tf.identity)."""
import logging

from ..graph import node_name
from . import data_inputs, register

log = logging.getLogger(__name__)
# A PlaceholderWithDefault that is not a listed input always yields its default: an identity.
IDENTITY_OPS = {"Identity", "Snapshot", "StopGradient", "PreventGradient", "PlaceholderWithDefault"}
NO_BYPASS_SOURCES = {"Switch", "RefSwitch", "Enter", "RefEnter", "Merge", "Exit", "NextIteration", "LoopCond"}


@register("remove_identity")
def remove_identity(graph, ctx):
    """Wire the readers of an Identity to its input.

    Kept: protected nodes, Identities with control inputs (they order something), and Identities
    of Switch/Merge/loop outputs (v1 conds need them as pivots: control edges on a Switch are not
    allowed).
    """
    rewrites = 0
    idx = graph.index()
    for n in graph.nodes_of(*IDENTITY_OPS):
        if n.name in ctx.protected:
            continue
        ins = data_inputs(n)
        if len(ins) != 1 or len(ins) != len(n.input):
            continue
        src = idx.get(node_name(ins[0]))
        if src is None or src.op in NO_BYPASS_SOURCES:
            continue
        if graph.replace_all_uses(n.name + ":0", ins[0]):
            rewrites += 1
            idx = graph.index()
    return rewrites
