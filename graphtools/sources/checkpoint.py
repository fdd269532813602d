"""Freezing a checkpoint: with its meta graph, a checkpoint directory, or a GraphDef beside a checkpoint (the
way ``freeze_graph.py --input_graph --input_checkpoint`` worked); restoring what the Saver wrote."""
import dataclasses
import logging
import os
import re
from ..core import io
from ..core.analysis import GraphAnalysis
from ..core.graph import node_name
from ..core.ops import PLACEHOLDER_OPS, VARIABLE_OPS
from ..core.runtime import op_error_text
from ..errors import FreezeError, InputError
from . import safety
from .session import check_frozen_size, freeze_in_session, new_session, pick_outputs

log = logging.getLogger(__name__)


def freeze_checkpoint(ckpt, meta=None, graph=None, output_nodes=None, allow_unsafe_ops=False):
    """Freeze a checkpoint (prefix or directory) with its meta graph, or with a separate GraphDef.

    ``meta`` defaults to ``PREFIX.meta`` beside the checkpoint; ``graph`` (a .pb/.pbtxt path or a
    GraphDef) is used instead of a meta graph the way ``freeze_graph.py --input_graph`` worked.
    """
    from .._tf import tf

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
    outputs, candidates, discovered = pick_outputs(mg.graph_def, output_nodes, meta)
    cuts = _check_what_runs(mg.graph_def, outputs, meta, allow_unsafe_ops)
    g, saver = _import_meta(tf, mg, meta)
    with g.as_default():
        if saver is None:
            saver = _saver_from_checkpoint(tf, g, prefix)
        check_frozen_size(g.as_graph_def(), outputs, ckpt)  # before restoring gigabytes of weights
        with new_session(tf, g) as sess:
            _restore(tf, saver, sess, prefix, meta)
            initialized = _initialize_unsaved(tf, sess, g, outputs)
            result = freeze_in_session(sess, g, outputs, ckpt, candidates, discovered, size_checked=True)
        result.initialized = initialized
        return cut_input_pipeline(result, cuts, g)


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


def cut_input_pipeline(result, cuts, graph=None):
    """Feed the model from placeholders where its input pipeline (queue, iterator, reader, decoder) handed
    it tensors: the dtype and shape TensorFlow infers for each (``graph``, else an import of the frozen
    graph), the pipeline pruned. The freeze result says which tensor became which placeholder."""
    if not cuts:
        return result
    from ..core.cuts import cut_tensors, pipeline_shape

    if graph is None:
        from ..core.runtime import import_graph

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
    from .. import guard

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


def _freeze_graph_def_with_checkpoint(tf, gd, prefix, output_nodes, source, allow_unsafe_ops=False):
    """Load ``gd``, assign every variable from the checkpoint (partitioned ones by slice), freeze."""
    import numpy as np

    outputs, candidates, discovered = pick_outputs(gd, output_nodes, source)
    cuts = _check_what_runs(gd, outputs, source, allow_unsafe_ops)
    check_frozen_size(gd, outputs, source)  # before reading gigabytes of weights
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
        with new_session(tf, g) as sess:
            sess.run(assigns, feeds)
            result = freeze_in_session(sess, g, outputs, source, candidates, discovered, size_checked=True)
        return cut_input_pipeline(result, cuts, g)


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
