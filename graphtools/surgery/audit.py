"""audit(): what will make conversion fail or give a poor model, each with the command that fixes it.

Structural only (no TensorFlow): the ``audit`` command, ``convert`` (before calling the converter) and
``pipeline`` (its audit stage) all call it.
"""
from ..core.analysis import GraphAnalysis
from ..core.graph import node_name


def audit(graph_def, inputs=None, outputs=None, shapes=None, analysis=None, skip=()):
    """Return {"inputs": [...], "outputs": [...], "problems": [{"kind", "nodes", "message"}, ...]}.

    ``inputs``/``outputs``: the names the conversion will use (comma string or list; discovered where
    absent); ``shapes``: toco syntax or {input: shape}, the shapes it will give. Unlike resolving a
    signature, nothing here raises for the user's names: a missing output or an unlisted placeholder
    is a problem in the list. ``skip``: problem kinds the caller reports in its own way.
    """
    a = analysis or GraphAnalysis(graph_def)
    problems = []
    if outputs:
        names, outputs = outputs.split(",") if isinstance(outputs, str) else list(outputs), []
        for o in names:
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
    listed = None
    if inputs:
        listed = [node_name(i) for i in (inputs.split(",") if isinstance(inputs, str) else inputs)]
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
    if shapes:  # check the shapes the conversion will use
        if isinstance(shapes, str):
            from ..core.signature import parse_shapes

            data_names = [p["name"] for p in found if p["role"] == "data" and not p["optional"]]
            shapes = parse_shapes(shapes, data_names)
        found = [dict(p, shape=list(shapes[p["name"]])) if p["name"] in shapes else p for p in found]
    for b in (a.conversion_blockers(found, outputs) if outputs else []):
        if b["kind"] in skip or (b["kind"] == "unknown_shape" and shapes) or \
                (listed is not None and b["kind"] == "unfed_placeholders"):
            continue
        problems.append(b)
    return {"inputs": [p["name"] for p in found], "outputs": outputs, "problems": problems}
