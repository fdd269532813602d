"""Naming and structure heuristics: what a node's name or place says about it (training, outputs,
labels, flags, moving statistics). Op families are in ``ops``."""
import re

from .ops import ASSIGN_OPS, GRADIENT_OPS, LOSS_OPS, SAVER_OPS, SUMMARY_OPS

OUTPUT_NAME = re.compile(r"(logit|output|predict|prob|softmax|final_result|score|class|embedding|result)", re.I)
LABEL_NAME = re.compile(r"(^|/)(labels?|targets?|y_|y_true|ground_?truth|gt)(_\d+)?$", re.I)
FLAG_NAME = re.compile(r"(keep_?prob|dropout|is_?train|phase_?train|training|learning_phase|train_?mode|is_?test)", re.I)
LOSS_SCOPE = re.compile(r"(^|/)[^/]*(loss|xentropy|cross_entropy|entropy)[^/]*/", re.I)
TRAINING_SCOPE = re.compile(r"(^|/)(gradients(_\d+)?|save(_\d+)?)/")
OPTIMIZER_NAME = re.compile(
    r"(^|/)(GradientDescent|Adam|Adadelta|Adagrad|AdagradDA|Momentum|RMSProp|Ftrl|ProximalAdagrad|"
    r"ProximalGradientDescent|SGD|Nadam|Adamax|train_op|train_step)(_\d+)?(/|$)")
# scopes of the moving-average updates batch norm and tf.train.ExponentialMovingAverage write
UPDATE_SCOPE = re.compile(r"(AssignMovingAvg|ExponentialMovingAverage|update_ops|/Assign(_\d+)?$|"
                          r"(^|/)(train|train_op|train_step|init|group_deps)(_\d+)?$)")
_APPLY = ("Apply", "ResourceApply", "SparseApply", "ResourceSparseApply")  # optimizer update ops


def is_training_op(node):
    """True for ops that only exist for training, saving or bookkeeping."""
    op = node.op
    return (op in SUMMARY_OPS or op in SAVER_OPS or op in ASSIGN_OPS or op in LOSS_OPS or op in GRADIENT_OPS
            or op.startswith(_APPLY)
            or bool(TRAINING_SCOPE.search(node.name)) or (op == "NoOp" and bool(OPTIMIZER_NAME.search(node.name))))


def is_training_node(node):
    """is_training_op, or a node of a moving-average update or train/init group (what remove_training
    cuts the control edges of)."""
    return (is_training_op(node)
            or bool(UPDATE_SCOPE.search(node.name)) and node.op in ("NoOp", "AssignSub", "AssignAdd", "Sub", "AddV2"))


def moving_statistics_names(scope):
    """TF's names for a batch norm's moving statistics in ``scope`` (tf.layers, slim, Keras-2)."""
    return [f"{scope}/moving_mean", f"{scope}/moving_variance"]
