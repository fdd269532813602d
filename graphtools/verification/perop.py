"""Per-op error of a .tflite model against the GraphDef it came from: where a difference is born.

Every TFLite op output whose tensor names a node of the GraphDef (a fused op carries the names of
all the TF ops it replaced, ``a/Relu;a/BiasAdd;a/Conv2D``: the one whose value it holds is the one
it matches best) is compared with that node's TF value over N samples:

- **cumulative** error: both sides run on their own values (max/mean |d|, RMSE, cosine); it grows
  along the graph from wherever error is born.
- **local** error: the TFLite op alone, in a one-op model cut from the .tflite (the same kernel,
  weights and quantization; constant-only producers such as a float16 weight's DEQUANTIZE come
  along), fed the TF values of its inputs (quantized with the input tensor's own scale and zero
  point). An op that only inherits error shows little of its own; ``relative`` is its RMSE over
  the RMS of the TF value, the ranking key.

Quantized tensors are dequantized with their own scale and zero point, so float16, dynamic, int8
and 16x8 models are measured in the same float units.
"""
import csv
import io as _io
import json
import re

import numpy as np

from ..core.tflite import dequantize, quantize
from ..errors import InputError
from ..core.graph import node_name
from ..core.tflite import interpreter


def _text(v):
    return v.decode(errors="replace") if isinstance(v, bytes) else (v or "")


PASS_THROUGH = ("QUANTIZE", "DEQUANTIZE")


def _ix(v):
    """A tensor index list of the object API (None, a list or a numpy array) as a list of ints."""
    return [] if v is None else [int(t) for t in v]


def _dequant(value, detail):
    return dequantize(value, detail).astype(np.float64)


def _stats(ref, got):
    d = got - ref
    ref_rms = float(np.sqrt(np.mean(ref ** 2))) if ref.size else 0.0
    rmse = float(np.sqrt(np.mean(d ** 2))) if d.size else 0.0
    na, nb = float(np.linalg.norm(ref)), float(np.linalg.norm(got))
    cos = float(np.dot(ref.ravel(), got.ravel()) / (na * nb)) if na and nb else (1.0 if na == nb else 0.0)
    return {"max_abs": float(np.max(np.abs(d))) if d.size else 0.0, "mean_abs": float(np.mean(np.abs(d))) if d.size else 0.0,
            "rmse": rmse, "cosine": cos, "relative": rmse / max(ref_rms, 1e-12)}


class _Model:
    """The .tflite as LiteRT's object API model, with its op list and which tensors are constants."""

    def __init__(self, data):
        from ..core import tflite

        self.data = bytes(data)
        self.schema = tflite._schema()
        self.model = tflite.load_model(self.data)
        self.sub = self.model.subgraphs[0]
        names = tflite.op_names(self.model)
        self.ops = [(names[o.opcodeIndex] if o.opcodeIndex < len(names) else f"opcode{o.opcodeIndex}", o)
                    for o in self.sub.operators or []]
        bufs = self.model.buffers or []
        produced = {t for _, o in self.ops for t in _ix(o.outputs)}
        self.const = set()
        for k, t in enumerate(self.sub.tensors):
            b = bufs[t.buffer] if 0 < t.buffer < len(bufs) else None
            if k not in produced and b is not None and (b.data is not None and len(b.data) or b.size):
                self.const.add(k)
        self.const_ops = set()  # ops computed from constants only (float16 weights' DEQUANTIZE, ...)
        self.producer = {}
        for i, (_, o) in enumerate(self.ops):
            for t in _ix(o.outputs):
                self.producer[t] = i
            ins = [t for t in _ix(o.inputs) if t >= 0]
            if ins and all(t in self.const or self.producer.get(t) in self.const_ops for t in ins):
                self.const_ops.add(i)

    def tensor_name(self, k):
        return _text(self.sub.tensors[k].name)

    def runtime_inputs(self, i):
        """The op's inputs that are neither constants nor computed from constants."""
        o = self.ops[i][1]
        return [t for t in _ix(o.inputs) if t >= 0 and t not in self.const
                and self.producer.get(t) not in self.const_ops]

    def single_op(self, i):
        """Bytes of a model holding op ``i`` alone (with its constant-only producers)."""
        import flatbuffers

        keep, stack = {i}, [i]
        while stack:
            o = self.ops[stack.pop()][1]
            for t in _ix(o.inputs):
                p = self.producer.get(t)
                if p is not None and p in self.const_ops and p not in keep:
                    keep.add(p)
                    stack.append(p)
        ops = [self.ops[k][1] for k in sorted(keep)]
        used = {self.sub.tensors[t].buffer for o in ops for t in _ix(o.inputs) + _ix(o.outputs) if t >= 0}
        saved = (self.sub.operators, self.sub.inputs, self.sub.outputs, self.model.buffers, self.model.signatureDefs)
        empty = self.schema.BufferT()
        try:
            self.sub.operators = ops
            self.sub.inputs = self.runtime_inputs(i)
            self.sub.outputs = _ix(self.ops[i][1].outputs)
            self.model.buffers = [b if k in used or k == 0 else empty for k, b in enumerate(saved[3])]
            self.model.signatureDefs = None
            builder = flatbuffers.Builder(1024)
            builder.Finish(self.model.Pack(builder), file_identifier=b"TFL3")
            return bytes(builder.Output())
        finally:
            (self.sub.operators, self.sub.inputs, self.sub.outputs, self.model.buffers,
             self.model.signatureDefs) = saved


def _interpreter(data, preserve=False):
    # the builtin kernels: the ones every platform has (the XNNPACK delegate would take whole
    # partitions and hide the intermediate tensors)
    return interpreter(data, 1, "builtin", preserve)


def per_op(graph_def, tflite_bytes, feeds, input_names, top=10, progress=None, whole=False, fixed_batch=None):
    """Per-op cumulative and local error of ``tflite_bytes`` against ``graph_def`` on ``feeds``
    ({input: array[N, ...]}); return a JSON-ready dict (see the module doc).

    Each TFLite run takes as many rows as its input holds (one sample; all of a fixed batch);
    ``whole``/``fixed_batch`` say how the TF graph is to be run (``core.runtime.run_tf_batched``).
    """
    from ..core.runtime import run_tf_batched

    m = _Model(tflite_bytes)
    it = _interpreter(m.data, preserve=True)
    details = {d["index"]: d for d in it.get_tensor_details()}
    in_det = it.get_input_details()
    if len(in_det) != len(input_names):
        raise InputError(f"the model has {len(in_det)} inputs, the graph {len(input_names)}: give --inputs")
    by_name = {d["name"]: d for d in in_det}
    ins = [by_name.get(name, in_det[k]) for k, name in enumerate(input_names)]
    rows_in = len(next(iter(feeds.values())))
    row = max(1, int(np.prod(np.shape(feeds[input_names[0]])[1:])))
    block = max(1, int(np.prod(ins[0]["shape"])) // row)  # rows per TFLite run
    n = rows_in // block
    if n < 1:
        raise InputError(f"per-op needs at least {block} samples (the model's batch); give more data")
    feeds = {k: v[:n * block] for k, v in feeds.items()}
    # TFLite's own value of every op output, run by run, flattened per run
    lite = {}
    out_tensors = [t for i, (_, o) in enumerate(m.ops) if i not in m.const_ops for t in _ix(o.outputs)]
    for s in range(n):
        for name, d in zip(input_names, ins):
            v = feeds[name][s * block:(s + 1) * block]
            if v.size != int(np.prod(d["shape"])):
                raise InputError(f"per-op: input {name} gives {v.size} values a run, the model's {d['name']} "
                                 f"takes {int(np.prod(d['shape']))}")
            it.set_tensor(d["index"], quantize(v.reshape(d["shape"]), d))
        it.invoke()
        for t in out_tensors:
            try:
                lite.setdefault(t, []).append(_dequant(it.get_tensor(t), details[t]).ravel())
            except ValueError:  # (a tensor LiteRT freed or never computed)
                pass
        if progress:
            progress(s + 1, n, "TFLite")
    lite = {t: np.stack(v) for t, v in lite.items() if len(v) == n}
    # the TF value of every named candidate, in one pass when it can, else one by one
    graph_nodes = {nd.name for nd in graph_def.node}
    cand = {}
    for t in list(lite) + [d["index"] for d in ins]:
        parts = [p for p in m.tensor_name(t).split(";") if node_name(p) in graph_nodes]
        cand[t] = list(dict.fromkeys(p if ":" in p else p + ":0" for p in parts))
    # a multi-output op (SPLIT, UNPACK, ...) names its outputs 'a/split', 'a/split1', 'a/split2': output
    # k of the op that holds 'a/split' is TF's 'a/split:k'
    for i, (_, o) in enumerate(m.ops):
        outs = _ix(o.outputs)
        if len(outs) > 1 and cand.get(outs[0]):
            for k, t in enumerate(outs[1:], 1):
                if not cand.get(t):
                    cand[t] = [f"{node_name(c)}:{k}" for c in cand[outs[0]]]
    # the converter makes a name unique with a number ('a/Squeeze' -> 'a/Squeeze1'): the node without it
    for t in cand:
        if not cand[t]:
            parts = [re.sub(r"\d+$", "", p) for p in m.tensor_name(t).split(";")]
            cand[t] = list(dict.fromkeys(p + ":0" for p in parts if p in graph_nodes))
    wanted = sorted({c for cs in cand.values() for c in cs} - {name + ":0" for name in input_names})

    def run(fetches):
        out = run_tf_batched(graph_def, feeds, fetches, batch=block, whole=whole, fixed_batch=fixed_batch)
        return [np.asarray(v).reshape(n, -1) if np.size(v) % n == 0 else None for v in out]

    tf_values = {}
    try:
        tf_values = dict(zip(wanted, run(wanted))) if wanted else {}
    except Exception:  # noqa: BLE001 -- some candidate cannot be fetched (inside a loop): one by one
        for c in wanted:
            try:
                tf_values[c] = run([c])[0]
            except Exception:  # noqa: BLE001
                pass
    for name, d in zip(input_names, ins):
        tf_values[name + ":0"] = feeds[name].reshape(n, -1)
        cand.setdefault(d["index"], [])
        if name + ":0" not in cand[d["index"]]:
            cand[d["index"]].insert(0, name + ":0")
    # QUANTIZE / DEQUANTIZE only change how a value is stored: their output stands for the TF tensor
    # their input stands for (the int8 model's tfl.quantize of x is x)
    for i, (op_name, o) in enumerate(m.ops):
        if op_name in PASS_THROUGH and i not in m.const_ops and _ix(o.inputs):
            src = _ix(o.inputs)[0]
            for t in _ix(o.outputs):
                if not cand.get(t):
                    cand[t] = list(cand.get(src, []))
                elif not cand.get(src):  # (the int8 softmax before the DEQUANTIZE of the output)
                    cand[src] = list(cand[t])

    def tf_of(t, lite_value=None):
        """(TF tensor name, [n, size] float value) best matching TFLite tensor ``t``."""
        best = None
        size = int(np.prod(details[t]["shape"])) if t in details else None
        for c in cand.get(t, []):
            v = tf_values.get(c)
            if v is None or (size is not None and v.shape[1] != size):
                continue
            v = v.astype(np.float64)
            score = 0.0 if lite_value is None else float(np.mean(np.abs(v - lite_value)))
            if best is None or score < best[2]:
                best = (c, v, score)
        return best

    rows, total, mapped, skipped = [], 0, 0, 0
    ops_to_check = [i for i in range(len(m.ops)) if i not in m.const_ops]
    for step, i in enumerate(ops_to_check):
        op_name, o = m.ops[i]
        for t in _ix(o.outputs):
            total += 1
            got = lite.get(t)
            match = tf_of(t, got) if got is not None else None
            if match is None:
                continue
            mapped += 1
            c, ref, _ = match
            r = {"tensor": m.tensor_name(t), "node": node_name(c), "tf_tensor": c, "op": op_name, "op_index": i,
                 "inputs": [m.tensor_name(k) for k in _ix(o.inputs) if k >= 0],
                 "cumulative": _stats(ref, got), "local": None}
            r["local"], why = _local(m, i, t, n, tf_of, lite, ref)
            if why:
                r["local_skipped"] = why
                skipped += 1
            rows.append(r)
        if progress:
            progress(step + 1, len(ops_to_check), "ops")
    ranked = sorted((r for r in rows if r["local"]), key=lambda r: -r["local"]["relative"])
    named = {node_name(p) for t in range(len(m.sub.tensors)) for p in m.tensor_name(t).split(";")} & graph_nodes
    return {
        "samples": n * block, "runs": n, "ops": len(ops_to_check), "op_outputs": total, "mapped": mapped,
        "coverage": round(mapped / total, 4) if total else 0.0,
        "tf_nodes_named": len(named), "tf_nodes_matched": len({r["node"] for r in rows}), "rows": rows,
        "top_local": [r["tensor"] for r in ranked[:top]],
        "top_cumulative": [r["tensor"] for r in sorted(rows, key=lambda r: -r["cumulative"]["relative"])[:top]],
        "local_skipped": skipped,
    }


def _local(m, i, t, n, tf_of, lite, ref):
    """Op ``i`` alone fed the TF values of its inputs: its stats for output ``t``, or (None, why)."""
    values = []
    for k in m.runtime_inputs(i):
        match = tf_of(k, lite.get(k))
        if match is None:
            return None, f"input {m.tensor_name(k)} has no TensorFlow counterpart"
        values.append(match[1])
    try:
        it = _interpreter(m.single_op(i))
    except InputError as e:
        return None, f"the op cannot run alone ({str(e)[:120]})"
    dets = it.get_input_details()
    out = it.get_output_details()
    want = [d for d in out if d["name"] == m.tensor_name(t)] or out[:1]
    got, runs = [], []
    for s in range(n):
        # a quantized input can only hold its calibrated range: a run whose TF input lies outside it
        # would measure the clipping (an upstream difference), not this op
        if any(_outside(v[s], d) for d, v in zip(dets, values)):
            continue
        for d, v in zip(dets, values):
            it.set_tensor(d["index"], quantize(v[s].reshape(d["shape"]), d))
        it.invoke()
        got.append(_dequant(it.get_tensor(want[0]["index"]), want[0]).ravel())
        runs.append(s)
    if not runs:
        return None, "every run's TF inputs lie outside the op's quantized input range"
    ref = ref[runs]
    got = np.stack(got)
    lo, hi = _range(want[0])
    inside = (ref >= lo) & (ref <= hi)  # TF values the output tensor cannot hold are clipping, not error
    stats = _stats(ref[inside], got[inside]) if inside.any() else _stats(ref, got)
    stats["runs"] = len(runs)
    stats["saturated"] = round(float(1 - inside.mean()), 6)
    return stats, None


def _range(detail):
    """The float range a (quantized) tensor can hold."""
    dt = np.dtype(detail["dtype"])
    scale, zp = detail["quantization"]
    if dt.kind not in "iu" or not scale:
        return -np.inf, np.inf
    info = np.iinfo(dt)
    return (info.min - zp) * scale, (info.max - zp) * scale


def _outside(value, detail, quanta=1.0):
    lo, hi = _range(detail)
    if lo == -np.inf:
        return False
    slack = quanta * detail["quantization"][0]
    return bool(value.min() < lo - slack or value.max() > hi + slack)


# ---------------------------------------------------------------- output

def table(report, top=10, key="local"):
    """The top-k rows by ``key`` error as text lines."""
    rows = [r for r in report["rows"] if r[key]]
    rows.sort(key=lambda r: -r[key]["relative"])
    lines = [f"  {'rank':>4}  {'tensor (TFLite)':<38}{'op':<18}{'local rel':>10}{'cum rel':>10}{'cum max|d|':>12}{'cosine':>9}"]
    for k, r in enumerate(rows[:top], 1):
        name = r["tensor"] if len(r["tensor"]) <= 36 else r["tensor"][:17] + "…" + r["tensor"][-18:]
        loc = f"{r['local']['relative']:.3g}" if r["local"] else "-"
        c = r["cumulative"]
        lines.append(f"  {k:>4}  {name:<38}{r['op']:<18}{loc:>10}{c['relative']:>10.3g}{c['max_abs']:>12.3g}"
                     f"{c['cosine']:>9.5f}")
    return lines


def to_csv(report):
    buf = _io.StringIO()
    w = csv.writer(buf)
    w.writerow(["tensor", "tf_node", "op", "local_relative", "local_max_abs", "local_rmse", "cumulative_relative",
                "cumulative_max_abs", "cumulative_mean_abs", "cumulative_rmse", "cumulative_cosine"])
    for r in report["rows"]:
        loc, c = r["local"] or {}, r["cumulative"]
        w.writerow([r["tensor"], r["node"], r["op"], loc.get("relative", ""), loc.get("max_abs", ""), loc.get("rmse", ""),
                    c["relative"], c["max_abs"], c["mean_abs"], c["rmse"], c["cosine"]])
    return buf.getvalue()


GRADIENT = [{"stop": 0, "bgColor": "#ffffff"}, {"stop": 0.5, "bgColor": "#fdae61"}, {"stop": 1, "bgColor": "#d7191c"}]


def model_explorer_overlays(report, key="local"):
    """Model Explorer node data (``GraphNodeData``) for the .tflite (keyed by output tensor name) and
    for the GraphDef (keyed by node name): the relative error, white to red."""
    lite, graph = {}, {}
    for r in report["rows"]:
        s = r[key] or (r["cumulative"] if key == "local" else None)
        if s is None:
            continue
        value = float(s["relative"])
        lite[r["tensor"]] = {"value": value}
        graph[r["node"]] = {"value": max(value, graph.get(r["node"], {}).get("value", 0.0))}
    return ({"results": lite, "gradient": GRADIENT}, {"results": graph, "gradient": GRADIENT})


def dumps(obj):
    return json.dumps(obj, indent=1)
