"""Graph passes: one pass per file, registered by name, run by ``run_passes``.

A pass is ``(graph: Graph, ctx: PassContext) -> int`` (how many rewrites it made). Passes only
change edges through Graph methods; the runner prunes what the outputs no longer need.
"""
import dataclasses
import importlib
import logging

from ..errors import PassError
from ..constants import const_expr, const_value  # the passes' helpers, re-exported
from ..graph import Graph, clean_colocation, node_name

log = logging.getLogger(__name__)

PASSES = {}
__all__ = ["register", "run_passes", "PassContext", "PassRecord", "const_value", "const_expr", "PASSES"]
# The order ``--remove all`` runs them in: bind flags first so conds fold, then remove.
MODULES = ("cut_nodes", "splice_nodes", "use_moving_statistics", "dequantize_ops", "bind_placeholders", "fold_switches", "fold_ifs", "strip_dropout", "remove_training", "remove_debug",
           "remove_identity", "fold_constants", "fold_batch_norms")


def register(name):
    def deco(fn):
        PASSES[name] = fn
        return fn
    return deco


def load_all():
    for m in MODULES:
        importlib.import_module(f"{__name__}.{m}")
    return PASSES


@dataclasses.dataclass
class PassContext:
    """What every pass may read: the graph's inputs/outputs, protected names and parameters."""

    inputs: list
    outputs: list
    protected: set = None
    params: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.protected is None:
            self.protected = set(node_name(n) for n in list(self.inputs) + list(self.outputs))


@dataclasses.dataclass
class PassRecord:
    name: str
    round: int
    rewrites: int
    pruned: int
    ops_delta: dict
    removed: list = dataclasses.field(default_factory=list)
    added: list = dataclasses.field(default_factory=list)

    def delta(self):
        return self.ops_delta


def run_passes(graph_def, names, ctx, max_rounds=8, graph=None, needed=None):
    """Copy ``graph_def``, run the named passes in order until none rewrites; return (GraphDef, records).

    ``graph``: a Graph over a private copy the caller already made (it is edited in place), and
    ``needed`` the ancestors of the outputs in it, when the caller computed them.
    After each pass that rewrote something, what nobody reads any more is swept (outputs,
    protected nodes and ``ctx.params['keep']`` stay) and the nodes the pass touched are checked;
    the whole graph is pruned to the outputs once at the start. From the second round on a pass
    runs only when other passes changed the graph since it last ran, and sees what changed as
    ``ctx.params['dirty']`` (None in the first round: look at everything).
    """
    load_all()
    for n in names:
        if n not in PASSES:
            raise PassError(n, f"no such pass; known: {', '.join(sorted(PASSES))}")
    if graph is None:
        gd = type(graph_def)()
        gd.CopyFrom(graph_def)
        graph = Graph(gd)
    library = [f.signature.name for f in graph.graph_def.library.function]

    def keep():
        return [p for p in set(ctx.protected) | set(ctx.params.get("keep") or ()) if p in graph]

    graph.prune(ctx.outputs, keep=keep(), needed=needed)
    graph.journal.reset()
    records = []
    last_run = {}
    for rnd in range(1, max_rounds + 1):
        total = 0
        for name in names:
            graph.journal.reset()
            if rnd > 1:
                dirty = set(graph.edit_log[last_run[name]:])
                dirty.intersection_update(graph.index())
                if not dirty:
                    continue
                ctx.params["dirty"] = dirty
            else:
                ctx.params["dirty"] = None
            try:
                rewrites = PASSES[name](graph, ctx)
            except PassError:
                raise
            except (ValueError, KeyError, TypeError, IndexError) as e:
                raise PassError(name, f"{type(e).__name__}: {e}") from e
            # a pass reaches its own fixpoint in one run: it reruns only on what others changed since
            last_run[name] = len(graph.edit_log)
            if not rewrites and not graph.journal.touched:
                continue
            pruned = graph.sweep(keep=keep() + list(ctx.outputs))
            _check_touched(graph, name)
            j = graph.journal
            added = {n for n, _ in j.added}
            removed = [n for n, _ in j.removed if n not in added] if added else [n for n, _ in j.removed]
            live = graph.index()
            rec = PassRecord(name, rnd, rewrites, pruned, j.op_delta(), removed,
                             [n for n, _ in j.added if n in live])
            log.info("%s (round %d): %d rewrites, %d nodes pruned, ops %s", name, rnd, rewrites, pruned,
                     rec.ops_delta)
            records.append(rec)
            total += rewrites
        if not total:
            break
    ctx.params.pop("dirty", None)
    graph.journal.reset()
    if ctx.params.get("keep") or graph.nodes_of("NextIteration", "RefNextIteration"):
        graph.prune(ctx.outputs, keep=[p for p in ctx.protected if p in graph])  # dead loops, unused stats
    if records and graph.journal.removed:
        records[-1].pruned += len(graph.journal.removed)
        records[-1].removed += [n for n, _ in graph.journal.removed]
    ctx.params["ops_after"] = graph.op_counts()
    graph.compact()
    clean_colocation(graph.graph_def)
    if [f.signature.name for f in graph.graph_def.library.function] != library:
        raise PassError("the pass runner", "changed the function library")
    return graph.graph_def, records


def run_pass(graph_def, name, outputs, inputs=(), **params):
    """Run one pass by name (``graphtools.passes.PASSES``) on a copy of ``graph_def``; return the GraphDef."""
    from ..graph import node_name as _nn

    ctx = PassContext(inputs=[_nn(i) for i in inputs], outputs=[_nn(o) for o in outputs], params=dict(params))
    return run_passes(graph_def, [name], ctx)[0]


def _check_touched(graph, pass_name):
    """Every node a pass touched reads only live nodes."""
    idx = graph.index()
    for name in graph.journal.touched:
        if name not in idx:
            continue
        for src in graph.sources(name):
            if src not in idx:
                raise PassError(pass_name, f"left node '{name}' reading missing '{src}'")


def candidate_names(graph, ctx, ops):
    """Names of the live nodes of the given ops: all of them in the first round (in graph order),
    else those near what changed (sorted)."""
    dirty = ctx.params.get("dirty")
    if dirty is None:
        return graph.names_of(*ops)
    op_of = graph.ops()
    names = set(dirty)
    for d in dirty:
        names.update(graph.consumers(d))
    ops = set(ops)
    return sorted(n for n in names if op_of.get(n) in ops)
