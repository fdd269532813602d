"""GraphDef -> .tflite through TFLiteConverter.from_frozen_graph, in every quantization mode."""
import contextlib
import logging
import os
import re
import tempfile

import numpy as np

from ..errors import GraphtoolsError, InputError

log = logging.getLogger(__name__)

from .quantize import CALIBRATED, NAMES as MODES, MODES as _MODES  # the one table of modes

__all__ = ["MODES", "CALIBRATED", "convert", "resolve_io", "resolve_signature", "prepare_loops"]
SUFFIX = {name: m.suffix for name, m in _MODES.items()}
IO_TYPES = ("float32", "int8", "uint8", "int16")


class ConversionError(GraphtoolsError):
    """The TFLite converter rejected the graph; the message names the op and node when it can."""


def output_path(base, mode):
    """model.tflite + 'int8' -> model.int8.tflite (the float model keeps the base name)."""
    root, ext = os.path.splitext(base)
    return f"{root}{SUFFIX[mode]}{ext or '.tflite'}"


def resolve_io(graph_def, inputs=None, outputs=None, shapes=None, signature=None, flags=("--inputs", "--outputs")):
    """Inputs, outputs and shapes: given ones checked, missing ones discovered (the graph's fixed batch,
    else 1, where the batch is open). A thin view of ``signature.resolve``.

    Returns (inputs, outputs, shapes, notes) where notes are lines worth printing.
    """
    sig = signature or resolve_signature(graph_def, inputs, outputs, shapes, flags=flags)
    shapes = sig.shapes()
    notes = list(sig.notes) + [f"input {i.name}: batch dimension set to {shapes[i.name][0]} (shape {shapes[i.name]})"
                               for i in sig.inputs if i.given is None and i.shape and i.shape[0] < 0]
    return sig.names, list(sig.outputs), shapes, notes


def resolve_signature(graph_def, inputs=None, outputs=None, shapes=None, analysis=None, flags=("--inputs", "--outputs")):
    """The converter's signature: training flags must be listed; ``flags`` names --inputs/--outputs
    in messages (toco's --input_arrays/--output_arrays there)."""
    from ..core.signature import resolve

    return resolve(graph_def, inputs, outputs, shapes, analysis=analysis, output_flag=flags[1],
                   input_flag=flags[0], bind_flags=False, strict_flags=True)


def prepare_loops(graph_def, signature, rnn="auto", select_tf_ops=False):
    """(GraphDef, Signature, report or None): v1 TensorArray loops lowered for TFLite builtins
    (graphtools.conversion.loops: unrolled where the input shapes fix the trip count, else TensorList ops for a
    TFLite WHILE). With ``select_tf_ops`` a loop that cannot be lowered is left for the Flex delegate."""
    from . import list_loops, loops

    if list_loops.list_loops(graph_def):  # functional While over TensorLists (tf_keras layers in a v1 graph)
        firsts = {s[0] for s in signature.shapes().values() if s}  # the conversion's batch
        gd, report = list_loops.prepare(graph_def, list(signature.outputs), firsts.pop() if len(firsts) == 1 else None)
        if report is None:
            return graph_def, signature, None
        report["verified"] = _verify_lowering(graph_def, gd, signature)
        return gd, signature.against(gd), report
    if rnn == "none" or not loops.has_tensor_arrays(graph_def):
        return graph_def, signature, None
    try:
        gd, report = loops.lower(graph_def, signature, rnn)
        report["verified"] = _verify_lowering(graph_def, gd, signature)
    except InputError as e:
        if select_tf_ops:
            return graph_def, signature, {"route": "flex", "why": str(e)}
        raise
    if rnn == "auto" and any(lp["route"] == "unroll" for lp in report["loops"]):
        gd, report = _cheaper_form(graph_def, gd, report, signature)
    return gd, signature.against(gd), report


def _cheaper_form(graph_def, unrolled, report, signature):
    """--rnn auto: where the loops could be unrolled, the TFLite WHILE form is built too, and the form that
    runs faster is kept (the smaller when within 10%): an unrolled peephole LSTM came out 34x the ops, 2.6x
    the size and 2x slower. Both are converted (float) and timed here; the report says which and why."""
    from . import loops
    from ..core.bench import bench_model
    from ..core.tflite import summarize

    try:
        looped, wreport = loops.lower(graph_def, signature, "while")
        wreport["verified"] = _verify_lowering(graph_def, looped, signature)
    except (InputError, ConversionError):
        return unrolled, report
    measured = {}
    for name, form in (("unroll", unrolled), ("while", looped)):
        try:
            model = convert(form, quantize="none", signature=signature.against(form), rnn="none")
            ms = min(r["median_ms"] for r in bench_model(model, threads=[1], kernels=("builtin",), runs=20,
                                                           warmup=3)["latency"])
        except (InputError, ConversionError):
            continue  # (a form that does not convert or run is not a choice)
        measured[name] = {"ops": summarize(model)["operators"], "bytes": len(model), "ms": round(ms, 4)}
    if len(measured) < 2:
        return unrolled, report
    faster, why = choose_loop_form(measured)
    chosen, rep = (unrolled, report) if faster == "unroll" else (looped, wreport)
    rep = dict(rep, measured=measured, why=why)
    return chosen, rep


def choose_loop_form(measured):
    """('unroll' or 'while', why) from each form's measured {"ops", "bytes", "ms"}: the faster, or the
    smaller when they are within 10% of each other."""
    u, w = measured["unroll"], measured["while"]
    close = abs(u["ms"] - w["ms"]) <= 0.1 * max(u["ms"], w["ms"])
    pick = ("unroll" if u["bytes"] <= w["bytes"] else "while") if close else ("unroll" if u["ms"] < w["ms"] else "while")
    why = (f"unrolled {u['ops']} ops, {u['bytes'] / 1024:.1f} KB, {u['ms']:.3f} ms; WHILE {w['ops']} ops, "
           f"{w['bytes'] / 1024:.1f} KB, {w['ms']:.3f} ms: {'unrolled' if pick == 'unroll' else 'WHILE'} is "
           + ("as fast and smaller" if close else "faster"))
    return pick, why


def _verify_lowering(before, after, signature):
    """The lowered loops compute what the loops did: both graphs run in TensorFlow on the same seeded
    inputs of the conversion's shapes (the sequence length given). Raises ConversionError if not."""
    from ..surgery.equivalence import NotEquivalentError, check_equivalent

    shapes = signature.shapes()
    data = [dict(i.as_dict(), shape=shapes[i.name]) for i in signature.inputs]
    try:
        eq = check_equivalent(before, after, data, list(signature.outputs), dict(signature.flags), rtol=1e-5,
                              atol=1e-6, signature=signature)
    except NotEquivalentError as e:
        raise ConversionError(f"lowering the recurrent loops changed the numbers ({str(e).split(';')[0]}); "
                              f"convert with --rnn none --select-tf-ops and report this graph")
    return eq.checked


from ..core.ops import RUNTIME_CUSTOM_OPS  # noqa: E402 (custom ops LiteRT's built-in resolver registers)


def convert(graph_def, inputs=None, outputs=None, shapes=None, quantize="none", representative_data=None,
            calibration_samples=100, inference_input_type=None, inference_output_type=None,
            allow_custom_ops=False, select_tf_ops=False, progress=None, legacy_uint8=None, signature=None,
            rnn="auto", calibrate_only=False):
    """Convert a frozen GraphDef to TFLite flatbuffer bytes with TFLiteConverter.from_frozen_graph.

    ``quantize``: none, dynamic (Optimize.DEFAULT), float16, int8 (full integer: needs
    ``representative_data``, a {input: array[N, ...]} dict or a callable yielding lists of arrays)
    or int16x8 (16-bit activations, 8-bit weights; needs representative data too).
    ``inference_input_type`` / ``inference_output_type``: 'int8' or 'uint8' for int8 models.
    ``progress``: optional callable(done, total) called during calibration.
    ``signature``: the command's resolved signature (then inputs/outputs/shapes are not looked at).
    ``rnn``: how v1 TensorArray loops become builtins ('auto', 'unroll', 'while'; see prepare_loops).
    ``calibrate_only``: return (the calibrated float model, inputs, outputs) for ``mlir_quantize``
    (``budget.quantize``: int8 with chosen ops kept in float).
    ``legacy_uint8``: toco's QUANTIZED_UINT8 — {"input_stats": {input: (mean, std)}, "default_ranges":
    (min, max) or None, "float_input": bool}; inference_type uint8 with dummy ranges where the graph has
    no FakeQuant ranges.
    """
    from .._tf import tf

    tf = tf()
    from . import quantize as quant

    m = quant.mode(quantize)
    signature = signature or resolve_signature(graph_def, inputs, outputs, shapes)
    graph_def, signature, _ = prepare_loops(graph_def, signature, rnn, select_tf_ops)
    inputs, outputs, shapes, _ = resolve_io(graph_def, signature=signature)
    if isinstance(representative_data, str):
        from ..core.data import load_samples

        representative_data = load_samples(representative_data, inputs, shapes, limit=calibration_samples)
    if quantize in CALIBRATED and representative_data is None:
        raise InputError(f"--quantize {quantize} needs calibration data: give --representative-data "
                         f"(.npy, .npz, IDX or an image directory)")
    for what, value in (("--inference-input-type", inference_input_type),
                        ("--inference-output-type", inference_output_type)):
        if value not in (None, "float32") and not m.integer_io:
            raise InputError(f"{what} {value} needs --quantize int8 (integer inputs and outputs come with "
                             f"full-integer quantization)")
        if value is not None and value not in IO_TYPES:
            raise InputError(f"{what} {value}: choose from {', '.join(IO_TYPES)}")
    # ops LiteRT's own resolver runs as custom ops (the speech demo's AudioSpectrogram/Mfcc, the detection
    # post-processing): allowed without --allow-custom-ops, and nothing else slips through with them
    auto_custom = not allow_custom_ops and any(n.op in RUNTIME_CUSTOM_OPS for n in graph_def.node)
    for float_fallback in (False, True):
        with _converter(tf, graph_def, inputs, outputs, shapes, m, quant, representative_data, calibration_samples,
                        progress, inference_input_type, inference_output_type, allow_custom_ops or auto_custom,
                        select_tf_ops, legacy_uint8, float_fallback) as conv:
            from .. import guard

            guard.stage(f"converting to TFLite (--quantize {quantize})")
            if calibrate_only:  # the float model carrying the calibration statistics (for mlir_quantize)
                conv._experimental_calibrate_only = True
                conv.experimental_mlir_quantizer = True
            try:
                model = _run_converter(conv)
                break
            except ConversionError as e:
                # 16x8 has no kernels for some ops (CAST, the detection op's inputs): those stay float
                if float_fallback or quantize != "int16x8" or "not yet supported for op" not in str(e):
                    raise
                log.info("int16x8: %s; converting with float kernels for such ops", e)
    if auto_custom:
        from ..core.tflite import summarize

        other = [op.split(":", 1)[1] for op in summarize(model)["op_histogram"]
                 if op.startswith("CUSTOM:") and op.split(":", 1)[1] not in RUNTIME_CUSTOM_OPS]
        if other:
            raise ConversionError(f"TFLite has no kernel for tf.{other[0]}: --select-tf-ops or --allow-custom-ops")
    if calibrate_only:
        return model, inputs, outputs
    # from_frozen_graph writes no SignatureDef: name one, so signature runners, CompiledModel and
    # ai-edge-quantizer find the model's inputs and outputs by their TensorFlow names
    from ..core.tflite import add_signature

    return add_signature(model, inputs, outputs)


def _run_converter(conv):
    from .._tf import stderr_quiet

    try:
        with stderr_quiet():  # the converter's C++ prints its settings on every call
            return bytes(conv.convert())
    except Exception as e:  # ConverterError and friends: turned into one readable line
        if isinstance(e, GraphtoolsError):
            raise
        raise ConversionError(explain_converter_error(e)) from e


@contextlib.contextmanager
def _converter(tf, graph_def, inputs, outputs, shapes, m, quant, representative_data, calibration_samples, progress,
               inference_input_type, inference_output_type, allow_custom_ops, select_tf_ops, legacy_uint8,
               float_fallback=False):
    """A TFLiteConverter.from_frozen_graph set up for mode ``m`` (valid inside the block)."""
    with tempfile.TemporaryDirectory(prefix="graphtools-") as tmp:
        pb = os.path.join(tmp, "frozen.pb")
        with open(pb, "wb") as f:
            f.write(graph_def.SerializeToString())
        try:
            conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(pb, inputs, outputs, input_shapes=shapes)
        except (ValueError, KeyError) as e:
            raise ConversionError(f"the converter cannot load the graph: {_first_line(e)}")
        ops = quant.configure(conv, m, tf)
        if float_fallback:
            ops.add(tf.lite.OpsSet.TFLITE_BUILTINS)
        if select_tf_ops:
            ops.add(tf.lite.OpsSet.SELECT_TF_OPS)
        conv.allow_custom_ops = bool(allow_custom_ops)
        if m.needs_data:
            from ..core.describe import dtype_name

            dtypes = {n.name: dtype_name(n.attr["dtype"].type) for n in graph_def.node if n.name in inputs}
            conv.representative_dataset = _representative(representative_data, inputs, shapes,
                                                          calibration_samples, progress, dtypes)
        if m.integer_io and inference_input_type:
            conv.inference_input_type = tf.as_dtype(inference_input_type)
        if m.integer_io and inference_output_type:
            conv.inference_output_type = tf.as_dtype(inference_output_type)
        conv.target_spec.supported_ops = ops
        if legacy_uint8 is not None:
            conv.inference_type = tf.uint8
            conv.inference_input_type = tf.float32 if legacy_uint8.get("float_input") else tf.uint8
            conv.quantized_input_stats = dict(legacy_uint8["input_stats"])
            if legacy_uint8.get("default_ranges"):
                conv.default_ranges_stats = tuple(legacy_uint8["default_ranges"])
        yield conv


def _representative(data, inputs, shapes, limit, progress, dtypes=None):
    if callable(data):
        return data
    arrays = [np.asarray(data[i]) for i in inputs]
    n = min(len(a) for a in arrays)
    if limit:
        n = min(n, int(limit))
    if n == 0:
        raise InputError("the representative data holds no samples")
    for name, a in zip(inputs, arrays):
        want = shapes[name]
        got = list(a.shape[1:])
        if got != list(want[1:]):
            raise InputError(f"representative data for '{name}' has sample shape {got}, the input takes "
                             f"{list(want[1:])}; reshape or resize the data")

    def gen():
        for k in range(n):
            if progress:
                progress(k + 1, n)
            yield [a[k:k + 1].astype(_sample_dtype((dtypes or {}).get(name))) for name, a in zip(inputs, arrays)]

    return gen


def _sample_dtype(name):
    """The dtype calibration samples are fed as: the input's own integer type (a uint8 image), else float32."""
    return np.dtype(name) if name in ("uint8", "int8", "int16", "int32", "int64") else np.float32


def _first_line(e):
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0][:200] if lines else type(e).__name__


NOT_SUPPORTED = re.compile(r"loc\((?:fused\[)?\"([^\"]*)\"(?:, \"([^\"]*)\")?\]?\): '(tf\.\w+)' op is neither a custom op "
                           r"nor a flex op")


RANK_ERROR = re.compile(r"Shape must be rank (\d+) but is rank (\d+) for '\{\{node ([^}]+)\}\} = (\w+)")


def explain_converter_error(e):
    """One line from the converter's wall of text: the op, the node, and what to do."""
    text = str(e)
    found = NOT_SUPPORTED.findall(text)
    if found:
        op = found[0][2]
        nodes = [(second or first).rstrip(":") for first, second, o in found if o == op]
        node = f" (node{'s' if len(nodes) > 1 else ''} {', '.join(dict.fromkeys(nodes))})"
        hint = "--select-tf-ops or --allow-custom-ops"
        if op == "tf.Placeholder":
            hint = ("a placeholder is neither a listed input nor bound: list it in --inputs, "
                    "bind it (graphtools strip --bind NAME=VALUE) or strip dropout/training")
        elif op in ("tf.RandomUniform", "tf.RandomStandardNormal", "tf.TruncatedNormal"):
            hint = "dropout left in the graph: graphtools strip --remove dropout"
        elif op in ("tf.Dequantize", "tf.QuantizeV2"):
            hint = "graph-transform quantization leftovers: convert the float graph and use --quantize"
        return f"TFLite has no kernel for {op}{node}: {hint}"
    rank = RANK_ERROR.search(text)
    if rank:
        want, got, node, op = rank.groups()
        return (f"node {node} ({op}) needs a rank-{want} input but gets rank {got}: give the input's real shape "
                f"with --input-shapes (e.g. 1,224,224,3 for an image)")
    if re.search(r"requires operands? to be \d-?D|must be rank \d", text):
        return (f"an input's rank does not fit the op it feeds ({_first_line(e)[:120]}): give the input's real "
                f"shape with --input-shapes")
    if "Function" in text and "is not defined" in text:
        return ("a function the graph calls is missing from its library (TensorFlow's optimize_for_inference "
                "drops it): freeze and strip with graphtools instead")
    return f"the converter failed: {_first_line(e)} (rerun with --verbose for its full output)"
