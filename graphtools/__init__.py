"""graphtools: take legacy TensorFlow 1.x models to verified TensorFlow Lite models.

Public API (TensorFlow is imported only when a function that needs it is called)::

    graphtools.freeze(ckpt=..., outputs=..., inputs=...) -> FreezeResult (.graph_def, .outputs, .inputs)
    graphtools.freeze_session(sess, outputs)              -> GraphDef
    (every function takes outputs= and inputs=; output_nodes= and input_nodes= are the older names)
    graphtools.inspect(path)                              -> dict report
    graphtools.strip(graph_def, remove=["all"], inputs=..., outputs=..., bind=..., cut=...) -> GraphDef
    graphtools.strip_report(...)                          -> StripResult (graph, per-pass records, proof)
    graphtools.run_pass(graph_def, "strip_dropout", outputs=[...])                     -> GraphDef
    graphtools.load_graph_def(path) / save_graph_def(graph_def, path)
    graphtools.per_op(graph_def, tflite_bytes, {input: array}, [input])  -> dict (rows, coverage, top_local)
    graphtools.meet_budget(graph_def, "agreement=0.99", calib, eval_data) -> BudgetResult (.model, .attempts, .recipe)
    graphtools.replay_recipe(graph_def, recipe, calib)    -> (bytes, identical)
    graphtools.io_card(tflite_bytes)                      -> the serving_default signature's keys, dtypes, shapes
    graphtools.pipeline(ckpt=..., quantize="all", data=..., ...) -> report dict (the options of PipelineConfig)
    graphtools.run_pipeline(graphtools.PipelineConfig(ckpt=..., ...), progress=print) -> report dict
    graphtools.make_report(out_dir)                       -> out_dir/report.html (self-contained)
    graphtools.make_bundle(out_dir)                       -> out_dir/golden (inputs, expected outputs, verify.py)
    graphtools.bench_model(tflite_bytes, threads=[1, 2], kernels=("xnnpack", "builtin", "reference")) -> dict
"""
from ._version import __version__  # noqa: F401

from .errors import FreezeError, GraphtoolsError, InputError, NodeNotFoundError, PassError  # noqa: F401

_LAZY = {
    "freeze": ("sources.freezing", "freeze"),
    "freeze_session": ("sources.session", "freeze_session"),
    "freeze_checkpoint": ("sources.checkpoint", "freeze_checkpoint"),
    "freeze_saved_model": ("sources.saved_model", "freeze_saved_model"),
    "freeze_keras": ("sources.keras", "freeze_keras"),
    "FreezeResult": ("sources.session", "FreezeResult"),
    "inspect": ("presentation.inspection", "inspect_path"),
    "inspect_graph_def": ("presentation.inspection", "inspect_graph_def"),
    "load_graph_def": ("core.io", "load_graph_def"),
    "Graph": ("core.graph", "Graph"),
    "GraphAnalysis": ("core.analysis", "GraphAnalysis"),
    "run_graph": ("core.runtime", "run_graph"),
    "strip": ("surgery.stripping", "strip"),
    "strip_report": ("surgery.stripping", "strip_report"),
    "run_pass": ("surgery.passes", "run_pass"),
    "convert": ("conversion.converter", "convert"),
    "compare": ("verification.comparison", "compare"),
    "pipeline": ("workflow.stages", "pipeline"),
    "run_pipeline": ("workflow.stages", "run_pipeline"),
    "PipelineConfig": ("workflow.config", "PipelineConfig"),
    "bench_model": ("core.bench", "bench_model"),
    "per_op": ("verification.perop", "per_op"),
    "meet_budget": ("verification.budget", "meet_budget"),
    "replay_recipe": ("verification.budget", "replay"),
    "io_card": ("core.tflite", "io_card"),
    "make_bundle": ("verification.bundle", "make_bundle"),
    "make_report": ("presentation.report", "make_report"),
    "view_overlays": ("presentation.view", "overlays"),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{mod}", __name__), attr)
    raise AttributeError(f"module 'graphtools' has no attribute '{name}'")


def save_graph_def(graph_def, path):
    """Write a GraphDef atomically: binary, or text when ``path`` ends in .pbtxt."""
    import os

    from .core.io import atomic_write, graph_def_bytes

    path = os.fspath(path)  # (a pathlib.Path too)
    return atomic_write(path, graph_def_bytes(graph_def, path))
