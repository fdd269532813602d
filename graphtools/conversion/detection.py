"""Object Detection API SSD exports: recognised by structure, rewritten for TFLite's detection op.

An export (``frozen_inference_graph.pb``) takes ``image_tensor`` (uint8) and computes, in scopes the
API always writes: a ``Preprocessor`` map loop over the batch (resize, normalisation), the feature
extractor and box-predictor heads, concatenated into box encodings ``[1, N, 4]`` and class predictions
``[1, N, C+1]``, the anchors ``[N, 4]``, and a ``Postprocessor`` that converts scores (sigmoid or
softmax), decodes boxes (``Decode``: a Faster R-CNN box coder with four scales) and runs
``BatchMultiClassNonMaxSuppression`` in a while loop. Plain ``from_frozen_graph`` cannot convert the
loops. ``recognise`` finds the pieces and reads every parameter from the graph (one TensorFlow run for
the anchors and shapes); ``tflite_form`` keeps the graph up to the raw box encodings and converted
scores and puts one ``TFLite_Detection_PostProcess`` op (in every LiteRT's built-in resolver) on them,
with the box coder's scales, the NMS thresholds, per-class NMS and the maximum detections taken from
the graph, so that it selects what TensorFlow selects. Its outputs keep the graph's names and meaning:
boxes clipped to the image as the graph clips them, class ids with the graph's label offset.
"""
import dataclasses
import logging

import numpy as np

from ..errors import InputError
from ..core.exports import NMS_OPS, OUTPUTS, POSTPROCESS_OP, is_export, postprocessor_scope  # noqa: F401 (re-exported)
from ..core.graph import Graph, node_name, output_index

log = logging.getLogger(__name__)

SCORE_CONVERTERS = {"Sigmoid", "Softmax", "Identity"}
RESIZE_OPS = {"ResizeBilinear", "ResizeNearestNeighbor", "ResizeBicubic", "ResizeArea"}
# class columns LiteRT's multi-threaded regular NMS skips (column T for T threads): kept for classes that never score
SKIPPED_COLUMNS = tuple(range(2, 33))


@dataclasses.dataclass
class SSD:
    """What an SSD export computes, read from its graph."""

    image: str
    image_shape: list
    box_encodings: str
    decoded_boxes: str          # the boxes the NMS reads (decoded, [1, N, (1,) 4])
    scores: str                 # the converted class scores
    scores_with_background: bool
    anchors: np.ndarray         # [N, 4]: y centre, x centre, height, width
    num_classes: int
    scales: tuple               # the box coder's y, x, height, width scales
    iou_threshold: float
    score_threshold: float
    per_class: int
    max_detections: int
    label_offset: float
    score_converter: str
    nms_op: str
    clip_before_nms: bool = True  # older exports clip the boxes to the image before their NMS, newer after

    def describe(self):
        h, w = self.image_shape[1:3]
        raised = (f"; the op keeps up to {self.max_detections} per class, not {self.per_class}: LiteRT's multi-threaded "
                  f"NMS overruns its buffer with fewer, so a class may keep more detections than in TensorFlow "
                  f"(compare counts them)" if self.per_class < self.max_detections else "")
        return (f"an Object Detection API SSD export: {len(self.anchors)} anchors, {self.num_classes} classes, "
                f"{self.score_converter.lower()} scores, {self.nms_op} per class (IoU {self.iou_threshold:g}, "
                f"score > {self.score_threshold:g}, {self.per_class} per class, {self.max_detections} in all), box "
                f"scales {'/'.join(f'{s:g}' for s in self.scales)}, input {self.image} {h}x{w}: its post-processing "
                f"becomes one {POSTPROCESS_OP} op{raised}")

    def as_dict(self):
        d = dataclasses.asdict(self)
        d["anchors"] = int(len(self.anchors))
        d["describe"] = self.describe()
        return d


def two_stage(graph_def):
    """True for Faster/Mask R-CNN exports (a second stage cropping the first's proposals)."""
    return any(n.op == "CropAndResize" for n in graph_def.node) and any(
        n.name.startswith("SecondStage") for n in graph_def.node)


def recognise(graph_def, input_shapes=None):
    """The SSD ``graph_def`` is (an ``SSD``), or None when it is not an Object Detection API export.
    Raises InputError for exports TFLite cannot take as one detection op (two-stage detectors)."""
    if not is_export(graph_def):
        return None
    if two_stage(graph_def):
        raise InputError("a two-stage (Faster/Mask R-CNN) Object Detection API export: TFLite has no op for its "
                         "second stage (crop-and-resize of the proposals, per-proposal classifier); convert it "
                         "with --select-tf-ops (the Flex delegate), or export an SSD")
    g = Graph(graph_def)
    scope = postprocessor_scope(graph_def)
    image = image_input(g)
    shape = _image_shape(g, image, input_shapes)
    external = _scope_inputs(g, scope)
    nms_inputs = _scope_inputs(g, scope + "BatchMultiClassNonMaxSuppression")
    from ..core.runtime import GraphRunner

    with GraphRunner(graph_def, path="the detection graph") as runner:
        fetch = list(dict.fromkeys(list(external) + nms_inputs)) + ["detection_scores"]
        values = runner.run({image: np.zeros(shape, _dtype(g, image))}, fetch)
    vals = dict(zip(fetch, values))
    anchors = [t for t in external if vals[t].ndim == 2 and vals[t].shape[1] == 4]
    scores_src, scores = None, None
    for t in external:
        found = _score_converter(g, t, scope)
        if found is not None and vals[t].ndim == 3:
            scores_src, scores = t, found[0]
    boxes = [t for t in external if t != scores_src and vals[t].ndim in (3, 4) and vals[t].shape[-1] == 4]
    if len(anchors) != 1 or len(boxes) != 1 or scores is None:
        raise InputError(f"an Object Detection API export whose post-processing inputs were not all found (anchors "
                         f"{len(anchors)}, box encodings {len(boxes)}, class scores {int(scores is not None)}); "
                         f"convert it with --select-tf-ops, or name the raw outputs with --outputs")
    k = vals[scores_src].shape[-1]
    with GraphRunner(graph_def, path="the detection graph") as runner:
        converted = runner.static_shapes([scores])[0]
    with_bg = converted is not None and converted[-1] == k
    nms = [n for n in graph_def.node if n.op in NMS_OPS and n.name.startswith(scope)]
    iou = _const_input(g, nms[0], 3)
    per_class = _const_input(g, nms[0], 2)
    # the score threshold: NMS V3+ take one (the API gives them -inf and filters before: FilterGreaterThan)
    thresholds = [_const_input(g, nms[0], 4)] if nms[0].op != "NonMaxSuppressionV2" else []
    thresholds += [_const_input(g, n, 1) for n in graph_def.node if n.op == "Greater" and n.name.startswith(scope)
                   and "FilterGreaterThan" in n.name]
    finite = [float(t) for t in thresholds if t is not None and np.isfinite(t)]
    threshold = max(finite) if finite else 0.0
    scales = _box_scales(g, scope)
    if iou is None or per_class is None or scales is None:
        raise InputError("an Object Detection API export whose NMS thresholds or box coder scales are not constants; "
                         "convert it with --select-tf-ops")
    decoded = [t for t in nms_inputs if vals[t].ndim in (3, 4) and vals[t].shape[-1] == 4
               and vals[t].shape[1] == len(vals[anchors[0]])]
    if len(decoded) != 1:
        raise InputError("an Object Detection API export whose decoded boxes were not found where its NMS reads them; "
                         "convert it with --select-tf-ops")
    return SSD(image=image, image_shape=shape, box_encodings=boxes[0], decoded_boxes=decoded[0], scores=scores,
               clip_before_nms=_clips_before(g, nms[0]), scores_with_background=with_bg,
               anchors=_center_size(vals[anchors[0]]), num_classes=int(k - 1), scales=scales,
               iou_threshold=float(iou), score_threshold=float(threshold), per_class=int(per_class),
               max_detections=int(vals["detection_scores"].shape[1]), label_offset=_label_offset(g),
               score_converter=g.op_of(node_name(scores)), nms_op=nms[0].op)


def _clips_before(g, nms):
    """True when the boxes an NMS op compares were clipped to the image first (ClipToWindow on their path)."""
    seen, todo = set(), [node_name(g.data_inputs(nms.name)[0])]
    while todo:
        cur = todo.pop()
        if cur in seen or cur not in g:
            continue
        seen.add(cur)
        if "ClipToWindow" in cur:
            return True
        todo.extend(node_name(i) for i in g.data_inputs(cur))
    return False


def as_images(values, source="the data"):
    """``values`` as the uint8 images an export takes; refuses data that is not 0..255 pixels (normalised to
    [0, 1] or [-1, 1]: rounding it would feed near-black images and every figure would be about them)."""
    values = np.asarray(values)
    if values.size and values.dtype.kind == "f" and float(np.max(values)) <= 1.0 + 1e-6:
        raise InputError(f"{source}: values are at most {float(np.max(values)):.3g}; the export takes uint8 pixels "
                         f"0..255 (image_tensor): give the images as they are, without --scale/--mean/--std")
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def image_input(g):
    cands = [n for n in g.graph_def.node if n.op in ("Placeholder", "PlaceholderV2")]
    named = [n for n in cands if n.name == "image_tensor"]
    pick = named or [n for n in cands if n.attr["dtype"].type == 4] or cands
    if not pick:
        raise InputError("an Object Detection API export without an image placeholder")
    return pick[0].name


def _dtype(g, name):
    from ..core.describe import dtype_name

    return np.dtype(dtype_name(g.node(name).attr["dtype"].type))


def _image_shape(g, image, input_shapes):
    """[1, H, W, C]: the given shape, the placeholder's, else the size the pre-processing resizes to."""
    if input_shapes and image in input_shapes:
        given = list(input_shapes[image])
        if given and given[0] not in (1, -1):
            raise InputError(f"--input-shapes {','.join(map(str, given))}: TFLite's detection op takes one image at a "
                             f"time; give 1,{','.join(map(str, given[1:]))}")
        return [1] + given[1:]
    dims = [d.size for d in g.node(image).attr["shape"].shape.dim]
    channels = dims[3] if len(dims) == 4 and dims[3] > 0 else 3
    if len(dims) == 4 and all(d > 0 for d in dims[1:3]):
        return [1, dims[1], dims[2], channels]
    from ..core.constants import const_value

    for n in g.graph_def.node:
        if n.op in RESIZE_OPS and n.name.startswith("Preprocessor"):
            size = const_value(g, g.data_inputs(n.name)[1])
            if size is not None and np.size(size) == 2:
                return [1, int(size[0]), int(size[1]), channels]
    raise InputError(f"{image} has no fixed size and the pre-processing resizes to none; give it with "
                     f"--input-shapes 1,300,300,3")


def _scope_inputs(g, scope):
    """Tensors computed outside ``scope`` (not constants) that nodes inside it read."""
    out = []
    for n in g.graph_def.node:
        if not n.name.startswith(scope):
            continue
        for ref in g.data_inputs(n.name):
            src = node_name(ref)
            if not src.startswith(scope) and g.op_of(src) not in ("Const", "Placeholder") and ref not in out:
                out.append(ref if output_index(ref) else src)
    return out


def _score_converter(g, tensor, scope, hops=4):
    """(the converted scores, its op) when ``tensor`` reaches a score converter (sigmoid, softmax) through
    the slice and the logit scale in the post-processing scope."""
    cur = [node_name(tensor)]
    for _ in range(hops):
        nxt = []
        for c in cur:
            for r in g.consumers(c):
                if not r.startswith(scope):
                    continue
                op = g.op_of(r)
                if op in ("Sigmoid", "Softmax") or (op == "Identity" and "convert_scores" in r):
                    return r, op
                if op in ("Slice", "StridedSlice", "RealDiv", "Mul", "Identity", "Reshape"):
                    nxt.append(r)
        cur = nxt
    return None


def _const_input(g, node, k):
    from ..core.constants import const_value

    ins = g.data_inputs(node.name)
    if k >= len(ins):
        return None
    v = const_value(g, ins[k])
    if v is None and g.op_of(node_name(ins[k])) == "Minimum":  # min(max_size_per_class, num_boxes)
        vals = [const_value(g, i) for i in g.data_inputs(node_name(ins[k]))]
        v = next((x for x in vals if x is not None), None)
    return None if v is None else np.asarray(v).item()


def _box_scales(g, scope):
    """(y, x, h, w) scales of the Faster R-CNN box coder: ``unstack(codes)[i] / scale_i`` in Decode."""
    from ..core.constants import const_value

    scales = {}
    for n in g.graph_def.node:
        if n.op in ("RealDiv", "Div") and n.name.startswith(scope) and "Decode" in n.name:
            a, b = g.data_inputs(n.name)[:2]
            if g.op_of(node_name(a)) == "Unpack":
                v = const_value(g, b)
                if v is not None and np.size(v) == 1:
                    scales[output_index(a)] = float(np.asarray(v).item())
    return tuple(scales[i] for i in range(4)) if all(i in scales for i in range(4)) else None


def _label_offset(g):
    from ..core.constants import const_value

    node = g.node("detection_classes")
    while node is not None and node.op == "Identity":
        node = g.node(node_name(g.data_inputs(node.name)[0]))
    if node is not None and node.op in ("Add", "AddV2"):
        for ref in g.data_inputs(node.name):
            v = const_value(g, ref)
            if v is not None and np.size(v) == 1:
                return float(np.asarray(v).item())
    return 0.0


def _center_size(corners):
    ymin, xmin, ymax, xmax = np.asarray(corners, np.float64).T
    return np.stack([(ymin + ymax) / 2, (xmin + xmax) / 2, ymax - ymin, xmax - xmin], 1).astype(np.float32)


@dataclasses.dataclass
class Exported:
    """A graph already exported for TFLite (``tflite_graph.pb``): the network and one post-processing op
    TensorFlow has no kernel for. It converts as it is; the network before the op is what TensorFlow checks."""

    op: str
    image: str
    image_shape: list
    raw: list                   # the op's inputs the network computes (box encodings, class predictions)
    outputs: tuple = ("detection_boxes", "detection_classes", "detection_scores", "num_detections")

    def describe(self):
        return (f"a graph exported for TFLite with its {POSTPROCESS_OP} op ({self.op}): converted as it is; "
                f"the network before the op is checked against TensorFlow (TensorFlow has no kernel for the op)")

    def as_dict(self):
        return dataclasses.asdict(self)


def exported(graph_def, input_shapes=None):
    """``Exported`` for a graph holding a TFLite_Detection_PostProcess op, else None."""
    node = next((n for n in graph_def.node if n.op == POSTPROCESS_OP), None)
    if node is None:
        return None
    g = Graph(graph_def)
    raw = [i for i in g.data_inputs(node.name) if g.op_of(node_name(i)) != "Const"]
    inputs = [n.name for n in graph_def.node if n.op in ("Placeholder", "PlaceholderV2")]
    if len(inputs) != 1:
        raise InputError(f"a graph with {POSTPROCESS_OP} and {len(inputs)} placeholders: name the image input with "
                         f"--inputs")
    dims = [d.size for d in g.node(inputs[0]).attr["shape"].shape.dim]
    shape = [1] + list(input_shapes[inputs[0]])[1:] if input_shapes and inputs[0] in input_shapes else (
        [1] + dims[1:] if len(dims) == 4 and all(d > 0 for d in dims[1:]) else None)
    if shape is None:
        raise InputError(f"{inputs[0]} has no fixed size; give it with --input-shapes 1,300,300,3")
    return Exported(op=node.name, image=inputs[0], image_shape=shape, raw=raw)


# ------------------------------------------------------------------ the rewrite

def backbone(graph_def, ssd):
    """The graph up to the raw box encodings and converted scores (what TensorFlow runs and strip
    verifies); the pre-processing loop is still in it (convert unrolls it at batch 1)."""
    g = Graph(_copy(graph_def))
    g.prune(backbone_outputs(ssd))
    g.compact()
    return g.graph_def


def backbone_outputs(ssd):
    if isinstance(ssd, Exported):
        return [node_name(r) for r in ssd.raw]
    # (the raw encodings too: integer models are given them, so strip keeps their node)
    return list(dict.fromkeys([node_name(ssd.decoded_boxes), node_name(ssd.scores), node_name(ssd.box_encodings)]))


def output_names(det):
    return list(det.outputs) if isinstance(det, Exported) else list(OUTPUTS)


def tflite_form(graph_def, ssd, source=None, encodings=False):
    """``graph_def`` (the backbone, its loops lowered) with the detection op and the graph's four outputs
    (for an ``Exported`` graph: its own op, from ``source``, and outputs named as the op's are documented).

    ``encodings``: give the op the graph's raw box encodings, anchors and box coder scales (the form of
    ``export_tflite_ssd_graph``) instead of the boxes the graph's NMS compares: small numbers that keep
    their precision in 8 bits (for integer models), at the price of the NMS comparing unclipped boxes."""
    out = _copy(graph_def)
    if isinstance(ssd, Exported):
        g = Graph(source)
        node = g.node(ssd.op)
        have = {n.name for n in out.node}
        for ref in g.data_inputs(ssd.op):  # (the anchors constant)
            if node_name(ref) not in have:
                out.node.add().CopyFrom(g.node(node_name(ref)))
        out.node.add().CopyFrom(node)
        for k, name in enumerate(ssd.outputs):
            n = out.node.add()
            n.op, n.name = "Identity", name
            n.input.append(ssd.op if k == 0 else f"{ssd.op}:{k}")
            n.attr["T"].type = 1
        return out
    n_anchors = len(ssd.anchors)

    def add(op, name, inputs, **attrs):
        n = out.node.add()
        n.op, n.name = op, name
        n.input.extend(inputs)
        for k, v in attrs.items():
            if k in ("T", "dtype", "Tpaddings", "Tshape", "Index", "Tidx", "SrcT", "DstT", "Tparams", "Tindices",
                     "Taxis"):  # (type attrs; num, axis, N are ints)
                n.attr[k].type = v
            elif isinstance(v, bool):
                n.attr[k].b = v
            elif isinstance(v, int):
                n.attr[k].i = v
            elif isinstance(v, float):
                n.attr[k].f = v
        return n

    def const(name, value, dtype):
        n = add("Const", name, [], dtype={np.float32: 1, np.int32: 3}[dtype])
        v = np.asarray(value, dtype)
        t = n.attr["value"].tensor
        t.dtype = {np.float32: 1, np.int32: 3}[dtype]
        for d in v.shape:
            t.tensor_shape.dim.add().size = d
        t.tensor_content = v.tobytes()
        return name

    # The graph decodes the boxes (its anchors and box coder's scales, folded to constants by the converter)
    # and clips them to the image before its NMS. The op is given those clipped boxes, encoded against unit
    # anchors with unit scales (its decode then gives them back), so that its NMS compares what TensorFlow's
    # compares: with the raw encodings and anchors, boxes crossing the image border overlap differently.
    if encodings:
        box = add("Reshape", "raw_outputs/box_encodings",
                  [ssd.box_encodings, const("raw_outputs/box_shape", [1, n_anchors, 4], np.int32)], T=1, Tshape=3)
        return _attach_op(out, add, const, ssd, box, n_anchors, ssd.anchors, ssd.scales, clip_after=True)
    boxes = add("Reshape", "raw_outputs/decoded_boxes",
                [ssd.decoded_boxes, const("raw_outputs/box_shape", [1, n_anchors, 4], np.int32)], T=1, Tshape=3)
    corners = boxes.name
    if ssd.clip_before_nms:
        add("Maximum", "raw_outputs/clip_lo", [boxes.name, const("raw_outputs/zero", 0.0, np.float32)], T=1)
        corners = add("Minimum", "raw_outputs/clipped", ["raw_outputs/clip_lo", const("raw_outputs/one", 1.0,
                                                                                      np.float32)], T=1).name
    unpack = add("Unpack", "raw_outputs/corners", [corners], T=1, num=4, axis=2)
    half = const("raw_outputs/half", 0.5, np.float32)
    tiny = const("raw_outputs/tiny", 1e-4, np.float32)  # (a floor for log: small, without stretching int8 ranges)
    for name, a, b in (("yc", 0, 2), ("xc", 1, 3)):
        add("AddV2", f"raw_outputs/{name}_sum", [f"{unpack.name}:{a}", f"{unpack.name}:{b}"], T=1)
        add("Mul", f"raw_outputs/{name}", [f"raw_outputs/{name}_sum", half], T=1)
    for name, a, b in (("h", 0, 2), ("w", 1, 3)):
        add("Sub", f"raw_outputs/{name}_size", [f"{unpack.name}:{b}", f"{unpack.name}:{a}"], T=1)
        add("Maximum", f"raw_outputs/{name}_pos", [f"raw_outputs/{name}_size", tiny], T=1)
        add("Log", f"raw_outputs/{name}", [f"raw_outputs/{name}_pos"], T=1)
    box = add("Pack", "raw_outputs/box_encodings", ["raw_outputs/yc", "raw_outputs/xc", "raw_outputs/h",
                                                    "raw_outputs/w"], T=1, N=4, axis=2)
    unit = np.tile(np.float32([[0, 0, 1, 1]]), (n_anchors, 1))
    return _attach_op(out, add, const, ssd, box, n_anchors, unit, (1.0, 1.0, 1.0, 1.0),
                      clip_after=not ssd.clip_before_nms)


def _attach_op(out, add, const, ssd, box, n_anchors, anchor_values, scales, clip_after):
    """The class predictions, the op on ``box`` and the anchors, and the graph's four outputs."""
    scores = ssd.scores
    if not ssd.scores_with_background:  # (the op skips a background column: give it one)
        scores = add("Pad", "raw_outputs/with_background",
                     [scores, const("raw_outputs/background", [[0, 0], [0, 0], [1, 0]], np.int32)],
                     T=1, Tpaddings=3).name
    classes = ssd.num_classes
    dummies = SKIPPED_COLUMNS if classes > SKIPPED_COLUMNS[0] else ()
    if dummies:
        # LiteRT's regular NMS run on T > 1 threads never looks at class column T (its worker loop
        # pre-increments the shared column counter: tensorflow/tensorflow#56058), so an app with 2 or 4
        # threads silently loses a class. Columns 2..32 hold classes that never score (0, below the threshold):
        # whatever the thread count up to 32, the one column skipped is one of them; a table maps the op's class
        # indices back to the graph's.
        head = add("Slice", "raw_outputs/classes_head", [scores, const("raw_outputs/head_begin", [0, 0, 0], np.int32),
                                                         const("raw_outputs/head_size", [-1, -1, 1 + dummies[0]],
                                                               np.int32)], T=1, Index=3)
        tail = add("Slice", "raw_outputs/classes_tail", [scores, const("raw_outputs/tail_begin",
                                                                         [0, 0, 1 + dummies[0]], np.int32),
                                                         const("raw_outputs/tail_size", [-1, -1, -1], np.int32)],
                   T=1, Index=3)
        never = const("raw_outputs/never_scoring", np.zeros((1, n_anchors, len(dummies))), np.float32)
        scores = add("ConcatV2", "raw_outputs/class_predictions",
                     [head.name, never, tail.name, const("raw_outputs/axis", 2, np.int32)], T=1, N=3, Tidx=3).name
        classes += len(dummies)
    else:
        scores = add("Identity", "raw_outputs/class_predictions", [scores], T=1).name
    anchors = const("anchors", anchor_values, np.float32)
    pp = add(POSTPROCESS_OP, POSTPROCESS_OP, [box.name, scores, anchors], _output_quantized=True,
             max_detections=ssd.max_detections, max_classes_per_detection=1, detections_per_class=op_per_class(ssd),
             use_regular_nms=True, nms_score_threshold=max(ssd.score_threshold, 1e-8) if dummies else
             ssd.score_threshold, nms_iou_threshold=ssd.iou_threshold, num_classes=classes,
             y_scale=float(scales[0]), x_scale=float(scales[1]), h_scale=float(scales[2]), w_scale=float(scales[3]))
    # No float arithmetic after the op where it can be helped: int8 conversion would quantize it (class ids of
    # 14.965). Boxes clipped before the NMS come out clipped; class ids are mapped in int32.
    if not clip_after:
        add("Identity", "detection_boxes", [pp.name], T=1)
    else:  # (its NMS compared the boxes as decoded; the outputs are clipped to the image)
        add("Maximum", "detection_boxes/clip_lo", [pp.name, const("detection_boxes/zero", 0.0, np.float32)], T=1)
        add("Minimum", "detection_boxes", ["detection_boxes/clip_lo", const("detection_boxes/one", 1.0, np.float32)],
            T=1)
    add("Identity", "detection_scores", [f"{pp.name}:2"], T=1)
    ids = np.arange(classes, dtype=np.int32)
    if dummies:
        ids[dummies[-1] + 1:] -= len(dummies)
    table = const("detection_classes/table", ids + int(round(ssd.label_offset)), np.int32)
    add("Cast", "detection_classes/index", [f"{pp.name}:1"], SrcT=1, DstT=3)
    add("GatherV2", "detection_classes/id", [table, "detection_classes/index",
                                             const("detection_classes/axis", 0, np.int32)],
        Tparams=3, Tindices=3, Taxis=3)
    add("Cast", "detection_classes", ["detection_classes/id"], SrcT=3, DstT=1)
    add("Identity", "num_detections", [f"{pp.name}:3"], T=1)
    return out


def op_per_class(ssd):
    """The op's per-class cap: the graph's, but never below the total. LiteRT's multi-threaded regular NMS
    merges its threads' results into a buffer of total + per-class entries, each thread holding up to the
    total: with a smaller per-class cap it writes past the buffer (heap corruption, an abort) on 2+ threads."""
    return max(ssd.per_class, ssd.max_detections)


def _copy(gd):
    out = type(gd)()
    out.CopyFrom(gd)
    return out


# ------------------------------------------------------------------ verification


