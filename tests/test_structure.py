"""The package's shape: imports flow one way (module level and inside functions), no circles, small modules.

Reads every module's source (no import of graphtools, no TensorFlow): each ``import`` / ``from ... import``
anywhere in a module is an edge. A sub-package may import its own modules, the ones below it in LAYERS and
the base modules; never one above it. README's "Architecture" section draws the same order.
"""
import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "graphtools")

# bottom to top: what a layer may import is its own package and everything listed before it
LAYERS = [
    ("graphtools.errors", "graphtools._tf", "graphtools.guard", "graphtools._version"),  # the base: plain modules at the top
    ("graphtools.core",),
    ("graphtools.sources",),
    ("graphtools.surgery",),
    ("graphtools.conversion",),
    ("graphtools.verification",),
    ("graphtools.presentation",),
    ("graphtools.workflow",),
    ("graphtools.cli",),
    ("graphtools",),  # the public API (graphtools/__init__.py): lazy, on top of everything
]
MAX_LINES = 600
MAX_TOP_MODULES = 10


def modules(root):
    """{dotted name: (path, is_package)} for every .py under ``root`` (a package directory)."""
    base = os.path.dirname(root)
    found = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                name = os.path.relpath(path, base)[:-3].replace(os.sep, ".")
                pkg = name.endswith(".__init__")
                found[name[:-9] if pkg else name] = (path, pkg)
    return found


def imports(root):
    """{module: {module it imports}} over graphtools' own modules, every import statement in the file."""
    mods = modules(root)
    top = os.path.basename(root)
    edges = {}
    for name, (path, pkg) in mods.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        out = set()
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = name.split(".") if pkg else name.split(".")[:-1]
                    parts = parts[:len(parts) - node.level + 1]
                    src = ".".join(parts + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                targets = [f"{src}.{a.name}" if f"{src}.{a.name}" in mods else src for a in node.names]
            for t in targets:
                if not (t == top or t.startswith(top + ".")):
                    continue
                while t not in mods and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t != name:
                    out.add(t)
        edges[name] = out
    return edges


def circles(edges):
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    group = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        group.append(w)
                        if w == v:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
    return found


def layer(module):
    """The index in LAYERS of the most specific entry ``module`` falls under."""
    best, rank = -1, None
    for i, names in enumerate(LAYERS):
        for n in names:
            if (module == n or module.startswith(n + ".")) and len(n) > best:
                best, rank = len(n), i
    return rank


def upward(edges):
    """Imports of a module in a higher layer: [(importer, imported)]."""
    return sorted((a, b) for a, bs in edges.items() for b in bs if layer(b) > layer(a))


def test_no_import_circles():
    assert circles(imports(ROOT)) == []


def test_imports_flow_one_way():
    edges = imports(ROOT)
    assert all(layer(m) is not None for m in edges), [m for m in edges if layer(m) is None]
    assert upward(edges) == []


def test_no_module_is_over_600_lines():
    long = {name: n for name, (path, _) in modules(ROOT).items()
            if (n := sum(1 for _ in open(path, encoding="utf-8"))) > MAX_LINES}
    assert long == {}


def test_few_plain_modules_at_the_top():
    top = [f for f in os.listdir(ROOT) if f.endswith(".py") and f != "__init__.py"]
    assert len(top) <= MAX_TOP_MODULES, top


def test_every_sub_package_says_what_it_holds_and_may_import():
    for name, (path, pkg) in modules(ROOT).items():
        if pkg and name != "graphtools":
            doc = ast.get_docstring(ast.parse(open(path, encoding="utf-8").read())) or ""
            assert len(doc) > 200 and "may import" in doc, name


def test_every_layer_exists():
    mods = modules(ROOT)
    for names in LAYERS:
        for n in names:
            assert n in mods, n


def test_the_checker_finds_circles_and_upward_imports(tmp_path):
    """The checks above can fail: a package with a circle inside a function, and an import that climbs."""
    pkg = tmp_path / "graphtools"
    for sub in ("core", "cli"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text('"""x"""\n')
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "a.py").write_text("from . import b\n")
    (pkg / "core" / "b.py").write_text("def f():\n    from .a import thing\n    from ..cli import tool\n")
    (pkg / "cli" / "tool.py").write_text("x = 1\n")
    edges = imports(str(pkg))
    assert circles(edges) == [["graphtools.core.a", "graphtools.core.b"]]
    assert upward(edges) == [("graphtools.core.b", "graphtools.cli.tool")]


def test_run_pipeline_takes_one_config():
    import inspect

    from graphtools.workflow.stages import run_pipeline

    params = inspect.signature(run_pipeline).parameters
    assert len(params) <= 6 and list(params)[:2] == ["config", "progress"]


if __name__ == "__main__":  # python tests/test_structure.py: the layer of every module and what it imports
    e = imports(ROOT)
    for m in sorted(e, key=lambda m: (layer(m), m)):
        print(f"{layer(m)} {m:45s} -> {', '.join(sorted(x.replace('graphtools.', '') for x in e[m]))}")
    print("circles:", circles(e) or "none", "| upward imports:", upward(e) or "none")
    pytest.main([__file__, "-q"])
