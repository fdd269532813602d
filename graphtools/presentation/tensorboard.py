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


STRIP_RUNS = ("before", "after")  # the runs strip writes below its --logdir


def clear_nested(logdir):
    """Remove graphtools' event files of strip's runs below ``logdir`` (a stale 'optimized/before'
    beside a new 'optimized')."""
    for run in STRIP_RUNS:
        for f in previous_event_files(os.path.join(logdir, run)):
            os.remove(f)


def clear_own(logdir):
    """Remove graphtools' event files of the run ``logdir`` itself (before writing runs below it)."""
    for f in previous_event_files(logdir):
        os.remove(f)


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
    clear_nested(logdir)  # one layout: a run never holds stale runs of ours below it (strip's before/after)
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


def write_comparison(logdir, graph_def, report, data=None):
    """The comparison as TensorBoard text (one table per model), scalars (one per metric) and, for image
    inputs (``data``: {input: array}), a strip of the worst disagreements per model."""
    from tensorboard.compat.proto import summary_pb2

    tables = {}
    scalars = []
    for k, m in enumerate(report["models"]):
        rows = []
        for name, o in m["outputs"].items():
            rows.append(f"| {name} | {o['max_abs_diff']:.4g} | {o['mean_abs_diff']:.4g} | {o['cosine_similarity']:.6f} "
                        f"| {o.get('top1_agreement', '-')} | {o.get('accuracy', '-')} |")
            for metric in ("max_abs_diff", "mean_abs_diff", "cosine_similarity", "top1_agreement", "accuracy"):
                if metric in o:
                    scalars.append((f"{os.path.basename(m['model'])}/{name}/{metric}", float(o[metric])))
        scalars.append((f"{os.path.basename(m['model'])}/latency_ms_per_sample", float(m["latency_ms_per_sample"])))
        tables[f"compare/{os.path.basename(m['model'])}"] = (
            f"{m['model']}: {m['size_bytes']} bytes, {m['operators']} ops, {m['latency_ms_per_batch']} ms per batch of "
            f"{m['batch']}\n\n| output | max abs diff | mean abs diff | cosine | top-1 agreement | accuracy |\n"
            f"|---|---|---|---|---|---|\n" + "\n".join(rows))
    path, old = write_graph(logdir, graph_def, text=tables)
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    images = []
    data = data or {}
    if len(data) == 1:
        x = next(iter(data.values()))
        for m in report["models"]:
            for name, o in m["outputs"].items():
                png = _grid_png(x, [w["index"] for w in o.get("worst", [])])
                if png is not None:
                    images.append((f"worst/{os.path.basename(m['model'])}/{name}", png))
    w = EventFileWriter(logdir, filename_suffix=".scalars" + SUFFIX)
    try:
        values = [summary_pb2.Summary.Value(tag=t, simple_value=v) for t, v in scalars]
        for tag, (png, h, wd) in images:
            values.append(summary_pb2.Summary.Value(tag=tag, image=summary_pb2.Summary.Image(
                height=h, width=wd, colorspace=1, encoded_image_string=png)))
        summ = summary_pb2.Summary(value=values)
        w.add_event(event_pb2.Event(wall_time=time.time(), step=0, summary=summ))
    finally:
        w.close()
    return path


def _grid_png(x, indices, cell=64):
    """A row of the given samples as a grey PNG (image-like inputs only): (bytes, height, width) or None."""
    import io as _io

    import numpy as np

    if not indices or x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)):
        return None
    try:
        from PIL import Image
    except ImportError:
        return None
    tiles = []
    for i in indices:
        img = x[i][..., 0] if x.ndim == 4 and x.shape[-1] == 1 else x[i]
        if img.ndim == 3:
            img = img.mean(-1)
        lo, hi = float(img.min()), float(img.max())
        img = ((img - lo) / (hi - lo + 1e-12) * 255).astype(np.uint8)
        tiles.append(np.asarray(Image.fromarray(img).resize((cell, cell), Image.NEAREST)))
    grid = np.concatenate(tiles, axis=1)
    buf = _io.BytesIO()
    Image.fromarray(grid).save(buf, format="PNG")
    return buf.getvalue(), grid.shape[0], grid.shape[1]
