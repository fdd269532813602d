"""graphtools compare: the TF graph vs .tflite models on real data."""
import os
import sys

from .common import (_gate_arg, _model_file_arg, PROG, _common, _data_args, _emit, _fmt_bytes, _input_error,
                     _io_args, _short, _unsafe_arg)


def _add_compare(sub):
    p = sub.add_parser("compare", help="TF graph vs .tflite models on real data: differences, agreement, accuracy",
                       description="Run the TF graph and every .tflite model on the same data (batched) and "
                                   "measure per model and output: max/mean |difference|, cosine similarity, "
                                   "top-1 agreement, accuracy against labels, latency, size, op count, "
                                   "determinism and the worst disagreements. --max-diff/--min-agreement make "
                                   "the command exit 1 when a model falls outside them.")
    _model_file_arg(p, "the GraphDef the models came from (frozen.pb, optimized.pb)", "graph")
    p.add_argument("--tflite", required=True, nargs="+", metavar="MODEL", help=".tflite models to compare")
    p.add_argument("--data", default="random", metavar="PATH|random",
                   help=".npy, .npz (x/y or input-named arrays), IDX (.gz), an image directory, or random")
    p.add_argument("--labels", metavar="PATH", help="labels: .npy, .npz (y), IDX (.gz) or one per line")
    _io_args(p)
    p.add_argument("--input-shapes", metavar="SHAPES", help="shapes where the graph has none (toco syntax)")
    _data_args(p)
    p.add_argument("--batch", type=int, default=512, help="batch size (default 512: the fastest for small models in LiteRT here)")
    p.add_argument("--limit", type=int, metavar="N", help="use the first N samples")
    p.add_argument("--samples", type=int, default=256, help="random samples with --data random (default 256)")
    p.add_argument("--max-diff", type=float, help="exit 1 when a model's max |difference| exceeds this")
    p.add_argument("--min-agreement", type=float, help="exit 1 when a model's top-1 agreement is below this (for "
                                                       "a detection model: the share of TensorFlow's detections found)")
    p.add_argument("--locate", action="store_true", help="find the first tensor where a model departs from TF")
    p.add_argument("--per-op", nargs="?", const="per_op", metavar="DIR",
                   help="per-op error: every TFLite op output mapped to its TF node, cumulative and local "
                        "(the op alone fed TF's values of its inputs) error over --per-op-samples samples; "
                        "a top-k table, and per model a JSON, a CSV and Model Explorer node data for the "
                        ".tflite and the GraphDef written to DIR (default: per_op)")
    p.add_argument("--per-op-samples", type=int, default=16, metavar="N",
                   help="samples the per-op report runs (default 16)")
    p.add_argument("--top", type=int, default=10, help="rows of the per-op table (default 10)")
    p.add_argument("--bench", action="store_true",
                   help="add a 'bench' section: latency per thread count and kernel set, and whether the "
                        "kernel sets agree (graphtools bench, 20 runs per setting)")
    _gate_arg(p)
    _unsafe_arg(p)
    p.add_argument("--logdir", default=os.path.join("logs", "compare"), metavar="DIR",
                   help="TensorBoard run for the comparison tables and scalars (default: logs/compare)")
    _common(p)
    p.set_defaults(run=run_compare)


def run_compare(args):
    from ..verification import comparison
    from ..core import io
    from ..presentation import tensorboard
    from ..conversion.converter import resolve_signature
    from ..core.data import check_source, load_samples

    if args.data != "random":
        check_source(args.data)
    if args.labels:
        check_source(args.labels, "--labels", text_ok=True)
    for m in args.tflite:
        if not os.path.exists(m):
            raise _input_error(f"{m}: no such file; check the path")
        if io.sniff(m) != "tflite":
            raise _input_error(f"{m}: not a TensorFlow Lite model; give the .tflite files to compare")
    gd = io.load_graph_def(args.graph)
    from ..conversion import detection

    if detection.is_export(gd) and not args.outputs and not args.per_op and not args.locate:
        if args.max_diff is not None:
            raise _input_error("--max-diff compares values slot by slot; a detection model is compared by matching "
                               "detections: give --min-agreement (the share found) instead")
        return _compare_detections(args, gd)
    from ..core.tflite import summarize

    if not detection.is_export(gd) and any(
            "TFLite_Detection_PostProcess" in op for m in args.tflite for op in summarize(m)["op_histogram"]):
        raise _input_error(f"{args.graph} is not the Object Detection API export the model was made from (its "
                           f"post-processing is gone): compare with the export itself, OUT/frozen.pb")
    data, labels = None, None
    sig = resolve_signature(gd, args.inputs, args.outputs, args.input_shapes)  # once: for the data and the runs
    if args.data != "random":
        data = load_samples(args.data, sig.names, sig.shapes(), args.scale, args.mean, args.std, args.limit)
    labels = comparison.labels_for(None if args.data == "random" else args.data, args.labels)
    if args.per_op is not None:
        if args.per_op_samples < 1:
            raise _input_error("--per-op-samples must be at least 1")
        io.check_output(os.path.join(args.per_op, "x.json"))
    report = comparison.compare(gd, args.tflite, data, labels, signature=sig, batch=args.batch, limit=args.limit,
                                samples=args.samples, locate=args.locate, max_diff=args.max_diff,
                                allow_unsafe_ops=args.allow_unsafe_ops,
                                per_op=args.per_op_samples if args.per_op is not None else 0,
                                progress=_per_op_progress() if args.per_op is not None else None)
    if args.per_op is not None:
        report["per_op_top"] = args.top
        report["per_op_files"] = _write_per_op(args, report)
    from ..verification.verdict import apply, parse_gates, summary_lines

    apply(report, parse_gates(args.gate))
    failures = report["failures"] = comparison.limit_failures(report, args.max_diff, args.min_agreement)
    if args.bench:
        from ..core import bench

        report["bench"] = {m: bench.bench_model(io.read_bytes(m), runs=20) for m in args.tflite}
    if args.logdir:
        tensorboard.write_comparison(args.logdir, gd, report, data)
    _emit(args, report, "\n".join([_compare_text(report)] + summary_lines(report)))
    if failures:
        for f in failures:
            print(f"{PROG} compare: outside the limits: {f}", file=sys.stderr)
        return 1
    return 0


def _compare_detections(args, gd):
    """An Object Detection API export: TensorFlow's detections matched with each model's (not slot by slot)."""
    import numpy as np

    from ..conversion import detection
    from ..verification import detection_match
    from ..verification.comparison import LiteModel
    from ..core.data import load_samples

    shapes = None
    if args.input_shapes:
        from ..core.signature import parse_shapes

        shapes = parse_shapes(args.input_shapes, ["image_tensor"])
    ssd = detection.recognise(gd, shapes)
    if args.data == "random":
        images = np.random.RandomState(0).randint(0, 256, [min(args.samples, 16)] + ssd.image_shape[1:])
        source = f"random uint8 images (seed 0, {len(images)} images)"
    else:
        images = load_samples(args.data, [ssd.image], {ssd.image: ssd.image_shape}, args.scale, args.mean, args.std,
                              args.limit)[ssd.image]
        source = args.data
    images = detection.as_images(images, source)
    models = [(m, LiteModel(m)) for m in args.tflite]
    for m, lite in models:  # (a model converted at another size: the images at its size)
        want = [int(d) for d in lite.inputs[0]["shape"][1:]]
        if list(images.shape[1:]) != want:
            raise _input_error(f"{m} takes images of {want}, the data is {list(images.shape[1:])}: give "
                               f"--input-shapes 1,{','.join(map(str, want))}")
    report = detection_match.compare(gd, models, images)
    report.pop("_runs", None)
    report["data"] = source
    from ..verification.verdict import apply, parse_gates, summary_lines

    apply(report, parse_gates(args.gate))
    report["failures"] = failures = [
        f"{m['model']}: {m['found_fraction']:.0%} of TensorFlow's detections found < --min-agreement "
        f"{args.min_agreement:g}" for m in report["models"]
        if args.min_agreement is not None and (m["found_fraction"] or 0) < args.min_agreement]
    _emit(args, report, "\n".join([_compare_text(report)] + summary_lines(report)))
    for f in failures:
        print(f"{PROG} compare: outside the limits: {f}", file=sys.stderr)
    return 1 if failures else 0


def _per_op_progress():
    if not sys.stderr.isatty():
        return None

    def show(done, total, what):
        print(f"\rper-op {what}: {done}/{total}   ", end="\n" if done == total and what == "ops" else "",
              file=sys.stderr, flush=True)

    return show


def _write_per_op(args, report):
    from ..core import io
    from ..verification import perop

    os.makedirs(args.per_op, exist_ok=True)
    written = []
    for m in report["models"]:
        base = os.path.join(args.per_op, os.path.splitext(os.path.basename(m["model"]))[0])
        lite, graph = perop.model_explorer_overlays(m["per_op"])
        for path, text in ((base + ".per_op.json", perop.dumps(m["per_op"])), (base + ".per_op.csv", perop.to_csv(m["per_op"])),
                           (base + ".tflite.node_data.json", perop.dumps(lite)),
                           (base + ".graph.node_data.json", perop.dumps(graph))):
            io.atomic_write(path, text)
            written.append(path)
    return written


def _compare_text(r):
    if r.get("kind") == "detection":
        return _detection_text(r)
    text = _models_text(r)
    if r.get("note"):
        text += f"\n  note: {r['note']}"
    for m in r["models"]:
        p = m.get("per_op")
        if not p:
            continue
        from ..verification import perop

        text += (f"\n\n  per-op {os.path.basename(m['model'])}: {p['mapped']} of {p['op_outputs']} op outputs mapped to "
                 f"TF nodes ({100 * p['coverage']:.0f} %), {p['samples']} samples; ranked by local error "
                 f"(the op alone, fed TF's inputs):\n" + "\n".join(perop.table(p, r.get("per_op_top", 10))))
    if r.get("per_op_files"):
        text += "\n  wrote " + ", ".join(r["per_op_files"])
    for m, b in (r.get("bench") or {}).items():
        best = min(b["latency"], key=lambda row: row["median_ms"])
        differ = [k for k, a in b["agreement"].items() if not a["agrees"]]
        text += (f"\n  bench {os.path.basename(m)}: fastest {best['kernels']} x{best['threads']} "
                 f"{best['median_ms']:.4f} ms median; " + (f"{', '.join(differ)} DIFFER from the reference kernels"
                                                           if differ else "kernel sets agree"))
    return text


def _models_text(r):
    width = min(max([16] + [len(n) for n in r["outputs"]]), 40)
    lines = [f"compared {r['samples']} samples ({r['data']}): inputs {', '.join(r['inputs'])} -> outputs "
             f"{', '.join(r['outputs'])}; TF {r['tf_seconds']:.2f} s",
             f"  {'model':<34} {'output':<{width}} {'max|d|':>9} {'mean|d|':>9} {'cosine':>8} {'agree':>7} {'acc':>7} "
             f"{'ms/batch':>9} {'size':>9} {'ops':>4}"]
    exact = False
    for m in r["models"]:
        for name, o in m["outputs"].items():
            acc = f"{o['accuracy']:.4f}" if "accuracy" in o else "-"
            agree = (f"{o['top1_agreement']:.4f}" if "top1_agreement" in o else
                     f"={o['exact_match']:.4f}" if "exact_match" in o else "-")
            exact = exact or "exact_match" in o
            lines.append(f"  {os.path.basename(m['model']):<34} {_short(name, width):<{width}} {o['max_abs_diff']:>9.3g} "
                         f"{o['mean_abs_diff']:>9.3g} {o['cosine_similarity']:>8.5f} {agree:>7} {acc:>7} "
                         f"{m['latency_ms_per_batch']:>9.3f} {_fmt_bytes(m['size_bytes']):>9} {m['operators']:>4}")
        if not m["deterministic"] or m["random_ops"]:
            lines.append(f"    NOT deterministic: the same inputs gave different outputs; random ops: {m['random_ops']}")
        for o in m["outputs"].values():
            for w in o["worst"][:3]:
                lines.append(f"    disagrees on sample {w['index']}: TF {w['tf_label']} ({w['tf_confidence']:.2f}) vs "
                             f"TFLite {w['tflite_label']} ({w['tflite_confidence']:.2f})")
        loc = m.get("locate")
        if loc is not None:
            f = loc["first_divergence"]
            where = (f"first departs at {f['tensor']} ({f['op']}, max |d| {f['max_abs_diff']:.3g})" if f
                     else "no matched tensor departs")
            lines.append(f"    locate: {where} ({loc['checked']} tensors matched by name)")
    notes = {}  # each note once, naming the models it is about when not all of them
    for m in r["models"]:
        if m["note"]:
            notes.setdefault(m["note"], []).append(os.path.basename(m["model"]))
    for note, models in notes.items():
        who = "" if len(models) == len(r["models"]) else f" ({', '.join(models)})"
        lines.append(f"  note{who}: {note}")
    if exact:
        lines.append("  (=x: integer output, share of elements equal to TF's)")
    if "tf_accuracy" in next(iter(r["models"][0]["outputs"].values()), {}):
        lines.append(f"  TF graph accuracy: {next(iter(r['models'][0]['outputs'].values()))['tf_accuracy']:.4f}")
    return "\n".join(lines)


def _detection_text(r):
    lines = [f"detections matched on {r['samples']} images ({r.get('data', '')}), both ways: TensorFlow's {r['top']} "
             f"best per image in the model's and the model's in TensorFlow's, the same class, IoU >= "
             f"{r['min_iou']:g}, score within {r['max_score_diff']:g}",
             f"  {'model':<34} {'found':>9} {'worst image':>12} {'mean IoU':>9} {'max|d score|':>13}"]
    for m in r["models"]:
        frac = f"{m['found_fraction']:.0%}" if m["found_fraction"] is not None else "-"
        worst = f"{m['worst_image_fraction']:.0%}" if m["worst_image_fraction"] is not None else "-"
        miou = f"{m['mean_iou']:.4f}" if m["mean_iou"] is not None else "-"
        diff = f"{m['max_score_diff']:.2g}" if m["max_score_diff"] is not None else "-"
        lines.append(f"  {os.path.basename(str(m['model'])):<34} {frac:>9} {worst:>12} {miou:>9} {diff:>13}")
    return "\n".join(lines)
