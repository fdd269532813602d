"""graphtools pipeline: freeze -> strip -> audit -> convert -> compare, one model or a manifest."""
import os

from .common import (_common, _cut_lines, _emit, _fmt_bytes, _gate_arg, _input_error, _io_args, _rnn_arg, _rnn_note,
                     _strip_check_args, _unsafe_arg)
from .compare import _compare_text


def _add_pipeline(sub):
    p = sub.add_parser("pipeline", help="freeze -> strip -> audit -> convert -> compare in one command",
                       description="The whole job: freeze, strip (with its equivalence check), audit, convert "
                                   "in every requested quantization mode and compare on data, then one summary "
                                   "table. With no source it runs on the bundled fixture. Writes OUT/frozen.pb, "
                                   "OUT/optimized.pb, OUT/model*.tflite, OUT/report.json and the TensorBoard "
                                   "runs LOGDIR/freeze, LOGDIR/optimized, LOGDIR/tflite, LOGDIR/compare.")
    p.add_argument("--ckpt", metavar="PREFIX", help="checkpoint with its .meta (default: the bundled fixture)")
    p.add_argument("--graph", metavar="FILE", help="a GraphDef (with --ckpt when it has variables)")
    p.add_argument("--saved-model", metavar="DIR", help="a v1 SavedModel")
    p.add_argument("--tags", metavar="TAGS", help="its meta graph's tags, comma-separated (default: serve, or the "
                                                  "only meta graph's)")
    p.add_argument("--keras", metavar="FILE.h5", help="a Keras-2 HDF5 model")
    p.add_argument("--meta", metavar="FILE.meta", help="the meta graph of --ckpt (default: PREFIX.meta)")
    p.add_argument("--manifest", metavar="MODELS.json",
                   help="many models: a JSON list of entries {\"name\": ..., \"ckpt\"|\"graph\"|\"saved_model\": ..., "
                        "and any other pipeline flag by its name (output_nodes, input_shapes, bind as a list, "
                        "select_tf_ops: true, ...) and timeout}; each runs in its own worker process into OUT/NAME and LOGDIR/NAME; "
                        "finished entries are skipped on re-run; exit 1 when any entry failed")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="with --manifest: worker processes (default 1)")
    p.add_argument("--shard", metavar="K/N", help="with --manifest: only the entries whose name hashes to shard K of "
                                                  "N (split one manifest across N machines)")
    p.add_argument("--only", metavar="NAME[,NAME]", help="with --manifest: only these entries")
    p.add_argument("--force", action="store_true", help="with --manifest: re-run entries that finished before")
    _io_args(p)
    p.add_argument("--input-shapes", metavar="SHAPES", help="shapes for inputs without one (toco syntax)")
    p.add_argument("--remove", action="append", metavar="WHAT",
                   help="what strip removes (default: all, also when --bind/--cut/--splice are given)")
    p.add_argument("--bind", action="append", default=[], metavar="NAME=VALUE",
                   help="turn a placeholder into a constant before stripping (repeatable)")
    p.add_argument("--cut", action="append", default=[], metavar="NODE:DTYPE:SHAPE",
                   help="replace a node by a new placeholder, removing what fed it (repeatable)")
    p.add_argument("--splice", action="append", default=[], metavar="NODE_OR_SCOPE",
                   help="remove a node or name scope by wiring its one data input to its readers (repeatable)")
    _strip_check_args(p)
    p.add_argument("--quantize", metavar="MODES",
                   help="none, dynamic, float16, int8, int16x8, a comma list (none,dynamic) or all (default: all; "
                        "int8/int16x8 need --data and are skipped, with a note, without it)")
    p.add_argument("--recipe", metavar="FILE", help="build the recipe's mode (int8/int16x8) from a convert --budget "
                                                    "MODEL.recipe.json: the same float ops, the same bytes (needs --data, "
                                                    "the recipe's calibration data)")
    p.add_argument("--no-report", action="store_true", help="do not write OUT/report.html")
    p.add_argument("--bundle", action="store_true", help="also write OUT/golden/: inputs, expected outputs and a "
                                                         "standalone verify.py for the device (graphtools bundle)")
    p.add_argument("--select-tf-ops", action="store_true", help="let TF ops without a builtin run as Flex ops")
    _rnn_arg(p)
    _gate_arg(p)
    p.add_argument("--allow-custom-ops", action="store_true", help="keep unknown ops as custom ops")
    p.add_argument("--data", metavar="PATH", help="data to calibrate and compare with (default: random)")
    p.add_argument("--labels", metavar="PATH", help="labels for accuracy")
    p.add_argument("--scale", type=float, help="multiply the data by this (0.00392157 for x/255)")
    p.add_argument("--mean", type=float, help="subtract this from the data (after --scale)")
    p.add_argument("--std", type=float, help="divide the data by this (after --mean)")
    p.add_argument("--out-dir", default="out", metavar="DIR", help="where the files go (default: out)")
    _unsafe_arg(p)
    p.add_argument("--logdir", default="logs", metavar="DIR", help="TensorBoard root (default: logs)")
    _common(p)
    p.set_defaults(run=run_pipeline)


def run_pipeline(args):
    from ..workflow.config import PipelineConfig
    from ..workflow.stages import run_pipeline as run

    if args.manifest:
        return _run_manifest(args)
    for flag in ("shard", "only", "force"):
        if getattr(args, flag):
            raise _input_error(f"--{flag} works with --manifest only")
    from ..core.data import check_source

    check_source(args.data)  # (before anything is frozen)
    if args.labels:
        check_source(args.labels, "--labels", text_ok=True)
    if os.path.isfile(args.out_dir):
        raise _input_error(f"--out-dir {args.out_dir}: is a file; give a directory for the outputs")
    recipe = None
    if args.recipe:
        from ..verification.budget import load_recipe

        recipe = load_recipe(args.recipe)
        recipe["file"] = args.recipe
        if not args.data:
            raise _input_error("--recipe needs --data: the calibration data the recipe was made with")
    config = PipelineConfig.from_args(args, recipe=recipe)  # (validated once, here)
    report = run(config, progress=None if args.json else (lambda msg: print(msg, flush=True)))
    if args.bundle:
        from ..verification.bundle import make_bundle

        report["bundle"] = make_bundle(args.out_dir, data=args.data, scale=args.scale, mean=args.mean, std=args.std)
    _emit(args, report, _pipeline_text(report, args) + (
        f"\n  report: {report['report_html']} (open it in a browser)" if report.get("report_html") else
        f"\n  {report['report_html_note']}" if report.get("report_html_note") else "") + (
        f"\n  golden bundle: {report['bundle']['bundle']}/ (cd there and run python verify.py on the device)"
        if args.bundle else ""))
    return 0


def _run_manifest(args):
    from ..workflow.manifest import FIELDS, run_manifest

    if args.recipe:
        raise _input_error("--recipe cannot be combined with --manifest; replay a recipe on one model")

    defaults = {"rnn": "auto"}
    single = [flag for key, (flag, _) in FIELDS.items()
              if flag and getattr(args, key, None) not in (None, False, [], defaults.get(key))]
    if single:
        raise _input_error(f"{single[0]} cannot be combined with --manifest; put it in the manifest's entries")
    r = run_manifest(args.manifest, jobs=args.jobs, out_dir=args.out_dir, logdir=args.logdir, shard=args.shard,
                     only=args.only, force=args.force,
                     progress=None if args.json else (lambda msg: print(msg, flush=True)))
    lines = [f"manifest {r['manifest']}: {r['counts']['done']} done, {r['counts']['skipped']} skipped, "
             f"{r['counts']['failed']} failed ({r['seconds']:.1f} s, {r['jobs']} worker{'s' if r['jobs'] > 1 else ''})",
             f"  {'model':<24} {'status':<8} {'seconds':>8} {'tflite':>6} {'min agree':>9} {'max|d|':>9}  detail"]
    for m in r["models"]:
        agree = f"{m['min_agreement']:.4f}" if m.get("min_agreement") is not None else "-"
        diff = f"{m['max_abs_diff']:.3g}" if m.get("max_abs_diff") is not None else "-"
        lines.append(f"  {m['name']:<24} {m['status']:<8} {m.get('seconds', 0):>8.1f} {m.get('tflite_models', '-'):>6} "
                     f"{agree:>9} {diff:>9}  {m.get('detail') or m.get('out_dir', '')}")
    _emit(args, r, "\n".join(lines))
    return 1 if r["counts"]["failed"] else 0


def _pipeline_text(r, args):
    lines = [f"pipeline on {r['source']}: inputs {', '.join(r['inputs'])} -> outputs {', '.join(r['outputs'])} "
             f"({r['seconds']:.1f} s)", f"  {'stage':<8} {'nodes':>6} {'op types':>9} {'size':>10}  file"]
    for s in r["stages"]:
        lines.append(f"  {s['stage']:<8} {s['nodes']:>6} {s['op_types']:>9} {_fmt_bytes(s['size_bytes']):>10}  {s['file']}")
    lines += _cut_lines(r.get("input_pipeline_cuts"))
    if r.get("rnn"):
        lines.append(f"  {_rnn_note(r['rnn'])}")
    if r.get("recipe"):
        rc = r["recipe"]
        lines.append(f"  recipe {rc['file']}: {rc['mode']} with {len(rc['float_ops'])} op(s) in float, "
                     + ("byte-identical to the recipe's model" if rc["identical"] else "NOT byte-identical to the recipe's model"))
    st = r["strip"]
    if r.get("batch_statistics_kept"):
        kept = r["batch_statistics_kept"]
        lines.append(f"  strip: kept the batch statistics of {len(kept)} batch norm(s) ({kept[0]}, ...): their moving "
                     f"statistics were never trained, the model was always run so (the .tflite does the same; feed "
                     f"one sample at a time)")
    if r.get("conservative"):
        lines.append(f"  strip (conservative route): {r['conservative']}")
    from ..surgery.stripping import bound_text

    lines.append(f"  strip: bound {bound_text(st['bound']) or 'nothing'}; "
                 f"{'verified equivalent' if st['verified'] else 'not verified'}")
    for a in r["audit"]:
        lines.append(f"  audit: {a}")
    for k in r.get("skipped_modes", []):
        lines.append(f"  skipped --quantize {k['mode']}: {k['why']}")
    lines.append("")
    if r["compare"] is not None:
        lines.append(_compare_text(r["compare"]))
        from ..verification.verdict import summary_lines

        lines += summary_lines(r["compare"])
    for k in r.get("not_compared", []):
        lines.append(f"  not compared: {os.path.basename(k['model'])} {k['why']}")
    lines.append("")
    lines.append(f"  files: {', '.join(r['files'])}, {os.path.join(args.out_dir, 'report.json')}")
    if args.logdir:
        lines.append(f"  TensorBoard: tensorboard --logdir {args.logdir}")
    if r.get("replaced_runs"):
        lines.append(f"  (replaced the previous event files of the runs {', '.join(r['replaced_runs'])} in {args.logdir})")
    return "\n".join(lines)
