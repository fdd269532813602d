"""strip(): remove dropout and training subgraphs, bind flags, prune — and prove it equivalent."""
import dataclasses
import logging

import numpy as np

from ..core.analysis import GraphAnalysis
from ..core.describe import op_histogram
from ..core.ops import VARIABLE_OPS
from ..errors import InputError, RewriteError
from ..core.graph import node_name
from .passes import Options, PassContext, order, run_passes
from ..core.runtime import RunError

log = logging.getLogger(__name__)

def groups():
    """--remove's groups, from the pass registry (``@register(..., group=...)``)."""
    from .passes import groups as registry_groups

    return registry_groups()


@dataclasses.dataclass
class StripResult:
    graph_def: object
    inputs: list
    outputs: list
    bound: dict
    passes: list           # PassRecord per pass that changed something
    equivalence: object    # equivalence.Equivalence or None
    ops_before: dict
    ops_after: dict
    signature: object = None  # signature.Signature of the stripped graph (bound flags gone)
    batch_statistics: list = dataclasses.field(default_factory=list)  # training-mode batch norms kept as they are


def passes_for(remove):
    """The pass names ``remove`` (e.g. ['dropout', 'training'] or ['all']) asks for, in run order."""
    if isinstance(remove, str):
        remove = [remove]
    known = groups()
    wanted = set()
    items = [i.strip().lower() for r in remove for i in str(r).split(",") if i.strip()]
    if items == ["none"]:
        return []
    for item in items:
        if item == "all":
            wanted.update(p for ps in known.values() for p in ps)
        elif item in known:
            wanted.update(known[item])
        else:
            raise InputError(f"--remove {item}: unknown; choose from {', '.join(list(known) + ['all', 'none'])}")
    if not wanted:
        raise InputError("--remove needs at least one of " + ", ".join(list(known) + ["all"]))
    return order(wanted)


@dataclasses.dataclass(frozen=True)
class Stage:
    """A strip stage that changes the baseline of the equivalence check by design (run before the
    check's reference is taken). ``options(names, cut, analysis)`` gives the pass's Options when it
    has work to do on the graph the analysis reads, else None."""

    name: str
    pass_name: str
    options: object
    why: str


def _cut_options(names, cut, analysis):
    return Options(cut=cut) if cut else None


def _dequantize_options(names, cut, analysis):
    from .passes.dequantize_ops import FLOAT_FORM

    return Options() if "dequantize_ops" in names and analysis.graph.names_of(*FLOAT_FORM) else None


def _moving_statistics_options(names, cut, analysis):
    from .passes.use_moving_statistics import statistics_names

    if "fold_batch_norms" not in names:
        return None
    keep = statistics_names(analysis.graph)
    return Options(keep=keep) if keep else None


BASELINE_STAGES = (
    Stage("cut", "cut_nodes", _cut_options, "a cut changes what feeds the graph"),
    Stage("dequantize", "dequantize_ops", _dequantize_options, "8-bit ops back to float lose the rounding between ops"),
    Stage("moving statistics", "use_moving_statistics", _moving_statistics_options,
          "batch statistics become the moving averages inference uses"),
)
# (then the main passes of --remove, in the registry's order, checked against the last baseline)


def _has_8bit_ops(graph_def):
    from .passes.dequantize_ops import FLOAT_FORM

    return any(n.op in FLOAT_FORM for n in graph_def.node)


def strip(graph_def, remove=("all",), inputs=None, outputs=None, bind=None, cut=None, splice=None, verify=True,
          rtol=1e-4, atol=1e-5, input_shapes=None, allow_unsafe_ops=False, allow_leftovers=False):
    """Return the stripped GraphDef (see ``strip_report`` for the arguments and what it checks)."""
    return strip_report(graph_def, remove, inputs, outputs, bind, cut, splice, verify, rtol, atol,
                        input_shapes, allow_unsafe_ops, allow_leftovers=allow_leftovers).graph_def


def strip_report(graph_def, remove=("all",), inputs=None, outputs=None, bind=None, cut=None, splice=None,
                 verify=True, rtol=1e-4, atol=1e-5, input_shapes=None, allow_unsafe_ops=False, consume=False,
                 allow_leftovers=False):
    """Return a StripResult whose graph_def computes the same outputs for inference, minus training parts.

    See ``_strip`` for the arguments. ``consume=True`` hands ``graph_def`` over: it is edited in
    place instead of copied (one copy of a large graph less in memory; the equivalence check keeps
    the original as serialized bytes). Do not use ``graph_def`` afterwards.
    """
    import gc

    # Indexing a large graph allocates millions of small containers and no cycles: the cyclic
    # collector would rescan them over and over (measured: 52k nodes 2.7 s with it, 1.3 s without).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _strip(graph_def, remove, inputs, outputs, bind, cut, splice, verify, rtol, atol, input_shapes,
                      allow_unsafe_ops, consume, allow_leftovers)
    finally:
        if enabled:
            gc.enable()


def _strip(graph_def, remove, inputs, outputs, bind, cut, splice, verify, rtol, atol, input_shapes=None,
           allow_unsafe_ops=False, consume=False, allow_leftovers=False):
    """Return a StripResult whose graph_def computes the same outputs for inference, minus training parts.

    ``inputs``/``outputs`` default to discovery (as in inspect). ``bind`` maps placeholder names to
    values; with 'training' removed, discovered training flags are bound to their inference values
    (keep_prob 1.0, is_training false). ``cut`` lists (node, dtype, shape) or 'node:dtype:shape'
    to replace by placeholders; ``splice`` lists nodes or scopes to remove by wiring their one data
    input to their readers. The result is checked against the graph as cut (the cut changes what
    feeds the graph by design). ``input_shapes`` ({input: shape} or toco's '1,28,28,1:1,10' for the
    data inputs) sizes the random inputs of the probe and the check; where the graph fixes its batch
    (a Reshape to a constant shape) they use that batch. The caller's GraphDef is never modified.
    Whatever the passes asked for could not remove -- random ops, batch statistics, nodes computed from
    label placeholders -- is an error listing the nodes, unless ``allow_leftovers``.
    """
    from .passes.cut_nodes import parse_cut

    names = passes_for(remove) if remove else []  # ('none' or []: only what bind/cut/splice ask for)
    names = [n for n in names if n != "dequantize_ops"] if not _has_8bit_ops(graph_def) else names
    cut = [parse_cut(c) if isinstance(c, str) else tuple(c) for c in (cut or [])]
    pre_records = []
    # one private copy: analysed here, then edited in place by the passes (the caller's proto and
    # ``graph_def``, the baseline of the equivalence check, are never touched) -- unless the caller
    # handed the proto over: then the baseline is kept as bytes, a seventh of the parsed size
    pristine = None
    if consume:
        pristine = graph_def.SerializeToString() if verify else None
        work = graph_def
    else:
        work = type(graph_def)()
        work.CopyFrom(graph_def)
    a = GraphAnalysis(work)
    if inputs:  # tensors (``IteratorGetNext:0``) and non-placeholder nodes named as inputs: cut there, by design
        from ..core.cuts import tensor_inputs

        cut_gd, inputs, made = tensor_inputs(work, inputs, a.outputs_or_best(outputs)[0])
        if isinstance(input_shapes, dict):
            input_shapes = {made.get(k if ":" in k else k + ":0", made.get(k, k)): v for k, v in input_shapes.items()}
        if cut_gd is not work:
            pristine, work = None, cut_gd
            a = GraphAnalysis(work)
    untrained = _untrained_moments(a.graph) if "fold_batch_norms" in names else []  # (before the stats go)
    # the stages that rewrite the baseline (what the check compares against) by design, declared in
    # BASELINE_STAGES and run by the one runner (each on an unedited copy: ``work`` is still the
    # baseline); the main passes, proved equivalent against the last baseline, come after
    for stage in BASELINE_STAGES:
        options = stage.options(names, cut, a)
        if options is None:
            continue
        names = [n for n in names if n != stage.pass_name]
        stage_outputs, _ = a.outputs_or_best(outputs)
        graph_def, records = run_passes(work, [stage.pass_name],
                                        PassContext(inputs=[], outputs=stage_outputs, options=options))
        pre_records += records
        pristine = None  # the baseline is now this new graph, which the passes do not edit
        work = type(graph_def)()
        work.CopyFrom(graph_def)
        a = GraphAnalysis(work)
    from ..core.signature import resolve

    # the one signature of this strip: every run below (the probe, the check) feeds what it says
    sig = resolve(work, inputs, outputs, input_shapes, bind, analysis=a, bind_flags="bind_placeholders" in names)
    inputs, outputs, data, bind = sig.names, list(sig.outputs), [i.as_dict() for i in sig.inputs], dict(sig.flags)
    needed = a.reachable(outputs)
    frozen_vars = [n.name for n in a.graph.nodes_of(*VARIABLE_OPS) if n.name in needed]
    if frozen_vars:
        raise InputError(f"the graph still has variables ({frozen_vars[0]}, ...); freeze it first: "
                         f"graphtools freeze --ckpt ... --out frozen.pb")
    if bind and "bind_placeholders" not in names:
        names = order(["bind_placeholders", "fold_switches", "fold_ifs"] + names)
    if splice:
        names = order(["splice_nodes"] + names)
    if not names and not pre_records:  # (--remove quantized alone: the pre-pass was the work)
        raise InputError("nothing to do: give --remove, --bind, --cut or --splice")
    ctx = PassContext(inputs=list(inputs), outputs=outputs, options=Options(bind=bind, splice=list(splice or [])))
    ops_before = a.graph.op_counts()
    labels = sig.labels if "remove_training" in names else []
    out, records = run_passes(work, names, ctx, graph=a.graph, needed=needed)
    records = pre_records + records
    from ..sources.safety import drop_unused_functions

    dropped = drop_unused_functions(out)  # (tf.data map functions, stale copies: never run, never block)
    if dropped:
        log.info("dropped %d library functions nothing calls: %s", len(dropped), ", ".join(dropped[:5]))
    ops_after = ctx.ops_after or op_histogram(out)
    kept_batch_stats = _untrained_batch_norms(a.graph, ops_after, untrained) if "fold_batch_norms" in names else []
    if kept_batch_stats:  # always run with its batch's statistics, at batch 1: that is the model
        log.info("kept batch statistics of %s: no trained moving statistics", ", ".join(kept_batch_stats))
    if not allow_leftovers:
        _refuse_leftovers(a.graph, names, labels, ops_after, kept_batch_stats)
    equivalence = None
    if verify:
        from ..sources import safety

        if pristine is not None:  # the consumed original, back from its bytes
            graph_def = type(out)()
            graph_def.ParseFromString(pristine)
            del pristine
        safety.check(graph_def, "strip's equivalence check", needed=needed, allow=allow_unsafe_ops)
        flags = _typed(bind, sig.placeholders)
        from ..core.runtime import GraphRunner

        for d in data:  # a wrong rank would make a TensorFlow kernel abort: say so first
            clash = d["shape"] is not None and a.rank_clash(d["name"], len(d["shape"]))
            if clash:
                raise InputError(f"input {d['name']} has shape {d['shape']} but feeds {clash[0]}, which needs "
                                 f"rank {clash[1]}: give its real shape with --input-shapes")
        from ..core.feeds import unfeedable

        why = unfeedable(data)
        if why:  # nothing can run: not even the randomness probe
            from .equivalence import Equivalence

            fix = ("give the input shapes (--input-shapes) to verify" if "rank" in why else
                   "the check feeds random numbers; compare on real inputs instead (graphtools compare --data)")
            equivalence = Equivalence(False, {}, f"not verified: {why}; {fix}")
        else:
            with GraphRunner(graph_def, path="the graph before") as before:  # imported once, on first use
                equivalence = _verify(graph_def, out, names, data, inputs, outputs, flags, rtol, atol, sig, before,
                                      a.has_loops())
    bound = {**bind, **_typed(bind, sig.placeholders)}  # as the placeholders' own types ('false' -> False)
    return StripResult(out, data, outputs, bound, records, equivalence, ops_before, ops_after,
                       dataclasses.replace(sig, flags=bound).against(out), kept_batch_stats)


def _verify(graph_def, out, names, data, inputs, outputs, flags, rtol, atol, sig, before, loops):
    """The randomness probe and the equivalence check, both at the signature's batch; where the graph
    leaves its batch open and batch 2 fails in TensorFlow, both once more at batch 1 (a batch fixed
    in a way no analysis sees, e.g. a Reshape to a computed shape), saying so."""
    batch = sig.check_batch()
    try:
        return _verify_at(batch, graph_def, out, names, data, inputs, outputs, flags, rtol, atol, sig, before, loops)
    except RunError as e:
        open_batch = any(d["shape"] and d["shape"][0] < 0 for d in data)
        if e.internal or batch == 1 or not open_batch:
            raise
        try:
            eq = _verify_at(1, graph_def, out, names, data, inputs, outputs, flags, rtol, atol, sig, before, loops)
        except RunError:
            raise e
        eq.note = "; ".join(x for x in ("checked at batch 1: the graph does not run at batch 2", eq.note) if x)
        return eq


def _verify_at(batch, graph_def, out, names, data, inputs, outputs, flags, rtol, atol, sig, before, loops):
    from .equivalence import check_equivalent, is_random

    baseline, note = graph_def, ""
    if "strip_dropout" in names and is_random(graph_def, data, outputs, flags, runner=before, batch=batch,
                                              signature=sig):
        # dropout with a fixed keep probability (tf-slim is_training=True, tf.nn.dropout(rate=0.3))
        # is random even at inference values: its removal is checked by its math (strip_dropout
        # verifies the 1/keep scale), the rest numerically against the graph without it
        baseline, _ = run_passes(graph_def, ["strip_dropout"], PassContext(inputs=list(inputs), outputs=outputs))
        note = ("dropout inside a loop removed by its checked structure (random ops in a v1 loop cannot be fetched "
                "to probe); the rest verified numerically" if loops else
                "dropout with a fixed rate removed by its checked structure; the rest verified numerically")
    try:
        eq = check_equivalent(baseline, out, data, outputs, flags, rtol=rtol, atol=atol, batch=batch,
                              before_runner=before if baseline is graph_def else None, signature=sig)
    except RunError as e:
        if loops and (e.internal or "different frames" in str(e)):
            raise RewriteError(f"stripping broke a v1 while loop ({str(e).split(': ', 1)[-1][:160]}); rewriting "
                             f"inside loop frames is not supported yet: strip with --remove training (binds "
                             f"the keep probabilities, leaves the loops alone) and convert with --select-tf-ops")
        raise
    eq.note = note or eq.note
    return eq


def _untrained_moments(graph):
    """The batch means (``<scope>/moments/mean``) of tf.nn.moments batch norms whose moving statistics are
    constants never updated (mean all 0, variance all 1): the model is its batch statistics."""
    from .passes.use_moving_statistics import untrained_scope

    return [n.name for n in graph.nodes_of("Mean") if "/moments/" in n.name
            and untrained_scope(graph, n.name.split("/moments/")[0] + "/moving_mean")]


def _untrained_batch_norms(graph, ops, untrained_moments=()):
    """Training-mode fused batch norms left after strip whose moving statistics are absent or untrained
    (mean all 0, variance all 1: never updated): exports of models that were always run with their batch's
    statistics at batch 1 (instance-norm behaviour, OpenPose-style). Their batch statistics are the model."""
    from ..core.constants import const_value

    fused = ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
    found = [m for m in untrained_moments if m in graph]  # (tf.nn.moments' batch means, found before strip)
    if not any(op in ops for op in fused):
        return found
    for n in graph.nodes_of(*fused):
        if not n.attr["is_training"].b:
            continue
        ins = graph.data_inputs(n.name)
        mean = const_value(graph, ins[3]) if len(ins) > 4 else None
        var = const_value(graph, ins[4]) if len(ins) > 4 else None
        if mean is None or var is None:
            continue
        if (np.size(mean) == 0 or np.all(np.asarray(mean) == 0)) and (np.size(var) == 0 or np.all(np.asarray(var) == 1)):
            found.append(n.name)
    return found


def _refuse_leftovers(graph, names, labels, ops, kept_batch_stats=()):
    """Raise when the stripped ``graph`` still holds what the passes in ``names`` exist to remove.

    ``ops``: its op histogram, so a clean graph costs no look-up (the Graph's indexes are rebuilt on
    first use after the runner's compact).
    """
    from ..core.ops import STOCHASTIC_OPS
    from ..core.constants import const_value

    found = []
    random = [op for op in STOCHASTIC_OPS if op in ops] if "strip_dropout" in names else []
    if random:
        found.append(("random ops", graph.names_of(*random), "a dropout form no pass recognises: --splice its scope"))
    suspects = {"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "SquaredDifference"}
    if "fold_batch_norms" in names and not suspects.isdisjoint(ops):
        batch_stats = [n.name for n in graph.nodes_of("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
                       if n.attr["is_training"].b and n.name not in kept_batch_stats]
        for n in graph.nodes_of("SquaredDifference"):  # tf.nn.moments: mean((x - mean(x, batch axis))^2)
            ins = [node_name(i) for i in graph.data_inputs(n.name)]
            for m in ins:
                mean = graph.node(m) if m in graph else None
                if mean is not None and mean.op == "StopGradient":
                    m = node_name(graph.data_inputs(m)[0])
                    mean = graph.node(m)
                if mean is None or mean.op != "Mean":
                    continue
                axes = const_value(graph, graph.data_inputs(m)[1])
                if axes is not None and 0 in np.atleast_1d(axes) and node_name(graph.data_inputs(m)[0]) in ins \
                        and m not in kept_batch_stats:
                    batch_stats.append(m)
        if batch_stats:
            found.append(("batch statistics (batch norm in training mode)", sorted(set(batch_stats)),
                          "bind its training flag with --bind NAME=false"))
    left_labels = [p for p in labels if p in graph]
    if left_labels:
        found.append(("outputs computed from label placeholders", left_labels,
                      "choose the model's own outputs with --outputs"))
    if found:
        what, nodes, fix = found[0]
        more = f" (+{len(nodes) - 3} more)" if len(nodes) > 3 else ""
        also = "; also " + ", ".join(w for w, _, _ in found[1:]) if len(found) > 1 else ""
        raise InputError(f"after strip the graph still has {what}: {', '.join(nodes[:3])}{more}{also}; {fix}, or "
                         f"write it anyway with --allow-leftovers")


def bound_json(bound):
    """The bound values, JSON-ready (a scalar as a number, a filled placeholder as nested lists)."""
    return {k: (np.asarray(v).item() if np.ndim(v) == 0 else np.asarray(v).tolist()) if hasattr(v, "shape") or
            isinstance(v, np.generic) else v for k, v in bound.items()}


def bound_text(bound):
    """``keep_prob=1.0, train_outputs=0 (filled, [10, 11])``."""
    out = []
    for k, v in bound.items():
        a = np.asarray(v)
        out.append(f"{k}={a.flat[0]} (filled, {list(a.shape)})" if a.ndim and a.size and np.all(a == a.flat[0])
                   else f"{k}={v}")
    return ", ".join(out)


def _typed(bind, placeholders):
    """The bound values as the placeholders' own dtypes, to feed the unstripped graph with."""
    from .passes.bind_placeholders import parse_value

    out = {}
    for k, v in bind.items():
        p = placeholders.get(k)
        if p is None:
            continue
        arr = parse_value(v, np.dtype(p.dtype))
        if arr.ndim == 0 and p.shape and min(p.shape) >= 0:  # a scalar fills a placeholder of fixed shape
            arr = np.full(p.shape, arr, dtype=arr.dtype)
        out[k] = arr
    return out
