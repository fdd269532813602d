"""Graph: an editable view over ONE GraphDef (name index, readers, op index, rewiring, pruning).

Built for graphs of hundreds of thousands of nodes: the name index, each node's op, inputs and
source names, the reader index and the op index are plain Python, made once and then kept up to
date by every edit, so passes read the graph without touching its protos (``ops``, ``inputs``,
``consumers``, ``const``); removed nodes are only marked dead (``sweep``/``prune``) and the GraphDef
is compacted once (``compact``). A pass therefore costs time in proportion to what it touches, not
to the graph. Passes change edges only through these methods; a pass that edits ``NodeDef.input``
directly must call ``invalidate()``.
"""
import collections
import itertools
import operator

import networkx as nx
import numpy as np

from .errors import NodeNotFoundError
from .tensors import fill_const, to_array


_NONE = ()  # the inputs and sources of a node without inputs, which has no entry in those indexes


# The reader index maps a name to its one reader as a str (most nodes have one: no set to build
# and keep) or to a set of two or more; a name nobody reads has no entry.
def _radd(readers, src, name):
    r = readers.get(src)
    if r is None:
        readers[src] = name
    elif r.__class__ is str:
        if r != name:
            readers[src] = {r, name}
    else:
        r.add(name)


def _rdiscard(readers, src, name):
    """Remove reader ``name`` of ``src``; True when ``src`` has no reader left."""
    r = readers.get(src)
    if r is None:
        return False
    if r.__class__ is str:
        if r != name:
            return False
    else:
        r.discard(name)
        if r:
            return False
    del readers[src]
    return True


def _rlist(r):
    """A reader index entry as a list of names."""
    return [] if r is None else [r] if r.__class__ is str else list(r)


def _sources(inputs):
    """The node names a list of input references reads ('^a' -> 'a', 'a:1' -> 'a')."""
    return [(i[1:] if i[0] == "^" else i).partition(":")[0] for i in inputs]


def _sources_of(inputs_of):
    """{name: sources} for {name: inputs}. Most references are plain names, their own source: a node
    that reads only those shares its inputs list (nobody edits these lists: edits replace them); the
    nodes with a control or port reference get ``_sources``."""
    special = {i for i in itertools.chain.from_iterable(inputs_of.values()) if "^" in i or ":" in i}
    srcs_of = dict(inputs_of)
    if special:
        isdisjoint = special.isdisjoint
        for name, inputs in inputs_of.items():
            if not isdisjoint(inputs):
                srcs_of[name] = _sources(inputs)
    return srcs_of


def node_name(ref):
    """'^a' -> 'a', 'a:1' -> 'a', 'a' -> 'a'."""
    return (ref[1:] if ref[:1] == "^" else ref).partition(":")[0]


def output_index(ref):
    parts = ref.lstrip("^").split(":")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def tensor_ref(ref):
    """Canonical data tensor reference: 'a' -> 'a:0'; control refs are returned unchanged."""
    if ref.startswith("^"):
        return ref
    return ref if ":" in ref else ref + ":0"


def _short(ref):
    """'a:0' -> 'a' (the form GraphDefs use for output 0)."""
    return ref[:-2] if ref.endswith(":0") else ref


class Graph:
    """An editable view over one GraphDef; the GraphDef itself is edited in place.

    Callers that must keep their proto (every public API) pass a copy.
    """

    def __init__(self, graph_def):
        self.graph_def = graph_def
        self._index = None
        self._readers = None
        self._by_op = None
        self._srcs = None
        self._inputs = None
        self._op = None
        self._names = None  # every node name in the GraphDef, live or killed (until ``compact``)
        self._consts = {}
        self.journal = Journal()
        self.edit_log = []  # names whose node or inputs changed, in order (passes rerun on what changed)

    # ------------------------------------------------------------ indexes
    def invalidate(self):
        """Forget every index (after editing NodeDefs directly); dead nodes are compacted first."""
        self.compact()
        self._index = self._readers = self._by_op = self._srcs = self._op = self._inputs = self._names = None

    def _build(self):
        # per live node: the NodeDef, its op, its inputs and the names it reads (plain Python, so
        # walks and removals do not go back to the protos), who reads it, and an op -> names index.
        # Built column by column: comprehensions and dict(zip()) run far fewer bytecodes per node.
        # (built over a compacted GraphDef: ``compact`` and ``invalidate`` drop the indexes)
        nodes = list(self.graph_def.node)
        names = [n.name for n in nodes]
        self._names = set(names)
        ops = [n.op for n in nodes]
        index = dict(zip(names, nodes))
        op_of = dict(zip(names, ops))
        # (nodes without inputs, half of most graphs, get no entries: see _NONE)
        # (``n.input[:]`` is one call that returns a list: ``list(n.input)`` behind an ``if n.input``
        # made two container wrappers per node, a tenth of the build)
        with_inputs = [(name, inputs) for name, n in zip(names, nodes) if (inputs := n.input[:])]
        inputs_of = dict(with_inputs)
        srcs_of = _sources_of(inputs_of)
        readers = {}  # name -> its one reader (a str, most nodes) or a set of them: see _radd
        for name, srcs in srcs_of.items():
            for s in srcs:
                _radd(readers, s, name)
        by_op = collections.defaultdict(dict)
        for name, op in zip(names, ops):
            by_op[op][name] = None
        self._index, self._readers, self._by_op = index, readers, by_op
        self._srcs, self._op, self._inputs = srcs_of, op_of, inputs_of

    def _set_inputs(self, node, inputs, name=None):
        """Give ``node`` (named ``name``) new inputs and bring sources, readers and orphans up to date."""
        readers = self._reader_sets()
        if name is None:
            name = node.name
        inputs = list(inputs)
        before = self._srcs.get(name, _NONE)
        node.input[:] = inputs  # (one call: a del and an extend made two container wrappers)
        if inputs:
            self._inputs[name] = inputs
            srcs = self._srcs[name] = _sources(inputs)
        else:
            self._inputs.pop(name, None)
            self._srcs.pop(name, None)
            srcs = _NONE
        if before != srcs:
            before, after = set(before), set(srcs)
            for src in before - after:
                if _rdiscard(readers, src, name):
                    self.journal.orphans.add(src)
            for src in after - before:
                _radd(readers, src, name)
        self.journal.touched.add(name)
        self.edit_log.append(name)

    def index(self):
        """{name: NodeDef} of the live nodes."""
        if self._index is None:
            self._build()
        return self._index

    def _reader_sets(self):
        if self._readers is None:
            self._build()
        return self._readers

    @property
    def nodes(self):
        """Live NodeDefs in graph order (a full scan: hot passes use ``nodes_of``)."""
        idx = self.index()
        if len(self._names) == len(idx) == len(self.graph_def.node):  # nothing killed since ``compact``
            return list(idx.values())
        return [idx[n.name] for n in self.graph_def.node if n.name in idx]

    def nodes_of(self, *ops):
        """Live NodeDefs whose op is one of ``ops``."""
        idx = self.index()
        return [idx[name] for name in self.names_of(*ops)]

    def names_of(self, *ops):
        """Names of the live nodes whose op is one of ``ops`` (graph order within each op)."""
        if self._by_op is None:
            self._build()
        op_of = self._op
        out = []
        for op in ops:  # (killed nodes stay in the op index: their op_of entry is gone)
            out.extend(name for name in self._by_op.get(op, ()) if op_of.get(name) == op)
        return out

    def __contains__(self, name):
        return name in self.index()

    def __len__(self):
        return len(self.index())

    def node(self, name):
        try:
            return self.index()[node_name(name)]
        except KeyError:
            raise NodeNotFoundError(node_name(name), self.index().keys()) from None

    def consumers(self, name):
        """Names of live nodes that read ``name`` (data or control)."""
        return _rlist(self._reader_sets().get(name))

    def readers(self, tensor):
        """NodeDefs that read ``tensor`` ('a' or 'a:1') through a data edge."""
        t = tensor_ref(tensor)
        idx = self.index()
        out = []
        inputs = self._inputs
        for r in _rlist(self._reader_sets().get(node_name(t))):
            if any(i[0] != "^" and tensor_ref(i) == t for i in inputs[r]):
                out.append(idx[r])
        return out

    def used_ports(self, name):
        """Output indices of ``name`` that some node reads."""
        self.index()
        ports = set()
        for r in _rlist(self._reader_sets().get(name)):
            for i in self._inputs[r]:
                if i[0] != "^" and node_name(i) == name:
                    ports.add(output_index(i))
        return ports

    def const(self, name):
        """numpy value of the Const node ``name`` (cached until the node changes), else None."""
        value = self._consts.get(name, self)  # (self: not cached yet)
        if value is not self:
            return value
        if self._op is None:
            self._build()
        if self._op.get(name) != "Const":
            return None
        value = self._consts[name] = to_array(self._index[name].attr["value"].tensor)
        return value

    def ops(self):
        """{name: op} of the live nodes (the Graph's own dict: read it, do not edit it)."""
        if self._op is None:
            self._build()
        return self._op

    def op_of(self, name):
        """The op of live node ``name`` (cached: no proto access)."""
        if self._op is None:
            self._build()
        return self._op[name]

    def inputs(self, name):
        """The input references of ``name`` ('a', 'a:1', '^b'; cached: no proto access; do not edit)."""
        if self._inputs is None:
            self._build()
        return self._inputs.get(name, _NONE)

    def data_inputs(self, name):
        """The data input references of ``name`` (control inputs left out)."""
        if self._inputs is None:
            self._build()
        return [i for i in self._inputs.get(name, _NONE) if i[0] != "^"]

    def sources(self, name):
        """Names node ``name`` reads (data and control; cached)."""
        if self._srcs is None:
            self._build()
        return self._srcs.get(name, _NONE)

    def op_counts(self):
        if self._op is None:
            self._build()
        counts = collections.Counter(self._op.values())
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def function_names(self):
        return {f.signature.name for f in self.graph_def.library.function}

    def op_types(self):
        if self._op is None:
            self._build()
        return set(self._op.values())

    # ------------------------------------------------------------ analysis
    def to_networkx(self):
        """DiGraph with an edge producer -> consumer; edge attr ``control`` marks ^inputs."""
        g = nx.DiGraph()
        nodes = self.nodes
        g.add_nodes_from((n.name, {"op": n.op}) for n in nodes)
        for n in nodes:
            for i in n.input:
                src = node_name(i)
                ctrl = i.startswith("^")
                if g.has_edge(src, n.name):
                    g.edges[src, n.name]["control"] &= ctrl
                else:
                    g.add_edge(src, n.name, control=ctrl)
        return g

    def ancestors(self, roots):
        """Names of ``roots`` and everything they read (data and control), live nodes only."""
        idx = self.index()
        roots = [n for n in map(node_name, roots) if n in idx]
        if self.names_of("NextIteration", "RefNextIteration"):  # v1 while loops: cycles
            return self._walk_up(roots)
        # Without cycles, what the roots do not need is exactly what sweeping from the sinks (nodes
        # nobody reads) would remove: found here without editing anything, at a cost per unneeded
        # node rather than per node (most graphs need most of their nodes)
        readers, srcs_of = self._readers, self._srcs
        keep = set(roots)
        stack = [n for n in idx.keys() - readers.keys() if n not in keep]
        unneeded = set(stack)
        left = {}  # name -> how many of its readers are not known to be unneeded yet
        while stack:
            srcs = srcs_of.get(stack.pop())
            if not srcs:
                continue
            for src in (srcs if len(srcs) == 1 else set(srcs)):
                if src in keep or src not in idx:
                    continue
                n = left.get(src)
                if n is None:
                    r = readers[src]
                    n = 1 if r.__class__ is str else len(r)
                if n > 1:
                    left[src] = n - 1
                else:
                    unneeded.add(src)
                    stack.append(src)
        return idx.keys() - unneeded

    def _walk_up(self, roots):
        """``ancestors`` by a walk from the roots (cycles allowed)."""
        idx = self.index()
        get = self._srcs.get
        seen, missing = set(), []
        add = seen.add
        stack = list(roots)
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            add(name)
            srcs = get(name)
            if srcs:
                stack.extend(srcs)
            elif name not in idx:  # read, but not in the graph (only nodes without inputs get here)
                missing.append(name)
        seen.difference_update(missing)
        return seen

    # ------------------------------------------------------------ removal
    def _kill(self, names, keep=None):
        """Mark ``names`` dead (live ones; with ``keep``, only those nobody reads and not in ``keep``):
        they leave the indexes now and the GraphDef at ``compact``; return how many died. One loop
        with everything in locals: sweeps kill most of a graph."""
        idx, consts, op_of = self._index, self._consts, self._op
        readers, srcs_of, inputs_of = self._readers, self._srcs, self._inputs
        orphans = self.journal.orphans
        removed = self.journal.removed
        count = 0
        for name in names:
            if keep is not None and (name in keep or readers.get(name)):
                continue
            if idx.pop(name, None) is None:
                continue
            op = op_of.pop(name)  # (the op index keeps the name: ``nodes_of`` skips it)
            if op == "Const":
                consts.pop(name, None)
            inputs_of.pop(name, None)
            for src in srcs_of.pop(name, _NONE):  # (_rdiscard inlined: the hottest loop of a strip)
                r = readers.get(src)
                if r is None:
                    continue
                if r.__class__ is str:
                    if r == name:
                        del readers[src]
                        orphans.add(src)
                else:
                    r.discard(name)
                    if not r:
                        del readers[src]
                        orphans.add(src)
            removed.append((name, op))
            count += 1
        return count

    def sweep(self, keep=()):
        """Kill every node nobody reads any more (cascading), except ``keep``; return how many."""
        keep = set(keep)
        if self._index is None:
            self._build()
        orphans = self.journal.orphans
        count = 0
        while orphans:
            stack = list(orphans)
            orphans.clear()
            count += self._kill(stack, keep)
        return count

    def prune(self, outputs, keep=(), needed=None):
        """Kill every node that ``outputs`` (and ``keep``) do not need; return how many were removed.

        ``needed``: the ancestors of ``outputs`` when the caller has them already.
        """
        idx = self.index()
        roots = [node_name(o) for o in list(outputs) + list(keep)]
        for r in roots:
            if r not in idx:
                raise NodeNotFoundError(r, idx.keys())
        if needed is None:
            needed = self.ancestors(roots)
        else:
            extra = [r for r in roots if r not in needed]
            if extra:
                needed = set(needed) | self.ancestors(extra)
        # (the set difference runs in C; the graph-order list is made only when something goes)
        dead = [name for name in idx if name not in needed] if idx.keys() - needed else []
        self._kill(dead)
        self.journal.orphans.clear()
        return len(dead)

    def compact(self):
        """Rewrite the GraphDef without the dead nodes (one pass; keeps graph order)."""
        if self._index is None or len(self._names) == len(self._index):  # nothing killed: nothing to drop
            return 0
        old = self.graph_def
        new = type(old)()
        for field, value in old.ListFields():  # versions, library, debug_info: everything but the nodes
            if field.name == "node":
                continue
            if field.message_type is not None:
                getattr(new, field.name).CopyFrom(value)
            else:
                setattr(new, field.name, value)
        # the index (there is one: only kills make dead nodes) holds the live nodes in graph order,
        # added nodes appended to both: copying from it does not touch the dead nodes' protos at all
        new.node.extend(self._index.values())
        removed = len(old.node) - len(new.node)
        self.graph_def = new
        self._index = self._readers = self._by_op = self._srcs = self._op = self._inputs = self._names = None
        return removed

    # ------------------------------------------------------------ edits
    def replace_all_uses(self, old, new, move_control=True):
        """Make every reader of tensor ``old`` read ``new`` instead; return how many readers changed.

        With ``move_control``, control edges on old's node move to new's node when ``old`` is
        output 0, so ordering is kept while the old node can be pruned.
        """
        old_t, new_t = tensor_ref(old), _short(tensor_ref(new))
        old_node, new_node = node_name(old), node_name(new)
        old_short = _short(old_t)
        ctrl_old = "^" + old_node if move_control and old_t.endswith(":0") else None
        idx = self.index()
        readers = self._reader_sets()
        changed = 0
        for r in _rlist(readers.get(old_node)):
            if r == new_node:
                continue
            n = idx[r]
            inputs = self._inputs[r]
            edited = [new_t if i == old_t or i == old_short else "^" + new_node if i == ctrl_old else i
                      for i in inputs]
            if edited == inputs:
                continue
            changed += 1
            self._set_inputs(n, _deduped_control(edited, r))
        return changed

    def drop_control_inputs(self, node, predicate):
        """Remove control inputs of ``node`` whose source name satisfies ``predicate``."""
        inputs = self.inputs(node.name)
        keep = [i for i in inputs if not (i[0] == "^" and predicate(i[1:]))]
        dropped = len(inputs) - len(keep)
        if dropped:
            self._set_inputs(node, keep)
        return dropped

    def add_node(self, node_def):
        self.index()
        name = node_def.name
        if name in self._names:
            raise ValueError(f"node {name} exists")
        new = self.graph_def.node.add()
        new.CopyFrom(node_def)
        return self._added(new, name, node_def.op, node_def.input[:])

    def add_const(self, name, value):
        """Add a Const node ``name`` holding ``value`` (built in place: no NodeDef copied)."""
        self.index()
        if name in self._names:
            raise ValueError(f"node {name} exists")
        new = self.graph_def.node.add()
        new.name = name
        fill_const(new, value)
        return self._added(new, name, "Const")

    def _added(self, new, name, op, inputs=_NONE):
        """Index ``new``, a node just appended to the GraphDef (its name, op and inputs given: no proto reads)."""
        self._index[name] = new
        self._names.add(name)
        self._by_op[op][name] = None
        self._op[name] = op
        if inputs:
            srcs = _sources(inputs)
            self._inputs[name], self._srcs[name] = inputs, srcs
            readers = self._readers
            for s in srcs:
                _radd(readers, s, name)
        j = self.journal
        j.added.append((name, op))
        j.touched.add(name)
        self.edit_log.append(name)
        j.orphans.add(name)  # swept if nobody ends up reading it
        return new

    def replace_node(self, node_def):
        """Replace the node of the same name (keeps its position and its readers)."""
        idx = self.index()
        old = idx.get(node_def.name)
        if old is None:
            raise KeyError(node_def.name)
        inputs = list(node_def.input)
        node_def = _with_inputs(node_def, [])
        self.rewrite(old, op=node_def.op, inputs=inputs)
        old.attr.clear()
        old.MergeFrom(node_def)  # attrs, device, debug info; op and inputs were set above
        return old

    def rewrite(self, node, op=None, inputs=None):
        """Change ``node`` in place: its op and/or its inputs (attrs are the caller's to set)."""
        name = node.name  # (read once: every read of a proto string field makes a new str)
        if inputs is not None:
            self._set_inputs(node, inputs, name)
        else:
            self.journal.touched.add(name)
            self.edit_log.append(name)
        old = self._op[name]
        if op is not None and op != old:
            self._by_op[old].pop(name, None)
            self._by_op[op][name] = None
            self.journal.retyped.append((old, op))
            node.op = op
            self._op[name] = op
        self._consts.pop(name, None)
        return node

    def set_const(self, name, value):
        """Turn node ``name`` into a Const holding ``value`` in place (its readers are untouched)."""
        node = self.index()[name]
        if self._op[name] == "Const":
            old = self.const(name)
            if old is not None and type(value) is np.ndarray and value.dtype == old.dtype \
                    and value.shape == old.shape and value.size:
                tensor = node.attr["value"].tensor
                if tensor.tensor_content:
                    # same dtype and shape, stored as raw bytes: only the bytes change (a hot path when folding)
                    tensor.tensor_content = np.ascontiguousarray(value).tobytes()
                    self._consts.pop(name, None)
                    self.journal.touched.add(name)
                    self.edit_log.append(name)
                    return node
        self.rewrite(node, op="Const", inputs=[])
        node.attr.clear()
        fill_const(node, value)
        node.device = ""
        return node

    def unique_name(self, base):
        self.index()
        names = self._names  # (live and killed: a name stays taken until ``compact``)
        if base not in names:
            return base
        k = 1
        while f"{base}_{k}" in names:
            k += 1
        return f"{base}_{k}"


class Journal:
    """What edits did since ``reset``: for the runner's report, sweep and checks."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.removed = []    # (name, op)
        self.added = []      # (name, op)
        self.retyped = []    # (old op, new op)
        self.touched = set()
        self.orphans = set()

    def op_delta(self):
        # (Counter() over an iterable counts in C: a sweep can remove most of a graph)
        second, first = operator.itemgetter(1), operator.itemgetter(0)
        d = collections.Counter(map(second, self.added))
        d.update(map(second, self.retyped))
        d.subtract(collections.Counter(map(second, self.removed)))
        d.subtract(collections.Counter(map(first, self.retyped)))
        return {k: v for k, v in sorted(d.items()) if v}


def clean_colocation(graph_def):
    """Drop ``_class: loc:@node`` hints that name nodes no longer in the graph (import fails on them)."""
    names = None
    for n in graph_def.node:
        if "_class" in n.attr:
            if names is None:
                names = {m.name for m in graph_def.node}
            keep = [c for c in n.attr["_class"].list.s if c.decode(errors="replace")[5:] in names]
            if len(keep) != len(n.attr["_class"].list.s):
                if keep:
                    del n.attr["_class"].list.s[:]
                    n.attr["_class"].list.s.extend(keep)
                else:
                    del n.attr["_class"]


def _with_inputs(node_def, inputs):
    new = type(node_def)()
    new.CopyFrom(node_def)
    del new.input[:]
    new.input.extend(inputs)
    return new


def _deduped_control(inputs, name):
    """``inputs`` without control inputs that duplicate another input or point at node ``name`` itself."""
    if not any(i[0] == "^" for i in inputs):
        return inputs
    data = [i for i in inputs if i[0] != "^"]
    data_nodes = {node_name(i) for i in data}
    seen = set()
    ctrl = []
    for i in inputs:
        if i[0] == "^" and i not in seen and i[1:] not in data_nodes and i[1:] != name:
            seen.add(i)
            ctrl.append(i)
    return inputs if len(data) + len(ctrl) == len(inputs) else data + ctrl
