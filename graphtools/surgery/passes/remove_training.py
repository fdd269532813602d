"""remove_training: cut the control edges that tie inference nodes to training work."""
import logging
import re

from ...core.heuristics import is_training_node
from ...core.ops import ASSIGN_OPS, GRADIENT_OPS, LOSS_OPS, SAVER_OPS, SUMMARY_OPS
from . import register

log = logging.getLogger(__name__)
TRAINING_OP_TYPES = tuple(ASSIGN_OPS | SAVER_OPS | SUMMARY_OPS | LOSS_OPS | GRADIENT_OPS | {"NoOp"})
_TRAINING_OPS = frozenset(TRAINING_OP_TYPES)
_APPLY = ("Apply", "ResourceApply", "SparseApply", "ResourceSparseApply")  # optimizer update ops
_NAME_HINTS = ("gradients", "save", "Assign", "ExponentialMovingAverage", "update_ops", "train", "init",
               "group_deps", "Momentum", "Adam", "Adadelta", "Adagrad", "RMSProp", "Ftrl", "SGD", "GradientDescent")


_HINTS = re.compile("|".join(_NAME_HINTS))


def _suspect_name(name):
    """Cheap pre-filter: only names with one of these words can match the training patterns."""
    return _HINTS.search(name) is not None


def _suspect_names(names):
    """The names with a hint word, found by regex scans over all of them joined (a hot path on large
    graphs): one search per matching name, from the end of the last match's line."""
    text = "\n".join(names)
    if text.count("\n") != len(names) - 1:  # a name with a newline in it: look at each name
        return [n for n in names if _suspect_name(n)]
    out, pos = [], 0
    search, find, rfind = _HINTS.search, text.find, text.rfind
    while True:
        m = search(text, pos)
        if m is None:
            return out
        start, end = rfind("\n", 0, m.start()) + 1, find("\n", m.end())
        if end < 0:
            end = len(text)
        out.append(text[start:end])
        pos = end + 1


@register("remove_training", group="training", after=("strip_dropout",))
def remove_training(graph, ctx):
    """Drop control inputs on optimizer, update, summary, saver and initializer nodes.

    Optimizer slots, gradients, losses, summaries, the saver and the global step are not read by
    the outputs once these edges are gone, so the runner's prune removes them.
    """
    op_of = graph.ops()
    dirty = ctx.dirty
    # a training node has a training op type or a name with one of the hint words: look at those only
    if dirty is None:
        suspects = [graph.node(name) for name in _suspect_names(list(graph.names()))]
        suspects += graph.nodes_of(*TRAINING_OP_TYPES, *[op for op in graph.op_counts() if op.startswith(_APPLY)])
    else:  # what changed since the last run
        live = [d for d in dirty if d in op_of]
        hinted = set(_suspect_names(live))
        suspects = [graph.node(d) for d in live if d in hinted or op_of[d] in _TRAINING_OPS or op_of[d].startswith(_APPLY)]
    training = {n.name for n in suspects if is_training_node(n)}
    dropped = 0
    for t in training:
        for r in graph.consumers(t):
            if r not in training:
                dropped += graph.drop_control_inputs(r, lambda src: src in training)
    return dropped
