"""Graph passes: one pass per file, registered by name, run by ``run_passes``.

A pass is ``(graph: Graph, ctx: PassContext) -> int`` (how many rewrites it made). Passes only
change edges through Graph methods; the runner prunes what the outputs no longer need.
"""
import collections
import dataclasses
import importlib
import logging

from ..errors import PassError
from ..graph import Graph, clean_colocation, node_name

log = logging.getLogger(__name__)

PASSES = {}
# The order ``--remove all`` runs them in: bind flags first so conds fold, then remove.
MODULES = ("cut_nodes", "splice_nodes", "use_moving_statistics", "bind_placeholders", "fold_switches", "fold_ifs", "strip_dropout", "remove_training", "remove_debug",
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
    ops_before: dict
    ops_after: dict
    removed: list = dataclasses.field(default_factory=list)
    added: list = dataclasses.field(default_factory=list)

    def delta(self):
        keys = set(self.ops_before) | set(self.ops_after)
        d = {k: self.ops_after.get(k, 0) - self.ops_before.get(k, 0) for k in keys}
        return {k: v for k, v in sorted(d.items()) if v}


def run_passes(graph_def, names, ctx, max_rounds=8):
    """Copy ``graph_def``, run the named passes in order until none rewrites; return (GraphDef, records)."""
    load_all()
    for n in names:
        if n not in PASSES:
            raise PassError(n, f"no such pass; known: {', '.join(sorted(PASSES))}")
    gd = type(graph_def)()
    gd.CopyFrom(graph_def)
    graph = Graph(gd)
    library = [f.signature.name for f in gd.library.function]
    records = []
    for rnd in range(1, max_rounds + 1):
        total = 0
        for name in names:
            before = _hist(gd)
            names_before = {n.name for n in gd.node}
            try:
                rewrites = PASSES[name](graph, ctx)
            except PassError:
                raise
            except (ValueError, KeyError, TypeError, IndexError) as e:
                raise PassError(name, f"{type(e).__name__}: {e}") from e
            keep = set(ctx.protected) | set(ctx.params.get("keep") or ())
            pruned = graph.prune(ctx.outputs, keep=[p for p in keep if p in graph])
            if pruned:
                clean_colocation(gd)
            check_structure(graph, name, library)
            names_after = {n.name for n in gd.node}
            rec = PassRecord(name, rnd, rewrites, pruned, before, _hist(gd),
                             sorted(names_before - names_after), sorted(names_after - names_before))
            if rewrites or pruned:
                log.info("%s (round %d): %d rewrites, %d nodes pruned, ops %s", name, rnd, rewrites, pruned,
                         rec.delta())
                records.append(rec)
            total += rewrites
        if not total:
            break
    if ctx.params.get("keep"):
        graph.prune(ctx.outputs, keep=[p for p in ctx.protected if p in graph])
    clean_colocation(gd)
    return gd, records


def _hist(gd):
    return dict(collections.Counter(n.op for n in gd.node))


def check_structure(graph, pass_name, library):
    """No dangling inputs, no duplicate names, the function library intact."""
    names = set()
    for n in graph.nodes:
        if n.name in names:
            raise PassError(pass_name, f"left two nodes named '{n.name}'")
        names.add(n.name)
    for n in graph.nodes:
        for i in n.input:
            if node_name(i) not in names:
                raise PassError(pass_name, f"left node '{n.name}' reading missing '{i}'")
    if [f.signature.name for f in graph.graph_def.library.function] != library:
        raise PassError(pass_name, "changed the function library")


def const_value(graph, ref, max_hops=8):
    """The numpy value of ``ref`` when it is a Const (through Identity chains), else None."""
    from .._tf import tf

    name = node_name(ref)
    for _ in range(max_hops):
        node = graph.index().get(name)
        if node is None:
            return None
        if node.op == "Const":
            return tf().make_ndarray(node.attr["value"].tensor)
        if node.op in ("Identity", "Snapshot") and node.input:
            name = node_name(node.input[0])
            continue
        return None
    return None


def data_inputs(node):
    return [i for i in node.input if not i.startswith("^")]
