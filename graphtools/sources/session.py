"""Freezing inside a TF1 session: variables to constants, moving statistics kept beside the batch norms
that read them, reference ops made value ops, the chosen outputs checked. Every source ends here."""
import dataclasses
import logging
import re
from ..core import io
from ..core.analysis import GraphAnalysis
from ..core.exports import export_outputs
from ..core.graph import node_name
from ..core.heuristics import moving_statistics_names
from ..core.ops import PLACEHOLDER_OPS, VARIABLE_OPS, VARIABLE_READ_OPS
from ..errors import FreezeError, InputError, NodeNotFoundError

log = logging.getLogger(__name__)

STATEFUL_LEFTOVERS = VARIABLE_OPS | VARIABLE_READ_OPS | {"Assign", "AssignVariableOp"}


@dataclasses.dataclass
class FreezeResult:
    """A frozen graph and what freezing learned on the way."""

    graph_def: object
    outputs: list
    inputs: list
    source: str
    candidates: list = dataclasses.field(default_factory=list)  # ranked output candidates when discovered
    discovered: bool = False
    variables: int = 0
    cuts: dict = dataclasses.field(default_factory=dict)  # input-pipeline tensor -> the placeholder now feeding it
    unread: list = dataclasses.field(default_factory=list)  # placeholders of the source the outputs do not read
    initialized: list = dataclasses.field(default_factory=list)  # variables the saver left out: initial values


def freeze_session(sess, outputs=None, graph=None, output_nodes=None):
    """Freeze the variables of a live ``tf.compat.v1.Session`` into constants; return a GraphDef.

    ``outputs``: node names (``name:0`` accepted; ``output_nodes``, the older name, too). The graph is
    ``sess.graph`` unless given.
    """
    outputs = either(outputs, output_nodes, "outputs")
    if not outputs:
        raise InputError("freeze_session: name the outputs (outputs=['softmax'])")
    return freeze_in_session(sess, graph or sess.graph, as_names(outputs), "session").graph_def


def either(new, old, name):
    """The value of an argument given by its name or by its older name (never both, differing)."""
    if new is not None and old is not None and new != old:
        raise InputError(f"give {name}= or its older name, not both")
    return new if new is not None else old


def as_names(output_nodes):
    if isinstance(output_nodes, str):
        output_nodes = output_nodes.split(",")
    return [node_name(o.strip()) for o in output_nodes if o and o.strip()]


def freeze_in_session(sess, graph, outputs, source, candidates=(), discovered=False, size_checked=False):
    from .._tf import tf

    tf = tf()
    gd = graph.as_graph_def()
    names = {n.name for n in gd.node}
    for o in outputs:
        if o not in names:
            raise NodeNotFoundError(o, names, what="output node", where=source)
    n_vars = sum(1 for n in gd.node if n.op in VARIABLE_OPS)
    stats = statistics_by_update(gd)
    keep = moving_statistics(gd, outputs, stats)
    if not size_checked:  # (checkpoint sources check before restoring their weights)
        check_frozen_size(gd, outputs, source)
    for n in gd.node:  # TF 0.x/1.0 'Variable': the converter only knows VariableV2 (same attrs, same value)
        if n.op == "Variable":
            n.op = "VariableV2"
    try:
        frozen = tf.compat.v1.graph_util.convert_variables_to_constants(sess, gd, outputs + keep)
    except tf.errors.FailedPreconditionError as e:
        var = re.search(r"(?:variable|value) ([\w/.:-]+)", e.message or "")
        what = f" ({var.group(1)})" if var else ""
        raise FreezeError(f"{source}: a variable{what} has no value: the checkpoint does not cover every "
                          f"variable the outputs need; check --ckpt matches the graph")
    clean_frozen(frozen)
    _annotate_statistics(frozen, stats)
    _placeholder_shapes(frozen, graph)
    _dereference(frozen)
    _repair_function_outputs(frozen)
    left = [n.name for n in frozen.node if n.op in STATEFUL_LEFTOVERS]
    for f in frozen.library.function:
        left += [f"{f.signature.name}/{n.name}" for n in f.node_def if n.op in VARIABLE_OPS]
    if left:
        raise FreezeError(f"{source}: variables remain after freezing ({', '.join(left[:3])}); "
                          f"this graph reads variables in a way graphtools cannot freeze yet")
    io.check_graph_def(frozen, source)
    inputs = GraphAnalysis(frozen).discover_inputs(outputs)
    log.info("froze %d variables; %d nodes remain", n_vars, len(frozen.node))
    return FreezeResult(frozen, list(outputs), inputs, source, list(candidates), discovered, n_vars,
                        unread=unread_nodes(gd, frozen))


def moving_statistics(gd, outputs, stats=None):
    """Moving mean/variance variables of training-mode batch norms the outputs use.

    A graph built with ``is_training=True`` (tf-slim training graphs) reads batch statistics, so
    freezing to the outputs alone would drop the moving averages that inference needs; keep them
    (as constants nobody reads) for ``strip --remove batchnorm``.
    """
    import networkx as nx

    from ..core.graph import Graph

    names = {n.name: n for n in gd.node}
    g = Graph(gd).to_networkx()
    needed = set()
    for o in outputs:
        needed |= nx.ancestors(g, o) | {o}
    stats = statistics_by_update(gd) if stats is None else stats
    keep = sorted({v for t, v in stats.items() if node_name(t) in needed})
    for name in needed:
        n = names[name]
        scope = None
        if n.op.startswith("FusedBatchNorm") and n.attr["is_training"].b:
            scope = name.rsplit("/", 1)[0]
        elif "/moments/" in name:
            scope = name.split("/moments/")[0]
        candidates = [f"{name}/ExponentialMovingAverage"]  # tf.train.ExponentialMovingAverage shadows
        if scope is not None:
            candidates += moving_statistics_names(scope)
        for v in candidates:
            if v in names and names[v].op in VARIABLE_OPS and v not in needed:
                keep.append(v)
    if keep:
        log.info("keeping %d moving statistics of training-mode batch norms", len(keep))
    return sorted(set(keep))


def _placeholder_shapes(frozen, graph):
    """Write each placeholder's shape as TensorFlow read it in ``graph`` into its ``shape`` attr.

    A TF 1.0 graph (producer <= 21) stores an unconstrained placeholder as ``shape {}``, which TF reads
    as unknown at import; the frozen graph carries today's producer version, where the same attr means
    a scalar. So the shape TF inferred is written out explicitly (unknown rank as ``unknown_rank``),
    or, where TF knows nothing, the static shape the graph recorded in ``_output_shapes``.
    """
    from ..core.describe import placeholder_shape

    for n in frozen.node:
        if n.op not in ("Placeholder", "PlaceholderV2"):
            continue
        try:
            shape = graph.get_operation_by_name(n.name).outputs[0].shape
        except KeyError:
            continue
        dims = None if shape.rank is None else [-1 if d is None else int(d) for d in shape.as_list()]
        if dims is None:
            recorded = placeholder_shape(n, producer=0)  # producer 0: read `shape {}` as unknown
            dims = recorded if recorded != [] else None
        attr = n.attr["shape"].shape
        attr.Clear()
        if dims is None:
            attr.unknown_rank = True
        else:
            for d in dims:
                attr.dim.add().size = d

ASSIGN_TARGET_OPS = {"Assign", "AssignSub", "AssignAdd", "AssignVariableOp", "AssignSubVariableOp",
                     "AssignAddVariableOp"}


def statistics_by_update(gd):
    """{batch statistic tensor: the variable its moving average is kept in}, found by the update itself.

    ``assign_moving_average`` (tf.layers, tf-slim, Keras-2, ExponentialMovingAverage) writes
    ``V -= (read(V) - T) * (1 - decay)``; fused batch norms in TF 2 may assign their running output
    (``FusedBatchNormV3:1``) directly. Either way ``T`` is the batch statistic and ``V`` its moving
    average, whatever the two are named (a tower's op scope is not its variables' scope).
    """
    from ..core.graph import Graph

    graph = Graph(gd)
    through = ("Identity", "ReadVariableOp", "Cast", "Enter", "RefIdentity")

    def source(ref):  # the tensor behind Identity/reads
        for _ in range(6):
            name = node_name(ref)
            node = graph.get(name)
            if node is None or node.op not in through or not graph.data_inputs(name):
                return ref if ":" in ref else ref + ":0"
            ref = graph.data_inputs(name)[0]
        return ref

    def var_of(ref):
        name = node_name(source(ref))
        return name if name in graph and graph.op_of(name) in VARIABLE_OPS else None

    found = {}
    for a in graph.nodes_of(*ASSIGN_TARGET_OPS):
        ins = graph.data_inputs(a.name)
        if len(ins) < 2:
            continue
        target = var_of(ins[0])
        if target is None:
            continue
        value = source(ins[1])
        stat = None
        v = graph.get(node_name(value))
        if v is not None and v.op.startswith("FusedBatchNorm") and value[-2:] in (":1", ":2"):
            stat = value
        else:
            for _ in range(3):  # Mul(Sub(read(V), T), 1 - decay)
                if v is None:
                    break
                vin = graph.data_inputs(v.name)
                if v.op == "Sub" and len(vin) == 2 and var_of(vin[0]) == target:
                    stat = source(vin[1])
                    break
                if v.op not in ("Mul", "Sub") or not vin:
                    break
                v = graph.get(node_name(source(vin[0])))
        if stat is not None:
            found[stat] = target
    return found


def _annotate_statistics(frozen, stats):
    """Write what the update told us into the frozen graph for strip: on a fused batch norm
    ``_moving_statistics = [mean, variance]``, on a moments tensor ``_moving_average = V``."""
    idx = {n.name: n for n in frozen.node}
    for stat, var in stats.items():
        name, _, port = stat.partition(":")
        node = idx.get(name)
        if node is None or var not in idx:
            continue
        if node.op.startswith("FusedBatchNorm") and port in ("1", "2"):
            lst = node.attr["_moving_statistics"].list
            pair = list(lst.s) or [b"", b""]
            pair[int(port) - 1] = var.encode()
            del lst.s[:]
            lst.s.extend(pair)
        elif port == "0":
            node.attr["_moving_average"].s = var.encode()


def clean_frozen(gd):
    """Drop devices and colocation hints that name nodes freezing removed; channels-first ops (a GPU
    export's) become channels-last between transposes: the frozen graph runs on a CPU, and the converter
    takes every op in it (it turns conv and pool layouts itself, but not depth-to-space's)."""
    from ..core.graph import clean_colocation
    from ..core.layout import channels_first, runnable_on_cpu

    for n in gd.node:
        n.device = ""
    turned = channels_first(gd)
    if turned:
        gd.CopyFrom(runnable_on_cpu(gd)[0])
        log.info("%d channels-first ops run channels-last between transposes (%s, ...)", len(turned), turned[0])
    clean_colocation(gd)

# Ref-typed ops that read a variable still expect a reference after the variable became a
# Const ("passed float ... incompatible with expected float_ref"): give each its value form.
_REF_TO_VALUE = {"RefSwitch": "Switch", "RefMerge": "Merge", "RefIdentity": "Identity", "RefEnter": "Enter",
                 "RefExit": "Exit", "RefNextIteration": "NextIteration", "RefSelect": "Select"}

_ASSIGN_TO_VALUE = {"AssignSub": "Sub", "AssignAdd": "AddV2"}


def _dereference(gd):
    """Rewrite ref ops and variable updates left in the graph into their pure value forms.

    ``Assign(ref, v)`` -> ``Identity(v)``; ``AssignSub(ref, v)`` -> ``Sub(ref, v)``;
    ``AssignAdd`` -> ``AddV2``; ``RefSwitch`` -> ``Switch`` (and the other Ref* ops). The value each
    op produces is unchanged; only the write to the (now constant) variable is gone.
    """
    changed = 0
    for n in gd.node:
        if n.op in _REF_TO_VALUE:
            n.op = _REF_TO_VALUE[n.op]
        elif n.op in _ASSIGN_TO_VALUE:
            n.op = _ASSIGN_TO_VALUE[n.op]
            _drop_attrs(n, ("use_locking",))
        elif n.op == "Assign":
            n.op = "Identity"
            data = [i for i in n.input if not i.startswith("^")]
            ctrl = [i for i in n.input if i.startswith("^")]
            del n.input[:]
            n.input.extend(data[1:2] + ctrl)
            _drop_attrs(n, ("use_locking", "validate_shape"))
        elif n.op in ("IsVariableInitialized", "VarIsInitializedOp"):  # restored from the checkpoint: it is
            ctrl = [i for i in n.input if i.startswith("^")]
            n.op = "Const"
            del n.input[:]
            n.input.extend(ctrl)
            for a in list(n.attr):
                del n.attr[a]
            n.attr["dtype"].type = 10  # DT_BOOL
            n.attr["value"].tensor.dtype = 10
            n.attr["value"].tensor.bool_val.append(True)
        else:
            continue
        changed += 1
    if changed:
        log.info("rewrote %d ref/assign ops into value ops", changed)
    return changed


def _repair_function_outputs(gd):
    """Point function returns and inputs at the output arg of ops freezing replaced.

    TensorFlow's converter turns a branch's ``ReadVariableOp`` into ``Identity`` but can leave the
    function's return as ``ReadVariableOp:value:0``; the graph then fails at run time with
    "Return ... is not found". Identity's output arg is ``output``.
    """
    fixed = 0
    for f in gd.library.function:
        ops = {n.name: n.op for n in f.node_def}

        def repair(ref):
            parts = ref.lstrip("^").split(":")
            if len(parts) == 3 and ops.get(parts[0]) == "Identity" and parts[1] != "output":
                return ("^" if ref.startswith("^") else "") + f"{parts[0]}:output:{parts[2]}"
            return ref

        for k, v in list(f.ret.items()):
            if repair(v) != v:
                f.ret[k] = repair(v)
                fixed += 1
        for n in f.node_def:
            for i, ref in enumerate(n.input):
                if repair(ref) != ref:
                    n.input[i] = repair(ref)
                    fixed += 1
    if fixed:
        log.info("repaired %d function references to converted variable reads", fixed)
    return fixed


def _drop_attrs(node, names):
    for a in names:
        if a in node.attr:
            del node.attr[a]


def pick_outputs(graph_def, output_nodes, source):
    """Return (outputs, candidates, discovered). Discovers outputs when none are given."""
    names = {n.name for n in graph_def.node}
    if output_nodes:
        outs = as_names(output_nodes)
        for o in outs:
            if o not in names:
                raise NodeNotFoundError(o, names, what="output node", where=source)
        return outs, [], False
    known = export_outputs(graph_def)
    if known:  # (a detection export's four outputs, not one ranked candidate among them)
        log.info("discovered outputs %s (a detection export's)", ", ".join(known))
        return known, [], True
    a = GraphAnalysis(graph_def)
    candidates = a.rank_outputs(top=5)
    if not candidates:
        raise InputError(f"{source}: found no output candidates in the graph; name them with --outputs")
    if candidates[0].get("loss"):
        a.outputs_or_best(None)  # (raises: a loss is never an output)
    log.info("discovered output %s (%s)", candidates[0]["name"], candidates[0]["why"])
    return [candidates[0]["name"]], candidates, True


def new_session(tf, graph):
    from ..core.runtime import session_config

    config = session_config()
    return tf.compat.v1.Session(graph=graph, config=config)


def variable_bytes(gd, outputs):
    """Bytes the variables the outputs need would take as constants (unknown shapes count 0)."""
    from .._tf import tf

    needed = GraphAnalysis(gd).reachable(outputs)
    total = 0
    for n in gd.node:
        if n.op in VARIABLE_OPS and n.name in needed and "shape" in n.attr and "dtype" in n.attr:
            dims = [d.size for d in n.attr["shape"].shape.dim]
            if n.attr["shape"].shape.unknown_rank or any(d < 0 for d in dims):
                continue
            count = 1
            for d in dims:
                count *= d
            try:
                total += count * tf().as_dtype(n.attr["dtype"].type).base_dtype.size
            except (TypeError, ValueError):
                continue
    return total


def check_frozen_size(gd, outputs, source):
    """A frozen graph holds its weights: refuse before freezing when they would pass 2 GB."""
    outputs = list(outputs) + moving_statistics(gd, outputs)  # kept as constants too
    io.check_proto_size(gd.ByteSize() + variable_bytes(gd, outputs), f"{source}: the frozen graph",
                        "its weights cannot be embedded as constants. Convert without freezing "
                        "(tf.lite.TFLiteConverter.from_saved_model keeps weights outside protobuf), or shrink "
                        "the model (fewer or float16 weights)")


def unread_nodes(source, frozen):
    """Placeholders of ``source`` that ``frozen`` (pruned to its outputs) no longer has."""
    kept = {n.name for n in frozen.node}
    return [n.name for n in source.node if n.op in PLACEHOLDER_OPS and n.name not in kept]
