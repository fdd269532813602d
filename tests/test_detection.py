"""Object Detection API SSD exports (issue 23): a small export built in code with the same structure the
API writes (a Preprocessor map loop, box-predictor heads, grid anchors, a Postprocessor with a Faster
R-CNN box decoder, score conversion and BatchMultiClassNonMaxSuppression in a while loop), converted to
a TFLite model with one TFLite_Detection_PostProcess op and checked by detection matching."""
import json

import numpy as np
import pytest

from builders import _session, control_flow, tf, tf1
from conftest import run_cli

SIZE, GRID, PER_CELL, MAX_TOTAL = 32, 8, 2, 10
CLASSES = 2  # (the default; ssd_export(classes=...) for more)
SCALES = (10.0, 10.0, 5.0, 5.0)


def _anchors():
    """[N, 4] corner anchors, computed by ops as the anchor generator does."""
    with tf.name_scope("MultipleGridAnchorGenerator"):
        c = (tf.cast(tf.range(GRID), tf.float32) + 0.5) / GRID
        cy, cx = tf.meshgrid(c, c, indexing="ij")
        centers = tf.reshape(tf.stack([cy, cx], -1), [-1, 1, 2])
        sizes = tf.constant([[0.2, 0.2], [0.35, 0.2]])
        centers = tf.reshape(tf.tile(centers, [1, PER_CELL, 1]), [-1, 2])
        hw = tf.tile(sizes, [GRID * GRID, 1])
        return tf.identity(tf.concat([centers - hw / 2, centers + hw / 2], 1), name="Identity")


def _decode(codes, anchors):
    with tf.name_scope("Decode"):
        ymin, xmin, ymax, xmax = tf.unstack(tf.transpose(anchors))
        ha, wa = ymax - ymin, xmax - xmin
        yca, xca = ymin + ha / 2, xmin + wa / 2
        ty, tx, th, tw = tf.unstack(tf.transpose(codes))
        ty, tx, th, tw = ty / SCALES[0], tx / SCALES[1], th / SCALES[2], tw / SCALES[3]
        w, h = tf.exp(tw) * wa, tf.exp(th) * ha
        yc, xc = ty * ha + yca, tx * wa + xca
        return tf.transpose(tf.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2]))


def _nms(boxes, scores, iou, threshold, per_class, v3, classes, clip_first):
    """One image's multi-class NMS, as MultiClassNonMaxSuppression does it (clip -- before the NMS in older
    exports, after it in newer ones --, filter, NMS per class, merge, sort, pad)."""
    with tf.name_scope("MultiClassNonMaxSuppression"):
        if clip_first:
            with tf.name_scope("ClipToWindow"):
                boxes = tf.clip_by_value(boxes, 0.0, 1.0)
        sel_b, sel_s, sel_c = [], [], []
        for c in range(classes):
            s = scores[:, c]
            with tf.name_scope("FilterGreaterThan"):
                keep = tf.reshape(tf.where(tf.greater(s, threshold)), [-1])
            b, s = tf.gather(boxes, keep), tf.gather(s, keep)
            if v3:
                idx = tf.raw_ops.NonMaxSuppressionV3(boxes=b, scores=s, max_output_size=per_class,
                                                     iou_threshold=iou, score_threshold=threshold)
            else:
                idx = tf.raw_ops.NonMaxSuppressionV2(boxes=b, scores=s, max_output_size=tf.minimum(
                    per_class, tf.shape(s)[0]), iou_threshold=iou)
            sel_b.append(tf.gather(b, idx))
            sel_s.append(tf.gather(s, idx))
            sel_c.append(tf.fill(tf.shape(idx), float(c)))
        b, s, c = tf.concat(sel_b, 0), tf.concat(sel_s, 0), tf.concat(sel_c, 0)
        if not clip_first:
            b = tf.clip_by_value(b, 0.0, 1.0)
        n = tf.minimum(tf.shape(s)[0], MAX_TOTAL)
        _, order = tf.nn.top_k(s, n)
        pad = MAX_TOTAL - n
        b = tf.pad(tf.gather(b, order), [[0, pad], [0, 0]])
        s = tf.pad(tf.gather(s, order), [[0, pad]])
        c = tf.pad(tf.gather(c, order), [[0, pad]])
        return b, s, c, n


def ssd_export(path, v3=False, softmax=False, static=False, seed=0, second_stage=False, classes=CLASSES,
               per_class=MAX_TOTAL, clip_first=True):
    """A trained-looking SSD export written as the Object Detection API writes it; returns its path."""
    rng = np.random.RandomState(seed)
    g = tf.Graph()
    with g.as_default(), control_flow(1):
        image = tf1.placeholder(tf.uint8, [1, SIZE, SIZE, 3] if static else [None, None, None, 3],
                                name="image_tensor")
        with tf.name_scope("Preprocessor"):
            def resize(img):
                return tf1.image.resize_bilinear(tf.expand_dims(tf.cast(img, tf.float32), 0), [SIZE, SIZE])[0]
            x = tf.map_fn(resize, image, dtype=tf.float32, back_prop=False)
            x = x * (2.0 / 255) - 1.0
        with tf.name_scope("FeatureExtractor"):
            f = tf.nn.relu(tf.nn.conv2d(x, tf.constant(rng.randn(3, 3, 3, 8).astype(np.float32) * 0.5),
                                        [1, 4, 4, 1], "SAME"))
        n = GRID * GRID * PER_CELL
        with tf.name_scope("BoxPredictor_0"):
            box = tf.reshape(tf.nn.conv2d(f, tf.constant(rng.randn(1, 1, 8, PER_CELL * 4).astype(np.float32) * 0.3),
                                          [1, 1, 1, 1], "SAME"), [-1, n, 1, 4])
            cls = tf.reshape(tf.nn.conv2d(f, tf.constant(rng.randn(1, 1, 8, PER_CELL * (classes + 1))
                                                         .astype(np.float32) * 1.5), [1, 1, 1, 1], "SAME"),
                             [-1, n, classes + 1])
        codes = tf.concat([tf.squeeze(box, 2, name="Squeeze")], 1, name="concat")
        logits = tf.concat([cls], 1, name="concat_1")
        anchors = _anchors()
        with tf.name_scope("Postprocessor"):
            tiled = tf.tile(tf.expand_dims(anchors, 0), [tf.shape(codes)[0], 1, 1])
            boxes = tf.reshape(_decode(tf.reshape(codes, [-1, 4]), tf.reshape(tiled, [-1, 4])), [-1, n, 4])
            scores = tf.slice(logits, [0, 0, 1], [-1, -1, -1])
            scores = tf.math.truediv(scores, 1.0, name="scale_logits")
            scores = (tf.nn.softmax(scores) if softmax else tf.sigmoid(scores))
            scores = tf.identity(scores, name="convert_scores")
            with tf.name_scope("BatchMultiClassNonMaxSuppression"):
                def per_image(args):
                    return _nms(args[0], args[1], 0.5, 0.05, per_class, v3, classes, clip_first)
                b, s, c, k = tf.map_fn(per_image, (boxes, scores), dtype=(tf.float32, tf.float32, tf.float32,
                                                                          tf.int32), back_prop=False)
            num = tf.cast(k, tf.float32)
        if second_stage:  # Faster R-CNN: the proposals cropped from the features and classified again
            with tf.name_scope("SecondStageFeatureExtractor"):
                crops = tf.image.crop_and_resize(x, boxes[0], tf.zeros([n], tf.int32), [4, 4])
                s = s + 0.0 * tf.reduce_mean(crops)
        tf.identity(b, name="detection_boxes")
        tf.identity(s, name="detection_scores")
        tf.add(c, 1.0, name="detection_classes")
        tf.identity(num, name="num_detections")
        with _session(g):
            pass
    path.write_bytes(g.as_graph_def().SerializeToString())
    return str(path)


def _images(k, seed=1):
    return np.random.RandomState(seed).randint(0, 256, (k, SIZE, SIZE, 3)).astype(np.uint8)


def test_an_ssd_export_is_recognised_and_every_parameter_read_from_the_graph(tmp_path):
    from graphtools.conversion import detection
    from graphtools import load_graph_def

    for v3, softmax in ((False, False), (True, True)):
        gd = load_graph_def(ssd_export(tmp_path / f"ssd{v3}.pb", v3=v3, softmax=softmax))
        ssd = detection.recognise(gd)
        assert ssd is not None and ssd.image == "image_tensor" and ssd.image_shape == [1, SIZE, SIZE, 3]
        assert ssd.num_classes == CLASSES and ssd.scales == SCALES and ssd.max_detections == MAX_TOTAL
        assert (ssd.iou_threshold, ssd.per_class, ssd.label_offset) == (0.5, MAX_TOTAL, 1.0)
        assert ssd.score_threshold == pytest.approx(0.05)
        assert ssd.score_converter == ("Softmax" if softmax else "Sigmoid") and not ssd.scores_with_background
        assert ssd.nms_op == ("NonMaxSuppressionV3" if v3 else "NonMaxSuppressionV2")
        assert ssd.anchors.shape == (GRID * GRID * PER_CELL, 4)
        np.testing.assert_allclose(ssd.anchors[0], [0.5 / GRID, 0.5 / GRID, 0.2, 0.2], atol=1e-6)  # centre-size
    assert detection.recognise(load_graph_def(ssd_export(tmp_path / "late.pb", clip_first=False))).clip_before_nms \
        is False and ssd.clip_before_nms
    few = detection.recognise(load_graph_def(ssd_export(tmp_path / "few.pb", per_class=3)))
    assert few.per_class == 3 and detection.op_per_class(few) == MAX_TOTAL and "overruns" in few.describe()
    plain = tf.Graph()
    with plain.as_default():
        tf.identity(tf1.placeholder(tf.float32, [1, 3], name="x"), name="y")
    assert detection.recognise(plain.as_graph_def()) is None


@pytest.mark.parametrize("static", [False, True])
def test_an_ssd_export_converts_zero_config_and_finds_tensorflows_detections(tmp_path, static):
    from graphtools.conversion import detection
    from graphtools.verification import detection_match
    from graphtools import load_graph_def
    from graphtools.core import tflite

    path = ssd_export(tmp_path / "ssd.pb", static=static, clip_first=not static)  # (both clipping orders)
    images = _images(6)
    np.save(tmp_path / "images.npy", images)
    res = run_cli("pipeline", "--graph", path, "--quantize", "none,int8,int16x8", "--data", tmp_path / "images.npy",
                  "--out-dir", tmp_path / "out", "--logdir", "", "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["outputs"] == list(detection.OUTPUTS) and report["inputs"] == ["image_tensor"]
    assert report["detector"]["num_classes"] == CLASSES and report["strip"]["verified"]
    cmp = report["compare"]
    assert cmp["kind"] == "detection" and cmp["samples"] == 6
    by = {m["model"].rsplit("/", 1)[-1]: m for m in cmp["models"]}
    assert by["model.tflite"]["found_fraction"] >= 0.9 and by["model.tflite"]["max_score_diff"] <= 0.02
    assert by["model.int8.tflite"]["checked"] > 0  # (int8, calibrated on the images, runs and is matched)
    assert by["model.int16x8.tflite"]["checked"] > 0  # (16x8: the ops it has no kernel for stay float)
    page = (tmp_path / "out" / "report.html").read_text()  # a verdict per model, then the boxes on every image
    assert page.count("<figure>") == 6 and ">ship<" in page and page.index("verdict") < page.index("<figure>")
    ops = tflite.summarize(str(tmp_path / "out" / "model.tflite"))["op_histogram"]
    assert ops.get("CUSTOM:TFLite_Detection_PostProcess") == 1 and not any("Flex" in op for op in ops)
    # the outputs mean what the graph's mean: class ids with its offset, boxes clipped, the input uint8
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(tmp_path / "out" / "model.tflite"))
    runner = it.get_signature_runner("serving_default")
    got = runner(image_tensor=images[:1])
    ref = __import__("graphtools.core.runtime", fromlist=["run_graph"]).run_graph(
        load_graph_def(path), {"image_tensor": images[:1]}, list(detection.OUTPUTS))
    n = int(got["num_detections"][0])
    assert n == int(ref[3][0]) and set(got["detection_classes"][0][:n]) <= {1.0, 2.0}
    assert got["detection_boxes"].min() >= -1e-6 and got["detection_boxes"].max() <= 1 + 1e-6  # (clipped, as TF)
    m = detection_match.match(dict(zip(detection.OUTPUTS, ref)), got)
    assert m["found"] == m["checked"] > 0
    res = run_cli("compare", "--graph", tmp_path / "out" / "frozen.pb", "--tflite", tmp_path / "out" / "model.tflite",
                  "--data", tmp_path / "images.npy", "--min-agreement", "0.9", "--logdir", "", "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["kind"] == "detection" and json.loads(res.out)["models"][0]["found_fraction"] >= 0.9
    if static:  # the bundle's verify.py matches detections too (numpy and LiteRT only)
        import subprocess
        import sys

        assert run_cli("bundle", tmp_path / "out").code == 0
        golden = tmp_path / "out" / "golden"
        entry = json.loads((golden / "golden.json").read_text())["models"][0]
        assert entry["detections"]["min_found"] >= 0.5 and entry["max_abs_diff_vs_tf"]["detections_found_worst_sample"] >= 0.9
        done = subprocess.run([sys.executable, "verify.py"], cwd=golden, capture_output=True, text=True)
        assert done.returncode == 0 and "PASS model " in done.stdout, done.stdout + done.stderr


def test_detection_matching_ignores_slot_order_but_not_class_box_or_score():
    from graphtools.verification.detection_match import match

    boxes = np.array([[[0.1, 0.1, 0.5, 0.5], [0.2, 0.6, 0.4, 0.9], [0.6, 0.1, 0.9, 0.3]]], np.float32)
    ref = {"detection_boxes": boxes, "detection_scores": np.array([[0.9, 0.5, 0.49]], np.float32),
           "detection_classes": np.array([[1, 2, 1]], np.float32), "num_detections": np.array([3], np.float32)}
    swapped = {k: v[:, [0, 2, 1]] if v.ndim > 1 else v for k, v in ref.items()}
    m = match(ref, swapped)
    assert m["found"] == m["checked"] == 6 and m["extra"] == 0  # (TF's three in the model, the model's in TF)
    wrong = dict(swapped, detection_classes=np.array([[1, 1, 1]], np.float32))
    assert match(ref, wrong)["found"] == 4
    moved = dict(swapped, detection_boxes=swapped["detection_boxes"] + np.float32(0.05))
    assert match(ref, moved)["found"] == 0
    lower = dict(swapped, detection_scores=swapped["detection_scores"] - np.float32(0.05))
    assert match(ref, lower)["found"] == 0
    # a model that adds a detection TensorFlow does not make is not the same model either
    more = {"detection_boxes": np.concatenate([boxes, [[[0.0, 0.0, 0.3, 0.3]]]], 1),
            "detection_scores": np.array([[0.9, 0.5, 0.49, 0.95]], np.float32),
            "detection_classes": np.array([[1, 2, 1, 2]], np.float32), "num_detections": np.array([4], np.float32)}
    m = match(ref, more)
    assert m["tf_found"] == 3 and m["extra"] == 1 and m["found"] < m["checked"]
    # identical boxes match, degenerate ones (clipped to an edge, zero width) too
    flat = {k: v.copy() for k, v in ref.items()}
    flat["detection_boxes"][0, 0] = [0.68, 1.0, 0.93, 1.0]
    assert match(flat, flat)["found"] == 6


def test_a_two_stage_export_is_one_line_naming_the_flex_route(tmp_path):
    ssd_export(tmp_path / "frcnn.pb", second_stage=True)
    res = run_cli("pipeline", "--graph", tmp_path / "frcnn.pb", "--out-dir", tmp_path / "out", "--logdir", "")
    assert res.code == 2 and "Traceback" not in res.err and len(res.err.strip().splitlines()) == 1
    assert "two-stage" in res.err and "--select-tf-ops" in res.err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_no_class_is_lost_whatever_thread_count_the_app_runs_the_model_with(tmp_path):
    """LiteRT's regular NMS on T > 1 threads skips class column T (tensorflow/tensorflow#56058): an app on 2
    threads would never see the third class. The model keeps that column for a class that never scores."""
    from ai_edge_litert.interpreter import Interpreter

    from graphtools.conversion import detection
    from graphtools.verification import detection_match
    from graphtools import load_graph_def
    from graphtools.core.runtime import run_graph

    path = ssd_export(tmp_path / "ssd.pb", classes=5, seed=3)
    res = run_cli("pipeline", "--graph", path, "--quantize", "none", "--out-dir", tmp_path / "out", "--logdir", "",
                  "--no-report")
    assert res.code == 0, res.err
    images = _images(4, seed=5)
    seen = set()
    for img in images:
        ref = dict(zip(detection.OUTPUTS, run_graph(load_graph_def(path), {"image_tensor": img[None]},
                                                    list(detection.OUTPUTS))))
        seen |= set(ref["detection_classes"][0][:int(ref["num_detections"][0])])
        for threads in (1, 2, 3, 4):
            it = Interpreter(model_path=str(tmp_path / "out" / "model.tflite"), num_threads=threads)
            got = it.get_signature_runner("serving_default")(image_tensor=img[None])
            m = detection_match.match(ref, got, top=MAX_TOTAL)
            assert m["found"] == m["checked"], (threads, m)
    assert {4.0, 5.0} <= seen  # (the classes 3 and 4 threads would skip are among TensorFlow's detections)


def test_a_graph_already_exported_for_tflite_converts_as_it_is(tmp_path):
    """tflite_graph.pb (export_tflite_ssd_graph's form): a float input, the network, the op. It converts as
    it is; the network before the op is compared with TensorFlow."""
    from graphtools.conversion import converter as conversion, detection
    from graphtools import load_graph_def
    from graphtools.core import tflite

    gd = load_graph_def(ssd_export(tmp_path / "ssd.pb", static=True))
    ssd = detection.recognise(gd)
    net = detection.backbone(gd, ssd)
    sig = conversion.resolve_signature(net, "image_tensor", detection.backbone_outputs(ssd),
                                       {"image_tensor": ssd.image_shape})
    lowered, _, _ = conversion.prepare_loops(net, sig)
    form = detection.tflite_form(lowered, ssd)
    (tmp_path / "tflite_graph.pb").write_bytes(form.SerializeToString())
    res = run_cli("pipeline", "--graph", tmp_path / "tflite_graph.pb", "--quantize", "none", "--out-dir",
                  tmp_path / "out", "--logdir", "", "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["detector"]["op"] == detection.POSTPROCESS_OP
    [m] = report["compare"]["models"]
    assert all(o["max_abs_diff"] < 1e-4 for o in m["outputs"].values())
    ops = tflite.summarize(str(tmp_path / "out" / "model.tflite"))["op_histogram"]
    assert ops.get("CUSTOM:TFLite_Detection_PostProcess") == 1


def test_an_export_as_a_savedmodel_whose_signature_lists_more_outputs_converts_the_same(tmp_path):
    from graphtools.conversion import detection
    from graphtools import load_graph_def

    gd = load_graph_def(ssd_export(tmp_path / "ssd.pb"))
    g = tf.Graph()
    with g.as_default():
        tf1.import_graph_def(gd, name="")
        with _session(g) as sess:
            get = g.get_tensor_by_name
            outputs = {o: get(o + ":0") for o in detection.OUTPUTS}
            outputs["raw_detection_scores"] = get("Postprocessor/convert_scores:0")  # (newer exports list more)
            tf1.saved_model.simple_save(sess, str(tmp_path / "sm"), {"inputs": get("image_tensor:0")}, outputs)
    res = run_cli("pipeline", "--saved-model", tmp_path / "sm", "--quantize", "none", "--out-dir", tmp_path / "out",
                  "--logdir", "", "--no-report", "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["outputs"] == list(detection.OUTPUTS) and report["compare"]["kind"] == "detection"
    assert report["compare"]["models"][0]["found_fraction"] >= 0.9


def test_the_detector_check_leaves_other_models_shapes_alone(tmp_path):
    """Every pipeline asks whether its model is a detector: for any other model --input-shapes stay theirs
    (two inputs, two shapes)."""
    g = tf.Graph()
    with g.as_default():
        a = tf1.placeholder(tf.float32, [None, None], name="a")
        b = tf1.placeholder(tf.float32, [None, None], name="b")
        tf.identity(a * 2.0 + b, name="y")
    (tmp_path / "two.pb").write_bytes(g.as_graph_def().SerializeToString())
    res = run_cli("pipeline", "--graph", tmp_path / "two.pb", "--outputs", "y", "--input-shapes", "1,3:1,3",
                  "--quantize", "none", "--out-dir", tmp_path / "out", "--logdir", "", "--no-report", "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["detector"] is None


def test_what_does_not_fit_a_detection_model_is_one_line_naming_the_way(tmp_path):
    path = ssd_export(tmp_path / "ssd.pb", static=True)
    res = run_cli("convert", path, "--out", tmp_path / "x.tflite")
    assert res.code == 2 and "graphtools pipeline --graph" in res.err and not (tmp_path / "x.tflite").exists()
    res = run_cli("pipeline", "--graph", path, "--outputs", "detection_boxes", "--out-dir", tmp_path / "p")
    assert res.code == 2 and "name all four" in res.err and not (tmp_path / "p").exists()
    res = run_cli("pipeline", "--graph", path, "--quantize", "none", "--out-dir", tmp_path / "out", "--logdir", "",
                  "--no-report")
    assert res.code == 0, res.err
    out = tmp_path / "out"
    res = run_cli("compare", out / "optimized.pb", "--tflite", out / "model.tflite", "--logdir", "")
    assert res.code == 2 and "frozen.pb" in res.err
    res = run_cli("compare", out / "frozen.pb", "--tflite", out / "model.tflite", "--max-diff", "0.1", "--logdir", "")
    assert res.code == 2 and "--min-agreement" in res.err
    for r in (res,):
        assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1
    from graphtools.core import tflite

    assert not tflite.summarize(str(out / "model.tflite"))["blockers"]  # (the op is in LiteRT's own resolver)
    res = run_cli("inspect", path)
    assert res.code == 0 and "Object Detection API SSD export: graphtools pipeline converts it" in res.out


def test_data_that_is_not_uint8_pixels_one_image_at_a_time_is_refused_not_rounded(tmp_path):
    path = ssd_export(tmp_path / "ssd.pb", static=True)
    np.save(tmp_path / "norm.npy", np.random.RandomState(0).rand(2, SIZE, SIZE, 3).astype(np.float32))
    np.save(tmp_path / "nchw.npy", _images(2).transpose(0, 3, 1, 2))
    for data, why in (("norm.npy", "0..255"), ("nchw.npy", "channels first")):
        res = run_cli("pipeline", "--graph", path, "--data", tmp_path / data, "--quantize", "none",
                      "--out-dir", tmp_path / "o", "--logdir", "")
        assert res.code == 2 and why in res.err and not (tmp_path / "o").exists(), res.err
    res = run_cli("pipeline", "--graph", path, "--input-shapes", f"2,{SIZE},{SIZE},3", "--out-dir", tmp_path / "o")
    assert res.code == 2 and "one image at a time" in res.err


def test_freezing_an_export_with_no_outputs_named_takes_its_four(tmp_path):
    """Output discovery knows a detection export (core.exports): freeze, and so the pipeline, take the four
    detection outputs, not the one best-ranked among them; a graph already holding the TFLite op, that op."""
    from graphtools import load_graph_def
    from graphtools.core.analysis import GraphAnalysis
    from graphtools.core.exports import OUTPUTS, export_outputs

    path = ssd_export(tmp_path / "ssd.pb")
    res = run_cli("freeze", "--graph", path, "--out", tmp_path / "f.pb", "--logdir", "", "--json")
    assert res.code == 0, res.err
    frozen = load_graph_def(tmp_path / "f.pb")  # (a pathlib.Path, as a user passes one)
    assert all(any(n.name == o for n in frozen.node) for o in OUTPUTS)
    assert GraphAnalysis(frozen).outputs_or_best(None) == (list(OUTPUTS), True)
    assert export_outputs(frozen) == list(OUTPUTS)
    other = type(frozen)()  # (any other graph, even one with the four names: discovery as before)
    for name in OUTPUTS:
        other.node.add(name=name, op="Identity")
    assert export_outputs(other) is None
