"""TF1 recurrent loops to TFLite builtins: v1 while loops over TensorArrays (dynamic_rnn,
bidirectional_dynamic_rnn, tf.while_loop with TensorArrays) have no TFLite kernel. Two routes:

- **unroll**: when the loop's trip count is fixed by the input shapes (the sequence length is known at
  conversion), the loop body is repeated that many times as straight-line ops; TensorList reads of an
  unstacked input become one Unpack, the writes one Pack. The converter then sees a plain graph.
- **while**: otherwise (a ``sequence_length`` input decides the trip count) the ``TensorArrayV3``
  family becomes the TensorList ops the converter lowers, so the loop converts to a TFLite ``WHILE``
  with builtin ops inside.

Both need the element shapes and trip counts at the shapes the model is converted with; they are
read from one TensorFlow run of the graph on seeded inputs of the signature's shapes.

This module chooses the route per loop (``lower``); ``loop_analysis`` holds what both routes share
(frames, a loop's parts, its trip count), ``loop_while`` and ``loop_unroll`` the two rewrites.
"""
import logging

import numpy as np

from ..core.graph import node_name
from ..core.ops import TENSOR_ARRAY_OPS
from ..errors import InputError
from .loop_analysis import Loop, NotUnrollable, data_dependent, frames, tensor_value, trip_count_of
from .loop_analysis import has_tensor_arrays  # noqa: F401 (re-exported: the converter asks loops)
from .loop_unroll import fold_lists, simplify_stacks, unroll
from .loop_while import element_shapes, tensor_arrays_to_lists

log = logging.getLogger(__name__)

ROUTES = ("auto", "unroll", "while")


def lower(graph_def, signature, route="auto"):
    """The GraphDef with its v1 TensorArray loops in a form TFLite builtins can run, and what was done:
    {"route": "unroll"|"while", "loops": [{"frame", "route", "trip_count" or "why"}]}.

    ``route``: 'unroll' (every loop must have a trip count the input shapes fix), 'while' (TensorList
    ops in a TFLite WHILE), or 'auto' (unroll where it can, WHILE elsewhere).
    """
    from ..surgery.passes import PassContext, run_passes
    from ..core.runtime import GraphRunner

    if route not in ROUTES:
        raise InputError(f"--rnn {route}: choose from {', '.join(ROUTES)}")
    frame_of, _ = frames(graph_def)
    index = {n.name: n for n in graph_def.node}
    # one run at the conversion's shapes: element shapes and the counters' bounds
    shapes = signature.shapes()
    from ..core.feeds import random_feeds

    feeds, why = random_feeds([dict(i.as_dict(), shape=shapes[i.name]) for i in signature.inputs], 0, 1)
    if feeds is None:
        raise InputError(f"cannot run the loops to measure them: {why}; convert with --select-tf-ops")
    feeds = signature.feeds_for(set(index), feeds)
    loop_frames = sorted({n.attr["frame_name"].s.decode() for n in graph_def.node if n.op == "Enter"})
    fetch = set()
    for n in graph_def.node:
        if n.op == "TensorArrayScatterV3" and frame_of.get(node_name(n.input[2])) == "":
            fetch.add(n.input[2])
        if n.op == "TensorArrayGatherV3" and frame_of.get(n.name) == "":
            fetch.add(n.name)
        if n.op == "Enter" and frame_of.get(node_name(n.input[0])) == "" and \
                index[node_name(n.input[0])].op not in TENSOR_ARRAY_OPS | {"Const", "VarHandleOp"}:
            fetch.add(n.input[0])
    fetch = sorted(fetch)
    measured = {}
    with GraphRunner(graph_def, path="the recurrent graph") as runner:
        vals = runner.run(feeds, fetch) if fetch else []
    for f, v in zip(fetch, vals):
        measured[f] = np.asarray(v)
    run_shapes = {f: list(np.shape(v)) for f, v in measured.items()}
    lists = tensor_arrays_to_lists(graph_def, element_shapes(graph_def, run_shapes))
    report = {"loops": []}
    if route == "while":
        report["loops"] = [{"frame": f, "route": "while"} for f in loop_frames]
        report["route"] = "while"
        return lists, report
    gd = lists
    values = {k: v for k, v in measured.items() if v.ndim == 0 or v.size <= 64}  # (counters and bounds)
    values.update({c.name: tensor_value(c) for c in gd.node if c.op == "Const" and frame_of.get(c.name) == ""
                   and not len(c.attr["value"].tensor.tensor_shape.dim)})
    for f in loop_frames:
        frame_of, _ = frames(gd)
        idx = {n.name: n for n in gd.node}
        if not any(frame_of.get(n.name) == f for n in gd.node):
            continue
        try:
            loop = Loop(gd, f, frame_of, idx)
            bounds = [c.input[0] for c in loop.constants] + [v[0].input[0] for v in loop.vars]
            count = trip_count_of(loop, values)
            cond_inputs = [b for b in bounds if b in values]
            if data_dependent(idx, cond_inputs):
                raise NotUnrollable("its trip count depends on input values (a sequence_length input)")
            gd = unroll(gd, loop, count)
            report["loops"].append({"frame": f, "route": "unroll", "trip_count": count})
        except NotUnrollable as e:
            if route == "unroll":
                raise InputError(f"--rnn unroll: the loop {f} cannot be unrolled: {e}; use --rnn while")
            report["loops"].append({"frame": f, "route": "while", "why": str(e)})
    if any(lp["route"] == "unroll" for lp in report["loops"]):
        outs = list(signature.outputs)
        for _ in range(12):  # counters become constants, then the list reads and writes fold
            gd, _ = run_passes(gd, ["fold_constants"], PassContext(inputs=signature.names, outputs=outs))
            gd, n = fold_lists(gd)
            gd, m = simplify_stacks(gd)
            if not n + m:
                break
        gd, _ = run_passes(gd, ["fold_constants"], PassContext(inputs=signature.names, outputs=outs))
    routes = {lp["route"] for lp in report["loops"]}
    report["route"] = routes.pop() if len(routes) == 1 else "mixed"
    return gd, report
