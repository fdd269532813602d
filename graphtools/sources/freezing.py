"""Every TF1 source -> frozen GraphDef (variables replaced by constants, function library kept).

Sources: a checkpoint with its meta graph, a checkpoint directory, a GraphDef plus a checkpoint
(the way ``freeze_graph.py --input_graph --input_checkpoint`` worked), a v1 SavedModel, a Keras-2
HDF5 model, and a live ``tf.compat.v1.Session``. This module is the front door (``freeze`` picks
the source); each source has its module (``checkpoint``, ``saved_model``, ``keras``) and all of them
end in ``session`` (variables to constants in a session, the outputs checked).
"""
import dataclasses
import logging

from ..core import io
from ..core.analysis import GraphAnalysis
from ..core.ops import VARIABLE_OPS
from ..errors import InputError
from .checkpoint import cut_input_pipeline, freeze_checkpoint
from .keras import freeze_keras
from .saved_model import freeze_saved_model
from .session import FreezeResult, as_names, clean_frozen, either, pick_outputs, unread_nodes

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- one front door

def freeze(ckpt=None, meta=None, graph=None, saved_model=None, tags=None, keras=None,
           output_nodes=None, signature=None, allow_unsafe_ops=False, input_nodes=None, outputs=None, inputs=None):
    """Freeze whichever source is given; return a FreezeResult.

    ``outputs``: the output nodes ('a,b' or a list; default: the best-ranked, as zero-config does);
    ``inputs``: the placeholders the caller means to feed, each one the outputs must read (see
    ``check_inputs``). ``output_nodes`` and ``input_nodes`` are the older names of the same. Graphs with
    ops that reach the file system or Python (other than the saver's own restore) are refused before
    anything runs, unless ``allow_unsafe_ops``.
    """
    output_nodes, input_nodes = either(outputs, output_nodes, "outputs"), either(inputs, input_nodes, "inputs")
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
    from ..core.describe import named_inputs

    ops = {**(source_ops or {}), **{n.name: n.op for n in result.graph_def.node}}
    return dataclasses.replace(result, inputs=named_inputs(result.inputs, as_names(input_nodes), ops, result.outputs))


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
        outputs, candidates, discovered = pick_outputs(gd, output_nodes, graph)
        # a "frozen" graph that kept its variables, Assigns and Saver (frozen with every node as an output):
        # what the outputs do not reach goes before anything runs; a variable they do read is named
        sub = _extract(gd, outputs)
        clean_frozen(sub)  # (TF-TRT and Grappler exports pin GPUs: the graph runs here, on the CPU)
        read = [n.name for n in sub.node if n.op in VARIABLE_OPS]
        if read:
            raise InputError(f"{graph}: the outputs {', '.join(outputs)} read variable {read[0]}"
                             f"{f' (+{len(read) - 1} more)' if len(read) > 1 else ''}; give the checkpoint that "
                             f"holds their values with --ckpt")
        a = GraphAnalysis(sub)
        result = FreezeResult(sub, outputs, a.discover_inputs(outputs), graph, candidates, discovered,
                              unread=unread_nodes(gd, sub))
        return cut_input_pipeline(result, a.input_pipeline_cuts(outputs))
    return freeze_checkpoint(ckpt, meta=meta, graph=graph, output_nodes=output_nodes,
                             allow_unsafe_ops=allow_unsafe_ops)


def _extract(gd, outputs):
    from ..core.graph import Graph

    out = type(gd)()
    out.CopyFrom(gd)
    g = Graph(out)
    g.prune(outputs)
    g.compact()  # (prune only marks: without this the file kept every node it had)
    return g.graph_def
