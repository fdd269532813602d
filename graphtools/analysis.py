"""Read-only analyses of a GraphDef (networkx underneath): what is training, what are the
real inputs and outputs, op histogram, parameter count, and what will block conversion."""
import collections
import logging

import networkx as nx
import numpy as np

from .graph import Graph, node_name
from .errors import InputError, NodeNotFoundError
from .heuristics import FLAG_NAME, LABEL_NAME, LOSS_SCOPE, OUTPUT_NAME, is_training_op
from .ops import (
    ASSIGN_OPS, DEBUG_OPS, GATHER_OPS, ID_PRESERVING_OPS, INPUT_PIPELINE_OPS, INT_TYPES, LABEL_ARGS,
    LABEL_PLUMBING, LIGHT_OPS, NON_OUTPUT_OPS, OP_RANK, PER_ELEMENT_OPS, POST_PROCESSING, PROBABILITY_PLUMBING,
    QUANTIZE_LEFTOVER_OPS, RANK_PRESERVING_OPS, STOCHASTIC_OPS, TFLITE_CONVERTIBLE, VARIABLE_OPS,
)

log = logging.getLogger(__name__)


# elementwise ops a loss combines its reductions with (walked back from a candidate output)
REDUCTION_WALK = {"Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "Maximum", "Minimum", "Identity", "Neg", "Square",
                  "Sqrt", "AddN", "Relu"}


# ops that compute a layer of the model (a loss's own arithmetic does not use them)
LAYER_OPS = {"MatMul", "BatchMatMul", "BatchMatMulV2", "Conv2D", "DepthwiseConv2dNative", "Conv3D", "BiasAdd",
             "Softmax", "Sigmoid", "Tanh", "FusedBatchNorm", "FusedBatchNormV3", "Conv2DBackpropInput"}


# TensorList ops the converter lowers inside (and around) a functional While
LIST_OPS = {"TensorListReserve", "EmptyTensorList", "TensorListFromTensor", "TensorListStack", "TensorListGetItem",
            "TensorListSetItem", "TensorListPushBack", "TensorListLength", "TensorListElementShape",
            "TensorListGather", "TensorListPopBack", "TensorListResize"}

# layers whose second input is a weight: a generated sample enters them where real data does
GENERATOR_READERS = {"MatMul", "Conv2D", "DepthwiseConv2dNative", "Conv3D", "BatchMatMul", "BatchMatMulV2"}


class GraphAnalysis:
    """Computes, once, the facts that inspect, freeze and strip ask about one GraphDef."""

    def __init__(self, graph_def):
        self.graph_def = graph_def
        self.graph = Graph(graph_def)
        self.index = self.graph.node_map()  # {name: NodeDef}, graph order, follows the graph's edits
        self._nx = None
        self._data = None
        self._training = None
        self._labels = None
        self._reachable = {}

    @property
    def nx(self):
        """The whole graph as a networkx DiGraph (built on first use)."""
        if self._nx is None:
            self._nx = self.graph.to_networkx()
        return self._nx

    @property
    def data(self):
        """Data edges only (control edges order work, they carry no values)."""
        if self._data is None:
            self._data = nx.DiGraph((u, v) for u, v, c in self.nx.edges(data="control") if not c)
            self._data.add_nodes_from(self.nx.nodes)
        return self._data

    # ---------------------------------------------------------- regions
    def training_region(self):
        """Training, saver, summary and loss nodes, and everything that consumes their data."""
        if self._training is None:
            seeds = {n.name for n in self.graph_def.node if is_training_op(n)}
            region = set(seeds)
            for s in seeds:
                region |= nx.descendants(self.data, s)
            self._training = region
        return self._training

    def label_placeholders(self):
        """Placeholders that feed only losses/metrics (through label plumbing such as Cast/OneHot)."""
        if self._labels is None:
            training = self.training_region()
            labels = set()
            for n in self.graph_def.node:
                if n.op not in ("Placeholder", "PlaceholderV2"):
                    continue
                desc = nx.descendants(self.data, n.name)
                if not desc:
                    continue
                # a label by what it feeds: losses, metrics, one_hot -- never a placeholder whose values reach
                # the model's own computation (a second data input named y_ is an input); its name only
                # decides where nothing else does
                rest = desc - training
                light = all(self.index[d].op in LIGHT_OPS for d in rest)
                if light and (desc & training or (LABEL_NAME.search(n.name)
                                                  and not desc.issubset(self._stochastic_names()))):
                    labels.add(n.name)
                elif self.feeds_as_label(n.name):
                    labels.add(n.name)
            self._labels = labels
        return self._labels

    def dropout_probability(self, name):
        """'keep' when ``name`` is a dropout keep probability, 'rate' when a drop rate, else None.

        Decided by what it drives: keep probabilities are added to uniform noise (``floor(keep + U)``)
        or divide the kept values (``x / keep``); rates are compared with the noise (``U >= rate``);
        ``1 - p`` turns one into the other. Seen through Identity/Cast/Enter (inside loops) and friends.
        """
        for cur, node, ins in self._forward(name, PROBABILITY_PLUMBING):
            if len(ins) == 2 and cur in ins:
                other = ins[1] if ins[0] == cur else ins[0]
                noisy = self._is_noise(other)
                if node.op in ("Add", "AddV2") and noisy:
                    return "keep"
                if node.op in ("RealDiv", "Div") and ins[1] == cur and self._is_noise_path(node.name):
                    return "keep"
                if node.op in ("GreaterEqual", "Greater", "Less", "LessEqual") and noisy:
                    return "rate"
                if node.op == "Sub" and ins[1] == cur and self.index[ins[0]].op == "Const":
                    inner = self.dropout_probability(node.name)  # 1 - keep is a rate, 1 - rate a keep
                    if inner:
                        return {"keep": "rate", "rate": "keep"}[inner]
        return None

    def _forward(self, name, through):
        """(tensor, reader NodeDef, the reader's data input names) for each reader met walking forward
        from ``name``, going on through readers whose op is in ``through``."""
        seen, todo = {name}, [name]
        while todo:  # (the Graph's reader index, not networkx: strip calls this on every graph)
            cur = todo.pop()
            for r in self.graph.consumers(cur):
                ins = [node_name(i) for i in self.graph.data_inputs(r)]
                if cur not in ins:
                    continue  # a control edge
                node = self.index[r]
                yield cur, node, ins
                if node.op in through and r not in seen:
                    seen.add(r)
                    todo.append(r)

    def _is_noise(self, name, hops=6):
        """True when ``name`` is (a light function of) random uniform noise."""
        for _ in range(hops):
            node = self.index.get(name)
            if node is None:
                return False
            if node.op in STOCHASTIC_OPS:
                return True
            ins = self.graph.data_inputs(name)
            if node.op not in ("Add", "AddV2", "Mul", "Identity", "Enter", "Cast", "Sub") or not ins:
                return False
            name = next((node_name(i) for i in ins if self.index.get(node_name(i)) is not None
                         and self.index[node_name(i)].op != "Const"), node_name(ins[0]))
        return False

    def _is_noise_path(self, name):
        """True when random noise is combined with ``name``'s value within a few ops downstream."""
        frontier = {name}
        for _ in range(3):
            nxt = set()
            for f in frontier:
                for r in self.graph.consumers(f):
                    ins = [node_name(i) for i in self.graph.data_inputs(r)]
                    if f in ins and any(self._is_noise(i) for i in ins if i != f):
                        return True
                    nxt.add(r)
            frontier = nxt
        return False

    def _float_source(self, name):
        """For an integer result of post-processing (ArgMax, Cast to an integer, pixel scaling), the float
        tensor it was made from (walking back through light ops); else None."""
        node = self.index[name]
        if not (node.op in ("ArgMax", "ArgMin") or (node.op == "Cast" and node.attr["DstT"].type in INT_TYPES)):
            return None
        cur = name
        for _ in range(8):
            ins = self.graph.data_inputs(cur)
            if not ins:
                return None
            cur = node_name(ins[0])
            op = self.index[cur].op
            if op in ("Softmax", "Sigmoid"):
                return cur  # the probabilities argmax was taken of: the output, not the logits under them
            if op not in POST_PROCESSING:
                return cur if op not in NON_OUTPUT_OPS else None
        return None

    def input_pipeline_cuts(self, outputs):
        """Tensors ('IteratorGetNext:0', 'DecodeJpeg:0') an input pipeline hands to the model the outputs
        need: where placeholders go so that the pipeline (queues, iterators, readers, decoders) can go."""
        needed = self.reachable(outputs)
        if not any(self.index[n].op in INPUT_PIPELINE_OPS for n in needed):
            return []
        cuts = []
        for name in self.index:  # graph order
            if name not in needed or self.index[name].op in INPUT_PIPELINE_OPS:
                continue
            for i in self.graph.data_inputs(name):
                src = self.index.get(node_name(i))
                if src is not None and src.op in INPUT_PIPELINE_OPS:
                    t = i if ":" in i else i + ":0"
                    if t not in cuts:
                        cuts.append(t)
        return cuts

    def needed_without(self, outputs, cuts):
        """What the outputs need once the ``cuts`` tensors' nodes are placeholders (nothing behind them)."""
        stop = {node_name(c) for c in cuts}
        seen, todo = set(), [node_name(o) for o in outputs]
        while todo:
            n = todo.pop()
            if n in seen or n not in self.index:
                continue
            seen.add(n)
            if n not in stop:
                todo.extend(node_name(i) for i in self.graph.inputs(n))
        return seen

    def rank_clash(self, name, rank):
        """(node (op), rank it needs) for the first rank-bound op ``name`` reaches through elementwise ops
        whose rank is not ``rank``; else None. A scalar broadcasts through them: it never clashes."""
        if rank == 0:
            return None
        for cur, node, ins in self._forward(name, RANK_PRESERVING_OPS):
            want = OP_RANK.get(node.op)
            if want is not None and ins and ins[0] == cur and want != rank:
                return f"{node.name} ({node.op})", want
        return None

    def loss_logits(self):
        """Names of the tensors losses read as logits (through Identity and the loss's own reshapes)."""
        out = set()
        for n in self.graph_def.node:
            if n.op in LABEL_ARGS and n.op not in ("InTopK", "InTopKV2"):
                ins = self.graph.data_inputs(n.name)
                src = node_name(ins[0]) if ins else None
                while src in self.index and (self.index[src].op in ("Identity", "Snapshot") or (
                        self.index[src].op in ("Reshape", "Cast", "ExpandDims", "Squeeze")
                        and LOSS_SCOPE.search(src))):  # (the loss's own reshape of its logits)
                    nxt = self.graph.data_inputs(src)
                    src = node_name(nxt[0]) if nxt else None
                if src in self.index:
                    out.add(src)
        return out

    def feeds_as_label(self, name):
        """True when ``name`` reaches, through label plumbing only (Cast, Reshape, OneHot, ...), a OneHot,
        the labels of a loss, the targets of in_top_k, or an Equal that compares it with an ArgMax:
        what a label does, whatever its name (``Placeholder_1``, ``output``)."""
        side = {name}  # the label and its plumbing
        for cur, node, ins in self._forward(name, LABEL_PLUMBING):
            side.add(cur)
            if node.op == "OneHot":  # a label's one_hot feeds the loss; token ids' one_hot feeds the model
                rest = nx.descendants(self.data, node.name) - self.training_region()
                if all(self.index[d].op in LIGHT_OPS for d in rest):
                    return True
                continue
            if node.op in LABEL_ARGS and any(ins[k] == cur for k in LABEL_ARGS[node.op] if k < len(ins)):
                return True
            if node.op in ("Equal", "NotEqual") and len(ins) == 2:
                other = ins[1] if ins[0] == cur else ins[0]
                if self.index[other].op in ("ArgMax", "ArgMin") and self._argmax_of_model(other, side):
                    return True
        return False

    def _argmax_of_model(self, name, label_side):
        """An ArgMax over something that is not itself the label's plumbing (the model's predictions)."""
        ins = self.graph.data_inputs(name)
        return bool(ins) and node_name(ins[0]) not in label_side

    def _stochastic_names(self):
        return {n.name for n in self.graph_def.node if n.op in STOCHASTIC_OPS}

    def eval_region(self):
        """The training region plus everything computed from labels."""
        region = set(self.training_region())
        for p in self.label_placeholders():
            region.add(p)
            region |= nx.descendants(self.data, p)
        return region

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
            return axes is not None and not node.attr["keep_dims"].b and 0 in np.atleast_1d(axes)
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

    def _model_frontier(self, loss, limit=400):
        """The model tensors a batch-reducing ``loss`` reads: walking back from it, the first nodes that
        compute with weights (a MatMul, a conv, an add of a variable) -- where the model ends and the
        loss's slicing and arithmetic begin."""
        split = self._batch_split_inputs(loss, limit)
        if split:  # a pair or triplet loss slices the batch into its groups: the model ends where it is sliced
            return split

        def at_weights(cur, node, ins):
            if cur != loss and (node.op in LAYER_OPS or any(self._is_weight(i) for i in ins)):
                return cur, True
            return None, False

        return self._walk_back(loss, limit, at_weights)

    def batch_statistics(self, outputs):
        """Means over axis 0 (the batch) that the ``outputs`` compute with and that are read back by the
        tensor they summarise (``x - mean(x, [0, 1, 2])``: batch norm in training mode, hand-written): the
        graph's numbers depend on the batch. Names, or []."""
        from .constants import const_value

        needed = self.reachable(outputs)
        found = []
        for n in self.graph.nodes_of("Mean", "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"):
            if n.name not in needed:
                continue
            if n.op != "Mean":
                if n.attr["is_training"].b:
                    found.append(n.name)
                continue
            ins = self.graph.data_inputs(n.name)
            axes = const_value(self.graph, ins[1]) if len(ins) == 2 else None
            if axes is None or 0 not in np.atleast_1d(axes) or not n.attr["keep_dims"].b and \
                    len(np.atleast_1d(axes)) < 2:
                continue
            src = node_name(ins[0])
            if any(src in [node_name(i) for i in self.graph.data_inputs(c)] for c in self.graph.consumers(n.name)
                   if c in needed):
                found.append(n.name)
        return found

    def _batch_split_inputs(self, loss, limit):
        """The tensors a loss slices into groups of samples (``emb[0::3]``, ``tf.split(feat, 2)``), walking
        back from it."""
        def at_split(cur, node, ins):
            value = {"Split": 1}.get(node.op, 0) if node.op in ("Split", "SplitV", "StridedSlice", "Slice",
                                                                 "Unpack") else None
            if value is not None and len(ins) > value:
                return ins[value], True
            return None, node.op in LAYER_OPS

        return self._walk_back(loss, limit, at_split)

    def _walk_back(self, loss, limit, stop):
        """Walk back from ``loss`` through data inputs (not constants, variables or placeholders);
        ``stop(name, node, inputs)`` -> (a tensor to report or None, whether to stop there)."""
        found, todo, seen = [], [loss], set()
        while todo and len(seen) < limit:
            cur = todo.pop()
            if cur in seen or cur not in self.index:
                continue
            seen.add(cur)
            node = self.index[cur]
            ins = [node_name(i) for i in self.graph.data_inputs(cur)]
            hit, halt = stop(cur, node, ins)
            if hit is not None and hit not in found:
                found.append(hit)
            if not halt:
                todo.extend(i for i in ins if self.index.get(i) is not None and self.index[i].op not in NON_OUTPUT_OPS)
        return found

    def _is_weight(self, name):
        node = self.index.get(name)
        for _ in range(3):
            if node is None:
                return False
            if node.op in VARIABLE_OPS:
                return True
            if node.op == "Const":  # (integer constants are axes, shapes and indices, not weights)
                dims = node.attr["value"].tensor.tensor_shape.dim
                return len(dims) >= 1 and _prod(d.size for d in dims) > 1 and node.attr["dtype"].type not in INT_TYPES
            if node.op not in ("Identity", "ReadVariableOp", "Enter"):
                return False
            ins = self.graph.data_inputs(node.name)
            node = self.index.get(node_name(ins[0])) if ins else None
        return False

    def outputs_or_best(self, outputs, flag="--outputs"):
        """``outputs`` ('a,b' or a list) checked against the graph, or the best-ranked candidate.

        Returns (names, discovered). Unknown names raise with the closest existing names.
        """
        from .errors import InputError, NodeNotFoundError

        if outputs:
            names = [node_name(o) for o in (outputs.split(",") if isinstance(outputs, str) else outputs)]
            for o in names:
                if o not in self.index:
                    raise NodeNotFoundError(o, self.index.keys(), what="output node")
            return names, False
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
        from .passes import const_value

        found = set()
        for i in inputs:
            shape = i.get("shape")
            if not shape or shape[0] >= 0:
                if shape and len(shape) >= 2 and shape[0] > 0:
                    found.add(shape[0])
                continue
            per = _prod(shape[1:]) if min(shape[1:], default=1) >= 0 else None
            for cur, node, ins in self._forward(i["name"], PER_ELEMENT_OPS):
                if node.op != "Reshape" or ins[0] != cur or len(ins) < 2:
                    continue
                target = const_value(self.graph, ins[1])
                if target is None or np.ndim(target) != 1 or not len(target) or target[0] < 0:
                    continue
                target = [int(t) for t in target]
                if -1 in target[1:]:
                    found.add(target[0])
                elif per and _prod(target) % per == 0:
                    found.add(_prod(target) // per)
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

    def reachable(self, outputs):
        """Names the outputs need (themselves included), through data and control edges."""
        key = tuple(sorted(node_name(o) for o in outputs))
        if key not in self._reachable:
            self._reachable[key] = self.graph.ancestors(key)
        return self._reachable[key]

    def has_loops(self):
        """True when the graph has a cycle (v1 while loops close one through NextIteration)."""
        if not self.graph.nodes_of("NextIteration", "RefNextIteration"):
            return False
        return not nx.is_directed_acyclic_graph(self.nx)

    # ---------------------------------------------------------- blockers
    def conversion_blockers(self, inputs, outputs):
        """What in the part the outputs need will make conversion fail or give a poor model."""
        needed = self.reachable(outputs)
        problems = []

        def add(kind, nodes, message):
            nodes = sorted(nodes)
            if nodes:
                shown = ", ".join(nodes[:5]) + (f" (+{len(nodes) - 5} more)" if len(nodes) > 5 else "")
                problems.append({"kind": kind, "nodes": nodes, "message": f"{message}: {shown}"})

        by_op = collections.defaultdict(list)
        for name in needed:
            by_op[self.index[name].op].append(name)
        add("not_frozen", [n for op in VARIABLE_OPS for n in by_op.get(op, [])],
            "variables remain (the graph is not frozen); run 'graphtools freeze'")
        add("stochastic", [n for op in STOCHASTIC_OPS for n in by_op.get(op, [])],
            "random ops on the path to the outputs make results random (dropout?); strip them with "
            "'graphtools strip --remove dropout'")
        training_bn = [n for op in ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3") for n in by_op.get(op, [])
                       if self.index[n].attr["is_training"].b]
        add("training_batchnorm", training_bn,
            "batch norm in training mode uses batch statistics; strip with '--remove batchnorm'")
        add("training_ops", [n for n in needed if is_training_op(self.index[n])],
            "training-only ops on the path to the outputs; strip with '--remove training'")
        add("debug_ops", [n for op in DEBUG_OPS for n in by_op.get(op, [])],
            "debug ops (Assert/CheckNumerics/Print) are not supported by TFLite; strip with '--remove debug'")
        add("quantize_leftovers", [n for op in QUANTIZE_LEFTOVER_OPS for n in by_op.get(op, [])],
            "graph-transform quantization leftovers (Dequantize/QuantizeV2) are rejected by the TFLite "
            "converter; convert the float graph and use '--quantize' instead")
        flags = [i for i in inputs if i["role"] == "training_flag" and not i["optional"]]
        add("unfed_placeholders", [i["name"] for i in flags],
            "training-flag placeholders have no default and would become model inputs; bind them "
            "(--bind keep_prob=1.0 --bind is_training=false) or strip dropout")
        fns = {f.signature.name for f in self.graph_def.library.function}
        from .loops import TENSOR_ARRAY_OPS

        lowered = {"TensorArrayV3", "TensorArrayScatterV3", "TensorArrayReadV3", "TensorArrayWriteV3",
                   "TensorArrayGatherV3", "TensorArraySizeV3", "TensorArrayCloseV3"}
        arrays = [n for op in TENSOR_ARRAY_OPS for n in by_op.get(op, [])]
        if arrays and all(self.index[n].op in lowered for n in arrays):
            problems.append({"kind": "recurrent_loops", "nodes": sorted(arrays), "message":
                             f"v1 while loops over TensorArrays ({len(arrays)} TensorArray ops): convert unrolls them "
                             f"where the input shapes fix the trip count, else makes them TFLite WHILE loops (--rnn "
                             f"unroll|while to choose)"})
        from .list_loops import list_loops

        lists = [n for n in needed if self.index[n].op in LIST_OPS] if list_loops(self.graph_def) else []
        if lists:
            problems.append({"kind": "recurrent_loops", "nodes": sorted(lists), "message":
                             f"functional while loops over TensorLists ({len(lists)} TensorList ops): convert drops "
                             f"the gradient accumulators a v1 graph gave them and fixes the batch in their element "
                             f"shapes (a TFLite WHILE)"})
        add("unsupported_ops", [f"{n} ({self.index[n].op})" for n in needed if self.index[n].op not in TFLITE_CONVERTIBLE
                                and self.index[n].op not in fns and not is_training_op(self.index[n])
                                and not (lists and self.index[n].op in LIST_OPS)
                                and not (self.index[n].op in lowered and len(arrays) == sum(
                                    self.index[a].op in lowered for a in arrays))
                                and self.index[n].op not in VARIABLE_OPS | DEBUG_OPS | QUANTIZE_LEFTOVER_OPS],
            "ops TFLite has no builtin for; convert with --select-tf-ops (Flex) or --allow-custom-ops, or "
            "--cut the part that needs them")
        for i in inputs:
            if i["role"] == "data" and i["shape"] is not None:
                clash = self.rank_clash(i["name"], len(i["shape"]))
                if clash:
                    op_node, want = clash
                    problems.append({"kind": "input_rank", "nodes": [i["name"]], "message":
                                     f"input {i['name']} has rank {len(i['shape'])} ({format_shape(i['shape'])}) but "
                                     f"feeds {op_node}, which needs rank {want}: the converter will fail (\"requires "
                                     f"operands to be {want}D\"); give its real shape with --input-shapes"})
        add("unknown_shape", [i["name"] for i in inputs if not i["optional"] and i["role"] == "data"
                              and (i["shape"] is None or -1 in i["shape"][1:])],
            "inputs with unknown shape need --input-shapes when converting")
        return problems

    # ---------------------------------------------------------- sizes
    def parameters(self, names=None):
        """(count, bytes) of float/quantized non-scalar constants and variables, optionally among ``names``."""
        count = 0
        nbytes = 0
        for n in self.graph_def.node:
            if names is not None and n.name not in names:
                continue
            if n.op == "Const":
                t = n.attr["value"].tensor
                if t.dtype not in PARAM_DTYPES or not t.tensor_shape.dim:
                    continue  # scalars are hyperparameters (epsilon, keep_prob), not weights
                elems = _prod(d.size for d in t.tensor_shape.dim)
            elif n.op in VARIABLE_OPS:
                dt = n.attr["dtype"].type
                if dt not in PARAM_DTYPES:
                    continue
                shape = n.attr["shape"].shape
                if shape.unknown_rank:
                    continue
                elems = _prod(max(d.size, 0) for d in shape.dim)
                t = None
            else:
                continue
            count += elems
            nbytes += elems * PARAM_DTYPES[(t.dtype if t is not None else n.attr["dtype"].type)]
        return count, nbytes


# DataType enum values (types.proto) that hold model weights -> bytes per element.
PARAM_DTYPES = {1: 4, 2: 8, 19: 2, 14: 2, 11: 1, 12: 1, 13: 4, 15: 2, 16: 2, 101: 4, 102: 8, 119: 2, 114: 2}


def _prod(it):
    out = 1
    for v in it:
        out *= v
    return out


def dtype_name(enum_value):
    from .protos import dtype_name

    return dtype_name(enum_value)


def shape_of(shape_proto):
    """TensorShapeProto -> list of ints (-1 unknown) or None for unknown rank."""
    if shape_proto.unknown_rank:
        return None
    return [d.size for d in shape_proto.dim]


def placeholder_shape(node, producer=None):
    """A placeholder's static shape by TensorFlow's own rules: None for unknown rank.

    Graphs of producer version 21 and older (TF 1.0/1.1) store an unconstrained placeholder as
    ``shape {}``, which TensorFlow reads as unknown, not as a scalar; their ``_output_shapes``, when
    written, often holds the real static shape.
    """
    declared = shape_of(node.attr["shape"].shape) if "shape" in node.attr else None
    legacy = producer is not None and producer <= 21 and declared == []
    if "shape" in node.attr and not legacy:
        return declared
    if "_output_shapes" in node.attr and node.attr["_output_shapes"].list.shape:
        recorded = shape_of(node.attr["_output_shapes"].list.shape[0])
        if not (legacy and recorded == []):
            return recorded
    return None


def describe_placeholder(node, producer=None):
    shape = placeholder_shape(node, producer)
    dtype = dtype_name(node.attr["dtype"].type)
    scalarish = shape is None or shape == []
    is_flag = scalarish and (dtype == "bool" or bool(FLAG_NAME.search(node.name)))
    return {"name": node.name, "dtype": dtype, "shape": shape,
            "optional": node.op == "PlaceholderWithDefault",
            "role": "training_flag" if is_flag else "data"}


def named_inputs(described, names, op_of, outputs):
    """``described`` (``discover_inputs``'s list) in the order of ``names``, then the others.

    Each named input must be a placeholder the outputs read, else an InputError says what it is
    (a tensor inside the graph becomes an input with ``strip --cut``).
    """
    by_name = {i["name"]: i for i in described}
    outs = ", ".join(outputs)
    for name in names:
        if name in by_name:
            continue
        op = op_of.get(name)
        if op is None:
            raise NodeNotFoundError(name, list(by_name) or list(op_of), what="--inputs node",
                                    where=f"the graph the outputs {outs} read")
        if op in ("Placeholder", "PlaceholderV2", "PlaceholderWithDefault"):
            raise InputError(f"--inputs {name}: the outputs {outs} do not read it; drop it, or name the outputs "
                             f"that do with --outputs")
        raise InputError(f"--inputs {name}: is a {op}, not a placeholder; the graph's own inputs are its "
                         f"placeholders -- make this one an input with graphtools strip --cut {name}:DTYPE:SHAPE")
    return [by_name[n] for n in dict.fromkeys(names)] + [i for i in described if i["name"] not in names]


def op_histogram(graph_def):
    return dict(collections.Counter(n.op for n in graph_def.node).most_common())


def format_shape(shape):
    if shape is None:
        return "<unknown rank>"
    return "[" + ",".join("?" if d < 0 else str(d) for d in shape) + "]"


def diff(a, b):
    """What changed from GraphDef ``a`` to ``b``: nodes removed, added and rewired, op and size deltas."""
    na = {n.name: n for n in a.node}
    nb = {n.name: n for n in b.node}
    removed = [n for n in na if n not in nb]
    added = [n for n in nb if n not in na]
    rewired = [n for n in na if n in nb and list(na[n].input) != list(nb[n].input)]
    retyped = [n for n in na if n in nb and na[n].op != nb[n].op]
    ha, hb = op_histogram(a), op_histogram(b)
    ops = {op: hb.get(op, 0) - ha.get(op, 0) for op in set(ha) | set(hb)}
    pa, ba = GraphAnalysis(a).parameters()
    pb, bb = GraphAnalysis(b).parameters()
    return {"nodes": [len(na), len(nb)], "removed": removed, "added": added, "rewired": rewired,
            "retyped": retyped, "op_delta": {k: v for k, v in sorted(ops.items()) if v},
            "parameters": [pa, pb], "parameter_bytes": [ba, bb], "size_bytes": [a.ByteSize(), b.ByteSize()]}
