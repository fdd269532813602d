"""graphtools audit: what will make conversion fail or give a poor model (no TensorFlow)."""

from .common import _model_file_arg, _common, _emit, _io_args


def _add_audit(sub):
    p = sub.add_parser("audit", help="what will make conversion fail or give a poor model",
                       description="Before converting, list ops TFLite has no builtin for, random ops, "
                                   "placeholders that are neither inputs nor bound, unknown input shapes, "
                                   "Dequantize/QuantizeV2 leftovers and output arrays that do not exist, each "
                                   "with the command that fixes it. Exit 0 when nothing is found, 1 otherwise.")
    _model_file_arg(p, "GraphDef (.pb or .pbtxt)", "file")
    _io_args(p, inputs_help="the inputs you will convert with (default: discovered)",
             outputs_help="the outputs you will convert with (default: discovered)")
    p.add_argument("--input-shapes", metavar="SHAPES", help="the shapes you will give (toco syntax)")
    _common(p)
    p.set_defaults(run=run_audit)


def run_audit(args):
    from ..core import io
    from ..surgery.audit import audit

    report = dict(file=args.file, **audit(io.load_graph_def(args.file), args.inputs, args.outputs,
                                          args.input_shapes))
    problems, outputs = report["problems"], report["outputs"]
    lines = [f"audit of {args.file}: inputs {', '.join(report['inputs']) or 'none'} -> outputs "
             f"{', '.join(outputs) or 'none'}"]
    lines += [f"  - {p['message']}" for p in problems] or ["  nothing found that blocks conversion"]
    _emit(args, report, "\n".join(lines))
    return 1 if problems else 0
