"""graphtools report: one self-contained report.html of what a pipeline produced."""
from .common import _check_out_dir, _common, _data_args, _emit


def _add_report(sub):
    p = sub.add_parser("report", help="a self-contained report.html of a pipeline's output directory",
                       description="Write OUT_DIR/report.html: each model's size, ops, latency, differences, "
                                   "agreement and accuracy with a size-vs-accuracy chart; per-class precision, "
                                   "recall, F1 and confusion matrices (against the labels and the TF graph); the "
                                   "worst disagreements as thumbnails; a sortable per-sample table; strip's story "
                                   "and the graph diff; the per-op error chart when OUT_DIR/per_op exists. No "
                                   "network, no external scripts: open it anywhere.")
    p.add_argument("out_dir", metavar="OUT_DIR", help="the pipeline's output directory (with report.json)")
    p.add_argument("--data", metavar="PATH", help="inputs (default: the data the pipeline ran on)")
    p.add_argument("--labels", metavar="PATH", help="labels (default: the data's y, or the fixture's)")
    _data_args(p)
    p.add_argument("--out", metavar="FILE", help="where to write it (default: OUT_DIR/report.html)")
    _common(p)
    p.set_defaults(run=run_report)


def run_report(args):
    from ..core.data import check_source
    from ..presentation.report import make_report

    _check_out_dir(args.out_dir)
    if args.data:
        check_source(args.data)
    if args.labels:
        check_source(args.labels, "--labels", text_ok=True)
    r = make_report(args.out_dir, data=args.data, labels=args.labels, scale=args.scale, mean=args.mean, std=args.std,
                    path=args.out)
    _emit(args, r, f"wrote {r['path']} ({len(r['models'])} models; {r['disagreements']} samples where a model "
                   f"disagrees with TF): open it in a browser")
    return 0
