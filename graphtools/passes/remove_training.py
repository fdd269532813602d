"""remove_training: cut the control edges that tie inference nodes to training work."""
import logging
import re

from ..analysis import ASSIGN_OPS, SAVER_OPS, SUMMARY_OPS, is_training_op
from . import register

log = logging.getLogger(__name__)
UPDATE_SCOPE = re.compile(r"(AssignMovingAvg|ExponentialMovingAverage|update_ops|/Assign(_\d+)?$|"
                          r"(^|/)(train|train_op|train_step|init|group_deps)(_\d+)?$)")


def _is_training_node(node):
    return (is_training_op(node) or node.op in ASSIGN_OPS | SAVER_OPS | SUMMARY_OPS
            or (node.op == "NoOp" and bool(UPDATE_SCOPE.search(node.name)))
            or bool(UPDATE_SCOPE.search(node.name)) and node.op in ("NoOp", "AssignSub", "AssignAdd", "Sub", "AddV2"))


@register("remove_training")
def remove_training(graph, ctx):
    """Drop control inputs on optimizer, update, summary, saver and initializer nodes.

    Optimizer slots, gradients, losses, summaries, the saver and the global step are not read by
    the outputs once these edges are gone, so the runner's prune removes them.
    """
    training = {n.name for n in graph.nodes if _is_training_node(n)}
    dropped = 0
    for n in graph.nodes:
        if n.name not in training:
            dropped += graph.drop_control_inputs(n, lambda src: src in training)
    return dropped
