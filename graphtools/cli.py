"""Command-line front end: one subcommand per stage. The only module that prints or exits.

Every user-facing error is one line on stderr and exit code 2; ``--verbose`` adds logs and,
for unexpected failures, the traceback.
"""
import argparse
import difflib
import json
import logging
import os
import sys

PROG = "graphtools"
log = logging.getLogger("graphtools")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line and suggests the nearest flag."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # a typo must not silently match a longer flag
        super().__init__(*args, **kwargs)

    def error(self, message):
        if "unrecognized arguments" in message:
            bad = message.split(":", 1)[1].split()
            flags = self._command_flags()
            hints = []
            for b in bad:
                if b.startswith("-"):
                    near = difflib.get_close_matches(b.split("=")[0], flags, n=1, cutoff=0.5)
                    if near:
                        hints.append(f"{b}: did you mean {near[0]}?")
            message += ("; " + "; ".join(hints)) if hints else ""
        raise UsageError(f"{self.prog}: {message} (see --help)")

    def _command_flags(self):
        """The flags of the subcommand on the command line (set by main), else every flag."""
        for a in self._actions:
            choices = getattr(a, "choices", None)
            if isinstance(choices, dict):
                cmd = next((t for t in getattr(self, "argv", []) if t in choices), None)
                if cmd is not None and isinstance(choices[cmd], OneLineParser):
                    return choices[cmd]._all_flags()
        return self._all_flags()

    def _all_flags(self):
        flags = []
        for a in self._actions:
            flags += [f for f in a.option_strings if not a.help == argparse.SUPPRESS]
            choices = getattr(a, "choices", None)
            for sub in (choices.values() if isinstance(choices, dict) else ()):
                if isinstance(sub, OneLineParser):
                    flags += sub._all_flags()
        return flags


class UsageError(Exception):
    pass


def str2bool(v):
    if v is None:
        return True
    low = str(v).strip().lower()
    if low in ("1", "true", "yes", "y", "on"):
        return True
    if low in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{v}'")


# ---------------------------------------------------------------- output helpers

def _emit(args, report, human):
    """Print ``report`` as JSON with --json, else the human text."""
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2, default=_json_default))
    else:
        print(human)


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    return str(o)


def _fmt_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0


def _fmt_input(i):
    from .analysis import format_shape

    extra = ""
    if i.get("optional"):
        extra = "  (optional: PlaceholderWithDefault, has a default value)"
    elif i.get("role") == "training_flag":
        extra = "  (training flag: bind it or strip dropout/training before converting)"
    return f"{i['name']}  {i['dtype']}  {format_shape(i['shape'])}{extra}"


def _fmt_hist(hist, n=12):
    items = list(hist.items())
    text = ", ".join(f"{k} {v}" for k, v in items[:n])
    return text + (f", ... ({len(items) - n} more op types)" if len(items) > n else "")


# ---------------------------------------------------------------- freeze

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
    p.add_argument("--tags", "--saved_model_tags", dest="tags", default="serve", metavar="TAGS",
                   help="SavedModel meta graph tags, comma-separated (default: serve)")
    p.add_argument("--signature", metavar="KEY", help="SavedModel signature whose outputs to freeze "
                                                      "(default: serving_default)")
    p.add_argument("--keras", metavar="MODEL.h5", help="Keras-2 HDF5 model saved with model.save('x.h5')")
    _outputs_arg(p, metavar="A,B",
                   help="output node names, comma-separated (default: discovered)")
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
    from . import freezing, io, tensorboard
    from .analysis import op_histogram

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
                           signature=args.signature, allow_unsafe_ops=args.allow_unsafe_ops)
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


def _cut_lines(cuts):
    return [f"  input pipeline: {t} is now fed by placeholder {p} (the queue/iterator/decoder behind it is gone)"
            for t, p in (cuts or {}).items()]


def _checkpoint_files(ckpt):
    from . import io

    return io.checkpoint_files(io.checkpoint_prefix(ckpt)) if ckpt else []


def _refuse_overwriting_inputs(out, inputs):
    from . import io

    for src in inputs:
        if src and io.same_file(src, out):
            raise _input_error(f"{out}: is also an input; write the output to another file")


def _freeze_md(result):
    rows = "\n".join(f"| {i['name']} | {i['dtype']} | {i['shape']} | {i['role']} |" for i in result.inputs)
    return (f"Frozen from `{result.source}`: {result.variables} variables, {len(result.graph_def.node)} nodes.\n\n"
            f"Outputs: {', '.join('`%s`' % o for o in result.outputs)}\n\n"
            f"| input | dtype | shape | role |\n|---|---|---|---|\n{rows}\n")


# ---------------------------------------------------------------- inspect

def _add_inspect(sub):
    p = sub.add_parser("inspect", help="describe a .pb/.pbtxt/.meta/checkpoint/SavedModel/.tflite",
                       description="Show a model's real inputs (dtype, shape), ranked output candidates, op "
                                   "histogram, parameter count and size, and what will block conversion. "
                                   ".tflite files are read without TensorFlow.")
    p.add_argument("file", metavar="FILE", help="model file, checkpoint prefix or SavedModel directory")
    _outputs_arg(p, metavar="A,B", help="analyse for these outputs instead of the best-ranked one")
    p.add_argument("--top", type=int, default=5, help="how many output candidates to list (default 5)")
    p.add_argument("--dot", metavar="OUT.dot", help="also write a Graphviz DOT file of the graph (GraphDef or "
                                                    ".tflite); rendered to SVG/PNG beside it when Graphviz is there")
    p.add_argument("--max-nodes", type=int, metavar="N", help="with --dot: keep the N nodes nearest the outputs")
    _common(p)
    p.set_defaults(run=run_inspect)


def run_inspect(args):
    from .inspection import inspect_path

    report = inspect_path(args.file, outputs=args.outputs, top=args.top)
    text = _inspect_text(report)
    if args.dot:
        report["dot"] = _write_dot(args, report)
        text += "\n  " + "\n  ".join(f"wrote {p}" for p in report["dot"]["written"])
        if report["dot"].get("note"):
            text += "\n  " + report["dot"]["note"]
    _emit(args, report, text)
    return 0


def _write_dot(args, report):
    import shutil
    import subprocess

    from . import io
    from .dot import graph_def_to_dot, tflite_to_dot

    if report["format"] == "tflite":
        text = tflite_to_dot(io.read_bytes(args.file), os.path.basename(args.file))
    elif report["format"] in ("graph_def", "graph_def_text", "meta_graph"):
        gd = io.load_graph_def(args.file)
        text = graph_def_to_dot(gd, os.path.basename(args.file), outputs=report["outputs"] or None,
                                max_nodes=args.max_nodes)
    else:
        raise _input_error(f"--dot draws GraphDefs, meta graphs and .tflite files, not a {report['format']}")
    io.atomic_write(args.dot, text)
    out = {"written": [args.dot]}
    dot = shutil.which("dot")
    if dot is None:
        out["note"] = "Graphviz is not installed, so no SVG/PNG: apt-get install graphviz (or brew install graphviz)"
        return out
    for fmt in ("svg", "png"):
        target = os.path.splitext(args.dot)[0] + "." + fmt
        r = subprocess.run([dot, f"-T{fmt}", args.dot, "-o", target], capture_output=True, text=True, timeout=300)
        if r.returncode == 0:
            out["written"].append(target)
        else:
            out["note"] = f"dot could not render {fmt}: {r.stderr.strip()[:120]}"
    return out


def _inspect_text(r):
    from .analysis import format_shape

    lines = [f"{r['file']}: {r['format']}, {_fmt_bytes(r['size_bytes'])}"]
    if r.get("tensorflow_version"):
        lines[0] += f", written by TensorFlow {r['tensorflow_version']}"
    if r["format"] == "tflite":
        lines.append(f"  operators: {r['operators']} in {r['subgraphs']} subgraph(s); "
                     f"parameters: {r['parameters']['count']:,} ({_fmt_bytes(r['parameters']['bytes'])})")
        for i in r["inputs"]:
            q = f"  scale {i['quantization']['scale'][0]:.6g} zero point {i['quantization']['zero_point'][:1]}" \
                if "quantization" in i else ""
            lines.append(f"  input:  {i['name']}  {i['dtype']}  {format_shape(i['shape'])}{q}")
        for o in r["outputs"]:
            lines.append(f"  output: {o['name']}  {o['dtype']}  {format_shape(o['shape'])}")
        if r.get("signatures"):
            lines.append(f"  signatures: {', '.join(r['signatures'])}")
        lines.append(f"  ops: {_fmt_hist(r['op_histogram'])}")
    else:
        if r["format"] == "checkpoint":
            lines.append(f"  checkpoint: {r['variable_count']} variables, {r['checkpoint_values']:,} values")
            if "nodes" not in r:
                lines.append(f"  {r['note']}")
                return "\n".join(lines)
        if r["format"] == "saved_model":
            lines.append(f"  tags: {r['tags']}; signatures: {', '.join(r['signatures']) or 'none'}")
        lines.append(f"  nodes: {r['nodes']}, functions: {r['functions']}, "
                     f"parameters: {r['parameters']['used_by_outputs']:,} used by the outputs "
                     f"({_fmt_bytes(r['parameters']['used_bytes'])}) of {r['parameters']['count']:,} in the graph")
        for i in r["inputs"]:
            lines.append(f"  input:  {_fmt_input(i)}")
        for i in r["optional_inputs"]:
            lines.append(f"  optional: {_fmt_input(i)}")
        if r["output_candidates"]:
            lines.append("  output candidates (best first):")
            for c in r["output_candidates"]:
                mark = "*" if c["name"] in r["outputs"] else " "
                lines.append(f"   {mark} {c['name']}  ({c['op']}; score {c['score']}: {c['why']})")
        for o in r["outputs"]:
            if o not in {c["name"] for c in r["output_candidates"]}:
                lines.append(f"  output: {o}")
        lines.append(f"  ops: {_fmt_hist(r['op_histogram'])}")
        if r.get("has_while_loops"):
            lines.append("  has v1 while loops (Enter/Exit/NextIteration)")
    if r.get("blockers"):
        lines.append("  will block or spoil conversion:")
        for b in r["blockers"]:
            lines.append(f"   - {b['message']}")
    else:
        lines.append("  nothing found that blocks conversion")
    return "\n".join(lines)


# ---------------------------------------------------------------- strip

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
  all        all of the above

By default the graph is run before and after on seeded random inputs (training flags at their
inference values) and nothing is written when an output differs beyond the tolerance."""


def _add_strip(sub):
    p = sub.add_parser("strip", help="remove dropout/training parts, fold batch norms, verify equivalence",
                       description=STRIP_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in", dest="input", required=True, metavar="FILE", help="frozen GraphDef (.pb or .pbtxt)")
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


def _strip_check_args(p):
    p.add_argument("--no-verify", action="store_true", help="skip the before/after equivalence check")
    p.add_argument("--rtol", type=float, help="relative tolerance of the check (default 1e-4)")
    p.add_argument("--atol", type=float, help="absolute tolerance of the check (default 1e-5)")
    _leftovers_arg(p)


def _tolerances(args):
    """--rtol/--atol as given, strip's defaults where not (None defaults: a manifest can tell them apart)."""
    return {k: getattr(args, k) for k in ("rtol", "atol") if getattr(args, k) is not None}


def _parse_bind(items):
    """['is_training=false', ...] -> {name: value text}."""
    bind = {}
    for b in items or []:
        if "=" not in b:
            raise _input_error(f"--bind {b}: expected NAME=VALUE, e.g. is_training=false")
        k, v = b.split("=", 1)
        bind[k.strip()] = v.strip()
    return bind


INPUT_ALIASES = ("--input-arrays", "--input_arrays")  # toco's and TFLiteConverter's names
OUTPUT_ALIASES = ("--output-arrays", "--output_arrays", "--output-nodes", "--output_node_names")  # + freeze_graph's


def _outputs_arg(p, metavar="A,B", help="output nodes (default: discovered)"):
    """--outputs, and the older spellings as hidden aliases (kept working, not in the usage line)."""
    p.add_argument("--outputs", metavar=metavar, help=help + " [aliases: " + ", ".join(OUTPUT_ALIASES) + "]")
    for alias in OUTPUT_ALIASES:
        p.add_argument(alias, dest="outputs", metavar=metavar, help=argparse.SUPPRESS)


def _io_args(p, inputs_help="input nodes (default: discovered)", outputs_help="output nodes (default: discovered)"):
    """--inputs and --outputs, one name for each idea in every command (the old names are aliases)."""
    p.add_argument("--inputs", metavar="A,B", help=inputs_help + " [aliases: " + ", ".join(INPUT_ALIASES) + "]")
    for alias in INPUT_ALIASES:
        p.add_argument(alias, dest="inputs", metavar="A,B", help=argparse.SUPPRESS)
    _outputs_arg(p, help=outputs_help)


def _leftovers_arg(p):
    p.add_argument("--allow-leftovers", action="store_true",
                   help="write the stripped graph even when random ops, batch statistics (training-mode batch "
                        "norm) or nodes computed from label placeholders remain (an error otherwise)")


def run_strip(args):
    from . import io, surgery, tensorboard

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
    eq = r.equivalence
    return {
        "in": args.input, "out": args.out, "size_bytes": size,
        "inputs": r.inputs, "outputs": r.outputs, "bound": {k: (v if not hasattr(v, "item") else v.item())
                                                            for k, v in r.bound.items()},
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
        lines.append("  bound:   " + ", ".join(f"{k}={v}" for k, v in rep["bound"].items()))
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


# ---------------------------------------------------------------- convert

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
    p.add_argument("--quantize", default="none", choices=["none", "dynamic", "float16", "int8", "int16x8", "all"])
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
    from . import conversion, io, tensorboard, tflite
    from . import data as data_mod
    from .analysis import GraphAnalysis
    from .data import load_samples

    _refuse_overwriting_inputs(args.out, [args.input])
    io.check_output(args.out)
    data_mod.check_source(args.representative_data, "--representative-data")
    gd = io.load_graph_def(args.input)
    a = GraphAnalysis(gd)
    sig = conversion.resolve_signature(gd, args.inputs, args.outputs, args.input_shapes, analysis=a)
    inputs, outputs, shapes, notes = conversion.resolve_io(gd, signature=sig)  # once, for every mode below
    audit = [b["message"] for b in a.conversion_blockers([i.as_dict() for i in sig.inputs], outputs)
             if b["kind"] not in ("unknown_shape", "recurrent_loops")]
    gd, sig, rnn = conversion.prepare_loops(gd, sig, args.rnn, args.select_tf_ops)  # once, for every mode
    if rnn:
        notes.append(_rnn_note(rnn))
    modes = list(conversion.MODES) if args.quantize == "all" else [args.quantize]
    data = None
    if args.representative_data:
        data = load_samples(args.representative_data, inputs, shapes, args.scale, args.mean, args.std,
                            args.calibration_samples)
    skipped = []
    if data is None and any(m in conversion.CALIBRATED for m in modes):
        if args.quantize != "all":
            raise _input_error(f"--quantize {args.quantize} needs --representative-data (.npy, .npz, IDX or "
                               f"an image directory)")
        skipped = [m for m in modes if m in conversion.CALIBRATED]
        modes = [m for m in modes if m not in skipped]
    results = {}
    for mode in modes:
        model = conversion.convert(gd, quantize=mode, representative_data=data, signature=sig,
                                   calibration_samples=args.calibration_samples,
                                   inference_input_type=args.inference_input_type if mode == "int8" else None,
                                   inference_output_type=args.inference_output_type if mode == "int8" else None,
                                   allow_custom_ops=args.allow_custom_ops, select_tf_ops=args.select_tf_ops,
                                   progress=_progress("calibrating") if mode in conversion.CALIBRATED else None)
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


def _rnn_note(rnn):
    """One line on how the recurrent loops became builtins."""
    if rnn["route"] == "flex":
        return f"recurrent loops left for the Flex delegate: {rnn['why']}"
    parts = [f"{lp['frame'].rsplit('/while_context', 1)[0]}: " +
             (f"unrolled {lp['trip_count']} steps" if lp["route"] == "unroll" else
              "TFLite WHILE" + (f" ({lp['why']})" if lp.get("why") else ""))
             for lp in rnn["loops"]]
    return f"recurrent loops ({rnn['route']}): " + "; ".join(parts)


def _rnn_arg(p):
    p.add_argument("--rnn", choices=("auto", "unroll", "while", "none"), default="auto",
                   help="how v1 while loops over TensorArrays (dynamic_rnn, bidirectional_dynamic_rnn) become "
                        "TFLite builtins: unroll them where the input shapes fix the sequence length, else a "
                        "TFLite WHILE over TensorList ops (auto, the default); force one; or none (leave them, "
                        "for --select-tf-ops)")


def _progress(label):
    """A one-line progress display on stderr (only on a terminal)."""
    if not sys.stderr.isatty():
        return None

    def show(done, total):
        end = "\n" if done == total else ""
        print(f"\r{label}: {done}/{total}", end=end, file=sys.stderr, flush=True)

    return show


# ---------------------------------------------------------------- audit

def _add_audit(sub):
    p = sub.add_parser("audit", help="what will make conversion fail or give a poor model",
                       description="Before converting, list ops TFLite has no builtin for, random ops, "
                                   "placeholders that are neither inputs nor bound, unknown input shapes, "
                                   "Dequantize/QuantizeV2 leftovers and output arrays that do not exist, each "
                                   "with the command that fixes it. Exit 0 when nothing is found, 1 otherwise.")
    p.add_argument("file", metavar="FILE", help="GraphDef (.pb or .pbtxt)")
    _io_args(p, inputs_help="the inputs you will convert with (default: discovered)",
             outputs_help="the outputs you will convert with (default: discovered)")
    p.add_argument("--input-shapes", metavar="SHAPES", help="the shapes you will give (toco syntax)")
    _common(p)
    p.set_defaults(run=run_audit)


def run_audit(args):
    from . import io
    from .analysis import GraphAnalysis
    from .graph import node_name

    gd = io.load_graph_def(args.file)
    a = GraphAnalysis(gd)
    problems = []
    if args.outputs:
        outputs = []
        for o in args.outputs.split(","):
            name = node_name(o.strip())
            if name in a.index:
                outputs.append(name)
            else:
                from .errors import closest

                near = closest(name, a.index.keys())
                problems.append({"kind": "missing_output", "nodes": [name],
                                 "message": f"output array '{name}' is not in the graph"
                                            + (f"; closest: {', '.join(near)}" if near else "")})
    else:
        outputs = [c["name"] for c in a.rank_outputs(top=1)]
    found = a.discover_inputs(outputs) if outputs else []
    listed = [node_name(i) for i in args.inputs.split(",")] if args.inputs else None
    if listed is not None:
        by = {p["name"]: p for p in found}
        for name in listed:
            if by.get(name, {}).get("optional"):
                problems.append({"kind": "optional_input", "nodes": [name],
                                 "message": f"{name} is a PlaceholderWithDefault: listing it as an input cuts "
                                            f"away everything that fed its default"})
        found = [dict(p, role="data", optional=False) if p["name"] in listed else p for p in found]
        unlisted = [p["name"] for p in found if p["name"] not in listed and not p["optional"]]
        if unlisted:
            problems.append({"kind": "unfed_placeholders", "nodes": unlisted,
                             "message": f"placeholders neither listed nor bound: {', '.join(unlisted)}; add them "
                                        f"to --inputs, bind them (graphtools strip --bind NAME=VALUE) or "
                                        f"strip dropout/training"})
        found = [p for p in found if p["name"] in listed]
    if args.input_shapes:  # check the shapes the conversion will use
        from .conversion import parse_shapes

        data_names = [p["name"] for p in found if p["role"] == "data" and not p["optional"]]
        given = parse_shapes(args.input_shapes, data_names)
        found = [dict(p, shape=given[p["name"]]) if p["name"] in given else p for p in found]
    blockers = a.conversion_blockers(found, outputs) if outputs else []
    shaped = set(args.input_shapes.split(":")) if args.input_shapes else set()
    for b in blockers:
        if b["kind"] == "unknown_shape" and shaped:
            continue
        if listed is not None and b["kind"] == "unfed_placeholders":
            continue
        problems.append(b)
    report = {"file": args.file, "inputs": [p["name"] for p in found], "outputs": outputs, "problems": problems}
    lines = [f"audit of {args.file}: inputs {', '.join(report['inputs']) or 'none'} -> outputs "
             f"{', '.join(outputs) or 'none'}"]
    lines += [f"  - {p['message']}" for p in problems] or ["  nothing found that blocks conversion"]
    _emit(args, report, "\n".join(lines))
    return 1 if problems else 0


# ---------------------------------------------------------------- compare

def _add_compare(sub):
    p = sub.add_parser("compare", help="TF graph vs .tflite models on real data: differences, agreement, accuracy",
                       description="Run the TF graph and every .tflite model on the same data (batched) and "
                                   "measure per model and output: max/mean |difference|, cosine similarity, "
                                   "top-1 agreement, accuracy against labels, latency, size, op count, "
                                   "determinism and the worst disagreements. --max-diff/--min-agreement make "
                                   "the command exit 1 when a model falls outside them.")
    p.add_argument("--graph", required=True, metavar="FILE", help="the (stripped) GraphDef the models came from")
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
    p.add_argument("--min-agreement", type=float, help="exit 1 when a model's top-1 agreement is below this")
    p.add_argument("--locate", action="store_true", help="find the first tensor where a model departs from TF")
    _unsafe_arg(p)
    p.add_argument("--logdir", default=os.path.join("logs", "compare"), metavar="DIR",
                   help="TensorBoard run for the comparison tables and scalars (default: logs/compare)")
    _common(p)
    p.set_defaults(run=run_compare)


def run_compare(args):
    from . import comparison, io, tensorboard
    from .conversion import resolve_signature
    from .data import check_source, load_samples

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
    data, labels = None, None
    sig = resolve_signature(gd, args.inputs, args.outputs, args.input_shapes)  # once: for the data and the runs
    if args.data != "random":
        data = load_samples(args.data, sig.names, sig.shapes(), args.scale, args.mean, args.std, args.limit)
        if args.labels is None and args.data.endswith(".npz"):
            import numpy as np

            z = np.load(args.data, allow_pickle=False)
            labels = z["y"].reshape(-1).astype("int64") if "y" in z else None
    if args.labels:
        labels = comparison.load_labels(args.labels)
    report = comparison.compare(gd, args.tflite, data, labels, signature=sig, batch=args.batch, limit=args.limit, samples=args.samples, locate=args.locate,
                                max_diff=args.max_diff, allow_unsafe_ops=args.allow_unsafe_ops)
    failures = []
    for m in report["models"]:
        for name, o in m["outputs"].items():
            if args.max_diff is not None and o["max_abs_diff"] > args.max_diff:
                failures.append(f"{m['model']}: {name} differs by {o['max_abs_diff']:.3g} > --max-diff {args.max_diff}")
            if args.min_agreement is not None and o.get("top1_agreement", 1.0) < args.min_agreement:
                failures.append(f"{m['model']}: {name} agrees on {o['top1_agreement']:.4f} < --min-agreement "
                                f"{args.min_agreement}")
    report["failures"] = failures
    if args.logdir:
        tensorboard.write_comparison(args.logdir, gd, report, data)
    _emit(args, report, _compare_text(report))
    if failures:
        for f in failures:
            print(f"{PROG} compare: outside the limits: {f}", file=sys.stderr)
        return 1
    return 0


def _short(name, width):
    """``name`` in at most ``width`` characters, its start and end kept (dnn/bat…orm/add_1)."""
    if len(name) <= width:
        return name
    head = (width - 1) // 3
    return name[:head] + "…" + name[len(name) - (width - 1 - head):]


def _compare_text(r):
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
        if m["note"]:
            lines.append(f"    note: {m['note']}")
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
    if exact:
        lines.append("  (=x: integer output, share of elements equal to TF's)")
    if "tf_accuracy" in next(iter(r["models"][0]["outputs"].values()), {}):
        lines.append(f"  TF graph accuracy: {next(iter(r['models'][0]['outputs'].values()))['tf_accuracy']:.4f}")
    return "\n".join(lines)


# ---------------------------------------------------------------- pipeline

def _add_pipeline(sub):
    p = sub.add_parser("pipeline", help="freeze -> strip -> audit -> convert -> compare in one command",
                       description="The whole job: freeze, strip (with its equivalence check), audit, convert "
                                   "in every requested quantization mode and compare on data, then one summary "
                                   "table. With no source it runs on the bundled fixture. Writes OUT/frozen.pb, "
                                   "OUT/optimized.pb, OUT/model*.tflite, OUT/report.json and the TensorBoard "
                                   "runs LOGDIR/freeze, LOGDIR/optimized, LOGDIR/tflite, LOGDIR/compare.")
    p.add_argument("--ckpt", metavar="PREFIX", help="checkpoint with its .meta (default: the bundled fixture)")
    p.add_argument("--graph", metavar="FILE", help="a GraphDef (with --ckpt when it has variables)")
    p.add_argument("--saved-model", metavar="DIR", help="a v1 SavedModel")
    p.add_argument("--keras", metavar="FILE.h5", help="a Keras-2 HDF5 model")
    p.add_argument("--meta", metavar="FILE.meta", help="the meta graph of --ckpt (default: PREFIX.meta)")
    p.add_argument("--manifest", metavar="MODELS.json",
                   help="many models: a JSON list of entries {\"name\": ..., \"ckpt\"|\"graph\"|\"saved_model\": ..., "
                        "and any other pipeline flag by its name (output_nodes, input_shapes, bind as a list, "
                        "select_tf_ops: true, ...) and timeout}; each runs in its own worker process into OUT/NAME and LOGDIR/NAME; "
                        "finished entries are skipped on re-run; exit 1 when any entry failed")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="with --manifest: worker processes (default 1)")
    p.add_argument("--shard", metavar="K/N", help="with --manifest: only the entries whose name hashes to shard K of "
                                                  "N (split one manifest across N machines)")
    p.add_argument("--only", metavar="NAME[,NAME]", help="with --manifest: only these entries")
    p.add_argument("--force", action="store_true", help="with --manifest: re-run entries that finished before")
    _io_args(p)
    p.add_argument("--input-shapes", metavar="SHAPES", help="shapes for inputs without one (toco syntax)")
    p.add_argument("--remove", action="append", metavar="WHAT",
                   help="what strip removes (default: all, also when --bind/--cut/--splice are given)")
    p.add_argument("--bind", action="append", default=[], metavar="NAME=VALUE",
                   help="turn a placeholder into a constant before stripping (repeatable)")
    p.add_argument("--cut", action="append", default=[], metavar="NODE:DTYPE:SHAPE",
                   help="replace a node by a new placeholder, removing what fed it (repeatable)")
    p.add_argument("--splice", action="append", default=[], metavar="NODE_OR_SCOPE",
                   help="remove a node or name scope by wiring its one data input to its readers (repeatable)")
    _strip_check_args(p)
    p.add_argument("--quantize", metavar="MODES",
                   help="none, dynamic, float16, int8, int16x8, a comma list (none,dynamic) or all (default: all; "
                        "int8/int16x8 need --data and are skipped, with a note, without it)")
    p.add_argument("--select-tf-ops", action="store_true", help="let TF ops without a builtin run as Flex ops")
    _rnn_arg(p)
    p.add_argument("--allow-custom-ops", action="store_true", help="keep unknown ops as custom ops")
    p.add_argument("--data", metavar="PATH", help="data to calibrate and compare with (default: random)")
    p.add_argument("--labels", metavar="PATH", help="labels for accuracy")
    p.add_argument("--scale", type=float, help="multiply the data by this (0.00392157 for x/255)")
    p.add_argument("--mean", type=float, help="subtract this from the data (after --scale)")
    p.add_argument("--std", type=float, help="divide the data by this (after --mean)")
    p.add_argument("--out-dir", default="out", metavar="DIR", help="where the files go (default: out)")
    _unsafe_arg(p)
    p.add_argument("--logdir", default="logs", metavar="DIR", help="TensorBoard root (default: logs)")
    _common(p)
    p.set_defaults(run=run_pipeline)


def run_pipeline(args):
    from .stages import run_pipeline as run

    if args.manifest:
        return _run_manifest(args)
    for flag in ("shard", "only", "force"):
        if getattr(args, flag):
            raise _input_error(f"--{flag} works with --manifest only")
    from .data import check_source

    check_source(args.data)  # (before anything is frozen)
    if args.labels:
        check_source(args.labels, "--labels", text_ok=True)
    if os.path.isfile(args.out_dir):
        raise _input_error(f"--out-dir {args.out_dir}: is a file; give a directory for the outputs")
    report = run(ckpt=args.ckpt, graph=args.graph, saved_model=args.saved_model, keras=args.keras, meta=args.meta,
                 output_nodes=args.outputs, inputs=args.inputs, input_shapes=args.input_shapes,
                 remove=args.remove or ["all"], bind=_parse_bind(args.bind), cut=args.cut, splice=args.splice,
                 verify=not args.no_verify, **_tolerances(args), allow_leftovers=args.allow_leftovers,
                 quantize=args.quantize or "all", select_tf_ops=args.select_tf_ops, rnn=args.rnn,
                 allow_custom_ops=args.allow_custom_ops, data=args.data, labels=args.labels, scale=args.scale,
                 mean=args.mean, std=args.std, out_dir=args.out_dir, logdir=args.logdir,
                 allow_unsafe_ops=args.allow_unsafe_ops,
                 progress=None if args.json else (lambda msg: print(msg, flush=True)))
    _emit(args, report, _pipeline_text(report, args))
    return 0


def _run_manifest(args):
    from .manifest import FIELDS, run_manifest

    defaults = {"rnn": "auto"}
    single = [flag for key, (flag, _) in FIELDS.items()
              if flag and getattr(args, key, None) not in (None, False, [], defaults.get(key))]
    if single:
        raise _input_error(f"{single[0]} cannot be combined with --manifest; put it in the manifest's entries")
    r = run_manifest(args.manifest, jobs=args.jobs, out_dir=args.out_dir, logdir=args.logdir, shard=args.shard,
                     only=args.only, force=args.force,
                     progress=None if args.json else (lambda msg: print(msg, flush=True)))
    lines = [f"manifest {r['manifest']}: {r['counts']['done']} done, {r['counts']['skipped']} skipped, "
             f"{r['counts']['failed']} failed ({r['seconds']:.1f} s, {r['jobs']} worker{'s' if r['jobs'] > 1 else ''})",
             f"  {'model':<24} {'status':<8} {'seconds':>8} {'tflite':>6} {'min agree':>9} {'max|d|':>9}  detail"]
    for m in r["models"]:
        agree = f"{m['min_agreement']:.4f}" if m.get("min_agreement") is not None else "-"
        diff = f"{m['max_abs_diff']:.3g}" if m.get("max_abs_diff") is not None else "-"
        lines.append(f"  {m['name']:<24} {m['status']:<8} {m.get('seconds', 0):>8.1f} {m.get('tflite_models', '-'):>6} "
                     f"{agree:>9} {diff:>9}  {m.get('detail') or m.get('out_dir', '')}")
    _emit(args, r, "\n".join(lines))
    return 1 if r["counts"]["failed"] else 0


def _pipeline_text(r, args):
    lines = [f"pipeline on {r['source']}: inputs {', '.join(r['inputs'])} -> outputs {', '.join(r['outputs'])} "
             f"({r['seconds']:.1f} s)", f"  {'stage':<8} {'nodes':>6} {'op types':>9} {'size':>10}  file"]
    for s in r["stages"]:
        lines.append(f"  {s['stage']:<8} {s['nodes']:>6} {s['op_types']:>9} {_fmt_bytes(s['size_bytes']):>10}  {s['file']}")
    lines += _cut_lines(r.get("input_pipeline_cuts"))
    if r.get("rnn"):
        lines.append(f"  {_rnn_note(r['rnn'])}")
    st = r["strip"]
    lines.append(f"  strip: bound {', '.join(f'{k}={v}' for k, v in st['bound'].items()) or 'nothing'}; "
                 f"{'verified equivalent' if st['verified'] else 'not verified'}")
    for a in r["audit"]:
        lines.append(f"  audit: {a}")
    for k in r.get("skipped_modes", []):
        lines.append(f"  skipped --quantize {k['mode']}: {k['why']}")
    lines.append("")
    if r["compare"] is not None:
        lines.append(_compare_text(r["compare"]))
    for k in r.get("not_compared", []):
        lines.append(f"  not compared: {os.path.basename(k['model'])} {k['why']}")
    lines.append("")
    lines.append(f"  files: {', '.join(r['files'])}, {os.path.join(args.out_dir, 'report.json')}")
    if args.logdir:
        lines.append(f"  TensorBoard: tensorboard --logdir {args.logdir}")
    if r.get("replaced_runs"):
        lines.append(f"  (replaced the previous event files of the runs {', '.join(r['replaced_runs'])} in {args.logdir})")
    return "\n".join(lines)


# ---------------------------------------------------------------- diff

def _add_diff(sub):
    p = sub.add_parser("diff", help="what changed between two GraphDefs (e.g. frozen.pb and optimized.pb)",
                       description="Nodes removed, added and rewired, op histogram delta, parameter and size "
                                   "delta between two stages.")
    p.add_argument("a", metavar="A.pb")
    p.add_argument("b", metavar="B.pb")
    p.add_argument("--show", type=int, default=10, help="how many node names to list per kind (default 10)")
    _common(p)
    p.set_defaults(run=run_diff)


def run_diff(args):
    from . import io
    from .analysis import diff

    d = diff(io.load_graph_def(args.a), io.load_graph_def(args.b))
    d.update({"a": args.a, "b": args.b})

    def names(kind):
        items = d[kind]
        shown = ", ".join(items[: args.show]) + (f" (+{len(items) - args.show} more)" if len(items) > args.show else "")
        return f"  {kind}: {len(items)}" + (f"  {shown}" if items else "")

    lines = [f"{args.a} -> {args.b}: {d['nodes'][0]} -> {d['nodes'][1]} nodes, "
             f"{_fmt_bytes(d['size_bytes'][0])} -> {_fmt_bytes(d['size_bytes'][1])}, parameters "
             f"{d['parameters'][0]:,} -> {d['parameters'][1]:,}"]
    lines += [names(k) for k in ("removed", "added", "rewired", "retyped")]
    lines.append("  ops: " + (", ".join(f"{k} {v:+d}" for k, v in d["op_delta"].items()) or "unchanged"))
    _emit(args, d, "\n".join(lines))
    return 0


# ---------------------------------------------------------------- main

def _unsafe_arg(p):
    p.add_argument("--allow-unsafe-ops", action="store_true",
                   help="run graphs holding ops that reach the file system or Python (ReadFile, WriteFile, "
                        "PyFunc, ...); only for models you trust")


def _data_args(p):
    """How to normalise sample data the way the model was trained."""
    p.add_argument("--scale", type=float, help="multiply the data by this (e.g. 0.00392157 for x/255)")
    p.add_argument("--mean", type=float, help="subtract this from the data")
    p.add_argument("--std", type=float, help="divide the data by this")


def _common(p):
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show progress logs, TensorFlow's own logs and tracebacks")


def _input_error(msg):
    from .errors import InputError

    return InputError(msg)


def _version():
    """'graphtools 0.1.0 (tensorflow 2.21.0, ai-edge-litert 2.1.0)', read without importing them."""
    from importlib import metadata

    from . import __version__

    found = []
    for dist in ("tensorflow", "ai-edge-litert"):
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            found.append(f"{dist} not installed")
    return f"{PROG} {__version__} ({', '.join(found)})"


def build_parser():
    parser = OneLineParser(prog=PROG, description="Take legacy TensorFlow 1.x models to verified TensorFlow "
                                                  "Lite models: freeze, inspect, strip, convert, compare.")
    parser.add_argument("--version", action="version", version=_version(),
                        help="print graphtools' version and the TensorFlow and LiteRT it runs with")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    _add_freeze(sub)
    _add_inspect(sub)
    _add_strip(sub)
    _add_convert(sub)
    _add_audit(sub)
    _add_compare(sub)
    _add_pipeline(sub)
    _add_diff(sub)
    sub.add_parser("toco", help="the TensorFlow 1.x toco command line, verbatim (graphtools toco --help)",
                   add_help=False)
    return parser


def _run_toco(argv):
    """`graphtools toco ...`: the old flags, parsed by their own parser (underscores, --flag=value)."""
    from . import toco
    from .errors import GraphtoolsError

    parser = toco.build_parser(OneLineParser)
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        print(str(e), file=sys.stderr)
        return 2
    args.command = "toco"
    _setup_logging(args.verbose)
    try:
        return toco.run(args, lambda report, text: _emit(args, report, text))
    except GraphtoolsError as e:
        print(f"{PROG} toco: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # an unexpected failure is a bug: one line, traceback with --verbose
        if args.verbose:
            raise
        print(f"{PROG} toco: internal error: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
              f" (rerun with --verbose for the traceback and report it)", file=sys.stderr)
        return 1


# Commands that only read graphs (checkpoints and SavedModels still import TensorFlow to be read).
STRUCTURAL = {"inspect", "diff", "audit"}


def main(argv=None, guard=True):
    """Run one command; with ``guard`` (the default) it runs in a forked child when TensorFlow is not
    imported yet, so a native TensorFlow abort ends in one line and exit 2 (graphtools.guard)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from . import guard as _guard

    if guard and _guard.can_fork() and argv and not argv[0].startswith("-") and "--help" not in argv \
            and "-h" not in argv:
        cmd = argv[0]
        return _guard.run_guarded(lambda: main(argv, guard=False), f"{PROG} {cmd}", verbose="--verbose" in argv)
    if argv[:1] == ["toco"]:
        return _run_toco(argv[1:])
    parser = build_parser()
    parser.argv = argv  # (a usage error suggests the flags of this command only)
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        print(str(e), file=sys.stderr)
        return 2
    except SystemExit as e:  # --help, --version: printed, done
        return e.code or 0
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    _setup_logging(args.verbose)
    from .errors import GraphtoolsError

    import contextlib

    from . import protos

    # the structural commands only read graphs: no TensorFlow import (3-4 s)
    scope = protos.structural_only() if args.command in STRUCTURAL else contextlib.nullcontext()
    try:
        with scope:
            return args.run(args)
    except GraphtoolsError as e:
        if args.verbose and e.__cause__ is not None:  # e.g. the converter's own full text
            print(str(e.__cause__), file=sys.stderr)
        print(f"{PROG} {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # stdout closed early (| head): not an error of ours
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted; no output was written", file=sys.stderr)
        return 130
    except Exception as e:  # an unexpected failure is a bug: one line, traceback with --verbose
        if args.verbose:
            raise
        tf_error = _tensorflow_error(e)
        if tf_error:
            print(f"{PROG} {args.command}: error: TensorFlow: {tf_error}", file=sys.stderr)
            return 2
        print(f"{PROG} {args.command}: internal error: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
              f" (rerun with --verbose for the traceback and report it)", file=sys.stderr)
        return 1


def _tensorflow_error(e):
    """The first line of a TensorFlow OpError (bad graph or data), else None."""
    mod = sys.modules.get("tensorflow")
    if mod is not None and isinstance(e, mod.errors.OpError):
        from .runtime import op_error_text

        return op_error_text(e)
    return None


def _setup_logging(verbose):
    from . import _tf

    if not verbose:
        _tf.quiet()
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
