"""Export formats recognised by their structure, whose outputs are known without asking.

An Object Detection API detection export (``frozen_inference_graph.pb``, its SavedModel or checkpoint)
computes its four outputs in one post-processing scope, around a BatchMultiClassNonMaxSuppression loop;
a ``tflite_graph.pb`` made for TFLite already holds the TFLite_Detection_PostProcess op. Output discovery
(freeze, strip, convert with no ``--outputs``) takes these outputs, not one ranked candidate among them;
``conversion.detection`` does the rest.
"""
OUTPUTS = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")
NMS_OPS = {"NonMaxSuppression", "NonMaxSuppressionV2", "NonMaxSuppressionV3", "NonMaxSuppressionV4",
           "NonMaxSuppressionV5"}
POSTPROCESS_OP = "TFLite_Detection_PostProcess"


def postprocessor_scope(graph_def):
    """The scope holding BatchMultiClassNonMaxSuppression ('Postprocessor/'), or None."""
    for n in graph_def.node:
        if n.op in NMS_OPS and "BatchMultiClassNonMaxSuppression" in n.name:
            return n.name.split("BatchMultiClassNonMaxSuppression")[0]
    return None


def is_export(graph_def):
    """True for an Object Detection API detection export: its post-processing and its four outputs."""
    names = {n.name for n in graph_def.node}
    return postprocessor_scope(graph_def) is not None and all(o in names for o in OUTPUTS)


def export_outputs(graph_def):
    """The outputs an export is known to have (the four detection outputs; the one TFLite_Detection_PostProcess
    node of a tflite_graph.pb), or None for any other graph."""
    if is_export(graph_def):
        return list(OUTPUTS)
    ops = [n.name for n in graph_def.node if n.op == POSTPROCESS_OP]
    return ops if len(ops) == 1 else None


def names_part_of_export(graph_def, outputs):
    """True when ``outputs`` are some but not all of a detection export's four (they come from one
    post-processing op: the model is all four or none). Also on a graph frozen to those outputs."""
    named = set(outputs or [])
    return bool(named) and named < set(OUTPUTS) and postprocessor_scope(graph_def) is not None
