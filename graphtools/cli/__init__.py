"""Command-line front end: one subcommand per stage. The only module that prints or exits.

Every user-facing error is one line on stderr and exit code 2; ``--verbose`` adds logs and,
for unexpected failures, the traceback. One module per command (``freeze``, ``strip``, ``convert``, ...)
with the argument groups they share in ``common``; ``toco`` is TensorFlow 1.x's command line, verbatim.

It sits on top and may import every package of graphtools; nothing imports it (``__main__`` and the
``graphtools`` console script call ``main``).
"""
import logging
import os
import sys

from .common import INPUT_ALIASES, OUTPUT_ALIASES, PROG, OneLineParser, UsageError, _emit
from .freeze import _add_freeze
from .inspect import _add_inspect
from .strip import _add_strip
from .convert import _add_convert
from .audit import _add_audit
from .compare import _add_compare
from .pipeline import _add_pipeline
from .diff import _add_diff
from .bench import _add_bench
from .bundle import _add_bundle
from .report import _add_report
from .view import _add_view

__all__ = ["main", "build_parser", "INPUT_ALIASES", "OUTPUT_ALIASES", "PROG"]


def _version():
    """'graphtools 0.1.0 (tensorflow 2.21.0, ai-edge-litert 2.1.0)', read without importing them."""
    from importlib import metadata

    from .._version import __version__

    found = []
    for dist in ("tensorflow", "ai-edge-litert"):
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            found.append(f"{dist} not installed")
    return f"{PROG} {__version__} ({', '.join(found)})"


def build_parser():
    parser = OneLineParser(prog=PROG, description="Take legacy TensorFlow 1.x models to verified TensorFlow "
                                                  "Lite models: freeze, inspect, strip, convert, compare.")
    parser.add_argument("--version", action="version", version=_version(),
                        help="print graphtools' version and the TensorFlow and LiteRT it runs with")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    _add_freeze(sub)
    _add_inspect(sub)
    _add_strip(sub)
    _add_convert(sub)
    _add_audit(sub)
    _add_compare(sub)
    _add_pipeline(sub)
    _add_diff(sub)
    _add_bench(sub)
    _add_bundle(sub)
    _add_report(sub)
    _add_view(sub)
    sub.add_parser("toco", help="the TensorFlow 1.x toco command line, verbatim (graphtools toco --help)",
                   add_help=False)
    return parser


def _run_toco(argv):
    """`graphtools toco ...`: the old flags, parsed by their own parser (underscores, --flag=value)."""
    from . import toco
    from ..errors import GraphtoolsError

    parser = toco.build_parser(OneLineParser)
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        print(str(e), file=sys.stderr)
        return 2
    args.command = "toco"
    _setup_logging(args.verbose)
    try:
        return toco.run(args, lambda report, text: _emit(args, report, text))
    except GraphtoolsError as e:
        print(f"{PROG} toco: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # an unexpected failure is a bug: one line, traceback with --verbose
        if args.verbose:
            raise
        print(f"{PROG} toco: internal error: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
              f" (rerun with --verbose for the traceback and report it)", file=sys.stderr)
        return 1


# Commands that only read graphs (checkpoints and SavedModels still import TensorFlow to be read).
STRUCTURAL = {"inspect", "diff", "audit", "bench"}


def main(argv=None, guard=True):
    """Run one command; with ``guard`` (the default) it runs in a forked child when TensorFlow is not
    imported yet, so a native TensorFlow abort ends in one line and exit 2 (graphtools.guard)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from .. import guard as _guard

    if guard and _guard.can_fork() and argv and not argv[0].startswith("-") and "--help" not in argv \
            and "-h" not in argv:
        cmd = argv[0]
        return _guard.run_guarded(lambda: main(argv, guard=False), f"{PROG} {cmd}", verbose="--verbose" in argv)
    if argv[:1] == ["toco"]:
        return _run_toco(argv[1:])
    parser = build_parser()
    parser.argv = argv  # (a usage error suggests the flags of this command only)
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        print(str(e), file=sys.stderr)
        return 2
    except SystemExit as e:  # --help, --version: printed, done
        return e.code or 0
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from .common import resolve_model_file

    try:
        resolve_model_file(args, PROG)
    except UsageError as e:
        print(str(e), file=sys.stderr)
        return 2
    _setup_logging(args.verbose)
    from ..errors import GraphtoolsError

    import contextlib

    from ..core import protos

    # the structural commands only read graphs: no TensorFlow import (3-4 s)
    scope = protos.structural_only() if args.command in STRUCTURAL else contextlib.nullcontext()
    try:
        if getattr(args, "logdir", None):  # (before any work, like --out-dir: never outputs and then a failure)
            from ..core import io

            io.check_directory(args.logdir, "--logdir")
        with scope:
            return args.run(args)
    except GraphtoolsError as e:
        if args.verbose and e.__cause__ is not None:  # e.g. the converter's own full text
            print(str(e.__cause__), file=sys.stderr)
        print(f"{PROG} {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # stdout closed early (| head): not an error of ours
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted; no output was written", file=sys.stderr)
        return 130
    except Exception as e:  # an unexpected failure is a bug: one line, traceback with --verbose
        if args.verbose:
            raise
        tf_error = _tensorflow_error(e)
        if tf_error:
            print(f"{PROG} {args.command}: error: TensorFlow: {tf_error}", file=sys.stderr)
            return 2
        print(f"{PROG} {args.command}: internal error: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
              f" (rerun with --verbose for the traceback and report it)", file=sys.stderr)
        return 1


def _tensorflow_error(e):
    """The first line of a TensorFlow OpError (bad graph or data), else None."""
    mod = sys.modules.get("tensorflow")
    if mod is not None and isinstance(e, mod.errors.OpError):
        from ..core.runtime import op_error_text

        return op_error_text(e)
    return None


def _setup_logging(verbose):
    from .. import _tf

    if not verbose:
        _tf.quiet()
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
