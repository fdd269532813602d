"""The speed index behind ``graph.Graph`` (private: passes use Graph's verbs and queries, never this).

Built for graphs of hundreds of thousands of nodes: per live node its NodeDef, op, input references
and the names they read, who reads each name, and an op -> names index, all plain Python, made once
from the GraphDef (column by column) and then kept up to date by the edit primitives here. Removed
nodes are only marked dead and leave the GraphDef at ``compact``. The reader index maps a name to
its one reader as a str (most nodes have one: no set to build and keep) or to a set of two or more;
a name nobody reads has no entry. Nodes without inputs (half of most graphs) have no entry in
``inputs``/``srcs``: ``NONE`` stands for them. Input and source lists are tuples.
"""
import collections
import itertools
import operator

NONE = ()


def radd(readers, src, name):
    r = readers.get(src)
    if r is None:
        readers[src] = name
    elif r.__class__ is str:
        if r != name:
            readers[src] = {r, name}
    else:
        r.add(name)


def rdiscard(readers, src, name):
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


def rlist(r):
    """A reader index entry as a list of names."""
    return [] if r is None else [r] if r.__class__ is str else list(r)


def rcount(r):
    return 1 if r.__class__ is str else len(r)


def sources(inputs):
    """The node names a list of input references reads ('^a' -> 'a', 'a:1' -> 'a')."""
    return tuple([(i[1:] if i[0] == "^" else i).partition(":")[0] for i in inputs])


def _sources_of(inputs_of):
    """{name: sources} for {name: inputs}. Most references are plain names, their own source: a node
    that reads only those shares its inputs list (nobody edits these lists: edits replace them); the
    nodes with a control or port reference get ``sources``."""
    special = {i for i in itertools.chain.from_iterable(inputs_of.values()) if "^" in i or ":" in i}
    srcs_of = dict(inputs_of)
    if special:
        isdisjoint = special.isdisjoint
        for name, inputs in inputs_of.items():
            if not isdisjoint(inputs):
                srcs_of[name] = sources(inputs)
    return srcs_of


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


class Index:
    """The index of one GraphDef; ``journal`` and ``edit_log`` are its Graph's (they outlive a rebuild)."""

    __slots__ = ("graph_def", "node", "op", "inputs", "srcs", "readers", "by_op", "names", "journal", "edit_log")

    def __init__(self, graph_def, journal, edit_log):
        self.graph_def, self.journal, self.edit_log = graph_def, journal, edit_log
        nodes = list(graph_def.node)
        names = [n.name for n in nodes]
        ops = [n.op for n in nodes]
        # (``n.input[:]`` is one call that returns a list: ``list(n.input)`` behind an ``if n.input``
        # made two container wrappers per node, a tenth of the build)
        inputs_of = dict((name, inputs) for name, n in zip(names, nodes) if (inputs := tuple(n.input[:])))
        srcs_of = _sources_of(inputs_of)
        readers = {}
        for name, srcs in srcs_of.items():
            for s in srcs:
                radd(readers, s, name)
        by_op = collections.defaultdict(dict)
        for name, op in zip(names, ops):
            by_op[op][name] = None
        self.names = set(names)  # every node name in the GraphDef, live or killed (until ``compact``)
        self.node = dict(zip(names, nodes))  # live nodes, graph order (added ones appended)
        self.op = dict(zip(names, ops))
        self.inputs, self.srcs, self.readers, self.by_op = inputs_of, srcs_of, readers, by_op

    @property
    def compacted(self):
        """Nothing killed since the GraphDef was indexed."""
        return len(self.names) == len(self.node) == len(self.graph_def.node)

    def touch(self, name):
        self.journal.touched.add(name)
        self.edit_log.append(name)

    def set_inputs(self, node, name, inputs):
        """Give ``node`` (named ``name``) new inputs and bring sources, readers and orphans up to date."""
        readers = self.readers
        inputs = tuple(inputs)
        before = self.srcs.get(name, NONE)
        node.input[:] = inputs  # (one call: a del and an extend made two container wrappers)
        if inputs:
            self.inputs[name] = inputs
            srcs = self.srcs[name] = sources(inputs)
        else:
            self.inputs.pop(name, None)
            self.srcs.pop(name, None)
            srcs = NONE
        if before != srcs:
            before, after = set(before), set(srcs)
            for src in before - after:
                if rdiscard(readers, src, name):
                    self.journal.orphans.add(src)
            for src in after - before:
                radd(readers, src, name)
        self.touch(name)

    def retype(self, node, name, op):
        old = self.op[name]
        if op != old:
            self.by_op[old].pop(name, None)
            self.by_op[op][name] = None
            self.journal.retyped.append((old, op))
            node.op = op
            self.op[name] = op

    def added(self, new, name, op, inputs=NONE):
        """Index ``new``, a node just appended to the GraphDef (its name, op and inputs given: no proto reads)."""
        self.node[name] = new
        self.names.add(name)
        self.by_op[op][name] = None
        self.op[name] = op
        if inputs:
            srcs = sources(inputs)
            self.inputs[name], self.srcs[name] = inputs, srcs
            readers = self.readers
            for s in srcs:
                radd(readers, s, name)
        j = self.journal
        j.added.append((name, op))
        self.touch(name)
        j.orphans.add(name)  # swept if nobody ends up reading it
        return new

    def kill(self, names, consts, keep=None):
        """Mark ``names`` dead (live ones; with ``keep``, only those nobody reads and not in ``keep``):
        they leave the indexes now and the GraphDef at ``compact``; return how many died. One loop
        with everything in locals: sweeps kill most of a graph."""
        idx, op_of = self.node, self.op
        readers, srcs_of, inputs_of = self.readers, self.srcs, self.inputs
        orphans = self.journal.orphans
        removed = self.journal.removed
        count = 0
        for name in names:
            if keep is not None and (name in keep or readers.get(name)):
                continue
            if idx.pop(name, None) is None:
                continue
            op = op_of.pop(name)  # (the op index keeps the name: ``names_of`` skips it)
            if op == "Const":
                consts.pop(name, None)
            inputs_of.pop(name, None)
            for src in srcs_of.pop(name, NONE):  # (rdiscard inlined: the hottest loop of a strip)
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

    def names_of(self, ops):
        op_of = self.op
        out = []
        for op in ops:  # (killed nodes stay in the op index: their op entry is gone)
            out.extend(name for name in self.by_op.get(op, ()) if op_of.get(name) == op)
        return out

    def unneeded(self, roots):
        """Live names the live ``roots`` do not read, directly or not (no cycles). What the roots do
        not need is exactly what sweeping from the sinks (nodes nobody reads) would remove: found
        without editing anything, at a cost per unneeded node rather than per node."""
        idx, readers, srcs_of = self.node, self.readers, self.srcs
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
                    n = rcount(readers[src])
                if n > 1:
                    left[src] = n - 1
                else:
                    unneeded.add(src)
                    stack.append(src)
        return unneeded

    def walk_up(self, roots):
        """The roots and every live name they read (a walk: cycles allowed)."""
        idx = self.node
        get = self.srcs.get
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

    def compacted_graph_def(self):
        """A GraphDef without the dead nodes (one pass; keeps graph order), or None when none died."""
        if len(self.names) == len(self.node):
            return None
        old = self.graph_def
        new = type(old)()
        for field, value in old.ListFields():  # versions, library, debug_info: everything but the nodes
            if field.name == "node":
                continue
            if field.message_type is not None:
                getattr(new, field.name).CopyFrom(value)
            else:
                setattr(new, field.name, value)
        # the index holds the live nodes in graph order, added nodes appended to both: copying from
        # it does not touch the dead nodes' protos at all
        new.node.extend(self.node.values())
        return new
