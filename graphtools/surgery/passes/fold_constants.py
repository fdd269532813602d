"""fold_constants: evaluate nodes whose inputs are all constants and store the results as Const."""
import collections
import logging

import numpy as np

from ...core.constants import NUMPY, numpy_value, reads_port0_only  # noqa: F401 (re-exported)
from . import register

log = logging.getLogger(__name__)
NEVER = {"Const", "Placeholder", "PlaceholderV2", "PlaceholderWithDefault", "NoOp", "Switch", "RefSwitch",
         "Merge", "RefMerge", "Enter", "RefEnter", "Exit", "RefExit", "NextIteration", "RefNextIteration",
         "LoopCond", "If", "StatelessIf", "While", "StatelessWhile", "PartitionedCall",
         "StatefulPartitionedCall", "Case", "StatelessCase", "Assert", "Print", "PrintV2", "CheckNumerics",
         "CheckNumericsV2", "Identity", "IdentityN", "Snapshot", "FakeQuantWithMinMaxVars",
         "FakeQuantWithMinMaxArgs", "FakeQuantWithMinMaxVarsPerChannel", "Dequantize", "QuantizeV2"}
from ...sources.safety import UNSAFE_OPS  # noqa: E402  (never evaluated, even on constant inputs)

NEVER |= UNSAFE_OPS
MAX_ELEMENTS = 1 << 22  # do not materialise huge tensors (Fill, Tile, ...) as constants
def _stateful(op, cache={}):
    if op not in cache:
        from tensorflow.python.framework import op_def_registry

        od = op_def_registry.get(op)
        cache[op] = od is None or od.is_stateful
    return cache[op]


@register("fold_constants", group="batchnorm", after=("fold_batch_norms",))
def fold_constants(graph, ctx):
    """Replace every deterministic node computed only from constants by a Const holding its value.

    Float elementwise arithmetic is computed with numpy; everything else in one TensorFlow session
    over all remaining foldable nodes. Nodes with several outputs read, with control inputs,
    stateful ops and control flow are left alone; protected nodes keep their op.
    """
    functions = {f.signature.name for f in graph.graph_def.library.function}
    known = set(graph.names_of("Const"))
    order = []
    dirty = ctx.dirty
    if dirty is None:
        work = collections.deque(r for c in known for r in graph.consumers(c))
    else:  # what changed may now read only constants, or be a new constant others read
        work = collections.deque(d for d in dirty if d not in known)
        work.extend(r for d in dirty for r in graph.consumers(d))
    while work:
        name = work.popleft()
        if name in known:
            continue
        op = graph.op_of(name)
        if op in NEVER or name in ctx.protected or op in functions or \
                op.startswith(("Random", "Stateless", "Stateful")):
            continue
        srcs = graph.sources(name)
        if not srcs or any(s not in known for s in srcs):
            continue  # revisited when its other inputs become known
        if not reads_port0_only(graph.inputs(name)):
            continue
        if op not in NUMPY and (_stateful(op) or graph.used_ports(name) - {0}):
            continue  # (NUMPY ops have one output and no state)
        known.add(name)
        order.append(name)
        work.extend(graph.consumers(name))
    if not order:
        return 0
    values = {}
    rest = {}  # name -> None: ordered, for TensorFlow
    with np.errstate(all="ignore"):
        for name in order:
            op, v = graph.op_of(name), None
            if op in NUMPY:
                srcs = graph.sources(name)
                if not any(s in rest for s in srcs):
                    v = numpy_value(op, [values[s] if s in values else graph.const(s) for s in srcs])
            if v is not None:
                values[name] = v
            else:
                rest[name] = None
    # A constant inside a v1 loop frame is anchored there by a control input (TF's ^pivot); what is
    # folded from it must stay in that frame: its Const keeps the anchors of the constants it read.
    anchors = {}
    for name in order:
        a = set()
        for src in graph.sources(name):
            if src in anchors:
                a |= anchors[src]
            elif graph.op_of(src) == "Const":
                a.update(i for i in graph.inputs(src) if i.startswith("^"))
        if a:
            anchors[name] = a
    stored = set()
    if rest:
        edge = _frontier(graph, ctx, values, rest)
        _store(graph, {k: v for k, v in values.items() if k in edge}, anchors)
        stored = edge
        values.update(_evaluate_with_tensorflow(graph, list(rest)))
    # only what something else reads becomes a Const; the chain behind it is swept
    edge = _frontier(graph, ctx, set(values)) - stored
    rewrites = len(stored) + _store(graph, {k: v for k, v in values.items() if k in edge}, anchors)
    log.info("folded %d constant subexpressions (%d with TensorFlow)", rewrites, len(rest))
    return rewrites


def _frontier(graph, ctx, folded, also=()):
    """Folded nodes read by a node that is not folded (or by ``also``), or protected."""
    out = set()
    for name in folded:
        if name in ctx.protected or any(r not in folded or r in also for r in graph.consumers(name)):
            out.add(name)
    return out


def _store(graph, values, anchors=None):
    count = 0
    for name, v in values.items():
        v = np.asarray(v)
        if v.size > MAX_ELEMENTS:
            continue
        graph.set_const(name, v)
        if anchors and name in anchors:
            graph.rewrite(name, inputs=sorted(anchors[name]))
        count += 1
    return count


def _evaluate_with_tensorflow(graph, names):
    """Run the ``names`` (whose inputs are all constants by now) in one session."""
    from ..._tf import tf

    tf = tf()
    needed = set(names)
    for name in names:
        needed.update(graph.sources(name))
    sub = type(graph.graph_def)()
    sub.library.CopyFrom(graph.graph_def.library)
    sub.versions.CopyFrom(graph.graph_def.versions)
    for name in needed:
        m = sub.node.add()
        m.CopyFrom(graph.node(name))
        if any(i.startswith("^") for i in m.input):  # (a loop frame's anchor: not part of the value)
            keep = [i for i in m.input if not i.startswith("^")]
            del m.input[:]
            m.input.extend(keep)
    g = tf.Graph()
    with g.as_default():
        from ...core.protos import as_tf

        tf.compat.v1.import_graph_def(as_tf(sub), name="")
    fetch = [g.get_operation_by_name(n).outputs[0] for n in names]
    # a TensorList or a resource (TF2-style loops in a v1 graph) has no constant form: not folded
    kept = [(n, t) for n, t in zip(names, fetch) if t.dtype not in (tf.variant, tf.resource, tf.string)]
    names, fetch = [n for n, _ in kept], [t for _, t in kept]
    if not fetch:
        return {}
    from ...core.runtime import session_config

    with tf.compat.v1.Session(graph=g, config=session_config()) as sess:
        values = sess.run(fetch)
    return {n: np.asarray(v, dtype=t.dtype.as_numpy_dtype) for n, v, t in zip(names, values, fetch)}
