"""graphtools convert: GraphDef -> .tflite in every quantization mode."""
import argparse
import os

from .common import (
    _common, _data_args, _emit, _fmt_bytes, _io_args, _progress, _refuse_overwriting_inputs,
    _rnn_arg, _rnn_note,
)

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

--representative-data: .npy, .npz (arrays named after the inputs, or 'x'), an IDX file such as
MNIST's t10k-images-idx3-ubyte.gz, or a directory of images (resized to the input shape); then
--scale, --mean and --std normalise it the way the model was trained (x * scale, (x - mean) / std)."""


def _add_convert(sub):
    p = sub.add_parser("convert", help="GraphDef -> .tflite in any quantization mode",
                       description=CONVERT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in", dest="input", required=True, metavar="FILE", help="frozen GraphDef (.pb or .pbtxt)")
    p.add_argument("--out", default="model.tflite", metavar="FILE", help="TFLite model (default: model.tflite)")
    _io_args(p)
    p.add_argument("--input-shapes", metavar="SHAPES", help="e.g. 1,28,28,1 or 1,28,28,1:1,10")
    from ..quantize import NAMES

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
    _rnn_arg(p)
    p.add_argument("--logdir", default=os.path.join("logs", "tflite"), metavar="DIR",
                   help="TensorBoard run for the converted graph and the model table (default: logs/tflite)")
    _common(p)
    p.set_defaults(run=run_convert)


def run_convert(args):
    from .. import conversion, io, tensorboard, tflite
    from .. import data as data_mod
    from ..analysis import GraphAnalysis
    from ..data import load_samples

    _refuse_overwriting_inputs(args.out, [args.input])
    io.check_output(args.out)
    data_mod.check_source(args.representative_data, "--representative-data")
    gd = io.load_graph_def(args.input)
    a = GraphAnalysis(gd)
    sig = conversion.resolve_signature(gd, args.inputs, args.outputs, args.input_shapes, analysis=a)
    inputs, outputs, shapes, notes = conversion.resolve_io(gd, signature=sig)  # once, for every mode below
    from ..audit import audit as audit_graph

    audit = [b["message"] for b in audit_graph(gd, inputs, outputs, shapes, analysis=a,
                                                skip=("recurrent_loops",))["problems"]]
    gd, sig, rnn = conversion.prepare_loops(gd, sig, args.rnn, args.select_tf_ops)  # once, for every mode
    if rnn:
        notes.append(_rnn_note(rnn))
    from .. import quantize

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
