"""remove_identity: bypass Identity chains (``W/read``, leftovers of freezing and tf.identity)."""
import logging

from ...core.graph import node_name
from . import register

log = logging.getLogger(__name__)
# A PlaceholderWithDefault that is not a listed input always yields its default: an identity.
IDENTITY_OPS = {"Identity", "Snapshot", "StopGradient", "PreventGradient", "PlaceholderWithDefault"}
NO_BYPASS_SOURCES = {"Switch", "RefSwitch", "Enter", "RefEnter", "Merge", "Exit", "NextIteration", "LoopCond"}


@register("remove_identity", group="identity", after=("remove_debug",))
def remove_identity(graph, ctx):
    """Wire the readers of an Identity to its input.

    Kept: protected nodes, Identities with control inputs (they order something), and Identities
    of Switch/Merge/loop outputs (v1 conds need them as pivots: control edges on a Switch are not
    allowed).
    """
    rewrites = 0
    op_of = graph.ops()
    for name in graph.names_of(*IDENTITY_OPS):
        if name in ctx.protected:
            continue
        inputs = graph.inputs(name)
        if len(inputs) != 1 or inputs[0][0] == "^":
            continue
        src_op = op_of.get(node_name(inputs[0]))
        if src_op is None or src_op in NO_BYPASS_SOURCES:
            continue
        if graph.replace_all_uses(name + ":0", inputs[0]):
            rewrites += 1
    return rewrites
