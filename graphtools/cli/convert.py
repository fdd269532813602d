"""graphtools convert: GraphDef -> .tflite in every quantization mode."""
import argparse
import os

from .common import (_input_error, _model_file_arg, _common, _data_args, _emit, _fmt_bytes, _io_args, _progress,
                     _refuse_overwriting_inputs, _rnn_arg, _rnn_note)

CONVERT_HELP = """Convert a frozen (and stripped) GraphDef to TensorFlow Lite with
TFLiteConverter.from_frozen_graph, with explicit input arrays, output arrays and shapes.

Input/output arrays and shapes default to what discovery finds (batch dimension 1 where unknown)
and are printed. Shapes use toco's syntax: a comma inside a shape, a colon between inputs.

--quantize (default none):
  none      float model
  dynamic   dynamic-range: weights int8, activations float (Optimize.DEFAULT)
  float16   weights float16
  int8      full integer with calibration data (--representative-data); with
            --inference-input-type/--inference-output-type int8 or uint8 for integer I/O
  int16x8   16-bit activations, 8-bit weights, with calibration data
  all       every mode, one file each beside --out (model.tflite, model.dynamic.tflite, ...)

--budget agreement=0.99 (or accuracy-drop=0.005 with --labels, max-diff=X; comma-separated for
several), with --quantize int8 or int16x8: calibrate, measure the model against the TF graph on
--eval-data (default: the representative data after the calibration samples), and when the budget is
missed keep the fewest ops in float that meet it, worst local error first (compare --per-op's
measure); one table row per attempt. The model's recipe (settings, float ops, a fingerprint of the
calibration data) is written beside it as MODEL.recipe.json; --recipe FILE replays it to the same bytes.

--representative-data: .npy, .npz (arrays named after the inputs, or 'x'), an IDX file such as
MNIST's t10k-images-idx3-ubyte.gz, or a directory of images (resized to the input shape); then
--scale, --mean and --std normalise it the way the model was trained (x * scale, (x - mean) / std)."""


def _add_convert(sub):
    p = sub.add_parser("convert", help="GraphDef -> .tflite in any quantization mode",
                       description=CONVERT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _model_file_arg(p, "frozen GraphDef (.pb or .pbtxt)", "input")
    p.add_argument("--out", default="model.tflite", metavar="FILE", help="TFLite model (default: model.tflite)")
    _io_args(p)
    p.add_argument("--input-shapes", metavar="SHAPES", help="e.g. 1,28,28,1 or 1,28,28,1:1,10")
    from ..conversion.quantize import NAMES

    p.add_argument("--quantize", default="none", choices=list(NAMES) + ["all"],
                   help="how to quantize (default: none); all: one file per mode")
    p.add_argument("--representative-data", metavar="PATH", help="calibration data for int8 and int16x8")
    p.add_argument("--calibration-samples", type=int, default=100, metavar="N",
                   help="how many samples to calibrate with (default 100)")
    _data_args(p)
    p.add_argument("--inference-input-type", choices=["float32", "int8", "uint8"], help="input type of int8 models")
    p.add_argument("--inference-output-type", choices=["float32", "int8", "uint8"], help="output type of int8 models")
    p.add_argument("--allow-custom-ops", action="store_true", help="keep ops TFLite lacks as custom ops")
    p.add_argument("--select-tf-ops", action="store_true", help="allow TensorFlow ops (Flex delegate)")
    p.add_argument("--budget", metavar="SPEC", help="accuracy budget for int8/int16x8: agreement=0.99, "
                                                    "accuracy-drop=0.005 (with --labels) or max-diff=X")
    p.add_argument("--eval-data", metavar="PATH", help="data the budget is measured on (default: the "
                                                       "representative data after the calibration samples)")
    p.add_argument("--labels", metavar="PATH", help="labels for --budget accuracy-drop (.npy, .npz y, IDX)")
    p.add_argument("--max-attempts", type=int, default=16, metavar="N",
                   help="with --budget: quantizations to try at most (default 16)")
    p.add_argument("--recipe", metavar="FILE", help="replay a MODEL.recipe.json (needs the same --representative-data)")
    _rnn_arg(p)
    p.add_argument("--logdir", default=os.path.join("logs", "tflite"), metavar="DIR",
                   help="TensorBoard run for the converted graph and the model table (default: logs/tflite)")
    _common(p)
    p.set_defaults(run=run_convert)


def recipe_path(model_path):
    """model.int8.tflite -> model.int8.recipe.json (beside the model)."""
    return os.path.splitext(model_path)[0] + ".recipe.json"


def _run_budget(args):
    """convert --budget / --recipe: int8 or int16x8 with the fewest ops kept in float."""
    import json

    from ..verification import budget
    from ..conversion import converter as conversion
    from ..core import io
    from ..core import data as data_mod
    from ..verification.comparison import labels_for
    from ..core.data import load_samples
    from .common import PROG, _input_error

    if args.budget and args.recipe:
        raise _input_error("give --budget (search) or --recipe (replay), not both")
    recipe = budget.load_recipe(args.recipe) if args.recipe else None
    mode = recipe["mode"] if recipe else args.quantize
    if recipe is None:
        spec = budget.parse_budget(args.budget)
        if mode not in budget.MODES:
            raise _input_error(f"--budget needs --quantize int8 or int16x8 (not {mode})")
    if args.inference_input_type not in (None, "float32") or args.inference_output_type not in (None, "float32"):
        raise _input_error("--budget and --recipe keep float inputs and outputs (some ops stay float); "
                           "drop --inference-input-type/--inference-output-type")
    if not args.representative_data:
        raise _input_error(f"--{'recipe' if recipe else 'budget'} needs --representative-data (the calibration data)")
    data_mod.check_source(args.eval_data, "--eval-data")
    if args.labels:
        data_mod.check_source(args.labels, "--labels", text_ok=True)
    out_recipe = recipe_path(args.out)
    if recipe is None:
        io.check_output(out_recipe)
    gd = io.load_graph_def(args.input)
    sig = conversion.resolve_signature(gd, args.inputs or (recipe or {}).get("inputs"),
                                       args.outputs or (recipe or {}).get("outputs"), args.input_shapes)
    gd, sig, _ = conversion.prepare_loops(gd, sig, args.rnn, False)
    names, shapes = sig.names, sig.shapes()
    if recipe is not None:
        data = load_samples(args.representative_data, names, shapes, args.scale, args.mean, args.std,
                            int(recipe["calibration"]["samples"]))
        model, identical = budget.replay(gd, recipe, data, sig)
        with io.write_phase(args.out):
            io.atomic_write(args.out, model)
        report = {"in": args.input, "out": args.out, "recipe": args.recipe, "mode": mode,
                  "float_ops": recipe["float_ops"], "size_bytes": len(model), "identical": identical}
        text = (f"replayed {args.recipe}: {mode} with {len(recipe['float_ops'])} op(s) in float -> {args.out} "
                f"({_fmt_bytes(len(model))}); " + ("byte-identical to the recipe's model" if identical else
                                                   "NOT byte-identical to the recipe's model (another TensorFlow?)"))
        _emit(args, report, text)
        return 0
    everything = load_samples(args.representative_data, names, shapes, args.scale, args.mean, args.std, None)
    n = args.calibration_samples
    data = {k: v[:n] for k, v in everything.items()}
    note = ""
    if args.eval_data:
        evaluation = load_samples(args.eval_data, names, shapes, args.scale, args.mean, args.std, None)
        labels = labels_for(args.eval_data, args.labels)
    else:
        rest = len(next(iter(everything.values()))) - n
        if rest >= 50:
            evaluation = {k: v[n:] for k, v in everything.items()}
            note = f"measured on the {rest} representative samples after the {n} calibration ones"
        else:
            evaluation = everything
            note = "measured on the calibration data itself (give --eval-data for an honest figure)"
        labels = labels_for(args.representative_data, args.labels)
        if labels is not None and len(labels) == len(next(iter(everything.values()))) and rest >= 50:
            labels = labels[n:]
    if "accuracy-drop" in spec and labels is None:
        raise _input_error("--budget accuracy-drop needs labels: give --labels (or an .npz with y)")
    import sys

    def show(a):
        if sys.stderr.isatty():
            print(f"\rattempt {len(result_rows) + 1}: {len(a.float_ops)} float op(s), "
                  f"agreement {a.metrics.get('agreement', float('nan')):.4f}   ", end="", file=sys.stderr, flush=True)
        result_rows.append(a)

    result_rows = []
    r = budget.meet_budget(gd, spec, data, evaluation, labels, mode, sig, n, max_attempts=args.max_attempts,
                           progress=show, data_path=args.representative_data)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    rows = [a.row() for a in r.attempts]
    lines = [f"{mode} within --budget {args.budget}" + (f" ({note})" if note else "")]
    lines.append(f"  {'attempt':>7} {'float ops':>9} {'size':>10} {'agreement':>10} {'accuracy':>9} {'max|d|':>9} "
                 f"{'ms/sample':>10}  met")
    for k, a in enumerate(rows, 1):
        acc = f"{a['accuracy']:.4f}" if "accuracy" in a else "-"
        agr = f"{a['agreement']:.4f}" if "agreement" in a else "-"
        lines.append(f"  {k:>7} {len(a['float_ops']):>9} {_fmt_bytes(a['size_bytes']):>10} {agr:>10} {acc:>9} "
                     f"{a['max_abs_diff']:>9.3g} {a['latency_ms_per_sample']:>10.4f}  {'yes' if a['met'] else 'no'}")
    report = {"in": args.input, "out": args.out, "mode": mode, "budget": spec, "met": r.met, "attempts": rows,
              "float_ops": r.recipe["float_ops"], "recipe": out_recipe if r.met else None, "note": note,
              "candidates": r.candidates}
    if not r.met:
        _emit(args, report, "\n".join(lines))
        why = r.note or ("not met even with every op in float on this data: the float model itself misses it; "
                         "loosen the budget or check --eval-data")
        print(f"{PROG} convert: the budget {args.budget}: {why}", file=sys.stderr)
        return 1
    with io.write_phase(args.out):
        io.atomic_write(args.out, r.model)
        io.atomic_write(out_recipe, json.dumps(r.recipe, indent=1))
    kept = r.recipe["float_ops"]
    lines.append(f"  -> {args.out} ({_fmt_bytes(len(r.model))}), " +
                 (f"{len(kept)} op(s) kept in float: {', '.join(kept)}" if kept else "fully quantized"))
    lines.append(f"  recipe: {out_recipe} (replay: graphtools convert {args.input} --recipe {out_recipe} "
                 f"--representative-data {args.representative_data} --out MODEL)")
    _emit(args, report, "\n".join(lines))
    return 0


def run_convert(args):
    from ..conversion import converter as conversion
    from ..core import io, tflite
    from ..presentation import tensorboard
    from ..core import data as data_mod
    from ..core.analysis import GraphAnalysis
    from ..core.data import load_samples

    _refuse_overwriting_inputs(args.out, [args.input])
    io.check_output(args.out)
    data_mod.check_source(args.representative_data, "--representative-data")
    if args.budget or args.recipe:
        return _run_budget(args)
    gd = io.load_graph_def(args.input)
    from ..conversion.detection import is_export

    if is_export(gd):  # (its NMS loop would become a WHILE of 880 ops, or fail in the converter)
        raise _input_error(f"{args.input} is an Object Detection API export: convert it with graphtools pipeline "
                           f"--graph {args.input} (its post-processing becomes one TFLite_Detection_PostProcess op, "
                           f"checked by detection matching)")
    a = GraphAnalysis(gd)
    sig = conversion.resolve_signature(gd, args.inputs, args.outputs, args.input_shapes, analysis=a)
    inputs, outputs, shapes, notes = conversion.resolve_io(gd, signature=sig)  # once, for every mode below
    from ..surgery.audit import audit as audit_graph

    audit = [b["message"] for b in audit_graph(gd, inputs, outputs, shapes, analysis=a,
                                                skip=("recurrent_loops",))["problems"]]
    gd, sig, rnn = conversion.prepare_loops(gd, sig, args.rnn, args.select_tf_ops)  # once, for every mode
    if rnn:
        notes.append(_rnn_note(rnn))
    from ..conversion import quantize

    data = None
    if args.representative_data:
        data = load_samples(args.representative_data, inputs, shapes, args.scale, args.mean, args.std,
                            args.calibration_samples)
    modes, skipped = quantize.split_by_data(quantize.parse(args.quantize), data is not None,
                                            "--representative-data", explicit=args.quantize != "all")
    skipped = [s["mode"] for s in skipped]
    results = {}
    for mode in modes:
        model = conversion.convert(gd, quantize=mode, representative_data=data, signature=sig,
                                   calibration_samples=args.calibration_samples,
                                   inference_input_type=args.inference_input_type if mode == "int8" else None,
                                   inference_output_type=args.inference_output_type if mode == "int8" else None,
                                   allow_custom_ops=args.allow_custom_ops, select_tf_ops=args.select_tf_ops,
                                   progress=_progress("calibrating") if quantize.MODES[mode].needs_data else None)
        results[mode] = model
    rows = []
    for mode, model in results.items():
        path = conversion.output_path(args.out, mode) if args.quantize == "all" else args.out
        info = tflite.summarize(model, path)
        rows.append({"mode": mode, "file": path, "size_bytes": len(model), "operators": info["operators"],
                     "op_histogram": info["op_histogram"], "inputs": info["inputs"], "outputs": info["outputs"]})
    with io.write_phase("the models"):
        for r in rows:
            io.atomic_write(r["file"], results[r["mode"]])
        if args.logdir:
            table = "| mode | file | bytes | ops |\n|---|---|---|---|\n" + "\n".join(
                f"| {r['mode']} | {r['file']} | {r['size_bytes']} | {r['operators']} |" for r in rows)
            tensorboard.write_graph(args.logdir, gd, text={"tflite/models": table})
    report = {"in": args.input, "inputs": inputs, "outputs": outputs, "input_shapes": shapes, "models": rows,
              "skipped": {m: "needs --representative-data" for m in skipped}, "notes": notes, "audit": audit,
              "rnn": rnn}
    float_size = rows[0]["size_bytes"] if rows and rows[0]["mode"] == "none" else None
    lines = [f"converted {args.input}: inputs {', '.join(f'{i} {shapes[i]}' for i in inputs)} -> "
             f"outputs {', '.join(outputs)}"]
    lines += [f"  {n}" for n in notes] + [f"  audit: {m}" for m in audit]
    lines.append(f"  {'mode':<9} {'size':>10} {'vs float':>8} {'ops':>5}  file")
    for r in rows:
        ratio = f"{r['size_bytes'] / float_size:.2f}x" if float_size else ""
        lines.append(f"  {r['mode']:<9} {_fmt_bytes(r['size_bytes']):>10} {ratio:>8} {r['operators']:>5}  {r['file']}")
    for m in skipped:
        lines.append(f"  {m:<9} skipped: needs --representative-data")
    _emit(args, report, "\n".join(lines))
    return 0
