"""A detection model against TensorFlow, by matching detections (both ways) rather than tensors.

TensorFlow's ten best detections must be found in the model (same class, IoU >= 0.9, score within 0.02)
and the model's ten best in TensorFlow's; ``compare`` runs the export and every model image by image.
The bundle's verify.py carries its own copy of ``match`` (it runs with numpy and LiteRT only); the
bundle test keeps the two equal.
"""
import numpy as np

from ..conversion.detection import OUTPUTS, image_input
from ..core.graph import Graph


def match(tf_out, lite_out, top=10, min_iou=0.9, max_score_diff=0.02):
    """Detection matching of one image, both ways: each of TensorFlow's ``top`` best detections must have a
    model detection of the same class with IoU >= ``min_iou`` and a score within ``max_score_diff``, and
    each of the model's ``top`` best one of TensorFlow's (a model that adds detections TensorFlow does
    not make is not "the same" either). Slot order among near-tied scores is not meaningful, so
    detections are matched, not slots.

    ``tf_out``/``lite_out``: {output: array of one image} with the four outputs. ``found`` counts the
    detections matched out of ``checked`` (TensorFlow's best and the model's best, each once)."""
    tf_rows, lite_rows = _rows(tf_out), _rows(lite_out)
    f1, ious, diffs = _one_way(tf_rows, lite_rows, top, min_iou, max_score_diff)
    f2, _, _ = _one_way(lite_rows, tf_rows, top, min_iou, max_score_diff)
    c1, c2 = min(top, len(tf_rows[1])), min(top, len(lite_rows[1]))
    return {"tf_detections": len(tf_rows[1]), "tflite_detections": len(lite_rows[1]), "checked": c1 + c2,
            "found": f1 + f2, "tf_found": f1, "extra": c2 - f2,
            "mean_iou": float(np.mean(ious)) if ious else None, "max_score_diff": float(max(diffs)) if diffs else None}


def _rows(out):
    n = int(np.asarray(out["num_detections"]).reshape(-1)[0])
    boxes = np.asarray(out["detection_boxes"], np.float64).reshape(-1, 4)[:n]
    scores = np.asarray(out["detection_scores"], np.float64).reshape(-1)[:n]
    classes = np.asarray(out["detection_classes"], np.float64).reshape(-1)[:n]
    return boxes, scores, classes


def _one_way(want, got, top, min_iou, max_score_diff):
    (wb, ws, wc), (gb, gs, gc) = want, got
    found, ious, diffs, used = 0, [], [], set()
    for i in np.argsort(-ws, kind="stable")[:top]:
        best = None
        for j in range(len(gs)):
            if j in used or gc[j] != wc[i] or abs(gs[j] - ws[i]) > max_score_diff:
                continue
            o = iou(wb[i], gb[j])
            if o >= min_iou and (best is None or o > best[1]):
                best = (j, o)
        if best is not None:
            used.add(best[0])
            found += 1
            ious.append(best[1])
            diffs.append(abs(float(gs[best[0]]) - float(ws[i])))
    return found, ious, diffs


def iou(a, b):
    """Intersection over union; two identical boxes (also degenerate ones, clipped to an edge) are 1."""
    if np.allclose(a, b, atol=1e-6):
        return 1.0
    y1, x1 = max(a[0], b[0]), max(a[1], b[1])
    y2, x2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, y2 - y1) * max(0.0, x2 - x1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def compare(graph_def, models, images, top=10, min_iou=0.9, max_score_diff=0.02):
    """TensorFlow's detections (``graph_def``, the export as it is) against each TFLite model's, image by
    image. ``models``: [(name, LiteModel)]; ``images``: uint8 array [K, H, W, C]. Returns the compare
    section of the report: {"kind": "detection", "models": [...], "samples": K}."""
    from ..core.runtime import GraphRunner

    image = image_input(Graph(graph_def))
    tf_runs = []
    with GraphRunner(graph_def, path="the TF graph") as runner:
        for img in images:
            tf_runs.append(dict(zip(OUTPUTS, runner.run({image: img[None]}, list(OUTPUTS)))))
    out, runs = [], {}
    for name, model in models:
        got, _, _ = model.run({image: np.asarray(images)[:, None]}, [image], list(OUTPUTS), whole=True)
        runs[name] = [{k: v[i] for k, v in zip(OUTPUTS, got)} for i in range(len(tf_runs))]
        per = [match(ref, runs[name][i], top, min_iou, max_score_diff) for i, ref in enumerate(tf_runs)]
        checked = sum(p["checked"] for p in per)
        found = sum(p["found"] for p in per)
        out.append({"model": name, "size_bytes": len(getattr(model, "bytes", b"")) or None, "found": found,
                    "checked": checked,
                    "found_fraction": found / checked if checked else None,
                    "worst_image_fraction": min((p["found"] / p["checked"] for p in per if p["checked"]),
                                                default=None),
                    "mean_iou": _mean([p["mean_iou"] for p in per]),
                    "max_score_diff": max((p["max_score_diff"] for p in per if p["max_score_diff"] is not None),
                                          default=None),
                    "per_image": per})
    return {"kind": "detection", "samples": len(images), "top": top, "min_iou": min_iou,
            "max_score_diff": max_score_diff, "models": out, "_runs": {"tf": tf_runs, "models": runs}}


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return float(np.mean(xs)) if xs else None
