"""GraphAnalysis, part one: what in a graph is training (optimizer, saver, summaries, the loss and what
feeds only it), where labels and training flags enter, and which batch statistics a batch norm uses."""
import logging

import networkx as nx
import numpy as np
from .describe import product
from .graph import node_name
from .heuristics import LABEL_NAME, LOSS_SCOPE, is_training_op
from .ops import (INPUT_PIPELINE_OPS, INT_TYPES, LABEL_ARGS, LABEL_PLUMBING, LIGHT_OPS, NON_OUTPUT_OPS, OP_RANK,
                  POST_PROCESSING, PROBABILITY_PLUMBING, RANK_PRESERVING_OPS, STOCHASTIC_OPS, VARIABLE_OPS)

log = logging.getLogger(__name__)


class TrainingParts:
    """Methods of :class:`graphtools.core.analysis.GraphAnalysis` (a mixin: ``self`` is the analysis)."""

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
                return len(dims) >= 1 and product(d.size for d in dims) > 1 and node.attr["dtype"].type not in INT_TYPES
            if node.op not in ("Identity", "ReadVariableOp", "Enter"):
                return False
            ins = self.graph.data_inputs(node.name)
            node = self.index.get(node_name(ins[0])) if ins else None
        return False


# ops that compute a layer of the model (a loss's own arithmetic does not use them)
LAYER_OPS = {"MatMul", "BatchMatMul", "BatchMatMulV2", "Conv2D", "DepthwiseConv2dNative", "Conv3D", "BiasAdd",
             "Softmax", "Sigmoid", "Tanh", "FusedBatchNorm", "FusedBatchNormV3", "Conv2DBackpropInput"}
