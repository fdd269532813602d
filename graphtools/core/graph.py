"""Graph: an editable view over ONE GraphDef, by node name.

Queries (no proto access: everything comes from a private speed index, ``_index.py``):
``name in g``, ``len(g)``, ``names()``, ``node(name)`` / ``get(name)`` (the NodeDef, for attrs),
``op_of(name)``, ``ops()`` / ``node_map()`` (read-only {name: op} / {name: NodeDef} views), ``inputs(name)`` (its references, a tuple),
``data_inputs(name)``, ``sources(name)`` (the names it reads), ``consumers(ref, data=False)``,
``used_ports(name)``, ``const(name)``, ``names_of(*ops)`` / ``nodes_of(*ops)``, ``nodes`` (graph
order), ``op_counts()``, ``ancestors(roots)``.

Edit verbs (each keeps the index, the journal and the edit log up to date):
``replace_all_uses(old, new)``, ``rewrite(name, op=, inputs=)``, ``drop_control_inputs(name, pred)``,
``replace_node(node_def)``, ``add_node(node_def)``, ``add_const(name, value)``, ``set_const(name,
value)``, ``unique_name(base)``; removal: ``sweep()``, ``prune(outputs)``, ``compact()``.

A pass therefore costs time in proportion to what it touches, not to the graph. Removed nodes are
only marked dead and the GraphDef is compacted once. Attributes may be edited on the NodeDef that
``node`` returns; its op and inputs only through the verbs (or call ``invalidate()`` afterwards).
"""
import collections
from types import MappingProxyType

import networkx as nx
import numpy as np

from ._index import NONE, Index, Journal, rlist
from ..errors import NodeNotFoundError
from .tensors import fill_const, to_array

__all__ = ["Graph", "Journal", "node_name", "output_index", "tensor_ref", "clean_colocation"]


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
        self._graph_def = graph_def
        self._ix = None  # built at first use; dropped by ``compact``/``invalidate``
        self._consts = {}
        self.journal = Journal()
        self.edit_log = []  # names whose node or inputs changed, in order (passes rerun on what changed)

    @property
    def graph_def(self):
        """The GraphDef (a new one after ``compact`` dropped dead nodes)."""
        return self._graph_def

    def _index(self):
        ix = self._ix
        if ix is None:
            ix = self._ix = Index(self._graph_def, self.journal, self.edit_log)
        return ix

    def invalidate(self):
        """Forget the index (after editing NodeDef ops or inputs directly); dead nodes are compacted first."""
        self.compact()
        self._ix = None
        self._consts.clear()

    # ------------------------------------------------------------ queries
    def __contains__(self, name):
        return name in self._index().node

    def __len__(self):
        return len(self._index().node)

    def names(self):
        """The live node names (a read-only view, graph order)."""
        return self._index().node.keys()

    def node(self, name):
        """The NodeDef of live node ``name`` (a tensor reference is accepted); NodeNotFoundError otherwise."""
        idx = self._index().node
        try:
            return idx[name]
        except KeyError:
            pass
        try:
            return idx[node_name(name)]
        except KeyError:
            raise NodeNotFoundError(node_name(name), idx.keys()) from None

    def get(self, name):
        """The NodeDef of live node ``name``, or None."""
        return self._index().node.get(name)

    @property
    def nodes(self):
        """Live NodeDefs in graph order (a full scan: hot passes use ``nodes_of``)."""
        ix = self._index()
        if ix.compacted:
            return list(ix.node.values())
        idx = ix.node
        return [idx[n.name] for n in self._graph_def.node if n.name in idx]

    def names_of(self, *ops):
        """Names of the live nodes whose op is one of ``ops`` (graph order within each op)."""
        return self._index().names_of(ops)

    def nodes_of(self, *ops):
        """Live NodeDefs whose op is one of ``ops``."""
        ix = self._index()
        idx = ix.node
        return [idx[name] for name in ix.names_of(ops)]

    def op_of(self, name):
        """The op of live node ``name``."""
        return self._index().op[name]

    def ops(self):
        """{name: op} of the live nodes: a read-only view that follows edits (until ``compact``)."""
        return MappingProxyType(self._index().op)

    def node_map(self):
        """{name: NodeDef} of the live nodes, graph order: a read-only view that follows edits (until
        ``compact``), for analyses that look up many nodes."""
        return MappingProxyType(self._index().node)

    def op_counts(self):
        """{op: how many live nodes}, most frequent first."""
        counts = collections.Counter(self._index().op.values())
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def inputs(self, name):
        """The input references of ``name`` ('a', 'a:1', '^b'), a tuple."""
        return self._index().inputs.get(name, NONE)

    def data_inputs(self, name):
        """The data input references of ``name`` (control inputs left out)."""
        return [i for i in self._index().inputs.get(name, NONE) if i[0] != "^"]

    def sources(self, name):
        """Names node ``name`` reads (data and control), a tuple."""
        return self._index().srcs.get(name, NONE)

    def consumers(self, ref, data=False):
        """Names of live nodes that read node ``ref`` (data or control); with ``data``, those that
        read the tensor ``ref`` ('a' is 'a:0') through a data edge."""
        ix = self._index()
        if not data:
            return rlist(ix.readers.get(ref))
        t = tensor_ref(ref)
        inputs = ix.inputs
        return [r for r in rlist(ix.readers.get(node_name(t)))
                if any(i[0] != "^" and tensor_ref(i) == t for i in inputs[r])]

    def used_ports(self, name):
        """Output indices of ``name`` that some node reads."""
        ix = self._index()
        ports = set()
        for r in rlist(ix.readers.get(name)):
            for i in ix.inputs[r]:
                if i[0] != "^" and node_name(i) == name:
                    ports.add(output_index(i))
        return ports

    def const(self, name):
        """numpy value of the Const node ``name`` (cached until the node changes), else None."""
        value = self._consts.get(name, self)  # (self: not cached yet)
        if value is not self:
            return value
        ix = self._index()
        if ix.op.get(name) != "Const":
            return None
        value = self._consts[name] = to_array(ix.node[name].attr["value"].tensor)
        return value

    def ancestors(self, roots):
        """Names of ``roots`` and everything they read (data and control), live nodes only."""
        ix = self._index()
        idx = ix.node
        roots = [n for n in map(node_name, roots) if n in idx]
        if ix.names_of(("NextIteration", "RefNextIteration")):  # v1 while loops: cycles
            return ix.walk_up(roots)
        return idx.keys() - ix.unneeded(roots)

    def to_networkx(self):
        """DiGraph with an edge producer -> consumer; edge attr ``control`` marks ^inputs (for analysis
        and drawing; passes use ``ancestors``/``consumers``)."""
        g = nx.DiGraph()
        ix = self._index()
        g.add_nodes_from((name, {"op": op}) for name, op in ix.op.items())
        for name, inputs in ix.inputs.items():
            for i in inputs:
                src = node_name(i)
                ctrl = i[0] == "^"
                if g.has_edge(src, name):
                    g.edges[src, name]["control"] &= ctrl
                else:
                    g.add_edge(src, name, control=ctrl)
        return g

    # ------------------------------------------------------------ removal
    def sweep(self, keep=()):
        """Kill every node nobody reads any more (cascading), except ``keep``; return how many."""
        keep = set(keep)
        ix = self._index()
        orphans = self.journal.orphans
        count = 0
        while orphans:
            stack = list(orphans)
            orphans.clear()
            count += ix.kill(stack, self._consts, keep)
        return count

    def prune(self, outputs, keep=(), needed=None):
        """Kill every node that ``outputs`` (and ``keep``) do not need; return how many were removed.

        ``needed``: the ancestors of ``outputs`` when the caller has them already.
        """
        ix = self._index()
        idx = ix.node
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
        ix.kill(dead, self._consts)
        self.journal.orphans.clear()
        return len(dead)

    def compact(self):
        """Rewrite the GraphDef without the dead nodes (one pass; keeps graph order); return how many went."""
        ix = self._ix
        new = ix.compacted_graph_def() if ix is not None else None
        if new is None:
            return 0
        removed = len(self._graph_def.node) - len(new.node)
        self._graph_def, self._ix = new, None
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
        ix = self._index()
        changed = 0
        for r in rlist(ix.readers.get(old_node)):
            if r == new_node:
                continue
            inputs = ix.inputs[r]
            edited = [new_t if i == old_t or i == old_short else "^" + new_node if i == ctrl_old else i
                      for i in inputs]
            if edited == list(inputs):
                continue
            changed += 1
            ix.set_inputs(ix.node[r], r, _deduped_control(edited, r))
        return changed

    def drop_control_inputs(self, name, predicate):
        """Remove control inputs of node ``name`` whose source name satisfies ``predicate``; return how many."""
        ix = self._index()
        inputs = ix.inputs.get(name, NONE)
        keep = [i for i in inputs if not (i[0] == "^" and predicate(i[1:]))]
        dropped = len(inputs) - len(keep)
        if dropped:
            ix.set_inputs(ix.node[name], name, keep)
        return dropped

    def rewrite(self, name, op=None, inputs=None):
        """Change live node ``name`` in place: its op and/or its inputs (attrs are the caller's to set);
        return its NodeDef."""
        ix = self._index()
        node = ix.node[name]
        if inputs is not None:
            ix.set_inputs(node, name, inputs)
        else:
            ix.touch(name)
        if op is not None:
            ix.retype(node, name, op)
        self._consts.pop(name, None)
        return node

    def replace_node(self, node_def):
        """Replace the node of the same name (keeps its position and its readers)."""
        ix = self._index()
        old = ix.node.get(node_def.name)
        if old is None:
            raise KeyError(node_def.name)
        inputs = list(node_def.input)
        node_def = _with_inputs(node_def, [])
        self.rewrite(old.name, op=node_def.op, inputs=inputs)
        old.attr.clear()
        old.MergeFrom(node_def)  # attrs, device, debug info; op and inputs were set above
        return old

    def add_node(self, node_def):
        """Append a copy of ``node_def`` (a new name); return the graph's NodeDef."""
        ix = self._index()
        name = node_def.name
        if name in ix.names:
            raise ValueError(f"node {name} exists")
        new = self._graph_def.node.add()
        new.CopyFrom(node_def)
        return ix.added(new, name, node_def.op, tuple(node_def.input))

    def add_const(self, name, value):
        """Add a Const node ``name`` holding ``value`` (built in place: no NodeDef copied)."""
        ix = self._index()
        if name in ix.names:
            raise ValueError(f"node {name} exists")
        new = self._graph_def.node.add()
        new.name = name
        fill_const(new, value)
        return ix.added(new, name, "Const")

    def set_const(self, name, value):
        """Turn node ``name`` into a Const holding ``value`` in place (its readers are untouched)."""
        ix = self._index()
        node = ix.node[name]
        if ix.op[name] == "Const":
            old = self.const(name)
            if old is not None and type(value) is np.ndarray and value.dtype == old.dtype \
                    and value.shape == old.shape and value.size:
                tensor = node.attr["value"].tensor
                if tensor.tensor_content:
                    # same dtype and shape, stored as raw bytes: only the bytes change (a hot path when folding)
                    tensor.tensor_content = np.ascontiguousarray(value).tobytes()
                    self._consts.pop(name, None)
                    ix.touch(name)
                    return node
        self.rewrite(name, op="Const", inputs=[])
        node.attr.clear()
        fill_const(node, value)
        node.device = ""
        return node

    def unique_name(self, base):
        """``base``, or ``base_k`` with the first k no node (live or removed until ``compact``) has."""
        names = self._index().names
        if base not in names:
            return base
        k = 1
        while f"{base}_{k}" in names:
            k += 1
        return f"{base}_{k}"


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
