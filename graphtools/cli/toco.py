"""The classic ``toco`` command line, verbatim, on top of ``graphtools.conversion.converter``.

TensorFlow 2.21's ``toco`` only takes --saved_model_dir/--keras_model_file; book chapters and
build scripts still call it with --input_file and friends. Every flag of that era is accepted:
the ones with a modern meaning map onto the converter, the others say in one line what happens.
"""
import argparse
import os
import sys

from ..errors import InputError

# flags that no longer change anything, and what happens instead
NO_OP_FLAGS = {
    "drop_control_dependency": "control dependencies are always dropped by the TFLite converter",
    "reorder_across_fake_quant": "the MLIR converter places quantization itself",
    "change_concat_input_ranges": "the MLIR converter chooses concat ranges itself",
    "allow_nudging_weights_to_use_fast_gemm_kernel": "weights are not nudged",
    "dump_graphviz_video": "only the before/after DOT files are written (--dump_graphviz_dir)",
    "split_tflite_lstm_inputs": "LSTMs are converted as the converter sees fit",
    "quantize_weights": "use --post_training_quantize (same meaning)",
}


def build_parser(parser_class):
    p = parser_class(prog="graphtools toco", description=(
        "The TensorFlow 1.x toco command line, verbatim: --input_file=frozen.pb --output_file=model.tflite "
        "--input_format=TENSORFLOW_GRAPHDEF --output_format=TFLITE|GRAPHVIZ_DOT "
        "--inference_type=FLOAT|QUANTIZED_UINT8 --input_arrays=... --output_arrays=... --input_shapes=1,28,28,1"))
    a = p.add_argument
    a("--input_file", required=True, help="frozen GraphDef (.pb or .pbtxt)")
    a("--output_file", required=True, help="the .tflite (or .dot with --output_format=GRAPHVIZ_DOT)")
    a("--input_format", default="TENSORFLOW_GRAPHDEF", help="TENSORFLOW_GRAPHDEF (the only one toco read)")
    a("--output_format", default="TFLITE", help="TFLITE or GRAPHVIZ_DOT")
    a("--inference_type", default="FLOAT", help="FLOAT or QUANTIZED_UINT8")
    a("--inference_input_type", help="FLOAT or QUANTIZED_UINT8 (default: the inference type)")
    a("--input_type", help="old name of --inference_input_type")
    a("--input_arrays", help="input node names, comma-separated (default: discovered)")
    a("--output_arrays", help="output node names, comma-separated (default: discovered)")
    a("--input_shapes", help="1,28,28,1 (colon between inputs)")
    a("--mean_values", help="per input, comma-separated: real = (quantized - mean) / std")
    a("--std_dev_values", help="per input, comma-separated")
    a("--std_values", help="old name of --std_dev_values")
    a("--default_ranges_min", type=float, help="activation range where the graph has none (dummy quantization)")
    a("--default_ranges_max", type=float, help="activation range where the graph has none (dummy quantization)")
    a("--allow_custom_ops", nargs="?", const="true", default="false", help="keep ops TFLite lacks as custom ops")
    a("--post_training_quantize", nargs="?", const="true", default="false", help="dynamic-range quantization")
    a("--quantize_to_float16", nargs="?", const="true", default="false", help="float16 weights")
    a("--dump_graphviz_dir", help="write toco_AT_IMPORT.dot and toco_AFTER_TRANSFORMATIONS.dot here")
    for flag in NO_OP_FLAGS:
        a("--" + flag, nargs="?", const="true", help=argparse.SUPPRESS)
    a("-v", "--verbose", action="store_true", help="show TensorFlow's logs and tracebacks")
    a("--json", action="store_true", help="print what was written as JSON")
    return p


def _bool(flag, value):
    low = str(value).lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise InputError(f"--{flag}={value}: expected true or false")


def _floats(flag, text, n):
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(f"--{flag}={text}: expected comma-separated numbers")
    if len(vals) != n:
        raise InputError(f"--{flag}={text}: {len(vals)} value(s) for {n} input array(s)")
    return vals


def run(args, emit):
    """Carry out one toco invocation; ``emit(report, text)`` prints the result."""
    from ..conversion import converter as conversion
    from ..core import io
    from ..presentation.dot import graph_def_to_dot, tflite_to_dot

    notes = []
    for flag, why in NO_OP_FLAGS.items():
        if getattr(args, flag) is not None:
            notes.append(f"note: --{flag} is accepted and has no effect: {why}")
    if args.input_format.upper() != "TENSORFLOW_GRAPHDEF":
        raise InputError(f"--input_format={args.input_format}: only TENSORFLOW_GRAPHDEF is read; freeze other "
                         f"models first (graphtools freeze)")
    out_format = args.output_format.upper()
    if out_format not in ("TFLITE", "GRAPHVIZ_DOT"):
        raise InputError(f"--output_format={args.output_format}: choose TFLITE or GRAPHVIZ_DOT")
    inference = args.inference_type.upper()
    if inference not in ("FLOAT", "QUANTIZED_UINT8"):
        raise InputError(f"--inference_type={args.inference_type}: choose FLOAT or QUANTIZED_UINT8 (for int8 "
                         f"use graphtools convert --quantize int8)")
    input_type = (args.inference_input_type or args.input_type or inference).upper()
    if input_type not in ("FLOAT", "QUANTIZED_UINT8"):
        raise InputError(f"--inference_input_type={input_type}: choose FLOAT or QUANTIZED_UINT8")
    if input_type == "QUANTIZED_UINT8" and inference == "FLOAT":
        raise InputError("--inference_input_type=QUANTIZED_UINT8 needs --inference_type=QUANTIZED_UINT8")
    if os.path.exists(args.output_file) and io.same_file(args.output_file, args.input_file):
        raise InputError(f"{args.output_file}: is also the input; write to another file")
    gd = io.load_graph_def(args.input_file)
    inputs, outputs, shapes, found_notes = conversion.resolve_io(gd, args.input_arrays, args.output_arrays,
                                                                 args.input_shapes,
                                                                 flags=("--input_arrays", "--output_arrays"))
    notes += found_notes
    quantize = "none"
    if _bool("post_training_quantize", args.post_training_quantize):
        quantize = "dynamic"
    if _bool("quantize_to_float16", args.quantize_to_float16):
        quantize = "float16"
    legacy = None
    if inference == "QUANTIZED_UINT8":
        std_text = args.std_dev_values or args.std_values
        if args.mean_values is None or std_text is None:
            raise InputError("--inference_type=QUANTIZED_UINT8 needs --mean_values and --std_dev_values "
                             "(one per input array: real = (quantized - mean) / std)")
        means = _floats("mean_values", args.mean_values, len(inputs))
        stds = _floats("std_dev_values", std_text, len(inputs))
        ranges = None
        if (args.default_ranges_min is None) != (args.default_ranges_max is None):
            raise InputError("give both --default_ranges_min and --default_ranges_max")
        if args.default_ranges_min is not None:
            ranges = (args.default_ranges_min, args.default_ranges_max)
        legacy = {"input_stats": {i: (m, s) for i, m, s in zip(inputs, means, stds)}, "default_ranges": ranges,
                  "float_input": input_type == "FLOAT"}
        if quantize != "none":
            notes.append("note: --post_training_quantize/--quantize_to_float16 ignored with QUANTIZED_UINT8")
            quantize = "none"
    elif args.mean_values or args.std_dev_values or args.std_values:
        notes.append("note: --mean_values/--std_dev_values only apply with --inference_type=QUANTIZED_UINT8")
    model = None
    error = None
    try:
        model = conversion.convert(gd, inputs, outputs, shapes, quantize=quantize,
                                   allow_custom_ops=_bool("allow_custom_ops", args.allow_custom_ops),
                                   legacy_uint8=legacy)
    except conversion.ConversionError as e:
        if out_format == "TFLITE" and not args.dump_graphviz_dir:
            raise
        error = e
    written = []
    if args.dump_graphviz_dir:
        d = args.dump_graphviz_dir
        os.makedirs(d, exist_ok=True)
        before = os.path.join(d, "toco_AT_IMPORT.dot")
        io.atomic_write(before, graph_def_to_dot(gd, "toco_AT_IMPORT", outputs=outputs))
        written.append(before)
        if model is not None:
            after = os.path.join(d, "toco_AFTER_TRANSFORMATIONS.dot")
            io.atomic_write(after, tflite_to_dot(model, "toco_AFTER_TRANSFORMATIONS"))
            written.append(after)
    if out_format == "GRAPHVIZ_DOT":
        text = (tflite_to_dot(model, "toco_AFTER_TRANSFORMATIONS") if model is not None
                else graph_def_to_dot(gd, "toco_AT_IMPORT", outputs=outputs))
        if model is None:
            notes.append(f"note: conversion failed ({error}); the DOT file shows the graph as imported")
        io.atomic_write(args.output_file, text)
    else:
        if model is None:
            raise error
        io.atomic_write(args.output_file, model)
    written.insert(0, args.output_file)
    for n in notes:
        print(n, file=sys.stderr)
    report = {"input_file": args.input_file, "written": written, "inputs": inputs, "outputs": outputs,
              "input_shapes": shapes, "inference_type": inference, "quantize": quantize, "notes": notes}
    emit(report, "\n".join(f"wrote {w}" for w in written))
    return 0
