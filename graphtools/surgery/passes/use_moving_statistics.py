"""use_moving_statistics: make training-mode batch norms normalise with their moving averages."""
import logging


from ...core.heuristics import moving_statistics_names
from ...core.protos import NodeDef
from ...core.constants import const_value
from . import register

log = logging.getLogger(__name__)
FUSED = ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
MOMENT_NAMES = {"Squeeze": "moving_mean", "Squeeze_1": "moving_variance", "mean": "moving_mean",
                "variance": "moving_variance"}


def statistics_names(graph):
    """Const nodes that hold moving statistics of training-mode batch norms (kept until used)."""
    keep = set()
    for n in _suspects(graph):
        keep.update(_candidates(graph, n))
    return keep


def _suspects(graph):
    """Training-mode fused batch norms, moments nodes, and tensors with an EMA shadow (cheap: names)."""
    out = [n for n in graph.nodes_of(*FUSED) if n.attr["is_training"].b]
    for node in graph.nodes:
        name = node.name
        if "/moments/" in name or "_moving_average" in node.attr:
            out.append(node)
        elif name.endswith("/ExponentialMovingAverage"):
            base = name[: -len("/ExponentialMovingAverage")]
            if base in graph:
                out.append(graph.node(base))
    return out


def _candidates(graph, n):
    """The moving statistics of ``n``: [mean, variance] for a fused batch norm, [average] for a moments
    tensor. What freeze learned from the moving-average updates (``_moving_statistics`` /
    ``_moving_average`` attrs) comes first; TF's naming (``<scope>/moving_mean``) otherwise."""
    out = []
    recorded = [s.decode() for s in n.attr["_moving_statistics"].list.s] if "_moving_statistics" in n.attr else []
    if n.op in FUSED and n.attr["is_training"].b and len(recorded) == 2 and all(recorded):
        out = recorded
    elif n.op in FUSED and n.attr["is_training"].b:
        scope = n.name.rsplit("/", 1)[0]
        out = moving_statistics_names(scope)
    elif "_moving_average" in n.attr:
        out = [n.attr["_moving_average"].s.decode()]
    elif "/moments/" in n.name:
        scope, leaf = n.name.split("/moments/", 1)
        if leaf in MOMENT_NAMES:
            out = [f"{scope}/{MOMENT_NAMES[leaf]}"]
    out.append(f"{n.name}/ExponentialMovingAverage")
    return [c for c in out if c in graph and graph.op_of(c) == "Const"]


@register("use_moving_statistics")
def use_moving_statistics(graph, ctx):
    """Switch training-mode batch norms to inference mode.

    ``FusedBatchNorm(x, g, b, [], [], is_training=True)`` -> ``FusedBatchNorm(x, g, b, moving_mean,
    moving_variance, is_training=False)``; in the moments-based form the batch mean and variance
    (``<scope>/moments/Squeeze``, ``Squeeze_1``) are replaced by ``<scope>/moving_mean`` /
    ``moving_variance``, or by the ``ExponentialMovingAverage`` shadow of that tensor. This changes
    what the graph computes on purpose (batch statistics -> moving averages), so ``strip`` checks
    the rest of its work against the graph after this pass. Batch norms whose statistics are not in
    the graph are kept and logged.
    """
    rewrites = 0
    for n in _suspects(graph):
        if n.name not in graph:
            continue
        if n.op in FUSED and n.attr["is_training"].b:
            if graph.used_ports(n.name) - {0}:
                log.info("kept %s: its batch statistics outputs are read", n.name)
                continue
            stats = _candidates(graph, n)[:2]  # (mean, variance; not an EMA shadow of the output)
            if len(stats) != 2 or stats[1].endswith("/ExponentialMovingAverage"):
                log.info("kept %s: training-mode batch norm without moving statistics in the graph", n.name)
                continue
            mean, var = const_value(graph, stats[0]), const_value(graph, stats[1])
            if mean is None or var is None or mean.ndim != 1 or mean.shape != var.shape:
                continue
            if never_updated(mean, var):
                log.info("kept %s: its moving statistics were never updated (mean 0, variance 1): the model "
                         "runs on its batch statistics", n.name)
                continue
            new = NodeDef(graph.graph_def)
            new.CopyFrom(n)
            del new.input[:]
            new.input.extend(graph.data_inputs(n.name)[:3] + stats + [i for i in n.input if i.startswith("^")])
            new.attr["is_training"].b = False
            if "exponential_avg_factor" in new.attr:
                new.attr["exponential_avg_factor"].f = 1.0
            graph.replace_node(new)
            log.info("%s: normalises with %s and %s", n.name, *stats)
            rewrites += 1
        elif ("/moments/" in n.name or "_moving_average" in n.attr
              or any(c.endswith("/ExponentialMovingAverage") for c in _candidates(graph, n))):
            stats = _candidates(graph, n)
            if not stats or not _readers_outside_stats(graph, n):
                continue
            value = const_value(graph, stats[0])
            if value is None:
                continue
            if untrained_scope(graph, stats[0]):
                log.info("kept %s: %s was never updated (its scope's mean 0, variance 1): the model runs on its "
                         "batch statistics", n.name, stats[0])
                continue
            if graph.replace_all_uses(n.name + ":0", stats[0], move_control=False):
                log.info("%s: replaced by %s", n.name, stats[0])
                rewrites += 1
    if rewrites:
        ctx.options.keep = set()
    return rewrites


def _readers_outside_stats(graph, n):
    """True when something other than the moving-average update reads ``n``."""
    readers = graph.consumers(n.name)
    return any("ExponentialMovingAverage" not in r and "AssignMovingAvg" not in r for r in readers)


def never_updated(mean, var):
    """True for moving statistics still at their initial values (mean all 0, variance all 1): the update ops
    never ran, and the model was always run on its batch's statistics."""
    import numpy as np

    mean, var = np.asarray(mean), np.asarray(var)
    return mean.size > 0 and var.size > 0 and bool(np.all(mean == 0)) and bool(np.all(var == 1))


def untrained_scope(graph, stat):
    """True when ``stat`` (``<scope>/moving_mean`` or ``moving_variance``) and its sibling are constants
    still at their initial values."""
    scope, _, leaf = stat.rpartition("/")
    if leaf not in ("moving_mean", "moving_variance"):
        return False
    mean, var = (const_value(graph, f"{scope}/{k}") if f"{scope}/{k}" in graph else None
                 for k in ("moving_mean", "moving_variance"))
    return mean is not None and var is not None and never_updated(mean, var)
