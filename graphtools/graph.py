"""Graph: an editable view over ONE GraphDef (name index, consumers, rewiring, pruning)."""
import networkx as nx

from .errors import NodeNotFoundError


def node_name(ref):
    """'^a' -> 'a', 'a:1' -> 'a', 'a' -> 'a'."""
    return ref.lstrip("^").split(":")[0]


def is_control(ref):
    return ref.startswith("^")


def output_index(ref):
    parts = ref.lstrip("^").split(":")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


class Graph:
    """An editable view over one GraphDef; the GraphDef itself is edited in place.

    Callers that must keep their proto (every public API) pass a copy.
    """

    def __init__(self, graph_def):
        self.graph_def = graph_def
        self._index = None
        self._consumers = None

    # -- indexes (rebuilt lazily after structural edits)
    def _invalidate(self):
        self._index = None
        self._consumers = None

    @property
    def nodes(self):
        return self.graph_def.node

    def index(self):
        if self._index is None:
            self._index = {n.name: n for n in self.graph_def.node}
        return self._index

    def __contains__(self, name):
        return name in self.index()

    def __len__(self):
        return len(self.graph_def.node)

    def node(self, name):
        try:
            return self.index()[node_name(name)]
        except KeyError:
            raise NodeNotFoundError(node_name(name), self.index().keys()) from None

    def consumers(self, name):
        """Names of nodes that read ``name`` (data or control)."""
        if self._consumers is None:
            cons = {n.name: [] for n in self.graph_def.node}
            for n in self.graph_def.node:
                for i in n.input:
                    cons.setdefault(node_name(i), []).append(n.name)
            self._consumers = cons
        return self._consumers.get(name, [])

    def function_names(self):
        return {f.signature.name for f in self.graph_def.library.function}

    def op_types(self):
        return {n.op for n in self.graph_def.node}

    # -- analysis
    def to_networkx(self):
        """DiGraph with an edge producer -> consumer; edge attr ``control`` marks ^inputs."""
        g = nx.DiGraph()
        for n in self.graph_def.node:
            g.add_node(n.name, op=n.op)
        for n in self.graph_def.node:
            for i in n.input:
                src = node_name(i)
                ctrl = is_control(i)
                if g.has_edge(src, n.name):
                    g.edges[src, n.name]["control"] &= ctrl
                else:
                    g.add_edge(src, n.name, control=ctrl)
        return g

    # -- edits
    def prune(self, outputs, keep=()):
        """Remove every node that ``outputs`` (and ``keep``) do not need; return how many were removed."""
        idx = self.index()
        for o in list(outputs) + list(keep):
            if node_name(o) not in idx:
                raise NodeNotFoundError(node_name(o), idx.keys())
        needed = set()
        stack = [node_name(o) for o in list(outputs) + list(keep)]
        while stack:
            name = stack.pop()
            if name in needed:
                continue
            needed.add(name)
            stack.extend(node_name(i) for i in idx[name].input if node_name(i) not in needed)
        before = len(self.graph_def.node)
        if len(needed) == before:
            return 0
        kept = [_copy(n) for n in self.graph_def.node if n.name in needed]
        del self.graph_def.node[:]
        self.graph_def.node.extend(kept)
        self._invalidate()
        return before - len(kept)

    def replace_all_uses(self, old, new, move_control=True):
        """Make every reader of tensor ``old`` read ``new`` instead; return how many inputs changed.

        With ``move_control``, control edges on old's node move to new's node when ``old`` is the
        node's only used output, so ordering is kept while the old node can be pruned.
        """
        old_t, new_t = tensor_ref(old), _short(tensor_ref(new))
        old_node, new_node = node_name(old), node_name(new)
        changed = 0
        for n in self.graph_def.node:
            if n.name == new_node:
                continue
            for k, i in enumerate(n.input):
                if not i.startswith("^") and tensor_ref(i) == old_t:
                    n.input[k] = new_t
                    changed += 1
                elif move_control and i == "^" + old_node and output_index(old_t) == 0:
                    n.input[k] = "^" + new_node
                    changed += 1
            if changed:
                _dedupe_control(n)
        self._invalidate()
        return changed

    def drop_control_inputs(self, node, predicate):
        """Remove control inputs of ``node`` whose source name satisfies ``predicate``."""
        keep = [i for i in node.input if not (i.startswith("^") and predicate(i[1:]))]
        dropped = len(node.input) - len(keep)
        if dropped:
            del node.input[:]
            node.input.extend(keep)
            self._invalidate()
        return dropped

    def add_node(self, node_def):
        if node_def.name in self.index():
            raise ValueError(f"node {node_def.name} exists")
        self.graph_def.node.add().CopyFrom(node_def)
        self._invalidate()

    def replace_node(self, node_def):
        """Replace the node of the same name in place (keeps its position)."""
        for n in self.graph_def.node:
            if n.name == node_def.name:
                n.CopyFrom(node_def)
                self._invalidate()
                return
        raise KeyError(node_def.name)

    def unique_name(self, base):
        idx = self.index()
        if base not in idx:
            return base
        k = 1
        while f"{base}_{k}" in idx:
            k += 1
        return f"{base}_{k}"


def clean_colocation(graph_def):
    """Drop ``_class: loc:@node`` hints that name nodes no longer in the graph (import fails on them)."""
    names = {n.name for n in graph_def.node}
    for n in graph_def.node:
        if "_class" in n.attr:
            keep = [c for c in n.attr["_class"].list.s if c.decode(errors="replace")[5:] in names]
            if len(keep) != len(n.attr["_class"].list.s):
                if keep:
                    del n.attr["_class"].list.s[:]
                    n.attr["_class"].list.s.extend(keep)
                else:
                    del n.attr["_class"]


def _copy(message):
    new = type(message)()
    new.CopyFrom(message)
    return new


def tensor_ref(ref):
    """Canonical data tensor reference: 'a' -> 'a:0'; control refs are returned unchanged."""
    if ref.startswith("^"):
        return ref
    return ref if ":" in ref else ref + ":0"


def _short(ref):
    """'a:0' -> 'a' (the form GraphDefs use for output 0)."""
    return ref[:-2] if ref.endswith(":0") else ref


def _dedupe_control(node):
    seen = set()
    data = [i for i in node.input if not i.startswith("^")]
    data_nodes = {node_name(i) for i in data}
    ctrl = []
    for i in node.input:
        if i.startswith("^") and i not in seen and i[1:] not in data_nodes and i[1:] != node.name:
            seen.add(i)
            ctrl.append(i)
    if len(data) + len(ctrl) != len(node.input):
        del node.input[:]
        node.input.extend(data + ctrl)
