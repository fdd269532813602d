"""GraphAnalysis, part two: a graph's real outputs ranked (a model's answer, not its loss or summaries), its
data inputs and the batch it fixes, and the id range an embedding's rows allow."""
import collections
import logging

import networkx as nx
import numpy as np
from .describe import describe_placeholder, product
from .exports import export_outputs
from .graph import node_name
from .heuristics import LOSS_SCOPE, OUTPUT_NAME
from .ops import (ASSIGN_OPS, GATHER_OPS, ID_PRESERVING_OPS, INPUT_PIPELINE_OPS, INT_TYPES, LABEL_PLUMBING,
                  NON_OUTPUT_OPS, PER_ELEMENT_OPS, POST_PROCESSING, VARIABLE_OPS)

log = logging.getLogger(__name__)


class Endpoints:
    """Methods of :class:`graphtools.core.analysis.GraphAnalysis` (a mixin: ``self`` is the analysis)."""

    # ---------------------------------------------------------- outputs
    def rank_outputs(self, top=5):
        """Rank likely inference outputs: sinks of the non-training part, Softmax/logits-like first."""
        excluded = self.eval_region()
        inference = [n for n in self.nx.nodes if n not in excluded]
        inference_set = set(inference)
        # where data enters: placeholders, and what an input pipeline (queue, iterator, decoder) hands over
        placeholders = {n.name for n in self.graph_def.node
                        if n.op in ("Placeholder", "PlaceholderV2", "PlaceholderWithDefault")
                        or n.op in INPUT_PIPELINE_OPS} - excluded
        sinks = []
        for name in inference:
            node = self.index[name]
            if node.op in NON_OUTPUT_OPS or node.op.endswith("Summary"):
                continue
            consumers = list(self.data.successors(name))
            if any(c in inference_set for c in consumers):
                continue
            if not consumers and self.nx.out_degree(name):
                continue  # only a control dependency: it orders other work, nobody reads its value
            if consumers and all(self.index[c].op in ASSIGN_OPS for c in consumers):
                continue  # the value of a variable update (moving averages, initializers)
            sinks.append(name)
        logits = self.loss_logits() & inference_set
        sinks += sorted(logits - set(sinks))
        for name in list(sinks):  # -sum(y * log(softmax)) written by hand: the sink is the Log, the output its input
            prob = self._probabilities_under(name)
            if prob and prob in inference_set and prob not in sinks:
                sinks.append(prob)
        sampled = {}  # the scores a sampler (tf.multinomial) draws from -> the sampler's sink
        for name in list(sinks):
            src = self._sampled_from(name)
            if src and src in inference_set:
                sampled[src] = name
                if src not in sinks:
                    sinks.append(src)
        reduced = {}  # the per-sample value a hand-written loss reduces over the batch -> that loss
        for name in list(sinks):
            if self._reduces_batch(name):
                for f in self._model_frontier(name):
                    if f in inference_set and f not in sinks and not self._reduces_batch(f):
                        reduced[f] = name
                        sinks.append(f)
        generated = self._generated_samples(placeholders) if not sampled else {}
        for name in generated:  # a GAN's generator output: its discriminator reads it where it reads real data
            if name in inference_set and name not in sinks:
                sinks.append(name)
        post = {}  # integer post-processing sink -> the float model output it was computed from
        for name in list(sinks):
            src = self._float_source(name)
            if src is not None:
                post[name] = src
                if src not in sinks:
                    sinks.append(src)
        scored = []
        total = max(len(inference_set), 1)
        for name in sinks:
            node = self.index[name]
            anc = nx.ancestors(self.data, name)
            feeds_from_input = bool(anc & placeholders)
            if placeholders and not feeds_from_input:
                continue  # initializer values and other constant computations
            reasons = []
            score = 0.0
            if node.op == "Softmax":
                score += 40
                reasons.append("Softmax")
            elif node.op in ("Sigmoid", "LogSoftmax"):
                score += 30
                reasons.append(node.op)
            elif node.op in ("ArgMax", "TopKV2"):
                score += 5
                reasons.append(node.op)
            if name in post:
                score -= 30
                reasons.append(f"integer post-processing of {post[name]}")
            if name in logits:
                score += 35
                reasons.append("the logits a loss reads")
            if name in reduced:
                score += 15
                reasons.append(f"the per-sample value the loss {reduced[name]} reduces")
            if name in generated:
                score += 45
                reasons.append(f"a generated sample (read by the same weights as the input {generated[name]})")
            elif anc & set(generated) or anc & set(generated.values()):
                score -= 30
                reasons.append("judges samples (a GAN's discriminator)")
            if any(v == name for v in sampled.values()):
                score -= 40
                reasons.append("a random sample (not the same twice): its scores are the output")
            if name in sampled:
                score += 10
                reasons.append(f"the scores {sampled[name]} samples from")
            is_loss = self._reduces_batch(name)
            if is_loss:
                score -= 40
                reasons.append("reduces over the batch (a loss or a metric)")
            if LOSS_SCOPE.search(name):
                score -= 25
                reasons.append("inside a loss")
            elif OUTPUT_NAME.search(name):
                score += 20
                reasons.append("output-like name")
            coverage = len(anc & inference_set) / total
            score += 30 * coverage
            reasons.append(f"reads {coverage:.0%} of the inference graph")
            if anc & self._stochastic_names():
                reasons.append("stochastic on its path")
            entry = {"name": name, "op": node.op, "score": round(score, 2), "why": ", ".join(reasons)}
            if is_loss:
                entry["loss"] = True
            scored.append(entry)
        scored.sort(key=lambda c: (-c["score"], c["name"]))
        if scored and scored[0]["score"] > 1:
            scored = [c for c in scored if c["score"] > 1]  # drop cond pivots and loss plumbing
        return scored[:top] if top else scored

    def _generated_samples(self, placeholders):
        """Tensors computed from some inputs that enter the same weights as another data input, or are joined
        with it along the batch: what a GAN's generator makes (its discriminator reads real and generated
        samples alike, and only its losses are sinks). -> {tensor: the input it stands in for}"""
        from .constants import const_value

        groups = collections.defaultdict(list)
        for n in self.graph_def.node:
            ins = self.graph.data_inputs(n.name)
            if n.op in GENERATOR_READERS and len(ins) == 2 and self._is_weight(node_name(ins[1])):
                groups[(n.op, self._weight_source(ins[1]))].append(ins[0])
            elif n.op == "ConcatV2" and len(ins) > 2 and n.attr["T"].type not in INT_TYPES and \
                    const_value(self.graph, ins[-1]) == 0:
                groups[n.name] = ins[:-1]
        labels = set(self.label_placeholders())
        data_inputs = set(placeholders) - labels
        found = {}
        for members in groups.values():
            roots = {self._unplumbed(m) for m in members}
            real = sorted(roots & data_inputs)
            if not real:
                continue
            for r in roots - set(placeholders):
                anc = nx.ancestors(self.data, r)
                if anc & data_inputs and not anc & set(real):
                    found[r] = real[0]
        return found

    def _weight_source(self, ref):
        """The variable or constant a weight input reads (each resource read is its own node)."""
        cur = node_name(ref)
        for _ in range(4):
            node = self.index.get(cur)
            ins = self.graph.data_inputs(cur) if node is not None else []
            if node is None or node.op not in ("Identity", "ReadVariableOp", "Enter") or not ins:
                break
            cur = node_name(ins[0])
        return cur

    def _unplumbed(self, ref, hops=6):
        """The node ``ref`` is a reshape, cast or identity of."""
        cur = node_name(ref)
        for _ in range(hops):
            node = self.index.get(cur)
            if node is None or node.op not in LABEL_PLUMBING:
                break
            ins = [node_name(i) for i in self.graph.data_inputs(cur)]
            live = [i for i in ins if self.index.get(i) is not None and self.index[i].op != "Const"]
            if len(live) != 1:
                break
            cur = live[0]
        return cur

    def _reduces_batch(self, name, depth=6):
        """True when ``name``'s value is made only of reductions over axis 0 (the batch), combined by
        elementwise ops: ``reduce_sum(maximum(0, d_pos - d_neg + m))``, a hand-written loss, has no
        per-sample value an app could fetch (a softmax normalised by a sum still has: its other factor
        is per sample)."""
        from .constants import const_value

        node = self.index.get(name)
        if node is None or depth == 0:
            return False
        ins = self.graph.data_inputs(name)
        if node.op in ("Sum", "Mean", "Max", "Min", "Prod") and len(ins) == 2:
            if self.graph.op_of(node_name(ins[1])) == "Range":  # reduce_mean(x) of unknown rank: every axis
                return not node.attr["keep_dims"].b
            axes = const_value(self.graph, ins[1])
            if axes is not None and not node.attr["keep_dims"].b and 0 in np.atleast_1d(axes):
                return True
            # (a sum of what is already summed over the batch: tf.losses' reduce_sum of a scalar, axes [])
            return axes is not None and self._reduces_batch(node_name(ins[0]), depth - 1)
        if node.op not in REDUCTION_WALK:
            return False
        live = [node_name(i) for i in ins if self.index.get(node_name(i)) is not None
                and self.index[node_name(i)].op != "Const"]
        return bool(live) and all(self._reduces_batch(i, depth - 1) for i in live)

    def _sampled_from(self, name, hops=4):
        """The scores a random sampler (Multinomial, a categorical draw) reads, when ``name`` is that draw or
        light post-processing of it."""
        cur = name
        for _ in range(hops):
            node = self.index.get(cur)
            if node is None:
                return None
            ins = [node_name(i) for i in self.graph.data_inputs(cur)]
            if node.op in ("Multinomial", "StatelessMultinomial", "RandomCategorical"):
                src = self.index.get(ins[0]) if ins else None
                if src is not None and src.op == "Log" and self.graph.data_inputs(src.name):
                    return node_name(self.graph.data_inputs(src.name)[0])  # log(p): p, the probabilities
                return ins[0] if ins else None
            if node.op not in POST_PROCESSING or not ins:
                return None
            cur = ins[0]
        return None

    def _probabilities_under(self, name, hops=4):
        """The Softmax/Sigmoid a loss's Log (through its clip or epsilon) reads, when ``name`` is that Log."""
        cur, log = name, False
        for _ in range(hops):
            node = self.index.get(cur)
            if node is None or node.op not in ("Log", "ClipByValue", "Maximum", "Add", "AddV2", "Identity"):
                return None
            log = log or node.op == "Log"
            ins = [node_name(i) for i in self.graph.data_inputs(cur)]
            nxt = [i for i in ins if self.index.get(i) is not None and self.index[i].op != "Const"]
            if len(nxt) != 1:
                return None
            cur = nxt[0]
            if self.index[cur].op in ("Softmax", "Sigmoid"):
                return cur if log else None
        return None

    def outputs_or_best(self, outputs, flag="--outputs"):
        """``outputs`` ('a,b' or a list) checked against the graph, or the best-ranked candidate.

        Returns (names, discovered). Unknown names raise with the closest existing names.
        """
        from ..errors import InputError, NodeNotFoundError

        if outputs:
            names = [node_name(o) for o in (outputs.split(",") if isinstance(outputs, str) else outputs)]
            for o in names:
                if o not in self.index:
                    raise NodeNotFoundError(o, self.index.keys(), what="output node")
            return names, False
        known = export_outputs(self.graph_def)
        if known:  # (a detection export: its four outputs)
            return known, True
        cands = self.rank_outputs(top=1)
        if not cands:
            raise InputError(f"found no output candidates; name them with {flag}")
        if cands[0].get("loss"):  # a loss is never an output: better one line than a model of the loss
            raise InputError(f"found no inference output, only {cands[0]['name']} ({cands[0]['op']}), which reduces "
                             f"over the batch (a loss or a metric); name the model's output with {flag} "
                             f"(graphtools inspect lists the candidates)")
        return [cands[0]["name"]], True

    # ---------------------------------------------------------- inputs
    def discover_inputs(self, outputs):
        """Placeholders the outputs depend on, with dtype, shape, role and optional flag."""
        anc = self.reachable(outputs)
        found = [n for n in self.graph.nodes_of("Placeholder", "PlaceholderV2", "PlaceholderWithDefault")
                 if n.name in anc]
        if len(found) > 1:  # graph order, as the file lists them
            want = {n.name for n in found}
            pos = {name: k for k, name in enumerate(self.index) if name in want}
            found.sort(key=lambda n: pos[n.name])
        producer = self.graph_def.versions.producer
        described = [describe_placeholder(n, producer) for n in found]
        for d in described:
            if d["dtype"].startswith("float") and (d["shape"] is None or d["shape"] == []):
                kind = self.dropout_probability(d["name"])
                if kind:  # keep_prob or rate, by what it drives (its name may be Placeholder_2)
                    d["role"] = "training_flag"
                    d["inference_value"] = 1.0 if kind == "keep" else 0.0
            if d["dtype"].startswith(("int", "uint", "float")):  # (Keras feeds ids as floats and casts them)
                rows = self.id_limit(d["name"])
                if rows:
                    d["int_range"] = [0, rows]
        return described

    def fixed_batch(self, inputs):
        """The batch size the graph fixes for its data ``inputs`` ({"name", "shape"} dicts), or None.

        A legacy graph fixes its batch with a Reshape to a constant shape read straight from an input
        (``reshape(x, [64, 784])``, or ``[1, -1]``: the batch is the target's first size), or with
        a data input whose first dimension is fixed (an RNN's [1, 128] initial state beside [?, 10]
        ids): then every input whose batch is open takes that size.
        """
        from .constants import const_value

        found = set()
        for i in inputs:
            shape = i.get("shape")
            if not shape or shape[0] >= 0:
                if shape and len(shape) >= 2 and shape[0] > 0:
                    found.add(shape[0])
                continue
            per = product(shape[1:]) if min(shape[1:], default=1) >= 0 else None
            for cur, node, ins in self._forward(i["name"], PER_ELEMENT_OPS):
                if node.op != "Reshape" or ins[0] != cur or len(ins) < 2:
                    continue
                target = const_value(self.graph, ins[1])
                if target is None or np.ndim(target) != 1 or not len(target) or target[0] < 0:
                    continue
                target = [int(t) for t in target]
                if -1 in target[1:]:
                    found.add(target[0])
                elif per and product(target) % per == 0:
                    found.add(product(target) // per)
        found.discard(0)
        return found.pop() if len(found) == 1 else None

    def id_limit(self, name):
        """Rows of the smallest embedding table whose indices ``name`` feeds (through Cast/Reshape/...), or None.

        Random integer feeds must stay below it: a Gather with an index past the table fails in TF.
        """
        limits = [self._rows(ins[0]) for cur, node, ins in self._forward(name, ID_PRESERVING_OPS)
                  if node.op in GATHER_OPS and len(ins) > 1 and ins[1] == cur]
        limits = [rows for rows in limits if rows]
        return min(limits) if limits else None

    def _rows(self, name):
        """First dimension of a (frozen or variable) table, through Identity/Enter/ReadVariableOp."""
        node = self.index.get(name)
        for _ in range(20):
            if node is None:
                return None
            if node.op == "Const":
                dims = node.attr["value"].tensor.tensor_shape.dim
                return dims[0].size if dims else None
            if node.op in VARIABLE_OPS:
                dims = node.attr["shape"].shape.dim
                return dims[0].size if dims and dims[0].size > 0 else None
            ins = self.graph.data_inputs(node.name)
            if node.op not in ("Identity", "Enter", "ReadVariableOp", "Snapshot") or not ins:
                return None
            node = self.index.get(node_name(ins[0]))
        return None


# elementwise ops a loss combines its reductions with (walked back from a candidate output)
REDUCTION_WALK = {"Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "DivNoNan", "Maximum", "Minimum", "Identity", "Neg", "Square",
                  "Sqrt", "AddN", "Relu"}


# layers whose second input is a weight: a generated sample enters them where real data does
GENERATOR_READERS = {"MatMul", "Conv2D", "DepthwiseConv2dNative", "Conv3D", "BatchMatMul", "BatchMatMulV2"}
