"""graphtools freeze: every TF1 source into a frozen GraphDef."""
import argparse
import os
import sys

from .common import (_checkpoint_files, _common, _cut_lines, _emit, _fmt_bytes, _fmt_hist, _fmt_input, _input_error,
                     _io_args, _refuse_overwriting_inputs, _unsafe_arg, str2bool)

FREEZE_HELP = """Freeze a TF1 model into a GraphDef with every variable turned into a constant.

Sources (exactly one):
  --ckpt PREFIX|DIR [--meta FILE]   checkpoint with its meta graph (PREFIX.meta by default);
                                    a directory takes the latest checkpoint in its 'checkpoint' file
  --ckpt PREFIX --graph FILE        a GraphDef (.pb binary or .pbtxt text) plus its checkpoint
  --saved-model DIR [--tags serve]  a v1 SavedModel; outputs default to its signature
  --keras MODEL.h5                  a Keras-2 HDF5 model, loaded in inference mode
  --graph FILE                      an already variable-free GraphDef (cut to the outputs)

Without --outputs the outputs are discovered: the sinks of the inference part of the
graph, Softmax/logits-like first; the choice and the runners-up are printed.
The flag names of TensorFlow's freeze_graph.py work too (--input_checkpoint, --input_graph,
--input_meta_graph, --input_binary, --output_node_names, --output_graph,
--input_saved_model_dir, --saved_model_tags)."""


FREEZE_IGNORED = {
    "clear_devices": "devices are always cleared",
    "restore_op_name": "deprecated in freeze_graph.py too; the checkpoint is restored by its saver",
    "filename_tensor_name": "deprecated in freeze_graph.py too; the checkpoint is restored by its saver",
    "input_saver": "the saver comes from the meta graph or is built from the checkpoint",
    "checkpoint_version": "the checkpoint format is detected",
    "initializer_nodes": "initializers are not run: every value comes from the checkpoint",
    "variable_names_whitelist": "every variable the outputs need is frozen",
    "variable_names_blacklist": "every variable the outputs need is frozen",
}


def _add_freeze(sub):
    p = sub.add_parser("freeze", help="checkpoint / GraphDef / SavedModel / Keras .h5 -> frozen GraphDef",
                       description=FREEZE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", "--input_checkpoint", dest="ckpt", metavar="PREFIX_OR_DIR",
                   help="checkpoint prefix (model.ckpt-1000) or a directory holding a 'checkpoint' file")
    p.add_argument("--meta", "--input_meta_graph", dest="meta", metavar="FILE",
                   help="meta graph (.meta); default: PREFIX.meta beside the checkpoint")
    p.add_argument("--graph", "--input_graph", dest="graph", metavar="FILE",
                   help="GraphDef (.pb binary or .pbtxt text) to use with --ckpt instead of a meta graph")
    p.add_argument("--input_binary", type=str2bool, nargs="?", const=True, metavar="BOOL",
                   help="accepted for freeze_graph.py compatibility; binary or text is detected from the file")
    p.add_argument("--saved-model", "--input_saved_model_dir", dest="saved_model", metavar="DIR",
                   help="v1 SavedModel directory")
    p.add_argument("--tags", "--saved_model_tags", dest="tags", metavar="TAGS",
                   help="SavedModel meta graph tags, comma-separated (default: serve, or the only meta graph's)")
    p.add_argument("--signature", metavar="KEY", help="SavedModel signature whose outputs to freeze "
                                                      "(default: serving_default)")
    p.add_argument("--keras", metavar="MODEL.h5", help="Keras-2 HDF5 model saved with model.save('x.h5')")
    _io_args(p, inputs_help="placeholders you will feed, checked against the frozen graph and listed first "
                            "(default: every placeholder the outputs read)",
             outputs_help="output node names, comma-separated (default: discovered)")
    p.add_argument("--out", "--output_graph", dest="out", default="frozen.pb", metavar="FILE",
                   help="frozen GraphDef to write; .pbtxt writes text (default: frozen.pb)")
    _unsafe_arg(p)
    p.add_argument("--logdir", default=os.path.join("logs", "freeze"), metavar="DIR",
                   help="TensorBoard run to write the frozen graph to (default: logs/freeze; '' for none)")
    for name in FREEZE_IGNORED:
        p.add_argument("--" + name, dest="ignored_" + name, nargs="?", const="true", help=argparse.SUPPRESS)
    _common(p)
    p.set_defaults(run=run_freeze)


def run_freeze(args):
    from ..sources import freezing
    from ..core import io
    from ..presentation import tensorboard
    from ..core.describe import op_histogram

    for name, why in FREEZE_IGNORED.items():
        if getattr(args, "ignored_" + name) is not None:
            print(f"note: --{name} is accepted for compatibility and has no effect: {why}", file=sys.stderr)
    for src in (args.ckpt, args.meta, args.graph, args.saved_model, args.keras):
        if src and not (os.path.exists(src) or os.path.exists(src + ".index")):
            raise _input_error(f"{src}: no such file or directory; check the path")
    if args.meta and not args.ckpt:
        raise _input_error("--meta needs --ckpt: the meta graph holds no variable values")
    _refuse_overwriting_inputs(args.out, [args.meta, args.graph, args.keras] + _checkpoint_files(args.ckpt))
    io.check_output(args.out)
    result = freezing.freeze(ckpt=args.ckpt, meta=args.meta, graph=args.graph, saved_model=args.saved_model,
                             tags=args.tags, keras=args.keras, output_nodes=args.outputs,
                             signature=args.signature, allow_unsafe_ops=args.allow_unsafe_ops,
                             input_nodes=args.inputs)
    gd = result.graph_def
    data = io.graph_def_bytes(gd, args.out)
    replaced = []
    with io.write_phase(args.out):
        if args.logdir:
            _, replaced = tensorboard.write_graph(args.logdir, gd, text={"freeze/summary": _freeze_md(result)})
        io.atomic_write(args.out, data)
    report = {
        "source": result.source, "out": args.out, "size_bytes": len(data), "nodes": len(gd.node),
        "functions": len(gd.library.function), "variables_frozen": result.variables,
        "outputs": result.outputs, "outputs_discovered": result.discovered,
        "output_candidates": result.candidates, "inputs": result.inputs,
        "op_histogram": op_histogram(gd), "logdir": args.logdir or None, "input_pipeline_cuts": result.cuts,
    }
    lines = [f"froze {result.source} ({result.variables} variables) -> {args.out} "
             f"({len(gd.node)} nodes, {_fmt_bytes(len(data))})"]
    if result.discovered and result.candidates:
        best = result.candidates[0]
        lines.append(f"  outputs: {', '.join(result.outputs)}  (discovered: {best['why']}; "
                     f"pass --outputs to choose)")
        for c in result.candidates[1:4]:
            lines.append(f"    runner-up: {c['name']} ({c['op']}, score {c['score']})")
    else:
        lines.append(f"  outputs: {', '.join(result.outputs)}")
    for i in result.inputs:
        lines.append(f"  input:   {_fmt_input(i)}")
    lines += _cut_lines(result.cuts)
    lines.append(f"  ops:     {_fmt_hist(op_histogram(gd))}")
    if args.logdir:
        note = " (replaced the previous run's event file)" if replaced else ""
        lines.append(f"  TensorBoard: tensorboard --logdir {args.logdir}{note}")
    _emit(args, report, "\n".join(lines))
    return 0


def _freeze_md(result):
    rows = "\n".join(f"| {i['name']} | {i['dtype']} | {i['shape']} | {i['role']} |" for i in result.inputs)
    return (f"Frozen from `{result.source}`: {result.variables} variables, {len(result.graph_def.node)} nodes.\n\n"
            f"Outputs: {', '.join('`%s`' % o for o in result.outputs)}\n\n"
            f"| input | dtype | shape | role |\n|---|---|---|---|\n{rows}\n")
