"""The command line as users meet it (issue 15): structural commands without TensorFlow, one name per
flag idea in every command, hints that name real flags, --version, early checks, the default passes."""
import json
import os
import subprocess
import sys

import pytest

import graphtools
from conftest import ROOT, assert_clean_error, run_cli

TRAP = """
import sys
class Trap:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("tensorflow was imported")
sys.meta_path.insert(0, Trap())
from graphtools.cli import main
code = main(sys.argv[1:], guard=False)
assert "tensorflow" not in sys.modules
sys.exit(code)
"""


def _trapped(*argv):
    p = subprocess.run([sys.executable, "-c", TRAP, *[str(a) for a in argv]], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    return p


def test_structural_commands_never_import_tensorflow(tmp_path, fixture_frozen):
    src = tmp_path / "g.pb"
    graphtools.save_graph_def(fixture_frozen.graph_def, str(src))
    text = tmp_path / "g.pbtxt"
    text.write_text(str(fixture_frozen.graph_def))
    for argv in (["inspect", src, "--json"], ["inspect", text, "--dot", tmp_path / "g.dot"], ["diff", src, text],
                 ["audit", src], ["inspect", tmp_path / "missing.pb"]):
        p = _trapped(*argv)
        assert p.returncode in (0, 1, 2) and "tensorflow was imported" not in p.stderr, (argv, p.stderr)
        assert "Traceback" not in p.stderr, p.stderr
    assert json.loads(_trapped("inspect", src, "--json").stdout)["outputs"] == ["prediction"]
    assert (tmp_path / "g.dot").exists()


COMMANDS = {  # command -> the arguments it needs besides the flag under test
    "freeze": ["--ckpt", "m.ckpt"], "inspect": ["m.pb"], "strip": ["--in", "m.pb", "--out", "o.pb"],
    "audit": ["m.pb"], "convert": ["--in", "m.pb", "--out", "m.tflite"],
    "compare": ["--graph", "m.pb", "--tflite", "m.tflite"], "pipeline": [],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_inputs_and_outputs_have_one_name_in_every_command_and_the_old_names_still_work(command):
    from graphtools.cli import INPUT_ALIASES, OUTPUT_ALIASES, build_parser

    parser = build_parser()
    for flag in ("--outputs",) + OUTPUT_ALIASES:
        args = parser.parse_args([command, *COMMANDS[command], flag, "a,b"])
        assert args.outputs == "a,b", flag
    for flag in ("--inputs",) + INPUT_ALIASES:
        assert parser.parse_args([command, *COMMANDS[command], flag, "x"]).inputs == "x", flag
    sub = parser._subparsers._group_actions[0].choices[command]
    usage = sub.format_usage()
    assert "--outputs" in usage and not [a for a in OUTPUT_ALIASES + INPUT_ALIASES if a in usage], usage


@pytest.mark.parametrize("command,typo,want", [("strip", "--outptus", "--outputs"), ("convert", "--quantise", "--quantize"),
                                               ("pipeline", "--output-node", "--outputs"),
                                               ("compare", "--input-shape", "--input-shapes")])
def test_hints_name_a_flag_the_command_has(command, typo, want):
    res = run_cli(command, *COMMANDS[command], typo, "x")
    assert_clean_error(res, typo, f"did you mean {want}?")


def test_hints_never_name_another_commands_flag():
    res = run_cli("inspect", "m.pb", "--remove", "dropout")  # --remove is strip's
    assert res.code == 2 and "did you mean --remove" not in res.err and "Traceback" not in res.err


def test_version_names_graphtools_and_what_it_runs_with():
    res = run_cli("--version")
    assert res.code == 0 and res.out.startswith(f"graphtools {graphtools.__version__} (tensorflow ")
    assert "ai-edge-litert" in res.out


def _flagged_graph(path):
    from builders import tf, tf1

    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        keep = tf1.placeholder(tf.float32, [], name="keep")
        h = tf.identity(tf.identity(x * 2.0))
        tf.identity(tf1.nn.dropout(h, keep_prob=keep) + 1.0, name="out")
    graphtools.save_graph_def(g.as_graph_def(), str(path))


def test_bind_does_not_switch_off_the_default_passes(tmp_path):
    src = tmp_path / "g.pb"
    _flagged_graph(src)
    res = run_cli("strip", "--in", src, "--out", tmp_path / "all.pb", "--outputs", "out", "--bind", "keep=1.0",
                  "--json")
    assert res.code == 0, res.err
    rep = json.loads(res.out)
    ran = {p["pass"] for p in rep["passes"]}
    assert {"bind_placeholders", "strip_dropout"} <= ran and rep["verified"]
    assert "RandomUniform" not in rep["ops_after"]
    res = run_cli("strip", "--in", src, "--out", tmp_path / "bind.pb", "--outputs", "out", "--bind", "keep=1.0",
                  "--remove", "none", "--json")  # only the binding
    assert res.code == 0, res.err
    rep = json.loads(res.out)
    assert "strip_dropout" not in {p["pass"] for p in rep["passes"]}
    assert "keep" not in {n.name for n in graphtools.load_graph_def(str(tmp_path / "bind.pb")).node if n.op == "Placeholder"}


def test_bad_input_that_needs_no_tensorflow_is_refused_before_any_work(tmp_path, fixture_frozen):
    src = tmp_path / "g.pb"
    graphtools.save_graph_def(fixture_frozen.graph_def, str(src))
    (tmp_path / "outdir").mkdir()
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    (tmp_path / "empty_dir").mkdir()
    cases = [
        (["strip", "--in", src, "--out", tmp_path / "outdir"], "is a directory; give a file name"),
        (["convert", "--in", src, "--out", tmp_path / "outdir"], "is a directory; give a file name"),
        (["freeze", "--graph", src, "--out", tmp_path / "outdir"], "is a directory; give a file name"),
        (["strip", "--in", tmp_path / "empty_dir", "--out", tmp_path / "o.pb"], "give a GraphDef file"),
        (["convert", "--in", src, "--out", tmp_path / "m.tflite", "--quantize", "int8", "--representative-data",
          tmp_path / "empty.npy"], "--representative-data"),
        (["compare", "--graph", src, "--tflite", src, "--data", tmp_path / "junk.npy"], "no NUMPY header"),
        (["pipeline", "--data", tmp_path / "empty.npy", "--out-dir", tmp_path / "p"], "is empty"),
        (["pipeline", "--labels", tmp_path / "missing.txt", "--out-dir", tmp_path / "p"], "--labels"),
    ]
    before = sorted(os.listdir(tmp_path))
    for argv, needle in cases:
        p = _trapped(*argv)  # (refused before TensorFlow is even imported)
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        assert p.returncode == 2 and len(lines) == 1 and needle in lines[0], (argv, p.stderr)
    assert sorted(os.listdir(tmp_path)) == before  # nothing written
    # the bundled fixture's pipeline uses the data it is given, not its own digits
    res = run_cli("pipeline", "--data", tmp_path / "junk.npy", "--out-dir", tmp_path / "p")
    assert_clean_error(res, "junk.npy")


def test_ctrl_c_while_writing_finishes_the_whole_set_and_says_so(tmp_path, monkeypatch):
    import signal

    from graphtools.core import io

    real, calls = io.atomic_write, []

    def interrupted_write(path, data):  # Ctrl-C arrives as the first file is written
        if not calls:
            os.kill(os.getpid(), signal.SIGINT)
        calls.append(path)
        return real(path, data)

    monkeypatch.setattr(io, "atomic_write", interrupted_write)
    res = run_cli("pipeline", "--quantize", "none,dynamic", "--out-dir", tmp_path / "out", "--logdir", tmp_path / "logs")
    assert res.code == 0, res.err
    assert "interrupted while writing" in res.err and "finished writing them" in res.err
    assert sorted(os.listdir(tmp_path / "out")) == ["frozen.pb", "model.dynamic.tflite", "model.tflite",
                                                     "optimized.pb", "report.html", "report.json"]
    assert sorted(os.listdir(tmp_path / "logs")) == ["compare", "freeze", "optimized", "tflite"]


def test_strip_and_pipeline_share_one_tensorboard_layout(tmp_path, fixture_frozen):
    from graphtools.presentation import tensorboard

    src = tmp_path / "g.pb"
    graphtools.save_graph_def(fixture_frozen.graph_def, str(src))
    logs = tmp_path / "logs"
    res = run_cli("strip", "--in", src, "--out", tmp_path / "o.pb", "--outputs", "prediction",
                  "--logdir", logs / "optimized")
    assert res.code == 0, res.err
    assert tensorboard.previous_event_files(str(logs / "optimized" / "after"))
    res = run_cli("pipeline", "--quantize", "none", "--out-dir", tmp_path / "out", "--logdir", logs)
    assert res.code == 0, res.err
    assert tensorboard.previous_event_files(str(logs / "optimized"))
    for run in ("before", "after"):  # the stale strip runs are gone: one 'optimized' run
        assert not tensorboard.previous_event_files(str(logs / "optimized" / run))
    res = run_cli("strip", "--in", src, "--out", tmp_path / "o.pb", "--outputs", "prediction",
                  "--logdir", logs / "optimized")
    assert res.code == 0, res.err
    assert not tensorboard.previous_event_files(str(logs / "optimized"))  # and the other way round


def test_freeze_and_inspect_check_the_inputs_they_are_given(tmp_path):
    """--inputs in freeze and inspect: named placeholders come first; a name that is not a
    placeholder the outputs read is one clear line, and freeze writes nothing."""
    from builders import tf, tf1

    g = tf.Graph()
    with g.as_default():
        a = tf1.placeholder(tf.float32, [None, 4], name="a")
        b = tf1.placeholder(tf.float32, [None, 4], name="b")
        tf1.placeholder(tf.float32, [None, 4], name="unused")
        tf.identity(tf.multiply(a, b, name="mul"), name="out")
    src = str(tmp_path / "g.pb")
    graphtools.save_graph_def(g.as_graph_def(), src)
    out = tmp_path / "f.pb"
    res = run_cli("freeze", "--graph", src, "--outputs", "out", "--inputs", "b,a", "--out", out, "--logdir", "", "--json")
    assert res.code == 0, res.err
    assert [i["name"] for i in json.loads(res.out)["inputs"]] == ["b", "a"]
    res = run_cli("inspect", src, "--outputs", "out", "--inputs", "b", "--json")
    assert res.code == 0 and [i["name"] for i in json.loads(res.out)["inputs"]] == ["b", "a"]
    out.unlink()
    for inputs, want in [("mul", "is a Mul, not a placeholder"), ("unused", "do not read it"),
                         ("nope", "'nope' is not in")]:
        res = run_cli("freeze", "--graph", src, "--outputs", "out", "--inputs", inputs, "--out", out, "--logdir", "")
        assert_clean_error(res, "--inputs", want)
        assert not out.exists()
        assert_clean_error(run_cli("inspect", src, "--outputs", "out", "--inputs", inputs), want)
