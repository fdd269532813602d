"""Graph passes: one pass per file, registered with what a runner needs, run by ``run_passes``.

A pass is ``(graph: Graph, ctx: PassContext) -> int`` (how many rewrites it made). Passes only
change edges through Graph methods; the runner prunes what the outputs no longer need.

Adding a pass is one new file here plus its test::

    @register("remove_asserts", group="debug", after=("bind_placeholders",))
    def remove_asserts(graph, ctx): ...

Every module of this package is imported by ``load_all``; ``--remove GROUP`` runs the passes of that
group, in the order their ``after`` declarations give (``order``).

A pass may import ``core`` (the Graph, op families, constants), ``sources`` (the safety scan) and the
base modules; the runner in ``surgery`` calls it, so it never imports ``stripping`` or anything above.
"""
import collections
import dataclasses
import importlib
import logging
import pkgutil

from ...errors import PassError
from ...core.constants import const_expr, const_value  # the passes' helpers, re-exported
from ...core.graph import Graph, clean_colocation, node_name

log = logging.getLogger(__name__)

PASSES = {}   # name -> the pass function
INFO = {}     # name -> PassInfo
__all__ = ["register", "run_passes", "PassContext", "PassRecord", "PassInfo", "const_value", "const_expr",
           "PASSES", "INFO", "order", "groups", "PassRun", "Options"]


@dataclasses.dataclass(frozen=True)
class PassInfo:
    name: str
    fn: object
    group: str = None       # the --remove group it belongs to (None: run only when asked by name)
    after: tuple = ()       # passes that must run before it when both run
    doc: str = ""


def register(name, group=None, after=()):
    def deco(fn):
        PASSES[name] = fn
        INFO[name] = PassInfo(name, fn, group, tuple(after), (fn.__doc__ or "").strip().split("\n")[0])
        return fn
    return deco


def load_all():
    """Import every pass module of this package (a new file is found without a list to edit)."""
    for m in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{m.name}")
    return PASSES


def order(names):
    """``names`` in run order: the registry's whole order (every pass after the ones its ``after``
    names, ties by name) kept for these. Raises PassError on a cycle."""
    load_all()
    before = {n: set(INFO[n].after) & set(INFO) for n in INFO}
    full = []
    while before:
        ready = sorted(n for n, deps in before.items() if not deps)
        if not ready:
            raise PassError("the pass registry", f"'after' declarations form a cycle among {sorted(before)}")
        full.append(ready[0])
        del before[ready[0]]
        for deps in before.values():
            deps.discard(ready[0])
    wanted = set(names)
    unknown = wanted - set(full)
    if unknown:
        raise PassError(sorted(unknown)[0], f"no such pass; known: {', '.join(full)}")
    return [n for n in full if n in wanted]


def groups():
    """{group: [pass names in run order]} from the registry."""
    load_all()
    by = collections.defaultdict(list)
    for info in INFO.values():
        if info.group:
            by[info.group].append(info.name)
    return {g: order(ns) for g, ns in sorted(by.items())}


@dataclasses.dataclass
class Options:
    """What the caller asks of the passes (typed; each pass reads its own)."""

    bind: dict = dataclasses.field(default_factory=dict)    # bind_placeholders: placeholder -> value
    cut: list = dataclasses.field(default_factory=list)     # cut_nodes: (node, dtype, shape)
    splice: list = dataclasses.field(default_factory=list)  # splice_nodes: nodes or scopes
    keep: set = dataclasses.field(default_factory=set)      # use_moving_statistics: names the sweep keeps


@dataclasses.dataclass
class PassContext:
    """What every pass may read: the graph's inputs/outputs, protected names, the options, and what
    the runner says (``dirty``); ``done`` is where a pass remembers what it already did (idempotence)
    and ``ops_after`` the runner's op histogram of the result."""

    inputs: list
    outputs: list
    protected: set = None
    options: Options = dataclasses.field(default_factory=Options)
    dirty: object = None  # names changed since this pass last ran; None: look at everything
    done: dict = dataclasses.field(default_factory=lambda: collections.defaultdict(set))
    ops_after: dict = None

    def __post_init__(self):
        if self.protected is None:
            self.protected = set(node_name(n) for n in list(self.inputs) + list(self.outputs))
        if isinstance(self.options, dict):  # (Options(**{...}) from plain keywords)
            self.options = Options(**self.options)


class PassRun(collections.namedtuple("PassRun", "graph_def records")):
    """What ``run_passes`` returns: the new GraphDef and a PassRecord per pass that changed something
    (unpacks as ``graph_def, records``); ``ops_after`` is the result's op histogram."""

    ops_after = None


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
    """Copy ``graph_def``, run the named passes in order until none rewrites; return a PassRun
    (graph_def, records, and ops_after).

    ``graph``: a Graph over a private copy the caller already made (it is edited in place), and
    ``needed`` the ancestors of the outputs in it, when the caller computed them.
    After each pass that rewrote something, what nobody reads any more is swept (outputs,
    protected nodes and ``ctx.options.keep`` stay) and the nodes the pass touched are checked;
    the whole graph is pruned to the outputs once at the start. From the second round on a pass
    runs only when other passes changed the graph since it last ran, and sees what changed as
    ``ctx.dirty`` (None in the first round: look at everything).
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
        return [p for p in set(ctx.protected) | set(ctx.options.keep or ()) if p in graph]

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
                dirty.intersection_update(graph.names())
                if not dirty:
                    continue
                ctx.dirty = dirty
            else:
                ctx.dirty = None
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
            live = graph.names()
            rec = PassRecord(name, rnd, rewrites, pruned, j.op_delta(), removed,
                             [n for n, _ in j.added if n in live])
            log.info("%s (round %d): %d rewrites, %d nodes pruned, ops %s", name, rnd, rewrites, pruned,
                     rec.ops_delta)
            records.append(rec)
            total += rewrites
        if not total:
            break
    ctx.dirty = None
    graph.journal.reset()
    if ctx.options.keep or graph.nodes_of("NextIteration", "RefNextIteration"):
        graph.prune(ctx.outputs, keep=[p for p in ctx.protected if p in graph])  # dead loops, unused stats
    if records and graph.journal.removed:
        records[-1].pruned += len(graph.journal.removed)
        records[-1].removed += [n for n, _ in graph.journal.removed]
    ctx.ops_after = graph.op_counts()
    graph.compact()
    clean_colocation(graph.graph_def)
    if [f.signature.name for f in graph.graph_def.library.function] != library:
        raise PassError("the pass runner", "changed the function library")
    run = PassRun(graph.graph_def, records)
    run.ops_after = ctx.ops_after
    return run


def run_pass(graph_def, name, outputs, inputs=(), **params):
    """Run one pass by name (``graphtools.surgery.passes.PASSES``) on a copy of ``graph_def``; return the GraphDef."""
    from ...core.graph import node_name as _nn

    ctx = PassContext(inputs=[_nn(i) for i in inputs], outputs=[_nn(o) for o in outputs], options=Options(**params))
    return run_passes(graph_def, [name], ctx)[0]


def _check_touched(graph, pass_name):
    """Every node a pass touched reads only live nodes."""
    for name in graph.journal.touched:
        if name not in graph:
            continue
        for src in graph.sources(name):
            if src not in graph:
                raise PassError(pass_name, f"left node '{name}' reading missing '{src}'")


def candidate_names(graph, ctx, ops):
    """Names of the live nodes of the given ops: all of them in the first round (in graph order),
    else those near what changed (sorted)."""
    dirty = ctx.dirty
    if dirty is None:
        return graph.names_of(*ops)
    op_of = graph.ops()
    names = set(dirty)
    for d in dirty:
        names.update(graph.consumers(d))
    ops = set(ops)
    return sorted(n for n in names if op_of.get(n) in ops)
