"""TF graph vs .tflite models on the same data: differences, agreement, accuracy, latency, locator."""
import logging
import os
import statistics
import time

import numpy as np

from ..errors import InputError
from ..core.runtime import per_sample, run_tf_batched
from ..core.tflite import dequantize, quantize

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- running the TF graph


# ---------------------------------------------------------------- running a .tflite model

class NeedsFlexError(InputError):
    """A .tflite with Flex ops: no Python runtime on this machine can run it."""


class LiteModel:
    """A .tflite model run with LiteRT, batched through resize_tensor_input when it allows it."""

    def __init__(self, path_or_bytes, name=None):
        from ai_edge_litert.interpreter import Interpreter

        self.bytes = open(path_or_bytes, "rb").read() if isinstance(path_or_bytes, str) else bytes(path_or_bytes)
        self.name = name or (path_or_bytes if isinstance(path_or_bytes, str) else "model.tflite")
        self._cls = Interpreter
        from .._tf import stderr_quiet

        self.note = ""
        try:
            with stderr_quiet():  # LiteRT announces its XNNPACK delegate on stderr
                self.it = Interpreter(model_content=self.bytes, num_threads=2)
                self.it.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            if "Select TensorFlow op" in str(e):
                raise NeedsFlexError(f"{self.name}: has Flex (select TF) ops, and LiteRT's interpreter here has no "
                                     f"Flex delegate; compare it where the Flex delegate is linked")
            raise InputError(f"{self.name}: LiteRT cannot load this model ({str(e).splitlines()[0][:150]})")
        self.inputs = self.it.get_input_details()
        self.outputs = self.it.get_output_details()
        self.batch = None
        self.fixed = False  # its batch cannot change: a shape inside it was folded at conversion
        sigs = self.it.get_signature_list()
        self.signature = next(iter(sigs)) if sigs else None

    def _run_signature(self, feeds, input_names, output_names, batch):
        """Models with signatures run through their signature runner, named inputs matched by key."""
        runner = self.it.get_signature_runner(self.signature)
        in_det, out_det = runner.get_input_details(), runner.get_output_details()
        in_keys = list(in_det)
        keys = [n if n in in_det else in_keys[k] for k, n in enumerate(input_names)]
        out_keys = list(out_det)
        okeys = [n if n in out_det else out_keys[min(k, len(out_keys) - 1)] for k, n in enumerate(output_names)]
        n = len(next(iter(feeds.values())))
        results, times = [[] for _ in output_names], []
        for start in range(0, n, batch):
            args = {key: quantize(feeds[name][start:start + batch], in_det[key]) for key, name in zip(keys, input_names)}
            t = time.perf_counter()
            out = runner(**args)
            times.append(time.perf_counter() - t)
            for r, key in zip(results, okeys):
                r.append(dequantize(out[key], out_det[key]))
        return [np.concatenate(r) for r in results], times, batch

    def _resize(self, b):
        if self.batch == b:
            return True
        try:
            for d in self.inputs:
                self.it.resize_tensor_input(d["index"], [b] + list(d["shape"][1:]), strict=False)
            self.it.allocate_tensors()
            self.batch = b
            self.inputs = self.it.get_input_details()
            self.outputs = self.it.get_output_details()
            return True
        except (ValueError, RuntimeError) as e:
            self.note = f"cannot be resized to batch {b} ({str(e).splitlines()[0][:80]}): run one sample at a time"
            self.it = self._cls(model_content=self.bytes, num_threads=2)
            self.it.allocate_tensors()
            self.inputs = self.it.get_input_details()
            self.outputs = self.it.get_output_details()
            self.batch = int(self.inputs[0]["shape"][0]) or 1
            return False

    def match_inputs(self, names):
        """LiteRT input details in the order of ``names`` (by name, else by position)."""
        by = {d["name"]: d for d in self.inputs}
        if all(n in by for n in names):
            return [by[n] for n in names]
        if len(self.inputs) == len(names):
            return list(self.inputs)
        raise InputError(f"{self.name}: inputs {[d['name'] for d in self.inputs]} do not match the graph's {names}")

    def match_outputs(self, names):
        by = {d["name"]: d for d in self.outputs}
        out = []
        for k, n in enumerate(names):
            if n in by:
                out.append(by[n])
            else:
                hits = [d for d in self.outputs if n in d["name"].split(";")]
                out.append(hits[0] if hits else self.outputs[min(k, len(self.outputs) - 1)])
        return out

    def run(self, feeds, input_names, output_names, batch=512, whole=False):
        """Outputs (float, dequantized) for N samples, and the seconds each batch took.

        ``whole``: each sample is a whole input tensor of the model's fixed shape (no batch axis).
        """
        n = len(next(iter(feeds.values())))
        if whole:
            ins, outs = self.match_inputs(input_names), self.match_outputs(output_names)
            results, times = [[] for _ in output_names], []
            for i in range(n):
                for name, d in zip(input_names, ins):
                    self.it.set_tensor(d["index"], quantize(feeds[name][i], d))
                t = time.perf_counter()
                self.it.invoke()
                times.append(time.perf_counter() - t)
                for r, d in zip(results, outs):
                    r.append(dequantize(self.it.get_tensor(d["index"]), d))
            return [np.stack(r) for r in results], times, 1
        if self.signature is not None:
            try:
                out = self._run_signature(feeds, input_names, output_names, min(batch, n))
                self.note = f"run through its signature runner '{self.signature}'"
                if all(len(r) >= n for r in out[0]):
                    return out
                self.note = self._fixed_batch_note(min(batch, n))
            except (ValueError, RuntimeError) as e:  # (a model whose kernels cannot take the batch)
                self.note = (f"its signature runner cannot take batch {min(batch, n)} "
                             f"({str(e).splitlines()[0][:60]}): run through the interpreter")
            self._reload()
        if not self.fixed:
            self._resize(min(batch, n))
        try:
            out = self._run_interpreter(feeds, input_names, output_names, n)
        except (ValueError, RuntimeError) as e:  # (resized, but a kernel cannot take it: a WHILE whose lists
            if self.fixed:                       # hold the converted batch)
                raise InputError(f"{self.name}: LiteRT cannot run the model ({str(e).splitlines()[0][:120]})")
            self._fixed_batch_note(self.batch)
            self.note = (f"LiteRT cannot run it at batch {self.batch} ({str(e).splitlines()[0][:60]}): it runs at "
                         f"its converted batch")
            self._reload()
            return self._run_interpreter(feeds, input_names, output_names, n)
        if self.fixed or all(len(r) >= n for r in out[0]):
            return out
        self.note = self._fixed_batch_note(self.batch)  # the resized batch did not flow through the model
        self._reload()
        return self._run_interpreter(feeds, input_names, output_names, n)

    def _fixed_batch_note(self, b):
        self.fixed = True
        return (f"its batch is fixed inside the model (a shape folded at conversion): fed batch {b} gives "
                f"other output sizes, so it runs at its converted batch")

    def _reload(self):
        self.signature = None
        from .._tf import stderr_quiet

        with stderr_quiet():
            self.it = self._cls(model_content=self.bytes, num_threads=2)
            self.it.allocate_tensors()
        self.inputs = self.it.get_input_details()
        self.outputs = self.it.get_output_details()
        self.batch = int(self.inputs[0]["shape"][0]) or 1 if self.fixed and self.inputs else None

    def _run_interpreter(self, feeds, input_names, output_names, n):
        step = self.batch or 1  # (not resizable: the model's own batch, padded at the end)
        ins = self.match_inputs(input_names)
        results, times = [[] for _ in output_names], []
        for start in range(0, n, step):
            real = min(step, n - start)
            for name, d in zip(input_names, ins):
                v = feeds[name][start:start + step]
                if real < step:
                    v = np.concatenate([v, np.repeat(v[-1:], step - real, 0)])
                self.it.set_tensor(d["index"], quantize(v, d))
            t = time.perf_counter()
            self.it.invoke()
            times.append(time.perf_counter() - t)
            for r, d in zip(results, self.match_outputs(output_names)):
                value = dequantize(self.it.get_tensor(d["index"]), d)
                r.append(per_sample(value) if step == 1 or np.ndim(value) == 0 else value[:real])
        return [np.concatenate(r) for r in results], times, step


# ---------------------------------------------------------------- metrics

def metrics(ref, got, labels=None):
    """Differences, cosine similarity, top-1 agreement and accuracy for one output.

    Top-1 agreement and accuracy are for class scores ([N, classes]); integer outputs (class indices,
    ArgMax) get exact-match rates per element and per sample instead.
    """
    integer = np.asarray(ref).dtype.kind in "iub"
    ref = np.asarray(ref, np.float64)
    got = np.asarray(got, np.float64)
    if ref.shape != got.shape:
        raise InputError(f"output shapes differ: TF {list(ref.shape)}, TFLite {list(got.shape)}")
    diff = np.abs(ref - got)
    a, b = ref.reshape(len(ref), -1), got.reshape(len(got), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cos = np.where(norms > 0, np.sum(a * b, axis=1) / np.where(norms > 0, norms, 1), 1.0)
    m = {"max_abs_diff": float(diff.max()) if diff.size else 0.0, "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
         "cosine_similarity": float(cos.mean()) if cos.size else 1.0,
         "ref_max_abs": float(np.abs(ref).max()) if ref.size else 0.0}
    if not integer and ref.ndim == 2 and a.shape[1] > 1:  # (rows of probabilities: class scores)
        m["probabilities"] = bool((ref >= 0).all() and np.allclose(ref.sum(1), 1.0, atol=1e-3))
    if integer:
        same = np.rint(ref) == np.rint(got)
        m["exact_match"] = float(same.mean()) if same.size else 1.0
        m["exact_match_samples"] = float(same.reshape(len(same), -1).all(1).mean()) if same.size else 1.0
        if labels is not None and ref.ndim == 1:
            m["accuracy"] = float((np.rint(got) == labels[: len(got)]).mean())
            m["tf_accuracy"] = float((np.rint(ref) == labels[: len(ref)]).mean())
    elif ref.ndim == 2 and a.shape[1] > 1:
        m["top1_agreement"] = float((a.argmax(1) == b.argmax(1)).mean())
        if labels is not None:
            m["accuracy"] = float((b.argmax(1) == labels[: len(b)]).mean())
            m["tf_accuracy"] = float((a.argmax(1) == labels[: len(a)]).mean())
    return m


def worst_disagreements(ref, got, k=5):
    a, b = ref.reshape(len(ref), -1), got.reshape(len(got), -1)
    idx = np.nonzero(a.argmax(1) != b.argmax(1))[0]
    conf = a[idx, a[idx].argmax(1)] if len(idx) else np.array([])
    order = idx[np.argsort(-conf)][:k] if len(idx) else []
    return [{"index": int(i), "tf_label": int(a[i].argmax()), "tf_confidence": float(a[i].max()),
             "tflite_label": int(b[i].argmax()), "tflite_confidence": float(b[i].max())} for i in order]


# ---------------------------------------------------------------- the whole comparison

def compare(graph_def, tflite_models, data=None, labels=None, inputs=None, outputs=None, batch=512, limit=None,
            seed=0, samples=256, locate=False, max_diff=None, allow_unsafe_ops=False, shapes=None, signature=None,
            per_op=0, progress=None):
    """Compare the TF graph with each .tflite model on ``data`` ({input: array}, or None: seeded random).

    ``shapes`` ({input: shape}) sizes random inputs where the graph does not say. ``signature``: the
    command's resolved signature (then ``inputs``/``outputs``/``shapes`` are not looked at).
    Returns a JSON-ready report: per model and output the metrics, latency, size, op count,
    determinism, worst disagreements, and with ``locate`` the first tensor where it departs from TF;
    with ``per_op`` N, the per-op cumulative and local errors on the first N samples (``perop.per_op``).
    """
    from ..sources import safety
    from ..core import tflite
    from ..conversion.converter import resolve_signature
    from ..core.feeds import random_feeds

    safety.check(graph_def, "compare", allow=allow_unsafe_ops)
    models = [m if isinstance(m, LiteModel) else LiteModel(m) for m in tflite_models]
    if not models:
        raise InputError("give at least one .tflite model to compare")
    if signature is None:
        if data is not None:
            inputs = inputs or list(data)
            names = inputs.split(",") if isinstance(inputs, str) else list(inputs)
            shapes = {i: [1] + list(np.shape(data[i])[1:]) for i in names if i in data}
        signature = resolve_signature(graph_def, inputs, outputs, shapes)
    sig = signature
    ins, outs = sig.names, list(sig.outputs)
    found = {name: p.as_dict() for name, p in sig.placeholders.items()}
    for i in sig.inputs:  # (the graph's own shapes: whether a sample is a whole tensor is the graph's fact)
        found[i.name] = dict(i.as_dict(), shape=i.shape)
    if data is None:
        shapes = sig.shapes()
        whole = _no_batch_axis(graph_def, ins, outs, found, shapes)
        if whole:
            samples = min(samples, 16)  # one run per sample
        from ..core.feeds import MAX_FEED_VALUES

        per = max(int(np.prod([max(d, 1) for d in shapes[i][0 if whole else 1:]], dtype=np.float64)) for i in ins) if ins else 1
        samples = max(1, min(samples, MAX_FEED_VALUES // 4 // max(per, 1)))  # (a 480x640 image: 16, not 256)
        data, why = random_feeds([dict(found[i], shape=[samples] + shapes[i][0 if whole else 1:]) for i in ins],
                                 seed, batch=samples)
        if data is None:
            raise InputError(f"cannot make random inputs: {why}; give real inputs with --data")
        source = f"random (seed {seed}, {samples} samples)"
    else:
        missing = [i for i in ins if i not in data]
        if missing:
            raise InputError(f"the data has no values for input {', '.join(missing)} (it has {', '.join(data)}); "
                             f"name the arrays after the inputs or choose them with --inputs")
        # samples that are whole inputs: each has the input's full fixed shape
        whole = all(found[i]["shape"] and min(found[i]["shape"]) > 0
                    and list(np.shape(data[i])[1:]) == list(found[i]["shape"]) for i in ins)
        source = "given data"
    if limit:
        data = {k: v[: int(limit)] for k, v in data.items()}
        if labels is not None:
            labels = labels[: int(limit)]
    n = len(next(iter(data.values())))
    from ..core.analysis import GraphAnalysis

    stats = None if sig.batch or whole else GraphAnalysis(graph_def).batch_statistics(outs)
    if stats:  # its numbers depend on the batch: every sample is its own batch of one, as the app runs it
        batch = 1
    t0 = time.perf_counter()
    ref = run_tf_batched(graph_def, data, outs, batch, whole=whole, fixed_batch=sig.batch)
    tf_seconds = time.perf_counter() - t0
    report = {"samples": n, "data": source, "inputs": ins, "outputs": outs, "tf_seconds": round(tf_seconds, 4),
              "models": []}
    if stats:
        report["note"] = (f"the graph normalises with statistics of its batch ({stats[0]}): compared one sample "
                          f"at a time")
    for m in models:
        got, times, step = m.run(data, ins, outs, sig.batch or batch, whole=whole)
        again, _, _ = m.run({k: v[:step] for k, v in data.items()}, ins, outs, sig.batch or batch, whole=whole)
        deterministic = all(np.array_equal(a[:step], b) for a, b in zip(got, again))
        info = tflite.summarize(m.bytes, m.name)
        entry = {"model": m.name, "size_bytes": len(m.bytes), "operators": info["operators"],
                 "fallback": sorted(op for op in info.get("op_histogram", {}) if op.startswith("Flex")),
                 "batch": step, "note": m.note, "deterministic": deterministic,
                 "random_ops": [b["nodes"] for b in info["blockers"] if b["kind"] == "stochastic"],
                 "latency_ms_per_batch": round(1000 * statistics.median(times), 3),
                 "latency_ms_per_sample": round(1000 * sum(times) / n, 4), "outputs": {}}
        from .verdict import class_scores

        for name, r, g in zip(outs, ref, got):
            mt = entry["outputs"][name] = metrics(r, g, labels)
            classes = labels is not None or class_scores(name, mt)
            if not classes:  # a regression, an embedding, an image: its error, never a "top class"
                mt.pop("top1_agreement", None)
            mt["worst"] = (worst_disagreements(r, g) if classes and r.ndim == 2 and r.shape[1] > 1
                           and np.asarray(r).dtype.kind == "f" else [])
        if locate:
            worst = max(o["max_abs_diff"] for o in entry["outputs"].values())
            if max_diff is None or worst > max_diff:
                entry["locate"] = locate_divergence(graph_def, m, {k: v[:1] for k, v in data.items()}, ins)
        if per_op:
            from .perop import per_op as _per_op

            entry["per_op"] = _per_op(graph_def, m.bytes, {k: v[:per_op * (sig.batch or 1)] for k, v in data.items()},
                                      ins, whole=whole, fixed_batch=sig.batch, progress=progress)
        report["models"].append(entry)
    return report


def _no_batch_axis(graph_def, ins, outs, found, shapes):
    """True when the first dimension is not a batch, so a sample is a whole input tensor: every input
    has a fixed shape (in the graph, or given where the graph has none) and their first dimensions
    differ, or an output's first dimension is none of theirs (char-rnn's [10, 10] ids -> [100, 57])."""
    from ..core.runtime import GraphRunner

    given = [shapes[i][0] for i in ins if shapes.get(i)]
    if given and min(given) > 1:  # a batch of 2 given for a graph whose outputs are scalars: a pair is one sample
        with GraphRunner(graph_def, path="the TF graph") as r:
            if any(s is not None and len(s) == 0 for s in r.static_shapes(outs)):
                return True
    if any(_adds_batch(graph_def, i) for i in ins):
        return True  # the graph gives the input its batch itself (expand_dims(img, 0)), whatever its sizes
    fixed = []
    for i in ins:
        declared = found.get(i, {}).get("shape")
        if declared is not None and min(declared, default=1) < 0:
            return False
        fixed.append(shapes[i] if declared is None else declared)
    if any(f is None for f in fixed):
        return False
    if any(len(f) == 0 for f in fixed):
        return True  # a scalar input (a decoder's sample rate) has no batch axis: each sample is whole
    firsts = {s[0] for s in fixed}
    if len(firsts) > 1:
        return True
    with GraphRunner(graph_def, path="the TF graph") as r:
        out_shapes = r.static_shapes(outs)
    return any(s is None or not s or (s[0] >= 0 and s[0] not in firsts) for s in out_shapes)


PER_PIXEL = {"Identity", "Cast", "Sub", "Add", "AddV2", "Mul", "RealDiv", "Div", "Neg", "Maximum", "Minimum"}


def _adds_batch(graph_def, name, hops=4):
    """True when ``name`` goes into an ExpandDims at axis 0, straight or through per-pixel work (a Cast, the
    mean subtracted, a scale): the graph makes the batch itself from one unbatched image."""
    from ..core.constants import const_value
    from ..core.graph import Graph, node_name

    g = Graph(graph_def)
    frontier = [name]
    for _ in range(hops):
        nxt = []
        for cur in frontier:
            for c in g.consumers(cur, data=True):
                node = g.node(c)
                ins = g.data_inputs(c)
                if node.op == "ExpandDims" and len(ins) == 2 and node_name(ins[0]) == cur:
                    axis = const_value(g, ins[1])
                    if axis is not None and int(np.ravel(axis)[0]) == 0:
                        return True
                elif node.op in PER_PIXEL and node_name(ins[0]) == cur:
                    nxt.append(c)
        frontier = nxt
    return False


def locate_divergence(graph_def, model, feeds, input_names, rtol=0.05):
    """The first tensor (in execution order) where the TFLite model departs from TF, by tensor name."""
    from ai_edge_litert.interpreter import Interpreter

    from ..core.runtime import run_graph

    import warnings

    from .._tf import stderr_quiet

    with warnings.catch_warnings(), stderr_quiet():
        warnings.simplefilter("ignore")  # "intended for debugging": that is what this is
        it = Interpreter(model_content=model.bytes, experimental_preserve_all_tensors=True)
        it.allocate_tensors()
    dets = {d["name"]: d for d in it.get_input_details()}
    for name, d in zip(input_names, model.match_inputs(input_names)):
        d = dets.get(d["name"], d)
        v = feeds[name]
        try:
            it.resize_tensor_input(d["index"], list(v.shape), strict=False)
        except (ValueError, RuntimeError):
            pass
    it.allocate_tensors()
    for name, d in zip(input_names, [dets.get(x["name"], x) for x in model.match_inputs(input_names)]):
        it.set_tensor(d["index"], quantize(feeds[name], d))
    it.invoke()
    names = {n.name for n in graph_def.node}
    ops = it._get_ops_details()
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    checked = []
    for op in ops:
        for k in op["outputs"]:
            t = tensors.get(k)
            if t is None:
                continue
            candidates = [p for p in t["name"].split(";") if p.split(":")[0] in names]
            if not candidates:
                continue
            got = dequantize(it.get_tensor(k), t)
            # a fused op's tensor carries the names of all the TF ops it replaced: the one whose
            # value it holds is the one it matches best
            best = None
            for node in dict.fromkeys(c.split(":")[0] for c in candidates):
                try:
                    want = run_graph(graph_def, feeds, [node])[0]
                except InputError:
                    continue
                if want.shape != got.shape:
                    continue
                diff = float(np.max(np.abs(want - got))) if want.size else 0.0
                if best is None or diff < best[1]:
                    best = (node, diff, float(np.max(np.abs(want))) if want.size else 0.0)
            if best is None:
                continue
            node, diff, scale = best
            checked.append({"tensor": t["name"], "node": node, "op": op["op_name"], "max_abs_diff": diff,
                            "max_ref": scale})
            if diff > rtol * max(scale, 1e-6):
                return {"first_divergence": checked[-1], "checked": len(checked)}
    return {"first_divergence": None, "checked": len(checked)}


def labels_for(data_path, labels_path=None):
    """The labels of a comparison: ``labels_path`` when given, else the 'y' array of an .npz data file
    (None when there is none)."""
    if labels_path:
        return load_labels(labels_path)
    if data_path and str(data_path).endswith(".npz"):
        z = np.load(data_path, allow_pickle=False)
        return z["y"].reshape(-1).astype(np.int64) if "y" in z else None
    return None


def limit_failures(report, max_diff=None, min_agreement=None):
    """The lines saying which model output is outside ``max_diff`` / ``min_agreement`` (compare's limits)."""
    failures = []
    for m in report["models"]:
        for name, o in m["outputs"].items():
            if max_diff is not None and o["max_abs_diff"] > max_diff:
                failures.append(f"{m['model']}: {name} differs by {o['max_abs_diff']:.3g} > --max-diff {max_diff}")
            if min_agreement is not None and o.get("top1_agreement", 1.0) < min_agreement:
                failures.append(f"{m['model']}: {name} agrees on {o['top1_agreement']:.4f} < --min-agreement "
                                f"{min_agreement}")
    return failures


def load_labels(path, n=None):
    """Labels from .npy, .npz ('y'), IDX (.gz) or a text file with one integer per line."""
    from ..core.data import load_idx

    if not os.path.exists(path):
        raise InputError(f"{path}: no such file; give labels as .npy, .npz (y), IDX or one integer per line")
    from ..core.data import check_source

    check_source(path, "--labels", text_ok=True)
    try:
        return _read_labels(path, n, load_idx)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"--labels {path}: cannot read the labels ({str(e)[:100] or type(e).__name__})")


def _read_labels(path, n, load_idx):
    import zipfile

    if path.endswith(".npy"):
        y = np.load(path, allow_pickle=False)
    elif path.endswith(".npz"):
        try:
            z = np.load(path, allow_pickle=False)
        except zipfile.BadZipFile as e:
            raise ValueError(str(e))
        key = "y" if "y" in z else ("labels" if "labels" in z else None)
        if key is None:
            raise InputError(f"{path}: no array named 'y' or 'labels'")
        y = z[key]
    elif "idx" in os.path.basename(path) or "ubyte" in os.path.basename(path):
        y = load_idx(path)
    else:
        try:
            y = np.loadtxt(path, dtype=np.int64)
        except ValueError as e:
            raise InputError(f"{path}: not one integer label per line ({e})")
    y = np.asarray(y).reshape(-1).astype(np.int64)
    return y[:n] if n else y
