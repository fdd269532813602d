"""The whole job in one call: freeze -> strip -> audit -> convert (every mode) -> compare."""
import json
import logging
import os
import time

import numpy as np

from .errors import InputError

log = logging.getLogger(__name__)


from .io import fixture_dir  # noqa: E402,F401 (the bundled fixture; re-exported)


def run_pipeline(ckpt=None, graph=None, saved_model=None, output_nodes=None, inputs=None, input_shapes=None,
                 remove=("all",), quantize="all", data=None, labels=None, scale=None, out_dir="out",
                 logdir="logs", calibration_samples=100, progress=None, allow_unsafe_ops=False, keras=None,
                 meta=None, bind=None, cut=None, splice=None, verify=True, rtol=1e-4, atol=1e-5, mean=None,
                 std=None, select_tf_ops=False, allow_custom_ops=False, allow_leftovers=False, rnn="auto",
                 recipe=None, html_report=True, outputs=None, gates=None):
    """Run every stage, write out_dir/{frozen.pb, optimized.pb, model*.tflite, report.json} and one
    TensorBoard run per stage under ``logdir``; return the report (also written as report.json).

    The arguments are the single commands' own: freeze's sources (``ckpt`` with ``meta`` or ``graph``,
    ``saved_model``, ``keras``), strip's ``remove``/``bind``/``cut``/``splice``/``verify``/``rtol``/
    ``atol``/``allow_leftovers``, convert's ``quantize`` ('all', one mode or a comma list),
    ``select_tf_ops``/``allow_custom_ops``/``rnn``, and the data's ``scale``/``mean``/``std``;
    ``recipe`` (``budget.load_recipe``): its mode's model is the recipe's (the same float ops and bytes);
    ``html_report``: also OUT/report.html (``report.render``), written with the rest.
    Every stage works in memory and the files are written only once all of them succeeded, so a
    failure leaves no partial output (and the previous run's files untouched). ``out_dir`` is locked
    for the whole run: a second pipeline on the same directory refuses instead of mixing files.
    """
    from .freezing import _either

    output_nodes = _either(outputs, output_nodes, "outputs")  # (outputs=, as every API function takes it)
    from .verdict import parse_gates

    gates = gates if isinstance(gates, dict) else parse_gates(gates)  # (a bad --gate: before any work)
    opts = dict(locals())  # (first: only the arguments)
    opts.pop("outputs")
    opts.pop("_either")
    opts.pop("parse_gates")
    from . import io

    with io.DirLock(out_dir):
        return _run_pipeline(**opts)


def _run_pipeline(ckpt, graph, saved_model, output_nodes, inputs, input_shapes, remove, quantize, data, labels,
                  scale, out_dir, logdir, calibration_samples, progress, allow_unsafe_ops, keras, meta, bind, cut,
                  splice, verify, rtol, atol, mean, std, select_tf_ops, allow_custom_ops, allow_leftovers, rnn,
                  recipe, html_report, gates=None):
    from . import conversion, io, tensorboard, tflite
    from .analysis import op_histogram
    from .comparison import LiteModel, NeedsFlexError, compare, labels_for
    from .data import load_samples
    from .freezing import freeze
    from .surgery import bound_json

    from .quantize import parse

    modes = parse(quantize)
    say = progress or (lambda msg: None)
    if not (ckpt or graph or saved_model or keras):
        fx = fixture_dir()
        ckpt = os.path.join(fx, "digits_cnn", "model.ckpt")
        output_nodes = output_nodes or "prediction"
        source = "bundled fixture (TF1 CNN on scikit-learn digits)"
        data_arrays = label_array = calibration = None
        if data is None:  # its own digits, unless the user gave data
            d = np.load(os.path.join(fx, "digits.npz"))
            data_arrays, label_array = {"x": d["x_test"]}, (None if labels else d["y_test"])
            calibration = {"x": d["x_train"][:calibration_samples]}
    else:
        data_arrays = label_array = calibration = None
        source = ckpt or graph or saved_model or keras
    stages, t0 = [], time.perf_counter()
    replaced = [run for run in ("freeze", "optimized", "tflite", "compare")
                if logdir and tensorboard.previous_event_files(os.path.join(logdir, run))]

    from . import detection

    named_outputs = output_nodes
    if graph or ckpt:
        src = io.load_graph_def(graph) if graph else _meta_graph_def(ckpt, meta)
        named = [o.strip() for o in (output_nodes.split(",") if isinstance(output_nodes, str) else output_nodes or [])]
        if named and set(named) < set(detection.OUTPUTS) and src is not None and detection.is_export(src):
            raise InputError(f"an Object Detection API export's outputs {', '.join(detection.OUTPUTS)} come from one "
                             f"post-processing op: name all four, or none")
    if (graph or ckpt) and not output_nodes:  # an export: its four outputs, not one picked among them
        if src is not None and detection.is_export(src):
            output_nodes = list(detection.OUTPUTS)
        elif src is not None and detection.exported(src) is not None:
            output_nodes = [detection.exported(src).op]
    say("[1/5] freeze")
    fz = freeze(ckpt=ckpt, meta=meta, graph=graph, saved_model=saved_model, keras=keras, output_nodes=output_nodes,
                allow_unsafe_ops=allow_unsafe_ops)
    frozen_path = os.path.join(out_dir, "frozen.pb")
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
    ssd = _detector(fz, input_shapes, say, named_outputs)
    say("[2/5] strip")
    strip_args = dict(inputs=inputs, outputs=fz.outputs, bind=bind, cut=cut, splice=splice, verify=verify, rtol=rtol,
                      atol=atol, input_shapes=input_shapes, allow_unsafe_ops=allow_unsafe_ops,
                      allow_leftovers=allow_leftovers)
    stripped = fz.graph_def
    if ssd is not None:  # strip and check the network up to its raw outputs; the post-processing is replaced
        stripped = detection.backbone(fz.graph_def, ssd)
        strip_args.update(inputs=[ssd.image], outputs=detection.backbone_outputs(ssd),
                          input_shapes={ssd.image: ssd.image_shape})
    sr, conservative = _strip_or_conservative(stripped, list(remove or []), strip_args, say)
    opt_path = os.path.join(out_dir, "optimized.pb")
    opt_bytes = io.graph_def_bytes(sr.graph_def)
    stages.append(_stage("strip", opt_path, sr.graph_def, op_histogram, len(opt_bytes)))
    sig = sr.signature  # resolved once, by strip, with the user's flags: every later stage uses it

    say("[3/5] audit")
    ins, outs, shapes = sig.names, list(sig.outputs), sig.shapes()
    from .audit import audit as audit_graph

    audit = [b["message"] for b in audit_graph(sr.graph_def, ins, outs, shapes,  # the conversion's own
                                                skip=("recurrent_loops",))["problems"]
             if not (b.get("kind") == "training_batchnorm" and set(b.get("nodes", [])) <= set(sr.batch_statistics))]
    converted, lsig, loops = conversion.prepare_loops(sr.graph_def, sig, rnn, select_tf_ops)  # once, for every mode
    if ssd is not None:
        checked_net, lsig_net = converted, lsig
        converted = detection.tflite_form(converted, ssd, fz.graph_def)
        # integer models: the raw encodings, anchors and scales (small numbers that keep 8-bit precision)
        converted_int = (detection.tflite_form(checked_net, ssd, fz.graph_def, encodings=True)
                         if not isinstance(ssd, detection.Exported) and {"int8", "int16x8"} & set(modes) else None)
        outs = detection.output_names(ssd)
        lsig = conversion.resolve_signature(converted, [ssd.image], outs, {ssd.image: ssd.image_shape})
        ins, shapes = [ssd.image], {ssd.image: ssd.image_shape}
    if data_arrays is None and data:
        data_arrays = load_samples(data, ins, shapes, scale=scale, mean=mean, std=std)
        calibration = {k: v[:calibration_samples] for k, v in data_arrays.items()}
    if labels or data:
        label_array = labels_for(data, labels)
    from . import quantize as quant

    modes, skipped = quant.split_by_data(modes, calibration is not None)

    say(f"[4/5] convert: {', '.join(modes)}")
    models = []
    base = os.path.join(out_dir, "model.tflite")
    replayed = None
    if recipe is not None and recipe["mode"] not in modes:
        modes = list(modes) + [recipe["mode"]]
    for mode in modes:
        if recipe is not None and mode == recipe["mode"]:
            from . import budget

            model, identical = budget.replay(converted, recipe, data_arrays, lsig)
            replayed = {"file": recipe.get("file"), "mode": mode, "float_ops": recipe["float_ops"],
                        "identical": identical}
        else:
            form = converted_int if ssd is not None and converted_int is not None and mode in ("int8", "int16x8") \
                else converted
            model = conversion.convert(form, quantize=mode, representative_data=calibration,
                                       select_tf_ops=select_tf_ops, allow_custom_ops=allow_custom_ops, signature=lsig)
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
        cmp = compare(sr.graph_def, [net], data_arrays, None, batch=512, allow_unsafe_ops=allow_unsafe_ops,
                      signature=sig)
        cmp["note"] = (f"{ssd.op} is LiteRT's own op (TensorFlow has no kernel for it): the network before it, "
                       f"converted alone, is compared with TensorFlow")
    elif ssd is not None:  # TensorFlow's detections (the export as it is) matched with each model's
        images = (detection.as_images(data_arrays[ssd.image], data) if data_arrays else
                  np.random.RandomState(0).randint(0, 256, [8] + ssd.image_shape[1:]).astype(np.uint8))
        cmp = detection.compare(fz.graph_def, [(m.name, m) for m in runnable], images) if runnable else None
        detection_runs = cmp.pop("_runs") if cmp is not None else None
        if cmp is not None:
            cmp["data"] = str(data) if data_arrays else "random uint8 images (seed 0, 8 images)"
    else:
        cmp = (compare(sr.graph_def, runnable, data_arrays, label_array, batch=512,
                       allow_unsafe_ops=allow_unsafe_ops, signature=sig) if runnable else None)
    from .verdict import apply as judge, parse_gates

    gates = gates if isinstance(gates, dict) else parse_gates(gates)
    if cmp is not None:  # ship / check / do not ship, per model, and the smallest that ships
        judge(cmp, gates)
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
        "data": {"path": data or ("fixture" if source.startswith("bundled fixture") else None),
                 "scale": scale, "mean": mean, "std": std}, "replaced_runs": replaced, "skipped_modes": skipped, "not_compared": not_compared,
        "files": [frozen_path, opt_path] + [p for _, p, _ in models],
    }
    page = None
    if html_report and isinstance(ssd, detection.Exported) or html_report and ssd is not None and cmp is None:
        report["report_html"] = None
        report["report_html_note"] = "report.html: not written for this detection model (report.json has the check)"
    elif html_report and ssd is not None:  # TF's and each model's boxes drawn on the images
        page = detection.render(report, images, detection_runs)
        report["files"].append(os.path.join(out_dir, "report.html"))
        report["report_html"] = os.path.join(out_dir, "report.html")
    elif html_report:  # (rendered in memory before anything is written, like every other output)
        from .report import render

        try:
            page, _ = render(report, sr.graph_def, {os.path.basename(p): b for _, p, b in models}, fz.graph_def,
                             os.path.join(out_dir, "per_op"), data, labels, scale, mean, std)
            report["files"].append(os.path.join(out_dir, "report.html"))
            report["report_html"] = os.path.join(out_dir, "report.html")
        except Exception as e:  # noqa: BLE001 -- (matplotlib missing, say): the models are still good
            report["report_html"] = None
            report["report_html_note"] = f"report.html not written: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}"
    # every stage succeeded: now the files, each written atomically, and the TensorBoard runs, all of
    # them (Ctrl-C waits: never a half-replaced set)
    tflite_text = "\n".join(f"- {m}: `{p}` {len(b)} bytes, {tflite.summarize(b)['operators']} ops"
                            for m, p, b in models)
    with io.write_phase(f"{out_dir} and {logdir or 'no TensorBoard runs'}"):
        io.atomic_write(frozen_path, frozen_bytes)
        io.atomic_write(opt_path, opt_bytes)
        for _, path, model in models:
            io.atomic_write(path, model)
        if page is not None:
            io.atomic_write(os.path.join(out_dir, "report.html"), page)
        io.atomic_write(os.path.join(out_dir, "report.json"), json.dumps(report, indent=2, default=_plain) + "\n")
        if logdir:  # (--logdir '': no event files, as every stage)
            tensorboard.write_graph(os.path.join(logdir, "freeze"), fz.graph_def)
            tensorboard.write_graph(os.path.join(logdir, "optimized"), sr.graph_def)
            tensorboard.write_graph(os.path.join(logdir, "tflite"), sr.graph_def, text={"tflite/models": tflite_text})
            if cmp is not None and (ssd is None or isinstance(ssd, detection.Exported)):
                tensorboard.write_comparison(os.path.join(logdir, "compare"), sr.graph_def, cmp, data_arrays)
    return report


def _meta_graph_def(ckpt, meta):
    """The GraphDef of a checkpoint's meta graph (None when there is none to read here)."""
    from . import io

    try:
        path = meta or io.checkpoint_prefix(ckpt) + ".meta"
        return io.load_meta_graph(path).graph_def if os.path.exists(path) else None
    except InputError:
        return None


def _detector(fz, input_shapes, say, named_outputs=None):
    """The SSD a frozen Object Detection API export computes (``detection.SSD``), said in one line; None for
    any other model or when other outputs than the export's four were asked for (a SavedModel's signature
    may list more: its four are taken)."""
    from . import conversion, detection

    holds_op = any(n.op == detection.POSTPROCESS_OP for n in fz.graph_def.node)
    if not holds_op and not detection.is_export(fz.graph_def):
        return None  # (before reading --input-shapes: they are the model's, for every other graph)
    if isinstance(input_shapes, str):
        input_shapes = conversion.parse_shapes(input_shapes, [n.name for n in fz.graph_def.node
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
    from .errors import PassError, RewriteError
    from .surgery import passes_for, strip_report

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
