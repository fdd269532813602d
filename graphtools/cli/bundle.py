"""graphtools bundle: the golden bundle for the device (inputs, expected outputs, verify.py)."""
import argparse

from .common import _check_out_dir, _common, _data_args, _emit, _input_error

BUNDLE_HELP = """Write OUT_DIR/golden/ from what graphtools pipeline wrote to OUT_DIR: a few dozen real
inputs (as given, and as fed after --scale/--mean/--std), each model's expected outputs, the
tolerances (LiteRT's kernel sets' spread x4, at least one quantum), an I/O card per model (names,
dtypes, shapes, scale and zero point) and a standalone verify.py that needs only numpy and a TFLite
runtime (ai-edge-litert, or tflite-runtime on a board):

  cd OUT_DIR/golden && python verify.py            # PASS/FAIL per model the bundle holds
  python verify.py app_build.tflite                # that file against the bundle's entry

The same data is in golden_data.json for an Android or iOS test. Without --data the bundle uses the
data the pipeline ran on (the fixture's digits, or its --data and normalisation)."""


def _add_bundle(sub):
    p = sub.add_parser("bundle", help="the golden bundle for the device: inputs, expected outputs, verify.py",
                       description=BUNDLE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", metavar="OUT_DIR", help="the pipeline's output directory (default layout: out/)")
    p.add_argument("--data", metavar="PATH", help="inputs (.npy, .npz, IDX, images; default: the pipeline's data)")
    _data_args(p)
    p.add_argument("--samples", type=int, default=32, metavar="N", help="how many samples (default 32)")
    p.add_argument("--graph", metavar="FILE", help="the GraphDef the models came from (default: OUT_DIR/optimized.pb)")
    p.add_argument("--tflite", nargs="+", metavar="MODEL", help="models to bundle (default: OUT_DIR/*.tflite)")
    _common(p)
    p.set_defaults(run=run_bundle)


def run_bundle(args):
    from ..verification.bundle import make_bundle
    from ..core.data import check_source

    _check_out_dir(args.out_dir)
    if args.samples < 1:
        raise _input_error("--samples must be at least 1")
    if args.data:
        check_source(args.data)
    r = make_bundle(args.out_dir, data=args.data, models=args.tflite, graph=args.graph, samples=args.samples,
                    scale=args.scale, mean=args.mean, std=args.std)
    lines = [f"wrote {r['bundle']}/ ({r['samples']} samples: {r['data']})"]
    for name, tol in r["tolerance"].items():
        lines.append(f"  {name:<22} tolerance {min(tol.values()):.3g}")
    lines.append(f"  on the device: cd {r['bundle']} && python verify.py   (needs numpy and ai-edge-litert or "
                 f"tflite-runtime)")
    _emit(args, r, "\n".join(lines))
    return 0
