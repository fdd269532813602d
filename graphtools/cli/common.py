"""Shared pieces of the command line: the parser class, argument groups every command uses, output helpers."""
import argparse
import difflib
import json
import logging
import sys


PROG = "graphtools"


log = logging.getLogger("graphtools")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line and suggests the nearest flag."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # a typo must not silently match a longer flag
        super().__init__(*args, **kwargs)

    def error(self, message):
        if "unrecognized arguments" in message:
            bad = message.split(":", 1)[1].split()
            flags = self._command_flags()
            hints = []
            for b in bad:
                if b.startswith("-"):
                    near = difflib.get_close_matches(b.split("=")[0], flags, n=1, cutoff=0.5)
                    if near:
                        hints.append(f"{b}: did you mean {near[0]}?")
            message += ("; " + "; ".join(hints)) if hints else ""
        raise UsageError(f"{self.prog}: {message} (see --help)")

    def _command_flags(self):
        """The flags of the subcommand on the command line (set by main), else every flag."""
        for a in self._actions:
            choices = getattr(a, "choices", None)
            if isinstance(choices, dict):
                cmd = next((t for t in getattr(self, "argv", []) if t in choices), None)
                if cmd is not None and isinstance(choices[cmd], OneLineParser):
                    return choices[cmd]._all_flags()
        return self._all_flags()

    def _all_flags(self):
        flags = []
        for a in self._actions:
            flags += [f for f in a.option_strings if not a.help == argparse.SUPPRESS]
            choices = getattr(a, "choices", None)
            for sub in (choices.values() if isinstance(choices, dict) else ()):
                if isinstance(sub, OneLineParser):
                    flags += sub._all_flags()
        return flags


class UsageError(Exception):
    pass


def str2bool(v):
    if v is None:
        return True
    low = str(v).strip().lower()
    if low in ("1", "true", "yes", "y", "on"):
        return True
    if low in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{v}'")


def _emit(args, report, human):
    """Print ``report`` as JSON with --json, else the human text."""
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2, default=_json_default))
    else:
        print(human)


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    return str(o)


def _fmt_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0


def _fmt_input(i):
    from ..core.describe import format_shape

    extra = ""
    if i.get("optional"):
        extra = "  (optional: PlaceholderWithDefault, has a default value)"
    elif i.get("role") == "training_flag":
        extra = "  (training flag: bind it or strip dropout/training before converting)"
    return f"{i['name']}  {i['dtype']}  {format_shape(i['shape'])}{extra}"


def _fmt_hist(hist, n=12):
    items = list(hist.items())
    text = ", ".join(f"{k} {v}" for k, v in items[:n])
    return text + (f", ... ({len(items) - n} more op types)" if len(items) > n else "")


def _cut_lines(cuts):
    return [f"  input pipeline: {t} is now fed by placeholder {p} (the queue/iterator/decoder behind it is gone)"
            for t, p in (cuts or {}).items()]


def _checkpoint_files(ckpt):
    from ..core import io

    return io.checkpoint_files(io.checkpoint_prefix(ckpt)) if ckpt else []


def _refuse_overwriting_inputs(out, inputs):
    from ..core import io

    for src in inputs:
        if src and io.same_file(src, out):
            raise _input_error(f"{out}: is also an input; write the output to another file")


def _strip_check_args(p):
    p.add_argument("--no-verify", action="store_true", help="skip the before/after equivalence check")
    p.add_argument("--rtol", type=float, help="relative tolerance of the check (default 1e-4)")
    p.add_argument("--atol", type=float, help="absolute tolerance of the check (default 1e-5)")
    _leftovers_arg(p)


def _tolerances(args):
    """--rtol/--atol as given, strip's defaults where not (None defaults: a manifest can tell them apart)."""
    return {k: getattr(args, k) for k in ("rtol", "atol") if getattr(args, k) is not None}


def _parse_bind(items):
    """['is_training=false', ...] -> {name: value text}."""
    from ..core.signature import parse_bind

    return parse_bind(items)


INPUT_ALIASES = ("--input-arrays", "--input_arrays")  # toco's and TFLiteConverter's names


OUTPUT_ALIASES = ("--output-arrays", "--output_arrays", "--output-nodes", "--output_node_names")  # + freeze_graph's


def _outputs_arg(p, metavar="A,B", help="output nodes (default: discovered)"):
    """--outputs, and the older spellings as hidden aliases (kept working, not in the usage line)."""
    p.add_argument("--outputs", metavar=metavar, help=help + " [aliases: " + ", ".join(OUTPUT_ALIASES) + "]")
    for alias in OUTPUT_ALIASES:
        p.add_argument(alias, dest="outputs", metavar=metavar, help=argparse.SUPPRESS)


def _io_args(p, inputs_help="input nodes (default: discovered)", outputs_help="output nodes (default: discovered)"):
    """--inputs and --outputs, one name for each idea in every command (the old names are aliases)."""
    p.add_argument("--inputs", metavar="A,B", help=inputs_help + " [aliases: " + ", ".join(INPUT_ALIASES) + "]")
    for alias in INPUT_ALIASES:
        p.add_argument(alias, dest="inputs", metavar="A,B", help=argparse.SUPPRESS)
    _outputs_arg(p, help=outputs_help)


def _leftovers_arg(p):
    p.add_argument("--allow-leftovers", action="store_true",
                   help="write the stripped graph even when random ops, batch statistics (training-mode batch "
                        "norm) or nodes computed from label placeholders remain (an error otherwise)")


def _rnn_note(rnn):
    """One line on how the recurrent loops became builtins."""
    if rnn["route"] == "flex":
        return f"recurrent loops left for the Flex delegate: {rnn['why']}"
    parts = [f"{lp['frame'].rsplit('/while_context', 1)[0]}: " +
             (f"unrolled {lp['trip_count']} steps" if lp["route"] == "unroll" else
              "TFLite WHILE" + (f" ({lp['why']})" if lp.get("why") else ""))
             for lp in rnn["loops"]]
    return f"recurrent loops ({rnn['route']}): " + "; ".join(parts) + (f" (chosen by cost: {rnn['why']})"
                                                                         if rnn.get("why") else "")


def _rnn_arg(p):
    p.add_argument("--rnn", choices=("auto", "unroll", "while", "none"), default="auto",
                   help="how v1 while loops over TensorArrays (dynamic_rnn, bidirectional_dynamic_rnn) become "
                        "TFLite builtins: unroll them where the input shapes fix the sequence length, else a "
                        "TFLite WHILE over TensorList ops (auto, the default); force one; or none (leave them, "
                        "for --select-tf-ops)")


def _progress(label):
    """A one-line progress display on stderr (only on a terminal)."""
    if not sys.stderr.isatty():
        return None

    def show(done, total):
        end = "\n" if done == total else ""
        print(f"\r{label}: {done}/{total}", end=end, file=sys.stderr, flush=True)

    return show


def _short(name, width):
    """``name`` in at most ``width`` characters where it can be, never cut inside a word: its last scope
    components after an ellipsis (``…/batchnorm/add_1``); a last component longer than that stays whole."""
    if len(name) <= width:
        return name
    parts = name.split("/")
    tail = parts[-1]
    for p in reversed(parts[:-1]):
        if len(p) + 1 + len(tail) + 2 > width:
            break
        tail = p + "/" + tail
    return "…/" + tail if len(parts) > 1 else name


def _unsafe_arg(p):
    p.add_argument("--allow-unsafe-ops", action="store_true",
                   help="run graphs holding ops that reach the file system or Python (ReadFile, WriteFile, "
                        "PyFunc, ...); only for models you trust")


def _data_args(p):
    """How to normalise sample data the way the model was trained."""
    p.add_argument("--scale", type=float, help="multiply the data by this (e.g. 0.00392157 for x/255)")
    p.add_argument("--mean", type=float, help="subtract this from the data")
    p.add_argument("--std", type=float, help="divide the data by this")


def _common(p):
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show progress logs, TensorFlow's own logs and tracebacks")


def _check_out_dir(path):
    """The output directory a pipeline wrote (bundle, report, view read it)."""
    import os

    if not os.path.isdir(path):
        raise _input_error(f"{path}: not a directory; give the pipeline's output directory (e.g. out)")


# the spellings other commands (and older versions) used for the model file: accepted, not shown
MODEL_FILE_ALIASES = ("--in", "--graph", "--input-graph", "--input_graph")


def _model_file_arg(p, help, dest):
    """The model file, spelled one way in every command: a positional FILE (``--in``/``--graph`` still work)."""
    p.add_argument("model_file", nargs="?", metavar="FILE", help=help)
    for alias in MODEL_FILE_ALIASES:
        p.add_argument(alias, dest="model_file_alias", metavar="FILE", help=argparse.SUPPRESS)
    p.set_defaults(model_file_dest=dest)


def resolve_model_file(args, prog):
    """Set the command's own attribute from FILE or its alias; a usage error when neither or two differ."""
    dest = getattr(args, "model_file_dest", None)
    if dest is None:
        return
    pos, alias = getattr(args, "model_file", None), getattr(args, "model_file_alias", None)
    if pos and alias and pos != alias:
        raise UsageError(f"{prog} {args.command}: error: two model files ({pos} and {alias}); give one FILE")
    if not (pos or alias):
        raise UsageError(f"{prog} {args.command}: error: give the model file: {prog} {args.command} FILE ...")
    setattr(args, dest, pos or alias)


def _gate_arg(p):
    p.add_argument("--gate", metavar="NAME=V[,...]",
                   help="the gates each model's verdict (ship / check / do not ship) is judged by: agreement (top-1 "
                        "agreement of class scores, default 0.99), error (max |d| relative to the output's scale, "
                        "default 1e-3), fallback (Flex ops: check, fail or allow; default check), found (share "
                        "of TF's detections found, default 0.9); the run recommends the smallest model that ships")


def _input_error(msg):
    from ..errors import InputError

    return InputError(msg)
