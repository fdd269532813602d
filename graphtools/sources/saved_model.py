"""Freezing a v1 SavedModel: its signature's inputs and outputs, the ops it runs on load."""
import logging
import os
from ..core import io
from ..core.analysis import GraphAnalysis
from ..core.graph import node_name
from ..core.runtime import op_error_text
from ..errors import InputError
from . import safety
from .session import as_names, freeze_in_session, new_session, pick_outputs

log = logging.getLogger(__name__)
DT_STRING = 7


def freeze_saved_model(export_dir, tags=None, output_nodes=None, signature=None, allow_unsafe_ops=False):
    """Freeze a v1 SavedModel; outputs default to the signature's outputs. ``tags`` None: 'serve', or the
    tags of the only meta graph the SavedModel holds (an export with its own tags, said in the log)."""
    from .._tf import tf

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
    if tags is None and len(available) == 1 and set(available[0]) != {"serve"}:
        tags = available[0]
        log.warning("%s: its one meta graph is tagged '%s' (not 'serve'): that one is frozen", export_dir,
                    ",".join(tags))
    tags = list(tags) if tags is not None else ["serve"]
    if available and set(tags) not in [set(t) for t in available]:
        shown = "; ".join(",".join(t) for t in available)
        raise InputError(f"{export_dir}: no meta graph with tags '{','.join(tags)}'; available: {shown} (use --tags)")
    g = tf.Graph()
    with g.as_default(), new_session(tf, g) as sess:
        try:
            mg = tf.compat.v1.saved_model.loader.load(sess, list(tags), export_dir)
        except (RuntimeError, ValueError, IOError, tf.errors.OpError) as e:
            raise InputError(f"{export_dir}: cannot load SavedModel ({op_error_text(e)})")
        candidates, discovered = [], False
        if output_nodes:
            outputs = as_names(output_nodes)
        else:
            sigs = mg.signature_def
            key = signature or ("serving_default" if "serving_default" in sigs else next(iter(sigs), None))
            if key is not None and key in sigs and sigs[key].outputs:
                outs = sorted(sigs[key].outputs.items())
                numeric = [(k, t) for k, t in outs if t.dtype != DT_STRING]
                if numeric and len(numeric) < len(outs):  # (class names looked up from the ids: an app's table)
                    log.warning("%s: signature '%s' outputs %s are strings (a lookup table's labels): the model is "
                                "its numeric outputs %s", export_dir, key, ", ".join(k for k, t in outs
                                                                                    if t.dtype == DT_STRING),
                                ", ".join(k for k, _ in numeric))
                    outs = numeric
                outputs = [node_name(t.name) for _, t in outs]
                candidates = [{"name": o, "op": "", "score": 0, "why": f"signature '{key}'"} for o in outputs]
                discovered = True
            else:
                outputs, candidates, discovered = pick_outputs(g.as_graph_def(), None, export_dir)
        result = freeze_in_session(sess, g, outputs, export_dir, candidates, discovered)
        # (a serving export fed serialized tf.Examples: the model is fed where ParseExample hands it tensors)
        from .checkpoint import cut_input_pipeline

        return cut_input_pipeline(result, GraphAnalysis(result.graph_def).input_pipeline_cuts(result.outputs), g)


LOAD_COLLECTIONS = ("saved_model_main_op", "main_op", "legacy_init_op", "table_initializer", "init_op")


def _runs_on_load(meta_graph):
    """Names of what loading a SavedModel's meta graph runs: its init ops and what they need."""
    from ..core.graph import Graph

    roots = [node_name(v) for key in LOAD_COLLECTIONS if key in meta_graph.collection_def
             for v in meta_graph.collection_def[key].node_list.value]
    names = {n.name for n in meta_graph.graph_def.node}
    roots = [r for r in roots if r in names]
    return Graph(meta_graph.graph_def).ancestors(roots) if roots else set()
