"""Read-only analyses of a GraphDef (networkx underneath): what is training, what are the
real inputs and outputs, op histogram, parameter count, and what will block conversion.

``GraphAnalysis`` is one object per graph that computes each fact once; its methods live in three
modules: this one (the graph views, reachability, conversion blockers, parameters, ``diff``),
``training_parts`` (training regions, labels, flags, batch statistics) and ``endpoints`` (ranked
outputs, data inputs, fixed batch, id ranges). ``describe`` holds the plain helpers (dtype names,
shapes, placeholders, the op histogram).
"""
import collections
import logging

import networkx as nx

from .describe import PARAM_DTYPES, format_shape, op_histogram, product
from .endpoints import Endpoints
from .graph import Graph, node_name
from .heuristics import is_training_op
from .ops import DEBUG_OPS, QUANTIZE_LEFTOVER_OPS, STOCHASTIC_OPS, TFLITE_CONVERTIBLE, VARIABLE_OPS
from .training_parts import TrainingParts

log = logging.getLogger(__name__)


# TensorList ops the converter lowers inside (and around) a functional While
LIST_OPS = {"TensorListReserve", "EmptyTensorList", "TensorListFromTensor", "TensorListStack", "TensorListGetItem",
            "TensorListSetItem", "TensorListPushBack", "TensorListLength", "TensorListElementShape",
            "TensorListGather", "TensorListPopBack", "TensorListResize"}


class GraphAnalysis(TrainingParts, Endpoints):
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
        from .ops import TENSOR_ARRAY_OPS

        lowered = {"TensorArrayV3", "TensorArrayScatterV3", "TensorArrayReadV3", "TensorArrayWriteV3",
                   "TensorArrayGatherV3", "TensorArraySizeV3", "TensorArrayCloseV3"}
        arrays = [n for op in TENSOR_ARRAY_OPS for n in by_op.get(op, [])]
        if arrays and all(self.index[n].op in lowered for n in arrays):
            problems.append({"kind": "recurrent_loops", "nodes": sorted(arrays), "message":
                             f"v1 while loops over TensorArrays ({len(arrays)} TensorArray ops): convert unrolls them "
                             f"where the input shapes fix the trip count, else makes them TFLite WHILE loops (--rnn "
                             f"unroll|while to choose)"})
        from .ops import list_loops

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
                elems = product(d.size for d in t.tensor_shape.dim)
            elif n.op in VARIABLE_OPS:
                dt = n.attr["dtype"].type
                if dt not in PARAM_DTYPES:
                    continue
                shape = n.attr["shape"].shape
                if shape.unknown_rank:
                    continue
                elems = product(max(d.size, 0) for d in shape.dim)
                t = None
            else:
                continue
            count += elems
            nbytes += elems * PARAM_DTYPES[(t.dtype if t is not None else n.attr["dtype"].type)]
        return count, nbytes


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
