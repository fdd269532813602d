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


def _copy(message):
    new = type(message)()
    new.CopyFrom(message)
    return new
