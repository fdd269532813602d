"""The Graph's public face: name-based queries and edit verbs, read-only views, a private index."""
import ast
import pathlib

import numpy as np
import pytest

from graphtools.core.graph import Graph
from graphtools.core.protos import GraphDef

PKG = pathlib.Path(__file__).resolve().parents[1] / "graphtools"

PUBLIC = {
    # queries
    "names", "node", "get", "nodes", "names_of", "nodes_of", "op_of", "ops", "node_map", "op_counts",
    "inputs", "data_inputs", "sources", "consumers", "used_ports", "const", "ancestors", "to_networkx",
    # edit verbs, removal
    "replace_all_uses", "drop_control_inputs", "rewrite", "replace_node", "add_node", "add_const",
    "set_const", "unique_name", "sweep", "prune", "compact", "invalidate",
    # state
    "graph_def", "journal", "edit_log",
}


def _chain():
    gd = GraphDef()
    for name, op, ins in [("x", "Placeholder", []), ("a", "Identity", ["x"]), ("b", "Mul", ["a", "a:0", "^x"]),
                          ("out", "Identity", ["b"])]:
        n = gd.node.add()
        n.name, n.op = name, op
        n.input.extend(ins)
    return gd


def test_public_surface_is_the_documented_one():
    public = {m for m in dir(Graph) if not m.startswith("_")}
    g = Graph(_chain())
    public |= {m for m in vars(g) if not m.startswith("_")}
    assert public == PUBLIC


def test_views_are_read_only_and_follow_edits():
    g = Graph(_chain())
    ops, nodes = g.ops(), g.node_map()
    with pytest.raises(TypeError):
        ops["a"] = "Const"
    with pytest.raises(TypeError):
        nodes["z"] = None
    assert isinstance(g.inputs("b"), tuple) and g.inputs("b") == ("a", "a:0", "^x")
    g.add_const("k", np.float32(2))
    g.rewrite("b", op="AddV2", inputs=["a", "k"])
    assert ops["b"] == "AddV2" and "k" in nodes and g.consumers("k") == ["b"]
    assert g.sources("b") == ("a", "k") and g.consumers("x") == ["a"]
    assert g.consumers("a:0", data=True) == ["b"] and g.consumers("a:1", data=True) == []


def test_edit_verbs_take_names():
    g = Graph(_chain())
    assert g.drop_control_inputs("b", lambda s: s == "x") == 1 and g.inputs("b") == ("a", "a:0")
    assert g.replace_all_uses("a", "x") == 1 and g.inputs("b") == ("x", "x")
    assert g.sweep(keep=["out"]) == 1 and "a" not in g
    assert g.compact() == 1 and [n.name for n in g.graph_def.node] == ["x", "b", "out"]
    assert g.node("b:0").op == "Mul" and g.get("a") is None


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield (node.module or ""), [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []


def test_index_is_private_and_passes_use_only_graph_verbs():
    """Only graph.py reaches the index; passes neither build networkx graphs nor touch Graph internals."""
    for path in PKG.rglob("*.py"):
        if path.name in ("graph.py", "_index.py"):
            continue
        src = path.read_text()
        mods = [m for m, names in _imports(path)]
        assert not any(m.endswith("_index") for m in mods), path
        assert "graph._" not in src.replace("graph._graph_def", ""), path
    passes = sorted((PKG / "surgery" / "passes").glob("*.py"))
    assert len(passes) > 10  # (the check below reads every pass)
    for path in passes:
        src = path.read_text()
        assert "networkx" not in src and "to_networkx" not in src, path
        assert ".index()" not in src, path
