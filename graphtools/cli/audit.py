"""graphtools audit: what will make conversion fail or give a poor model (no TensorFlow)."""

from .common import _common, _emit, _io_args


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
    from .. import io
    from ..analysis import GraphAnalysis
    from ..graph import node_name

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
                from ..errors import closest

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
        from ..conversion import parse_shapes

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
