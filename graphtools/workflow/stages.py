"""The whole job in one call: freeze -> strip -> audit -> convert (every mode) -> compare."""
import json
import logging
import os
import time

import numpy as np

from ..errors import InputError
from .config import PipelineConfig

log = logging.getLogger(__name__)


from ..core.io import fixture_dir  # noqa: E402,F401 (the bundled fixture; re-exported)


def run_pipeline(config, progress=None):
    """Run every stage ``config`` (a :class:`PipelineConfig`) asks for, write OUT/{frozen.pb, optimized.pb,
    model*.tflite, report.json, report.html} and one TensorBoard run per stage under its ``logdir``; return
    the report (also written as report.json). ``progress``: called with one line per step.

    Every stage works in memory and the files are written only once all of them succeeded, so a
    failure leaves no partial output (and the previous run's files untouched). The output directory is
    locked for the whole run: a second pipeline on the same directory refuses instead of mixing files.
    """
    from ..core import io

    if not isinstance(config, PipelineConfig):
        raise InputError(f"run_pipeline takes a PipelineConfig, not {type(config).__name__}; build one with "
                         f"PipelineConfig(ckpt=..., ...) or call graphtools.pipeline(ckpt=..., ...)")
    with io.DirLock(config.out_dir):
        return _run_pipeline(config, progress)


def pipeline(config=None, progress=None, **options):
    """``graphtools.pipeline``: a :class:`PipelineConfig`, or the same options as keywords (``ckpt=``,
    ``outputs=``, ``quantize=``, ``data=``, ...; older names such as ``output_nodes=`` accepted; a string
    first argument is the checkpoint)."""
    if isinstance(config, str):  # (the checkpoint, as the first argument always was)
        config, options = None, dict(options, ckpt=config)
    if config is None:
        config = PipelineConfig.from_options(**options)
    elif options:
        raise InputError(f"pipeline: give a PipelineConfig or keyword options, not both ({', '.join(options)})")
    return run_pipeline(config, progress)


def _run_pipeline(c, progress):
    ckpt, output_nodes, bind = c.ckpt, c.outputs, c.bind  # (the fixture's, an export's, and what is read)
    from ..conversion import converter as conversion
    from ..core import io, tflite
    from ..presentation import tensorboard
    from ..core.describe import op_histogram
    from ..verification.comparison import LiteModel, NeedsFlexError, compare, labels_for
    from ..core.data import load_samples
    from ..sources.freezing import freeze
    from ..surgery.stripping import bound_json

    from ..conversion.quantize import parse

    modes = parse(c.quantize)
    say = progress or (lambda msg: None)
    if not (ckpt or c.graph or c.saved_model or c.keras):
        fx = fixture_dir()
        ckpt = os.path.join(fx, "digits_cnn", "model.ckpt")
        output_nodes = output_nodes or "prediction"
        source = "bundled fixture (TF1 CNN on scikit-learn digits)"
        data_arrays = label_array = calibration = None
        if c.data is None:  # its own digits, unless the user gave data
            d = np.load(os.path.join(fx, "digits.npz"))
            data_arrays, label_array = {"x": d["x_test"]}, (None if c.labels else d["y_test"])
            calibration = {"x": d["x_train"][:c.calibration_samples]}
    else:
        data_arrays = label_array = calibration = None
        source = ckpt or c.graph or c.saved_model or c.keras
    stages, t0 = [], time.perf_counter()
    replaced = [run for run in ("freeze", "optimized", "tflite", "compare")
                if c.logdir and tensorboard.previous_event_files(os.path.join(c.logdir, run))]

    from ..conversion import detection
    from ..core.exports import names_part_of_export
    from ..core.graph import node_name
    from ..presentation import detection_page
    from ..verification import detection_match

    named_outputs = output_nodes
    say("[1/5] freeze")  # (a detection export with no --outputs: freeze takes its four, core.exports)
    fz = freeze(ckpt=ckpt, meta=c.meta, graph=c.graph, saved_model=c.saved_model, tags=c.tags, keras=c.keras,
                output_nodes=output_nodes, allow_unsafe_ops=c.allow_unsafe_ops)
    if names_part_of_export(fz.graph_def, [node_name(o) for o in fz.outputs] if named_outputs else None):
        raise InputError(f"an Object Detection API export's outputs {', '.join(detection.OUTPUTS)} come from one "
                         f"post-processing op: name all four, or none")
    frozen_path = os.path.join(c.out_dir, "frozen.pb")
    frozen_bytes = io.graph_def_bytes(fz.graph_def)
    stages.append(_stage("freeze", frozen_path, fz.graph_def, op_histogram, len(frozen_bytes)))

    if fz.initialized:  # (a Saver(var_list=...) that left the moving statistics out)
        say(f"  {len(fz.initialized)} variables the outputs read are not in the checkpoint "
            f"({', '.join(fz.initialized[:3])}{', ...' if len(fz.initialized) > 3 else ''}): their initial values "
            f"are used, as code that ran the initializers before restoring used them")
    unread = [b for b in (bind or {}) if b in fz.unread]
    if unread:  # (an app feeds keep_prob to every model it runs; these outputs do not read it)
        say(f"  --bind {', '.join(unread)}: the outputs {', '.join(fz.outputs)} do not read it; nothing to bind")
        bind = {k: v for k, v in bind.items() if k not in unread}
    ssd = _detector(fz, c.input_shapes, say, named_outputs)
    say("[2/5] strip")
    strip_args = dict(inputs=c.inputs, outputs=fz.outputs, bind=bind, cut=c.cut, splice=c.splice, verify=c.verify,
                      rtol=c.rtol, atol=c.atol, input_shapes=c.input_shapes, allow_unsafe_ops=c.allow_unsafe_ops,
                      allow_leftovers=c.allow_leftovers)
    stripped = fz.graph_def
    if ssd is not None:  # strip and check the network up to its raw outputs; the post-processing is replaced
        stripped = detection.backbone(fz.graph_def, ssd)
        strip_args.update(inputs=[ssd.image], outputs=detection.backbone_outputs(ssd),
                          input_shapes={ssd.image: ssd.image_shape})
    sr, conservative = _strip_or_conservative(stripped, list(c.remove or []), strip_args, say)
    opt_path = os.path.join(c.out_dir, "optimized.pb")
    opt_bytes = io.graph_def_bytes(sr.graph_def)
    stages.append(_stage("strip", opt_path, sr.graph_def, op_histogram, len(opt_bytes)))
    sig = sr.signature  # resolved once, by strip, with the user's flags: every later stage uses it

    say("[3/5] audit")
    ins, outs, shapes = sig.names, list(sig.outputs), sig.shapes()
    from ..surgery.audit import audit as audit_graph

    audit = [b["message"] for b in audit_graph(sr.graph_def, ins, outs, shapes,  # the conversion's own
                                                skip=("recurrent_loops",))["problems"]
             if not (b.get("kind") == "training_batchnorm" and set(b.get("nodes", [])) <= set(sr.batch_statistics))]
    converted, lsig, loops = conversion.prepare_loops(sr.graph_def, sig, c.rnn, c.select_tf_ops)  # once, for every mode
    if ssd is not None:
        checked_net, lsig_net = converted, lsig
        converted = detection.tflite_form(converted, ssd, fz.graph_def)
        # integer models: the raw encodings, anchors and scales (small numbers that keep 8-bit precision)
        converted_int = (detection.tflite_form(checked_net, ssd, fz.graph_def, encodings=True)
                         if not isinstance(ssd, detection.Exported) and {"int8", "int16x8"} & set(modes) else None)
        outs = detection.output_names(ssd)
        lsig = conversion.resolve_signature(converted, [ssd.image], outs, {ssd.image: ssd.image_shape})
        ins, shapes = [ssd.image], {ssd.image: ssd.image_shape}
    if data_arrays is None and c.data:
        data_arrays = load_samples(c.data, ins, shapes, scale=c.scale, mean=c.mean, std=c.std)
        calibration = {k: v[:c.calibration_samples] for k, v in data_arrays.items()}
    if c.labels or c.data:
        label_array = labels_for(c.data, c.labels)
    from ..conversion import quantize as quant

    modes, skipped = quant.split_by_data(modes, calibration is not None)

    say(f"[4/5] convert: {', '.join(modes)}")
    models = []
    base = os.path.join(c.out_dir, "model.tflite")
    replayed = None
    if c.recipe is not None and c.recipe["mode"] not in modes:
        modes = list(modes) + [c.recipe["mode"]]
    for mode in modes:
        if c.recipe is not None and mode == c.recipe["mode"]:
            from ..verification import budget

            model, identical = budget.replay(converted, c.recipe, data_arrays, lsig)
            replayed = {"file": c.recipe.get("file"), "mode": mode, "float_ops": c.recipe["float_ops"],
                        "identical": identical}
        else:
            form = converted_int if ssd is not None and converted_int is not None and mode in ("int8", "int16x8") \
                else converted
            model = conversion.convert(form, quantize=mode, representative_data=calibration,
                                       select_tf_ops=c.select_tf_ops, allow_custom_ops=c.allow_custom_ops,
                                       signature=lsig)
        models.append((mode, conversion.output_path(base, mode), model))

    say("[5/5] compare")
    runnable, not_compared = [], []
    for _, p, b in models:
        try:
            runnable.append(LiteModel(b, name=p))
        except NeedsFlexError as e:  # written, but nothing here can run it
            not_compared.append({"model": p, "why": str(e).split(": ", 1)[1]})
    if isinstance(ssd, detection.Exported):  # TF has no kernel for the op: the network before it is compared
        net = LiteModel(conversion.convert(checked_net, signature=lsig_net), name=f"the network before {ssd.op}")
        cmp = compare(sr.graph_def, [net], data_arrays, None, batch=512, allow_unsafe_ops=c.allow_unsafe_ops,
                      signature=sig)
        cmp["note"] = (f"{ssd.op} is LiteRT's own op (TensorFlow has no kernel for it): the network before it, "
                       f"converted alone, is compared with TensorFlow")
    elif ssd is not None:  # TensorFlow's detections (the export as it is) matched with each model's
        images = (detection.as_images(data_arrays[ssd.image], c.data) if data_arrays else
                  np.random.RandomState(0).randint(0, 256, [8] + ssd.image_shape[1:]).astype(np.uint8))
        cmp = detection_match.compare(fz.graph_def, [(m.name, m) for m in runnable], images) if runnable else None
        detection_runs = cmp.pop("_runs") if cmp is not None else None
        if cmp is not None:
            cmp["data"] = str(c.data) if data_arrays else "random uint8 images (seed 0, 8 images)"
    else:
        cmp = (compare(sr.graph_def, runnable, data_arrays, label_array, batch=512,
                       allow_unsafe_ops=c.allow_unsafe_ops, signature=sig) if runnable else None)
    from ..verification.verdict import apply as judge

    if cmp is not None:  # ship / check / do not ship, per model, and the smallest that ships
        judge(cmp, c.gates)
    report = {
        "source": source, "inputs": ins, "outputs": outs, "input_shapes": shapes, "stages": stages,
        "recommended": cmp.get("recommended") if cmp else None,
        "strip": {"bound": bound_json(sr.bound),
                  "verified": bool(sr.equivalence and sr.equivalence.checked),
                  "passes": [{"pass": p.name, "round": p.round, "rewrites": p.rewrites, "removed": len(p.removed),
                              "pruned": p.pruned, "ops_delta": p.ops_delta, "removed_nodes": list(p.removed[:20])}
                             for p in sr.passes],
                  "equivalence": dict(sr.equivalence.outputs) if sr.equivalence else {},
                  "equivalence_note": sr.equivalence.note if sr.equivalence else ""},
        "audit": audit, "compare": cmp, "seconds": round(time.perf_counter() - t0, 2),
        "rnn": loops, "recipe": replayed, "input_pipeline_cuts": fz.cuts, "conservative": conservative,
        "detector": ssd.as_dict() if ssd is not None else None,
        "unread_binds": unread, "batch_statistics_kept": sr.batch_statistics, "initial_values": fz.initialized,
        "data": {"path": c.data or ("fixture" if source.startswith("bundled fixture") else None),
                 "scale": c.scale, "mean": c.mean, "std": c.std},
        "replaced_runs": replaced, "skipped_modes": skipped, "not_compared": not_compared,
        "files": [frozen_path, opt_path] + [p for _, p, _ in models],
    }
    page = None
    if c.html_report and isinstance(ssd, detection.Exported) or c.html_report and ssd is not None and cmp is None:
        report["report_html"] = None
        report["report_html_note"] = "report.html: not written for this detection model (report.json has the check)"
    elif c.html_report and ssd is not None:  # TF's and each model's boxes drawn on the images
        page = detection_page.render(report, images, detection_runs)
        report["files"].append(os.path.join(c.out_dir, "report.html"))
        report["report_html"] = os.path.join(c.out_dir, "report.html")
    elif c.html_report:  # (rendered in memory before anything is written, like every other output)
        from ..presentation.report import render

        try:
            page, _ = render(report, sr.graph_def, {os.path.basename(p): b for _, p, b in models}, fz.graph_def,
                             os.path.join(c.out_dir, "per_op"), c.data, c.labels, c.scale, c.mean, c.std)
            report["files"].append(os.path.join(c.out_dir, "report.html"))
            report["report_html"] = os.path.join(c.out_dir, "report.html")
        except Exception as e:  # noqa: BLE001 -- (matplotlib missing, say): the models are still good
            report["report_html"] = None
            report["report_html_note"] = f"report.html not written: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}"
    # every stage succeeded: now the files, each written atomically, and the TensorBoard runs, all of
    # them (Ctrl-C waits: never a half-replaced set)
    tflite_text = "\n".join(f"- {m}: `{p}` {len(b)} bytes, {tflite.summarize(b)['operators']} ops"
                            for m, p, b in models)
    with io.write_phase(f"{c.out_dir} and {c.logdir or 'no TensorBoard runs'}"):
        io.atomic_write(frozen_path, frozen_bytes)
        io.atomic_write(opt_path, opt_bytes)
        for _, path, model in models:
            io.atomic_write(path, model)
        if page is not None:
            io.atomic_write(os.path.join(c.out_dir, "report.html"), page)
        io.atomic_write(os.path.join(c.out_dir, "report.json"), json.dumps(report, indent=2, default=_plain) + "\n")
        if c.logdir:  # (--logdir '': no event files, as every stage)
            tensorboard.write_graph(os.path.join(c.logdir, "freeze"), fz.graph_def)
            tensorboard.write_graph(os.path.join(c.logdir, "optimized"), sr.graph_def)
            tensorboard.write_graph(os.path.join(c.logdir, "tflite"), sr.graph_def, text={"tflite/models": tflite_text})
            if cmp is not None and (ssd is None or isinstance(ssd, detection.Exported)):
                tensorboard.write_comparison(os.path.join(c.logdir, "compare"), sr.graph_def, cmp, data_arrays)
    return report


def _detector(fz, input_shapes, say, named_outputs=None):
    """The SSD a frozen Object Detection API export computes (``detection.SSD``), said in one line; None for
    any other model or when other outputs than the export's four were asked for (a SavedModel's signature
    may list more: its four are taken)."""
    from ..conversion import detection
    from ..core.signature import parse_shapes

    holds_op = any(n.op == detection.POSTPROCESS_OP for n in fz.graph_def.node)
    if not holds_op and not detection.is_export(fz.graph_def):
        return None  # (before reading --input-shapes: they are the model's, for every other graph)
    if isinstance(input_shapes, str):
        input_shapes = parse_shapes(input_shapes, [n.name for n in fz.graph_def.node
                                                              if n.op == "Placeholder"][:1])
    done = detection.exported(fz.graph_def, input_shapes)
    if done is not None:
        say(f"  {done.describe()}")
        return done
    asked = fz.outputs if named_outputs else detection.OUTPUTS
    if not set(asked) <= set(detection.OUTPUTS) or not detection.is_export(fz.graph_def):
        return None
    fz.outputs = list(detection.OUTPUTS)
    ssd = detection.recognise(fz.graph_def, input_shapes)
    say(f"  {ssd.describe()}")
    return ssd


# when graphtools' own rewrites misfire on a graph, the routes taken instead, most removed first: each still
# removes training behaviour (dropout, bound flags), and the verification decides
CONSERVATIVE = (["dropout", "training"], ["training"])


def _strip_or_conservative(graph_def, remove, args, say):
    """(StripResult, None) -- or, when a rewrite of strip breaks this graph (a loop it cannot rewrite, numbers
    that changed), (the StripResult of the first conservative route that verifies, one line saying what was
    kept and why). A problem of the user's flags or of the model itself is raised as it is."""
    from ..errors import PassError, RewriteError
    from ..surgery.stripping import passes_for, strip_report

    try:
        return strip_report(graph_def, remove=remove, **args), None
    except (RewriteError, PassError) as e:
        first = e
    asked = set(passes_for(remove)) if remove else set()
    for route in CONSERVATIVE:
        if set(passes_for(route)) >= asked:
            continue  # (not more conservative than what failed)
        try:
            sr = strip_report(graph_def, remove=route, **args)
        except (RewriteError, PassError):
            continue
        kept = sorted(asked - set(passes_for(route)))
        line = (f"kept the graph as frozen where {', '.join(kept)} would rewrite it: {str(first)[:160]}; "
                f"took --remove {','.join(route)} (verified)")
        say(f"  strip: {line}")
        return sr, line
    raise first


def _stage(name, path, gd, op_histogram, size):
    return {"stage": name, "file": path, "nodes": len(gd.node), "op_types": len(op_histogram(gd)),
            "size_bytes": size}


def _plain(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
