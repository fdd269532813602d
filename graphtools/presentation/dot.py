"""Graphviz DOT text for a GraphDef or a .tflite model (no Graphviz needed to write it)."""
from ..core.graph import Graph, node_name

_COLORS = {"Placeholder": "lightblue", "Const": "lightgrey", "Conv2D": "gold", "DepthwiseConv2dNative": "gold",
           "MatMul": "gold", "FusedBatchNormV3": "pink", "RandomUniform": "red", "Switch": "orange",
           "Merge": "orange", "If": "orange", "StatelessIf": "orange"}


def _q(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def graph_def_to_dot(graph_def, title="graph", outputs=None, max_nodes=None, show_consts=False):
    """DOT of ``graph_def``: op boxes with names, data edges solid, control edges dashed.

    ``outputs``: only the part these outputs need; ``max_nodes``: keep the ones nearest the outputs
    (a note says how many were left out); constants are hidden unless ``show_consts``.
    """
    g = Graph(graph_def)
    names = list(g.names())
    if outputs:
        needed = g.ancestors(outputs)
        names = [n for n in names if n in needed]
    if not show_consts:
        names = [n for n in names if g.op_of(n) != "Const"]
    left_out = 0
    if max_nodes and len(names) > max_nodes:
        left_out = len(names) - max_nodes
        names = names[-max_nodes:]  # graph order: the tail holds the outputs
    keep = set(names)
    lines = [f"digraph {_q(title)} {{", "  rankdir=TB;", '  node [shape=box, style="rounded,filled", '
             'fillcolor=white, fontname="Helvetica", fontsize=10];']
    for n in names:
        node = g.node(n)
        color = _COLORS.get(node.op, "white")
        lines.append(f"  {_q(n)} [label={_q(node.op + chr(10) + n)}, fillcolor={color}];")
    for n in names:
        for i in g.inputs(n):
            src = node_name(i)
            if src in keep:
                style = " [style=dashed]" if i.startswith("^") else ""
                lines.append(f"  {_q(src)} -> {_q(n)}{style};")
    if left_out:
        lines.append(f"  {_q('...')} [label={_q(f'{left_out} more nodes not shown (--max-nodes)')}, shape=note];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def tflite_to_dot(model_bytes, title="tflite"):
    """DOT of the main subgraph of a .tflite model: operators and the tensors between them."""
    from ..core.tflite import load_model, op_names

    model = load_model(model_bytes)
    names = op_names(model)
    sg = model.subgraphs[0]
    tensors = sg.tensors or []

    def tname(k):
        t = tensors[k].name
        return t.decode() if isinstance(t, bytes) else str(t)

    lines = [f"digraph {_q(title)} {{", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];']
    for k in list(sg.inputs if sg.inputs is not None else []):
        lines.append(f"  {_q('t' + str(k))} [label={_q(tname(k))}, shape=ellipse, style=filled, fillcolor=lightblue];")
    for k in list(sg.outputs if sg.outputs is not None else []):
        lines.append(f"  {_q('t' + str(k))} [label={_q(tname(k))}, shape=ellipse, style=filled, fillcolor=palegreen];")
    produced = {}
    for j, op in enumerate(sg.operators or []):
        label = names[op.opcodeIndex] if op.opcodeIndex < len(names) else f"opcode{op.opcodeIndex}"
        lines.append(f"  {_q('op' + str(j))} [label={_q(label)}, shape=box, style=\"rounded,filled\", fillcolor=gold];")
        for k in (op.outputs if op.outputs is not None else []):
            produced[int(k)] = j
    for j, op in enumerate(sg.operators or []):
        for k in (op.inputs if op.inputs is not None else []):
            k = int(k)
            if k < 0:
                continue
            if k in produced:
                lines.append(f"  {_q('op' + str(produced[k]))} -> {_q('op' + str(j))} [label={_q(tname(k))}];")
            elif sg.inputs is not None and k in list(sg.inputs):
                lines.append(f"  {_q('t' + str(k))} -> {_q('op' + str(j))};")
    for k in list(sg.outputs if sg.outputs is not None else []):
        if int(k) in produced:
            lines.append(f"  {_q('op' + str(produced[int(k)]))} -> {_q('t' + str(k))};")
    lines.append("}")
    return "\n".join(lines) + "\n"
