"""graphtools view: the pipeline's stages side by side in Model Explorer, with overlays."""
from .common import _check_out_dir, _common, _emit, _input_error


def _add_view(sub):
    p = sub.add_parser("view", help="the stages side by side in Model Explorer, with strip and per-op overlays",
                       description="Open frozen.pb, optimized.pb and every .tflite of OUT_DIR in Model Explorer "
                                   "(pip install 'graphtools[view]') on 127.0.0.1, with overlays: on the frozen "
                                   "graph the nodes strip removed (red) and what it kept but rewrote, the nodes "
                                   "they were folded into (orange); on each .tflite its per-op error when "
                                   "compare --per-op wrote OUT_DIR/per_op. The overlay files are written to "
                                   "OUT_DIR/view either way. Netron is the fallback where Model Explorer cannot "
                                   "be installed. Ctrl-C stops the server.")
    p.add_argument("out_dir", metavar="OUT_DIR", help="the pipeline's output directory")
    p.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080, or the next free one)")
    p.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    p.add_argument("--overlays-only", action="store_true", help="write the overlay files and exit")
    _common(p)
    p.set_defaults(run=run_view)


def run_view(args):
    import sys

    from ..presentation import view

    _check_out_dir(args.out_dir)
    if not 0 < args.port < 65536:
        raise _input_error(f"--port {args.port}: give a port between 1 and 65535")
    pairs = view.overlays(args.out_dir)
    written = [o for _, o in pairs if o]
    if args.overlays_only:
        _emit(args, {"models": [m for m, _ in pairs], "overlays": written},
              "wrote " + ", ".join(written))
        return 0
    print("overlays: " + ", ".join(written), flush=True)
    try:
        view.serve(pairs, "127.0.0.1", args.port, open_browser=not args.no_browser,
                   announce=lambda msg: print(msg, flush=True))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0
