"""Every TF1 source -> frozen GraphDef (variables replaced by constants, function library kept).

Sources: a checkpoint with its meta graph, a checkpoint directory, a GraphDef plus a checkpoint
(the way ``freeze_graph.py --input_graph --input_checkpoint`` worked), a v1 SavedModel, a Keras-2
HDF5 model, and a live ``tf.compat.v1.Session``.
"""
import dataclasses
import json
import logging
import os
import re

from . import io, safety
from .analysis import GraphAnalysis
from .heuristics import moving_statistics_names
from .ops import PLACEHOLDER_OPS, VARIABLE_OPS, VARIABLE_READ_OPS
from .errors import FreezeError, InputError, NodeNotFoundError
from .graph import node_name
from .runtime import op_error_text

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


# ---------------------------------------------------------------- core

def freeze_session(sess, outputs=None, graph=None, output_nodes=None):
    """Freeze the variables of a live ``tf.compat.v1.Session`` into constants; return a GraphDef.

    ``outputs``: node names (``name:0`` accepted; ``output_nodes``, the older name, too). The graph is
    ``sess.graph`` unless given.
    """
    outputs = _either(outputs, output_nodes, "outputs")
    if not outputs:
        raise InputError("freeze_session: name the outputs (outputs=['softmax'])")
    return _freeze_in_session(sess, graph or sess.graph, _names(outputs), "session").graph_def


def _either(new, old, name):
    """The value of an argument given by its name or by its older name (never both, differing)."""
    if new is not None and old is not None and new != old:
        raise InputError(f"give {name}= or its older name, not both")
    return new if new is not None else old


def _names(output_nodes):
    if isinstance(output_nodes, str):
        output_nodes = output_nodes.split(",")
    return [node_name(o.strip()) for o in output_nodes if o and o.strip()]


def _freeze_in_session(sess, graph, outputs, source, candidates=(), discovered=False, size_checked=False):
    from ._tf import tf

    tf = tf()
    gd = graph.as_graph_def()
    names = {n.name for n in gd.node}
    for o in outputs:
        if o not in names:
            raise NodeNotFoundError(o, names, what="output node", where=source)
    n_vars = sum(1 for n in gd.node if n.op in VARIABLE_OPS)
    stats = statistics_by_update(gd)
    keep = _moving_statistics(gd, outputs, stats)
    if not size_checked:  # (checkpoint sources check before restoring their weights)
        _check_frozen_size(gd, outputs, source)
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
    _clean(frozen)
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
                        unread=_unread(gd, frozen))


def _moving_statistics(gd, outputs, stats=None):
    """Moving mean/variance variables of training-mode batch norms the outputs use.

    A graph built with ``is_training=True`` (tf-slim training graphs) reads batch statistics, so
    freezing to the outputs alone would drop the moving averages that inference needs; keep them
    (as constants nobody reads) for ``strip --remove batchnorm``.
    """
    import networkx as nx

    from .graph import Graph

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
    from .analysis import placeholder_shape

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
    from .graph import Graph

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


def _clean(gd):
    """Drop devices and colocation hints that name nodes freezing removed; channels-first ops (a GPU
    export's) become channels-last between transposes: the frozen graph runs on a CPU, and the converter
    takes every op in it (it turns conv and pool layouts itself, but not depth-to-space's)."""
    from .graph import clean_colocation
    from .layout import channels_first, runnable_on_cpu

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


def _pick_outputs(graph_def, output_nodes, source):
    """Return (outputs, candidates, discovered). Discovers outputs when none are given."""
    names = {n.name for n in graph_def.node}
    if output_nodes:
        outs = _names(output_nodes)
        for o in outs:
            if o not in names:
                raise NodeNotFoundError(o, names, what="output node", where=source)
        return outs, [], False
    a = GraphAnalysis(graph_def)
    candidates = a.rank_outputs(top=5)
    if not candidates:
        raise InputError(f"{source}: found no output candidates in the graph; name them with --outputs")
    if candidates[0].get("loss"):
        a.outputs_or_best(None)  # (raises: a loss is never an output)
    log.info("discovered output %s (%s)", candidates[0]["name"], candidates[0]["why"])
    return [candidates[0]["name"]], candidates, True


def _session(tf, graph):
    from .runtime import session_config

    config = session_config()
    return tf.compat.v1.Session(graph=graph, config=config)



# ---------------------------------------------------------------- checkpoints

def freeze_checkpoint(ckpt, meta=None, graph=None, output_nodes=None, allow_unsafe_ops=False):
    """Freeze a checkpoint (prefix or directory) with its meta graph, or with a separate GraphDef.

    ``meta`` defaults to ``PREFIX.meta`` beside the checkpoint; ``graph`` (a .pb/.pbtxt path or a
    GraphDef) is used instead of a meta graph the way ``freeze_graph.py --input_graph`` worked.
    """
    from ._tf import tf

    tf = tf()
    prefix = io.checkpoint_prefix(ckpt)
    if graph is not None:
        gd = io.load_graph_def(graph) if isinstance(graph, (str, os.PathLike)) else graph
        return _freeze_graph_def_with_checkpoint(tf, gd, prefix, output_nodes,
                                                 str(graph) if isinstance(graph, str) else "graph", allow_unsafe_ops)
    meta = meta or prefix + ".meta"
    if not os.path.exists(meta):
        raise InputError(f"{meta}: no meta graph beside the checkpoint; pass --meta FILE or the graph with --graph FILE.pb")
    mg = io.load_meta_graph(meta)
    outputs, candidates, discovered = _pick_outputs(mg.graph_def, output_nodes, meta)
    cuts = _check_what_runs(mg.graph_def, outputs, meta, allow_unsafe_ops)
    g, saver = _import_meta(tf, mg, meta)
    with g.as_default():
        if saver is None:
            saver = _saver_from_checkpoint(tf, g, prefix)
        _check_frozen_size(g.as_graph_def(), outputs, ckpt)  # before restoring gigabytes of weights
        with _session(tf, g) as sess:
            _restore(tf, saver, sess, prefix, meta)
            initialized = _initialize_unsaved(tf, sess, g, outputs)
            result = _freeze_in_session(sess, g, outputs, ckpt, candidates, discovered, size_checked=True)
        result.initialized = initialized
        return _cut_input_pipeline(result, cuts, g)


def _initialize_unsaved(tf, sess, g, outputs):
    """Variables the outputs read that the meta graph's own Saver leaves out (``Saver(var_list=...)``
    without the batch norms' moving statistics, say) hold no value after the restore; the authors' code
    ran the initializers first, so these are their initial values. Set so; returns their names."""
    variables = {v.op.name: v for v in tf.compat.v1.global_variables() + tf.compat.v1.local_variables()}
    needed, todo = set(), list(outputs)
    while todo:
        cur = todo.pop()
        if cur in needed:
            continue
        needed.add(cur)
        try:
            todo.extend(node_name(i.name) for i in g.get_operation_by_name(cur).inputs)
        except (KeyError, ValueError):
            continue
    cands = sorted(n for n in variables if n in needed)
    if not cands:
        return []
    try:
        ready = sess.run([tf.compat.v1.is_variable_initialized(variables[n]) for n in cands])
    except tf.errors.OpError:
        return []  # (freezing then names the variable without a value)
    missing = [n for n, ok in zip(cands, ready) if not ok]
    if not missing or any(_random_initializer(variables[n]) for n in missing):
        return []  # (a random initial value is no value: freezing names the variable)
    try:
        sess.run([variables[n].initializer for n in missing])
    except tf.errors.OpError as e:
        raise FreezeError(f"variables the outputs read are not in the checkpoint ({', '.join(missing[:3])}) and "
                          f"their initializers cannot run ({op_error_text(e)}); give the checkpoint that holds them")
    log.info("set %d variables the checkpoint's saver leaves out to their initial values", len(missing))
    return missing


def _random_initializer(variable):
    """True when the variable's initial value is drawn at random (weights), not a constant (statistics)."""
    todo, seen = [variable.initializer], set()
    while todo:
        op = todo.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        if op.type.startswith(("Random", "TruncatedNormal", "Multinomial", "StatelessRandom")):
            return True
        todo.extend(i.op for i in op.inputs if i.op.type not in VARIABLE_OPS)
    return False


def _import_meta(tf, mg, meta):
    """(tf.Graph, Saver or None) of the meta graph. What TensorFlow refuses a whole old file for and
    freezing does not need is dropped and the import retried: a library's own collections (tflearn's)
    naming ops it never saved; ``_output_shapes`` hints an older TensorFlow wrote that today's shape
    functions contradict (a gradient op's, say)."""
    fixes = {"refers to an Operation not in the graph": ("collections name ops not in the graph",
                                                          _essential_collections),
             "_output_shapes attribute inconsistent": ("recorded shapes disagree with this TensorFlow's",
                                                       _without_shape_hints)}
    while True:
        g = tf.Graph()
        with g.as_default():
            try:
                return g, tf.compat.v1.train.import_meta_graph(mg, clear_devices=True)
            except (ValueError, KeyError, TypeError, tf.errors.OpError) as e:
                fix = next((k for k in fixes if k in str(e)), None)
                if fix is None:
                    raise InputError(f"{meta}: TensorFlow cannot load this meta graph ({op_error_text(e)}); "
                                     f"it may need ops this TensorFlow does not have")
                why, repair = fixes.pop(fix)
                log.info("%s: %s (%s): read without them", meta, why, e)
                mg = repair(mg)


def _without_shape_hints(meta_graph):
    """A copy of ``meta_graph`` without the ``_output_shapes`` hints of its non-placeholder nodes."""
    mg = type(meta_graph)()
    mg.CopyFrom(meta_graph)
    for n in mg.graph_def.node:
        if n.op not in PLACEHOLDER_OPS and "_output_shapes" in n.attr:
            del n.attr["_output_shapes"]
    return mg


ESSENTIAL_COLLECTIONS = {"variables", "trainable_variables", "model_variables", "local_variables", "cond_context",
                         "while_context", "savers", "moving_average_variables"}


def _essential_collections(meta_graph):
    """A copy of ``meta_graph`` with only the collections freezing reads."""
    mg = type(meta_graph)()
    mg.CopyFrom(meta_graph)
    for key in list(mg.collection_def):
        if key not in ESSENTIAL_COLLECTIONS:
            del mg.collection_def[key]
    return mg


def _check_what_runs(gd, outputs, source, allow):
    """Refuse unsafe ops among what freezing a checkpoint can run -- the outputs' ancestors short of their
    input pipeline (and the saver's restore) -- and return the pipeline's cut tensors."""
    a = GraphAnalysis(gd)
    cuts = a.input_pipeline_cuts(outputs)
    safety.check(gd, source, needed=a.needed_without(outputs, cuts), allow=allow, allow_saver=True)
    return cuts


def _cut_input_pipeline(result, cuts, graph=None):
    """Feed the model from placeholders where its input pipeline (queue, iterator, reader, decoder) handed
    it tensors: the dtype and shape TensorFlow infers for each (``graph``, else an import of the frozen
    graph), the pipeline pruned. The freeze result says which tensor became which placeholder."""
    if not cuts:
        return result
    from .passes.cut_nodes import cut_tensors, pipeline_shape

    if graph is None:
        from .runtime import import_graph

        graph = import_graph(result.graph_def, result.source)
    specs = []
    for t in cuts:
        tensor = graph.get_tensor_by_name(t)
        specs.append((t, tensor.dtype.name, pipeline_shape(tensor)))
    gd, names = cut_tensors(result.graph_def, specs, result.outputs)
    log.info("input pipeline cut: %s", ", ".join(f"{t} -> {p}" for t, p in names.items()))
    return dataclasses.replace(result, graph_def=gd, inputs=GraphAnalysis(gd).discover_inputs(result.outputs),
                               cuts=names)


def _restore(tf, saver, sess, prefix, what):
    from . import guard

    guard.stage(f"restoring the checkpoint {prefix}")
    try:
        saver.restore(sess, prefix)
    except tf.errors.NotFoundError as e:
        key = re.search(r"Key ([^\s]+) not found", e.message or "")
        detail = f"variable {key.group(1)} is not in the checkpoint" if key else op_error_text(e)
        raise InputError(f"{prefix}: does not match {what}: {detail}; use the checkpoint written with this graph")
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as e:
        raise InputError(f"{prefix}: checkpoint is corrupt or does not fit the graph ({op_error_text(e)}); "
                         f"copy the checkpoint files again")
    except tf.errors.OpError as e:
        raise InputError(f"{prefix}: cannot restore checkpoint ({op_error_text(e)})")


def _reader(tf, prefix):
    try:
        return tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        raise InputError(f"{prefix}: cannot read checkpoint ({op_error_text(e)}); the index or data file is corrupt")


def _saver_from_checkpoint(tf, g, prefix):
    """A Saver over the graph's variable ops whose names are checkpoint keys."""
    keys = _reader(tf, prefix).get_variable_to_shape_map()
    var_list = {}
    for op in g.get_operations():
        if op.type in ("VariableV2", "Variable") and op.name in keys:
            var_list[op.name] = op.outputs[0]
    if not var_list:
        raise InputError(f"{prefix}: none of the checkpoint's {len(keys)} variables is in the graph; "
                         f"the checkpoint belongs to another model")
    return tf.compat.v1.train.Saver(var_list=var_list)


def variable_bytes(gd, outputs):
    """Bytes the variables the outputs need would take as constants (unknown shapes count 0)."""
    from ._tf import tf

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


def _check_frozen_size(gd, outputs, source):
    """A frozen graph holds its weights: refuse before freezing when they would pass 2 GB."""
    outputs = list(outputs) + _moving_statistics(gd, outputs)  # kept as constants too
    io.check_proto_size(gd.ByteSize() + variable_bytes(gd, outputs), f"{source}: the frozen graph",
                        "its weights cannot be embedded as constants. Convert without freezing "
                        "(tf.lite.TFLiteConverter.from_saved_model keeps weights outside protobuf), or shrink "
                        "the model (fewer or float16 weights)")


def _freeze_graph_def_with_checkpoint(tf, gd, prefix, output_nodes, source, allow_unsafe_ops=False):
    """Load ``gd``, assign every variable from the checkpoint (partitioned ones by slice), freeze."""
    import numpy as np

    outputs, candidates, discovered = _pick_outputs(gd, output_nodes, source)
    cuts = _check_what_runs(gd, outputs, source, allow_unsafe_ops)
    _check_frozen_size(gd, outputs, source)  # before reading gigabytes of weights
    reader = _reader(tf, prefix)
    shapes = reader.get_variable_to_shape_map()
    g = tf.Graph()
    with g.as_default():
        try:
            tf.compat.v1.import_graph_def(gd, name="")
        except (ValueError, KeyError, TypeError, tf.errors.OpError) as e:
            raise InputError(f"{source}: TensorFlow cannot load this graph ({op_error_text(e)})")
        assigns, feeds, missing = [], {}, []
        var_ops = [op for op in g.get_operations() if op.type in VARIABLE_OPS]
        parts = _partitions(var_ops, shapes)
        for op in var_ops:
            key = _checkpoint_key(op, shapes)
            if key is not None:
                value = reader.get_tensor(key)
            elif op.name in parts:
                value = parts[op.name](reader)
            else:
                missing.append(op.name)
                continue
            ph = tf.compat.v1.placeholder(value.dtype, value.shape)
            if op.type == "VarHandleOp":
                assigns.append(tf.raw_ops.AssignVariableOp(resource=op.outputs[0], value=ph))
            else:
                assigns.append(tf.raw_ops.Assign(ref=op.outputs[0], value=ph, validate_shape=False))
            feeds[ph] = np.asarray(value)
        needed = GraphAnalysis(gd).reachable(outputs)
        missing_needed = [m for m in missing if m in needed]
        if missing_needed:
            raise InputError(f"{prefix}: has no value for variable '{missing_needed[0]}' that the outputs need; "
                             f"use the checkpoint written with this graph")
        with _session(tf, g) as sess:
            sess.run(assigns, feeds)
            result = _freeze_in_session(sess, g, outputs, source, candidates, discovered, size_checked=True)
        return _cut_input_pipeline(result, cuts, g)


def _checkpoint_key(op, shapes):
    if op.name in shapes:
        return op.name
    shared = op.get_attr("shared_name") if "shared_name" in op.node_def.attr else b""
    shared = shared.decode() if isinstance(shared, bytes) else shared
    return shared if shared in shapes else None


def _partitions(var_ops, shapes):
    """Map 'w/part_K' variable ops to a loader that slices the full tensor 'w' from the checkpoint."""
    groups = {}
    for op in var_ops:
        m = re.match(r"^(.*)/part_(\d+)$", op.name)
        if m and m.group(1) in shapes and op.name not in shapes:
            shape = [d.size for d in op.node_def.attr["shape"].shape.dim]
            groups.setdefault(m.group(1), []).append((int(m.group(2)), op.name, shape))
    loaders = {}
    for base, members in groups.items():
        members.sort()
        full = shapes[base]
        axis = next((a for a, size in enumerate(full) if members[0][2][a] != size), 0)
        offset = 0
        for _, name, shape in members:
            loaders[name] = (lambda r, b=base, a=axis, o=offset, s=shape[axis]:
                             r.get_tensor(b).take(range(o, o + s), axis=a))
            offset += shape[axis]
    return loaders


# ---------------------------------------------------------------- SavedModel

def freeze_saved_model(export_dir, tags=("serve",), output_nodes=None, signature=None, allow_unsafe_ops=False):
    """Freeze a v1 SavedModel; outputs default to the signature's outputs."""
    from ._tf import tf

    tf = tf()
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    if not os.path.isdir(export_dir) or not any(os.path.exists(os.path.join(export_dir, f))
                                                for f in ("saved_model.pb", "saved_model.pbtxt")):
        raise InputError(f"{export_dir}: not a SavedModel directory (no saved_model.pb or saved_model.pbtxt); "
                         f"pass the export directory")
    sm = io.load_saved_model_proto(export_dir)
    available = [list(m.meta_info_def.tags) for m in sm.meta_graphs]
    for m in sm.meta_graphs:  # its init ops run on load (a dataset the graph also holds does not)
        safety.check(m.graph_def, export_dir, needed=_runs_on_load(m), allow=allow_unsafe_ops, allow_saver=True)
    if available and set(tags) not in [set(t) for t in available]:
        shown = "; ".join(",".join(t) for t in available)
        raise InputError(f"{export_dir}: no meta graph with tags '{','.join(tags)}'; available: {shown} (use --tags)")
    g = tf.Graph()
    with g.as_default(), _session(tf, g) as sess:
        try:
            mg = tf.compat.v1.saved_model.loader.load(sess, list(tags), export_dir)
        except (RuntimeError, ValueError, IOError, tf.errors.OpError) as e:
            raise InputError(f"{export_dir}: cannot load SavedModel ({op_error_text(e)})")
        candidates, discovered = [], False
        if output_nodes:
            outputs = _names(output_nodes)
        else:
            sigs = mg.signature_def
            key = signature or ("serving_default" if "serving_default" in sigs else next(iter(sigs), None))
            if key is not None and key in sigs and sigs[key].outputs:
                outputs = [node_name(t.name) for _, t in sorted(sigs[key].outputs.items())]
                candidates = [{"name": o, "op": "", "score": 0, "why": f"signature '{key}'"} for o in outputs]
                discovered = True
            else:
                outputs, candidates, discovered = _pick_outputs(g.as_graph_def(), None, export_dir)
        return _freeze_in_session(sess, g, outputs, export_dir, candidates, discovered)


LOAD_COLLECTIONS = ("saved_model_main_op", "main_op", "legacy_init_op", "table_initializer", "init_op")


def _runs_on_load(meta_graph):
    """Names of what loading a SavedModel's meta graph runs: its init ops and what they need."""
    from .graph import Graph

    roots = [node_name(v) for key in LOAD_COLLECTIONS if key in meta_graph.collection_def
             for v in meta_graph.collection_def[key].node_list.value]
    names = {n.name for n in meta_graph.graph_def.node}
    roots = [r for r in roots if r in names]
    return Graph(meta_graph.graph_def).ancestors(roots) if roots else set()


# ---------------------------------------------------------------- Keras HDF5

def freeze_keras(path, output_nodes=None):
    """Freeze a Keras-2 HDF5 model (``model.save('x.h5')``) loaded with tf_keras in inference mode."""
    from ._tf import tf

    tf = tf()
    if io.sniff(path) != "keras_h5":
        raise InputError(f"{path}: not an HDF5 file; pass the .h5 written by model.save('model.h5')")
    try:
        import tf_keras
        from tf_keras.src import backend as K  # set_session/get_session are not exported in tf_keras 2.21
    except ImportError:
        raise InputError("freezing Keras-2 .h5 models needs the tf_keras package: pip install tf_keras")
    config, repaired = legacy_keras_config(path)
    g = tf.Graph()
    try:
        with g.as_default():
            K.set_session(_session(tf, g))
            import warnings

            with warnings.catch_warnings():  # (tf_keras announces the deprecation of what it still needs)
                warnings.simplefilter("ignore")
                K.set_learning_phase(0)
            try:
                if repaired:  # the architecture as the Keras that wrote it meant it, then the weights
                    log.info("%s: read as its Keras wrote it: %s", path, "; ".join(repaired))
                    model = tf_keras.models.model_from_json(json.dumps(config))
                    model.load_weights(path)
                else:
                    model = tf_keras.models.load_model(path, compile=False)
            except (OSError, ValueError, KeyError, TypeError) as e:
                first = str(e).splitlines()[0][:150] if str(e).strip() else type(e).__name__
                first = re.sub(r"<[^>]*GFile object at 0x[0-9a-f]+>", path, first)
                hint = ("a Lambda or custom layer needs its Python code: load it in tf_keras with custom_objects "
                        "and freeze the session (graphtools.freeze_session)" if "Unknown" in first or "Lambda" in first
                        else "re-save it with model.save('x.h5') from the code that built it")
                raise InputError(f"{path}: cannot load this Keras model ({first}); {hint}")
            if output_nodes:
                outputs, candidates, discovered = _names(output_nodes), [], False
            else:
                outputs = [t.op.name for t in model.outputs]
                candidates = [{"name": o, "op": "", "score": 0, "why": "Keras model output"} for o in outputs]
                discovered = True
            sess = K.get_session()
            try:
                return _freeze_in_session(sess, g, outputs, path, candidates, discovered)
            finally:
                sess.close()
    finally:
        K.clear_session()


def legacy_keras_config(path):
    """(model config, [what was repaired]) of a Keras-2 .h5: the architecture as the Keras version that wrote
    it computed, where tf_keras reads the same config differently.

    - GRU configs written before ``reset_after`` existed (Keras < 2.1.5 wrote none): False, the only GRU
      that Keras had (tf_keras defaults a missing key to True, a different cell, and refuses the weights);
    - ``{'type': 'ndarray', 'value': 0.3}`` (Keras 2.0 serialised numpy scalars so): the number.

    A file with weights but no architecture (``save_weights``) is one clear error.
    """
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs.get("model_config")
        if raw is None:
            weights = "layer_names" in f.attrs or "model_weights" in f
            raise InputError(f"{path}: holds {'weights only' if weights else 'no Keras model'} (no model_config: "
                             f"written by save_weights); build the model in code, model.load_weights('{os.path.basename(path)}'), "
                             f"then model.save('full.h5') and convert that")
        version = f.attrs.get("keras_version", b"")
    raw = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    version = version.decode("utf-8") if isinstance(version, bytes) else str(version)
    config = json.loads(raw)
    repaired = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "ndarray" and "value" in node and len(node) == 2:
                repaired.append("numpy scalars in the config as numbers")
                return node["value"]
            cls, cfg = node.get("class_name"), node.get("config")
            if cls in ("GRU", "CuDNNGRU") and isinstance(cfg, dict) and "reset_after" not in cfg:
                cfg["reset_after"] = False
                repaired.append(f"GRU {cfg.get('name', '')} without reset_after (Keras {version or '< 2.1.5'}): "
                                f"reset_after=False")
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    config = walk(config)
    steps = _keras_timesteps(config)
    rnns = []

    def unroll(node):  # a recurrent layer over a known, moderate number of steps: straight-line ops
        if isinstance(node, dict):
            cfg = node.get("config")
            if node.get("class_name") in KERAS_RNN_LAYERS and isinstance(cfg, dict) and not cfg.get("unroll"):
                cfg["unroll"] = True
                rnns.append(cfg.get("name", node.get("class_name")))
            for v in node.values():
                unroll(v)
        elif isinstance(node, list):
            for v in node:
                unroll(v)

    if steps and steps <= MAX_KERAS_UNROLL:
        unroll(config)
        if rnns:
            repaired.append(f"{', '.join(rnns)} unrolled over {steps} steps (a TensorList while loop has no "
                            f"static shapes for the converter)")
    return config, list(dict.fromkeys(repaired))


KERAS_RNN_LAYERS = {"LSTM", "GRU", "SimpleRNN", "CuDNNLSTM", "CuDNNGRU", "RNN"}
MAX_KERAS_UNROLL = 1000


def _keras_timesteps(config):
    """The largest fixed sequence length a Keras config's inputs declare (batch_input_shape[1]; an
    Embedding's input_length), or None when one of them is open."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            cfg = node.get("config")
            if isinstance(cfg, dict):
                shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
                if shape and len(shape) >= 3:
                    found.append(shape[1])
                if node.get("class_name") == "Embedding" and "input_length" in cfg:
                    found.append(cfg["input_length"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(config)
    if not found or any(f is None for f in found):
        return None
    return max(int(f) for f in found)


# ---------------------------------------------------------------- one front door

def freeze(ckpt=None, meta=None, graph=None, saved_model=None, tags=("serve",), keras=None,
           output_nodes=None, signature=None, allow_unsafe_ops=False, input_nodes=None, outputs=None, inputs=None):
    """Freeze whichever source is given; return a FreezeResult.

    ``outputs``: the output nodes ('a,b' or a list; default: the best-ranked, as zero-config does);
    ``inputs``: the placeholders the caller means to feed, each one the outputs must read (see
    ``check_inputs``). ``output_nodes`` and ``input_nodes`` are the older names of the same. Graphs with
    ops that reach the file system or Python (other than the saver's own restore) are refused before
    anything runs, unless ``allow_unsafe_ops``.
    """
    output_nodes, input_nodes = _either(outputs, output_nodes, "outputs"), _either(inputs, input_nodes, "inputs")
    result = _freeze(ckpt, meta, graph, saved_model, tags, keras, output_nodes, signature, allow_unsafe_ops)
    if not input_nodes:
        return result
    # (a frozen graph is pruned to its outputs: what it had besides still names an unread placeholder as one)
    source_ops = {n.name: n.op for n in io.load_graph_def(graph).node} if graph and not ckpt else {}
    return check_inputs(result, input_nodes, source_ops)


def check_inputs(result, input_nodes, source_ops=None):
    """``result`` with its inputs in the order of ``input_nodes`` (then the others the outputs read).

    Each named input must be a placeholder of the frozen graph that the outputs read: freezing keeps
    the graph's own inputs (a tensor inside the graph becomes an input with ``strip --cut``).
    """
    from .analysis import named_inputs

    ops = {**(source_ops or {}), **{n.name: n.op for n in result.graph_def.node}}
    return dataclasses.replace(result, inputs=named_inputs(result.inputs, _names(input_nodes), ops, result.outputs))


def _freeze(ckpt, meta, graph, saved_model, tags, keras, output_nodes, signature, allow_unsafe_ops):
    given = [x for x in (ckpt or graph, saved_model, keras) if x]
    if len(given) != 1:
        raise InputError("give exactly one source: --ckpt (with --meta or --graph), --saved-model or --keras")
    if saved_model:
        return freeze_saved_model(saved_model, tags, output_nodes, signature, allow_unsafe_ops)
    if keras:
        return freeze_keras(keras, output_nodes)
    if graph and not ckpt:
        gd = io.load_graph_def(graph)
        outputs, candidates, discovered = _pick_outputs(gd, output_nodes, graph)
        # a "frozen" graph that kept its variables, Assigns and Saver (frozen with every node as an output):
        # what the outputs do not reach goes before anything runs; a variable they do read is named
        sub = _extract(gd, outputs)
        _clean(sub)  # (TF-TRT and Grappler exports pin GPUs: the graph runs here, on the CPU)
        read = [n.name for n in sub.node if n.op in VARIABLE_OPS]
        if read:
            raise InputError(f"{graph}: the outputs {', '.join(outputs)} read variable {read[0]}"
                             f"{f' (+{len(read) - 1} more)' if len(read) > 1 else ''}; give the checkpoint that "
                             f"holds their values with --ckpt")
        a = GraphAnalysis(sub)
        result = FreezeResult(sub, outputs, a.discover_inputs(outputs), graph, candidates, discovered,
                              unread=_unread(gd, sub))
        return _cut_input_pipeline(result, a.input_pipeline_cuts(outputs))
    return freeze_checkpoint(ckpt, meta=meta, graph=graph, output_nodes=output_nodes,
                             allow_unsafe_ops=allow_unsafe_ops)


def _unread(source, frozen):
    """Placeholders of ``source`` that ``frozen`` (pruned to its outputs) no longer has."""
    kept = {n.name for n in frozen.node}
    return [n.name for n in source.node if n.op in PLACEHOLDER_OPS and n.name not in kept]


def _extract(gd, outputs):
    from .graph import Graph

    out = type(gd)()
    out.CopyFrom(gd)
    g = Graph(out)
    g.prune(outputs)
    g.compact()  # (prune only marks: without this the file kept every node it had)
    return g.graph_def
