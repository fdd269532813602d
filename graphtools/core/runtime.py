"""Run a GraphDef in a tf.compat.v1 Session: the one place graphs are executed."""
import logging

import numpy as np

from .. import guard
from ..errors import InputError, NodeNotFoundError
from .graph import node_name

log = logging.getLogger(__name__)


class RunError(InputError):
    """TensorFlow refused to run a graph; ``internal``: not a bad feed but a graph it cannot execute
    (Internal, Unimplemented: e.g. fetching a tensor inside a v1 while loop)."""

    def __init__(self, message, internal=False):
        super().__init__(message)
        self.internal = internal


def tensor_name(name):
    return name if ":" in name else name + ":0"


def import_graph(graph_def, path="<graph>"):
    """Import ``graph_def`` into a new tf.Graph; raise InputError when TensorFlow rejects it."""
    from .._tf import tf

    tf = tf()
    from .protos import as_tf

    graph_def = as_tf(graph_def)  # (read before TensorFlow was imported: of TensorBoard's proto class)
    g = tf.Graph()
    with g.as_default():
        try:
            tf.compat.v1.import_graph_def(graph_def, name="")
        except (ValueError, tf.errors.OpError, TypeError, KeyError) as e:
            first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise InputError(f"{path}: TensorFlow cannot load this graph ({first}); re-export it or check the "
                             f"TensorFlow version it needs")
    return g


def session_config():
    """Two threads, and no Grappler: graphs run exactly as written (the reference for checks and
    comparisons), and Grappler's rewrites, superlinear in graph size, cost more than the run itself
    on large graphs (13k nodes: 3.0 s with, 1.05 s without)."""
    from .._tf import tf

    config = tf().compat.v1.ConfigProto(inter_op_parallelism_threads=2, intra_op_parallelism_threads=2)
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    return config


def run_graph(graph_def, feeds, fetches, path="<graph>"):
    """Run ``fetches`` (node or tensor names) with ``feeds`` ({name: array}); return a list of arrays."""
    with GraphRunner(graph_def, path) as runner:
        return runner.run(feeds, fetches)


class GraphRunner:
    """One import and one session for several runs of the same graph (importing a 200k-node graph
    costs seconds: never once per fetch)."""

    def __init__(self, graph_def, path="<graph>"):
        self.graph_def, self.path, self.sess = graph_def, path, None

    def _open(self):  # on first run: a runner that is never used costs nothing
        from .._tf import tf

        from .layout import runnable_on_cpu

        self.tf = tf()
        graph_def, self.moved = runnable_on_cpu(self.graph_def)  # (GPU exports: pinned devices, NCHW ops)
        self.g = import_graph(graph_def, self.path)
        self.names = {op.name for op in self.g.get_operations()}
        self.sess = self.tf.compat.v1.Session(graph=self.g, config=session_config())

    def run(self, feeds, fetches):
        if self.sess is None:
            self._open()
        for n in list(feeds) + list(fetches):
            if node_name(n) not in self.names:
                raise NodeNotFoundError(node_name(n), self.names, where=self.path)
        feed_dict = {self.g.get_tensor_by_name(tensor_name(k)): v for k, v in feeds.items()}
        fetch_t = [self.g.get_tensor_by_name(self.moved.get(tensor_name(f), tensor_name(f))) for f in fetches]
        guard.stage(f"running {self.path} (fed " + (", ".join(
            f"{k} {getattr(v, 'dtype', type(v).__name__)}{list(np.shape(v))}" for k, v in feeds.items()) or "nothing") + ")")
        try:
            out = self.sess.run(fetch_t, feed_dict)
        except ValueError as e:  # a feed the placeholder's static shape or dtype refuses, before anything runs
            raise RunError(f"{self.path}: {str(e).splitlines()[0][:200]}; give the shapes the graph declares with "
                           f"--input-shapes (graphtools inspect lists them)")
        except self.tf.errors.InvalidArgumentError as e:
            raise RunError(f"{self.path}: running the graph failed: {op_error_text(e)}; check input shapes and "
                           f"fed placeholders")
        except self.tf.errors.OpError as e:  # Internal, Unimplemented, ...: the graph itself cannot run
            raise RunError(f"{self.path}: TensorFlow cannot run the graph: {op_error_text(e)}", internal=True)
        return [np.asarray(o) for o in out]

    def static_shapes(self, names):
        """The static shape TensorFlow infers for each tensor (None for unknown rank, -1 per unknown dim)."""
        if self.sess is None:
            self._open()
        out = []
        for n in names:
            if node_name(n) not in self.names:
                raise NodeNotFoundError(node_name(n), self.names, where=self.path)
            shape = self.g.get_tensor_by_name(self.moved.get(tensor_name(n), tensor_name(n))).shape
            out.append(None if shape.rank is None else [-1 if d is None else int(d) for d in shape.as_list()])
        return out

    def close(self):
        if self.sess is not None:
            self.sess.close()
            self.sess = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def op_error_text(e):
    """The informative line of a TensorFlow OpError (not 'Graph execution error:'), with its node."""
    lines = [ln.strip() for ln in (getattr(e, "message", None) or str(e)).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("Graph execution error", "Detected at node", "Traceback", "Node:",
                                                      "[[", "Original stack trace", "File \""))]
    text = lines[0][:200] if lines else type(e).__name__
    op = getattr(e, "op", None)
    name = getattr(op, "name", None)
    return f"{text} (node {name})" if name and name not in text else text


def run_tf_batched(graph_def, feeds, outputs, batch=512, whole=False, fixed_batch=None):
    """Run the graph over N samples in batches (the graph's own batch size when it fixes one).

    ``whole``: each sample is a whole input tensor (``feeds[k][i]`` has the input's full fixed shape:
    a graph whose fixed first dimension is not a batch, as in char-rnn's [10, 10] ids giving [100, 57]).
    ``fixed_batch``: the batch the graph fixes (Signature.batch); runs then take that many samples,
    the last batch padded.
    """

    if whole:
        n = len(next(iter(feeds.values())))
        with GraphRunner(graph_def, path="the TF graph") as runner:
            runs = [runner.run({k: v[i] for k, v in feeds.items()}, outputs) for i in range(n)]
        return [np.stack([r[j] for r in runs]) for j in range(len(outputs))]
    fixed = fixed_batch
    step = fixed or batch
    n = len(next(iter(feeds.values())))
    results = [[] for _ in outputs]

    with GraphRunner(graph_def, path="the TF graph") as runner:
        try:
            for start in range(0, n, step):
                chunk = {k: v[start:start + step] for k, v in feeds.items()}
                real = len(next(iter(chunk.values())))
                if fixed and real < step:  # a graph with a fixed batch gets a padded last batch
                    chunk = {k: np.concatenate([v, np.repeat(v[-1:], step - real, 0)]) for k, v in chunk.items()}
                for r, o in zip(results, runner.run(chunk, outputs)):
                    if not fixed and (np.ndim(o) == 0 or len(o) < real):
                        raise _NoBatchAxis()  # (out[0], a Reshape to [784]: the batch does not flow through)
                    r.append(o[:real])
        except RunError as e:
            if e.internal or fixed or step == 1 or n == 1:
                raise
            log.info("the TF graph does not run at batch %d (%s): one sample at a time", min(step, n), e)
            results = _one_at_a_time(runner, feeds, outputs, n)
        except _NoBatchAxis:
            log.info("an output of the TF graph has no batch axis: one sample at a time")
            results = _one_at_a_time(runner, feeds, outputs, n)
    return [np.concatenate(r) for r in results]


def _one_at_a_time(runner, feeds, outputs, n):
    """A graph that runs at batch 1 only (a Reshape to [784], a constant [1, -1] inside) or whose outputs drop
    the batch: one sample per run, each output given a batch axis where it has none."""
    results = [[] for _ in outputs]
    for i in range(n):
        for r, o in zip(results, runner.run({k: v[i:i + 1] for k, v in feeds.items()}, outputs)):
            r.append(per_sample(o))
    return results


class _NoBatchAxis(Exception):
    """A batched run gave an output without the batch (``out[0]``, a Reshape to [784])."""


def per_sample(value):
    """One sample's output as a batch of one: kept as is when its first axis is that batch, else (an output
    with no batch axis, e.g. a Reshape to [784]) given one."""
    value = np.asarray(value)
    return value if value.ndim and value.shape[0] == 1 else value[None]
