"""graphtools strip: remove dropout and training parts, fold batch norms, prove it equivalent."""
import argparse
import json
import os

from .common import (_model_file_arg, _common, _emit, _fmt_bytes, _fmt_hist, _io_args, _json_default, _parse_bind,
                     _refuse_overwriting_inputs, _strip_check_args, _tolerances, _unsafe_arg)

STRIP_HELP = """Remove dropout and training subgraphs from a frozen graph, fold batch norms, prune, and
prove the result equivalent before writing it.

--remove (repeatable or comma-separated; default: all):
  dropout    every legacy dropout form (keep_prob or rate, v1/v2) is rewired to its input
  training   training flags (is_training, phase_train, keep_prob, keras_learning_phase, ...) are
             bound to their inference values and v1 Switch/Merge and v2 If conds folded away;
             optimizer, update, summary and saver control edges are cut
  debug      Assert, CheckNumerics, Print
  identity   Identity chains (W/read, ...), StopGradient, PlaceholderWithDefault not listed as input
  batchnorm  constant folding, training-mode batch norm to inference, batch norms folded into
             the preceding Conv2D / DepthwiseConv2dNative / MatMul
  quantized  graph-transform 8-bit ops (QuantizeV2, QuantizedConv2D, ...) back to float ops
  all        all of the above (also when --bind, --cut or --splice are given)
  none       only what --bind, --cut and --splice ask for

By default the graph is run before and after on seeded random inputs (training flags at their
inference values) and nothing is written when an output differs beyond the tolerance."""


def _add_strip(sub):
    p = sub.add_parser("strip", help="remove dropout/training parts, fold batch norms, verify equivalence",
                       description=STRIP_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _model_file_arg(p, "frozen GraphDef (.pb or .pbtxt)", "input")
    p.add_argument("--out", default="optimized.pb", metavar="FILE", help="stripped GraphDef (default: optimized.pb)")
    p.add_argument("--remove", action="append", metavar="WHAT",
                   help="dropout, training, debug, identity, batchnorm, quantized, all, or none (only what --bind, "
                        "--cut and --splice ask for); default: all, also when --bind/--cut/--splice are given")
    _io_args(p)
    p.add_argument("--bind", action="append", default=[], metavar="NAME=VALUE",
                   help="turn a placeholder into a constant, e.g. is_training=false, keep_prob=1.0 (repeatable)")
    p.add_argument("--cut", action="append", default=[], metavar="NODE:DTYPE:SHAPE",
                   help="replace a node by a new placeholder, removing what fed it (repeatable), "
                        "e.g. IteratorGetNext:float32:1,28,28,1")
    p.add_argument("--splice", action="append", default=[], metavar="NODE_OR_SCOPE",
                   help="remove a node or name scope by wiring its one data input to its readers (repeatable)")
    p.add_argument("--logdir", default=os.path.join("logs", "optimized"), metavar="DIR",
                   help="TensorBoard runs DIR/before and DIR/after (default: logs/optimized; '' for none)")
    p.add_argument("--report", metavar="FILE.json", help="write the per-pass report as JSON")
    p.add_argument("--input-shapes", metavar="SHAPES",
                   help="shapes for the equivalence check where the graph has none, toco syntax: "
                        "1,224,224,3 (colon between inputs, in --inputs order)")
    _strip_check_args(p)
    _unsafe_arg(p)
    _common(p)
    p.set_defaults(run=run_strip)


def run_strip(args):
    from ..core import io
    from ..surgery import stripping as surgery
    from ..presentation import tensorboard

    _refuse_overwriting_inputs(args.out, [args.input])
    io.check_output(args.out)
    if args.report:
        _refuse_overwriting_inputs(args.report, [args.input])
        io.check_output(args.report, "--report")
    gd = io.load_graph_def(args.input)
    bind = _parse_bind(args.bind)
    nodes_before = len(gd.node)
    result = surgery.strip_report(gd, remove=args.remove or ["all"],
                                  inputs=args.inputs, outputs=args.outputs, bind=bind, cut=args.cut,
                                  splice=args.splice, verify=not args.no_verify, **_tolerances(args),
                                  input_shapes=args.input_shapes, allow_unsafe_ops=args.allow_unsafe_ops, consume=True,
                                  allow_leftovers=args.allow_leftovers)
    gd = None  # handed over to strip (edited in place)
    out = result.graph_def
    data = io.graph_def_bytes(out, args.out)
    report = _strip_report(args, nodes_before, result, len(data))
    before = io.load_graph_def(args.input) if args.logdir else None
    with io.write_phase(args.out):
        if args.logdir:
            tensorboard.clear_own(args.logdir)  # (a pipeline's 'optimized' run there would sit beside these)
            tensorboard.write_graph(os.path.join(args.logdir, "before"), before)
            tensorboard.write_graph(os.path.join(args.logdir, "after"), out, text={"strip/report": _strip_md(report)})
        if args.report:
            io.atomic_write(args.report, json.dumps(report, indent=2, default=_json_default) + "\n")
        io.atomic_write(args.out, data)
    _emit(args, report, _strip_text(report))
    return 0


def _strip_report(args, nodes_before, r, size):
    from ..surgery.stripping import bound_json

    eq = r.equivalence
    return {
        "in": args.input, "out": args.out, "size_bytes": size,
        "inputs": r.inputs, "outputs": r.outputs, "bound": bound_json(r.bound),
        "nodes_before": nodes_before, "nodes_after": len(r.graph_def.node),
        "ops_before": r.ops_before, "ops_after": r.ops_after,
        "passes": [{"pass": p.name, "round": p.round, "rewrites": p.rewrites, "pruned": p.pruned,
                    "ops_delta": p.delta(), "removed": p.removed[:200], "added": p.added[:200],
                    "removed_count": len(p.removed)} for p in r.passes],
        "verified": bool(eq and eq.checked), "equivalence": eq.outputs if eq else None,
        "verify_note": (eq.note if eq else "skipped (--no-verify)"),
        "signature": r.signature.as_dict() if r.signature else None,
        "logdir": args.logdir or None,
    }


def _strip_text(rep):
    lines = [f"stripped {rep['in']} -> {rep['out']}: {rep['nodes_before']} -> {rep['nodes_after']} nodes "
             f"({_fmt_bytes(rep['size_bytes'])})",
             f"  inputs:  {', '.join(i['name'] for i in rep['inputs']) or 'none'}",
             f"  outputs: {', '.join(rep['outputs'])}"]
    if rep["bound"]:
        from ..surgery.stripping import bound_text

        lines.append("  bound:   " + bound_text(rep["bound"]))
    for p in rep["passes"]:
        delta = ", ".join(f"{k} {v:+d}" for k, v in p["ops_delta"].items())
        lines.append(f"  {p['pass']:<18} {p['rewrites']:>4} rewrites, {p['removed_count']:>5} nodes removed  {delta}")
    lines.append(f"  ops after: {_fmt_hist(rep['ops_after'])}")
    if rep["verified"]:
        worst = max(rep["equivalence"].values(), key=lambda e: e["max_abs"])
        lines.append(f"  verified: outputs equal within tolerance (max |diff| {worst['max_abs']:.3g})")
    else:
        lines.append(f"  not verified: {rep['verify_note']}")
    if rep["logdir"]:
        lines.append(f"  TensorBoard: tensorboard --logdir {rep['logdir']}  (runs 'before' and 'after')")
    return "\n".join(lines)


def _strip_md(rep):
    rows = "\n".join(f"| {p['pass']} | {p['round']} | {p['rewrites']} | {p['removed_count']} | "
                     f"{', '.join(f'{k} {v:+d}' for k, v in p['ops_delta'].items())} |" for p in rep["passes"])
    return (f"{rep['nodes_before']} -> {rep['nodes_after']} nodes; verified: {rep['verified']}\n\n"
            f"| pass | round | rewrites | removed | ops |\n|---|---|---|---|---|\n{rows}\n")
