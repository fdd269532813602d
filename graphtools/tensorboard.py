"""TensorBoard event files written straight from a GraphDef (no TensorFlow needed).

One run per stage: ``--logdir logs/freeze`` holds one event file; a re-run replaces the event
file graphtools wrote there before instead of mixing two graphs in one run.
"""
import glob
import logging
import os
import time

log = logging.getLogger(__name__)
SUFFIX = ".graphtools"


def _writer(logdir):
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    os.makedirs(logdir, exist_ok=True)
    return EventFileWriter(logdir, filename_suffix=SUFFIX)


def previous_event_files(logdir):
    return sorted(glob.glob(os.path.join(glob.escape(logdir), "events.out.tfevents.*" + SUFFIX)))


def write_graph(logdir, graph_def, text=None):
    """Write ``graph_def`` (a GraphDef or its bytes) as the graph of the run ``logdir``.

    ``text``: optional {tag: markdown} shown in TensorBoard's Text tab. Returns
    (event_file_path, replaced_files) so the caller can say what it replaced.
    """
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboard.compat.proto.types_pb2 import DT_STRING

    data = graph_def if isinstance(graph_def, bytes) else graph_def.SerializeToString()
    old = previous_event_files(logdir)
    w = _writer(logdir)
    try:
        now = time.time()
        w.add_event(event_pb2.Event(wall_time=now, step=0, graph_def=data))
        for tag, body in (text or {}).items():
            meta = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text"))
            tensor = TensorProto(dtype=DT_STRING, string_val=[body.encode("utf-8")],
                                 tensor_shape=TensorShapeProto())
            summ = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=tensor)])
            w.add_event(event_pb2.Event(wall_time=now, step=0, summary=summ))
        w.flush()
        path = w.get_logdir() and _newest(logdir, old)
    finally:
        w.close()
    for f in old:
        if f != path:
            os.remove(f)
    if old:
        log.info("replaced %d earlier graphtools event file(s) in %s", len(old), logdir)
    return path, old


def _newest(logdir, old):
    files = [f for f in previous_event_files(logdir) if f not in old]
    return max(files, key=os.path.getmtime) if files else None


def read_graph(logdir):
    """Return the GraphDef bytes TensorBoard would show for the run ``logdir`` (via its own reader)."""
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(logdir, size_guidance={event_accumulator.GRAPH: 1})
    acc.Reload()
    return acc.Graph()
