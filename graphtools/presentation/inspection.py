"""Describe any model file: real inputs, ranked outputs, ops, parameters, conversion blockers."""
import os

from ..core import io
from ..core.analysis import GraphAnalysis
from ..core.describe import named_inputs, op_histogram
from ..errors import InputError, NodeNotFoundError
from ..core.graph import node_name


def inspect_path(path, outputs=None, top=5, inputs=None):
    """Return a JSON-ready report for a .pb/.pbtxt/.meta, checkpoint, SavedModel or .tflite."""
    kind = io.sniff(path)
    if kind == "tflite":
        from ..core import tflite

        report = {"file": path, "format": "tflite", "size_bytes": os.path.getsize(path)}
        report.update(tflite.summarize(path))
        report["io_card"] = tflite.io_card(path)
        if report["io_card"]:
            report["io_card"]["python"] = tflite.io_snippet(report["io_card"], os.path.basename(path))
        if inputs:
            have = [i["name"] for i in report["inputs"]]
            for name in (inputs.split(",") if isinstance(inputs, str) else inputs):
                if name.strip() and name.strip() not in have:
                    raise NodeNotFoundError(name.strip(), have, what="--inputs tensor", where=path)
        return report
    if kind == "keras_h5":
        raise InputError(f"{path}: Keras HDF5 models are inspected after freezing: "
                         f"graphtools freeze --keras {path} --out frozen.pb && graphtools inspect frozen.pb")
    if kind in ("checkpoint", "checkpoint_dir"):
        return inspect_checkpoint(path, outputs, top, inputs)
    if kind == "saved_model":
        return inspect_saved_model(path, outputs, top, inputs)
    if kind == "meta":
        mg = io.load_meta_graph(path)
        report = {"file": path, "format": "meta_graph", "size_bytes": os.path.getsize(path),
                  "tensorflow_version": mg.meta_info_def.tensorflow_version or None}
        report.update(inspect_graph_def(mg.graph_def, outputs, top, path, inputs))
        return report
    gd = io.load_graph_def(path)
    report = {"file": path, "format": "graph_def_text" if kind == "graph_text" else "graph_def",
              "size_bytes": os.path.getsize(path)}
    report.update(inspect_graph_def(gd, outputs, top, path, inputs))
    return report


def inspect_graph_def(graph_def, outputs=None, top=5, where="the graph", inputs=None):
    """Analyse a GraphDef: inputs for the (given or best-ranked) outputs, histogram, blockers.

    ``inputs``: placeholders the caller means to feed: checked, and listed first."""
    a = GraphAnalysis(graph_def)
    candidates = a.rank_outputs(top=top)
    if outputs:
        outputs = [node_name(o) for o in (outputs.split(",") if isinstance(outputs, str) else outputs)]
        for o in outputs:
            if o not in a.index:
                raise NodeNotFoundError(o, a.index.keys(), what="output node", where=where)
    else:
        outputs = [candidates[0]["name"]] if candidates else []
    found = a.discover_inputs(outputs) if outputs else []
    if inputs:
        names = [node_name(i.strip()) for i in (inputs.split(",") if isinstance(inputs, str) else inputs) if i.strip()]
        found = named_inputs(found, names, a.graph.ops(), outputs)
    needed = a.reachable(outputs) if outputs else set()
    count, nbytes = a.parameters()
    used_count, used_bytes = a.parameters(needed) if outputs else (0, 0)
    report = {
        "nodes": len(graph_def.node),
        "functions": len(graph_def.library.function),
        "inputs": [i for i in found if not i["optional"]],
        "optional_inputs": [i for i in found if i["optional"]],
        "outputs": outputs,
        "output_candidates": candidates,
        "op_histogram": op_histogram(graph_def),
        "parameters": {"count": count, "bytes": nbytes, "used_by_outputs": used_count,
                       "used_bytes": used_bytes},
        "has_while_loops": a.has_loops(),
        "training_nodes": len(a.training_region()),
        "blockers": a.conversion_blockers(found, outputs) if outputs else [],
    }
    from ..conversion.detection import is_export

    if is_export(graph_def):  # (its NMS loop and pre-processing look like blockers: they are not, in the pipeline)
        report["detector"] = ("an Object Detection API SSD export: graphtools pipeline converts it, its "
                              "post-processing as one TFLite_Detection_PostProcess op, and checks it by detection "
                              "matching (docs/detection.md)")
    return report


def inspect_checkpoint(path, outputs=None, top=5, inputs=None):
    from .._tf import tf

    tf = tf()
    prefix = io.checkpoint_prefix(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
        dtypes = reader.get_variable_to_dtype_map()
    except (tf.errors.OpError, ValueError) as e:
        msg = (getattr(e, "message", None) or str(e)).strip().splitlines()
        raise InputError(f"{prefix}: cannot read checkpoint ({msg[0][:150] if msg else type(e).__name__}); "
                         f"the index or data file is corrupt")
    variables = []
    total = 0
    for name in sorted(shapes):
        n = 1
        for d in shapes[name]:
            n *= d
        total += n
        variables.append({"name": name, "shape": list(shapes[name]), "dtype": dtypes[name].name})
    size = sum(os.path.getsize(f) for f in io.checkpoint_files(prefix) if not f.endswith(".meta"))
    report = {"file": path, "format": "checkpoint", "prefix": prefix, "size_bytes": size,
              "variables": variables, "variable_count": len(variables), "checkpoint_values": total}
    meta = prefix + ".meta"
    if os.path.exists(meta):
        mg = io.load_meta_graph(meta)
        report["meta_graph"] = meta
        report["tensorflow_version"] = mg.meta_info_def.tensorflow_version or None
        report.update(inspect_graph_def(mg.graph_def, outputs, top, meta, inputs))
    else:
        report["note"] = "no .meta beside the checkpoint: inputs and outputs come from the graph (--graph)"
    return report


def inspect_saved_model(path, outputs=None, top=5, inputs=None):
    sm = io.load_saved_model_proto(path)
    mg = sm.meta_graphs[0]
    sigs = {}
    for key, s in mg.signature_def.items():
        sigs[key] = {"inputs": {k: v.name for k, v in s.inputs.items()},
                     "outputs": {k: v.name for k, v in s.outputs.items()}}
    if not outputs and "serving_default" in sigs:
        outputs = [node_name(v) for v in sigs["serving_default"]["outputs"].values()]
    report = {"file": path, "format": "saved_model", "tags": [list(m.meta_info_def.tags) for m in sm.meta_graphs],
              "signatures": sigs, "size_bytes": sum(os.path.getsize(os.path.join(r, f))
                                                     for r, _, fs in os.walk(path) for f in fs)}
    report.update(inspect_graph_def(mg.graph_def, outputs, top, path, inputs))
    return report
