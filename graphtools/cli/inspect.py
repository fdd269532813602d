"""graphtools inspect: a model's inputs, output candidates, ops, size and blockers (no TensorFlow for GraphDefs)."""
import os

from .common import _model_file_arg, _common, _emit, _fmt_bytes, _fmt_hist, _fmt_input, _input_error, _io_args


def _add_inspect(sub):
    p = sub.add_parser("inspect", help="describe a .pb/.pbtxt/.meta/checkpoint/SavedModel/.tflite",
                       description="Show a model's real inputs (dtype, shape), ranked output candidates, op "
                                   "histogram, parameter count and size, and what will block conversion. "
                                   ".tflite files are read without TensorFlow.")
    _model_file_arg(p, "model file, checkpoint prefix or SavedModel directory", "file")
    _io_args(p, inputs_help="placeholders you will feed: checked against the graph and listed first",
             outputs_help="analyse for these outputs instead of the best-ranked one")
    p.add_argument("--top", type=int, default=5, help="how many output candidates to list (default 5)")
    p.add_argument("--dot", metavar="OUT.dot", help="also write a Graphviz DOT file of the graph (GraphDef or "
                                                    ".tflite); rendered to SVG/PNG beside it when Graphviz is there")
    p.add_argument("--max-nodes", type=int, metavar="N", help="with --dot: keep the N nodes nearest the outputs")
    _common(p)
    p.set_defaults(run=run_inspect)


def run_inspect(args):
    from ..presentation.inspection import inspect_path

    report = inspect_path(args.file, outputs=args.outputs, top=args.top, inputs=args.inputs)
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

    from ..core import io
    from ..presentation.dot import graph_def_to_dot, tflite_to_dot

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
    from ..core.describe import format_shape

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
        card = r.get("io_card")
        if card:
            lines.append(f"  signature {card['signature']!r} (feed and read it by these keys):")
            for kind, rows in (("in ", card["inputs"]), ("out", card["outputs"])):
                for t in rows:
                    q = f"  scale {t['scale']:.6g} zero point {t['zero_point']}" if "scale" in t else ""
                    lines.append(f"    {kind} {t['key']}  {t['dtype']}  {format_shape(t['shape'])}{q}")
            lines.append("  in Python:")
            lines += ["    " + line if line else "" for line in card["python"].splitlines()]
        else:
            lines.append("  no 'serving_default' signature: signature runners and ai-edge-quantizer need one; "
                         "convert with graphtools convert to get it")
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
    if r.get("detector"):
        lines.append(f"  {r['detector']}")
    if r.get("blockers"):
        lines.append("  will block or spoil conversion:")
        for b in r["blockers"]:
            lines.append(f"   - {b['message']}")
    else:
        lines.append("  nothing found that blocks conversion")
    return "\n".join(lines)
