"""Edges a newcomer hit (issue 24, section 4): each ends clean, in one line, before any work."""
import sys

import numpy as np

from conftest import FIXTURE_CKPT, run_cli


def test_a_logdir_that_cannot_be_written_is_refused_before_any_work(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    for logdir, why in ((blocker, "is a file"), (blocker / "sub", "is a file, not a directory"),
                        ("/proc/graphtools-logs", "cannot write")):
        out = tmp_path / f"out{len(str(logdir))}"
        res = run_cli("pipeline", "--out-dir", out, "--logdir", logdir, "--quantize", "none")
        assert res.code == 2 and why in res.err and "Traceback" not in res.err, res.err
        assert len(res.err.strip().splitlines()) == 1 and not out.exists()


def test_compare_with_a_data_file_of_no_samples_is_one_line(tmp_path):
    res = run_cli("pipeline", "--out-dir", tmp_path / "out", "--logdir", "", "--quantize", "none", "--no-report")
    assert res.code == 0, res.err
    np.save(tmp_path / "empty.npy", np.zeros((0, 8, 8, 1), np.float32))
    res = run_cli("compare", "--graph", tmp_path / "out" / "optimized.pb", "--tflite", tmp_path / "out" / "model.tflite",
                  "--data", tmp_path / "empty.npy", "--logdir", "")
    assert res.code == 2 and "no samples" in res.err and len(res.err.strip().splitlines()) == 1, res.err


def test_a_note_shared_by_every_model_is_said_once_and_names_are_cut_between_words(tmp_path):
    from graphtools.cli.common import _short

    res = run_cli("pipeline", "--out-dir", tmp_path / "out", "--logdir", "", "--quantize", "none,float16",
                  "--no-report")
    assert res.code == 0, res.err
    out = tmp_path / "out"
    res = run_cli("compare", "--graph", out / "optimized.pb", "--tflite", out / "model.tflite",
                  out / "model.float16.tflite", "--logdir", "")
    assert res.code == 0, res.err
    notes = [line for line in res.out.splitlines() if "note" in line]
    assert len(notes) == len(set(notes)) and sum("signature runner" in n for n in notes) <= 1, res.out
    assert _short("transformer/expand/conv3/conv/Sigmoid", 20) == "…/conv3/conv/Sigmoid"
    assert _short("a_single_very_long_name", 8) == "a_single_very_long_name"  # (whole, never cut mid-word)


def test_the_python_api_takes_outputs_and_inputs_everywhere_and_stays_quiet(capfd):
    import pytest

    import graphtools
    from graphtools.errors import InputError

    a = graphtools.freeze(ckpt=FIXTURE_CKPT, outputs="prediction", inputs=["x"])
    b = graphtools.freeze(ckpt=FIXTURE_CKPT, output_nodes="prediction")
    assert a.outputs == b.outputs == ["prediction"] and len(a.graph_def.node) == len(b.graph_def.node)
    with pytest.raises(InputError, match="not both"):
        graphtools.freeze(ckpt=FIXTURE_CKPT, outputs="prediction", output_nodes="logits")
    err = capfd.readouterr().err
    assert "deprecated" not in err and "Instructions for updating" not in err, err


def test_the_model_file_is_one_positional_file_in_every_command_with_the_old_flags_as_aliases(tmp_path):
    res = run_cli("pipeline", "--out-dir", tmp_path / "out", "--logdir", "", "--quantize", "none", "--no-report")
    assert res.code == 0, res.err
    frozen, model = tmp_path / "out" / "frozen.pb", tmp_path / "out" / "model.tflite"
    for argv in (["inspect", frozen], ["audit", frozen], ["strip", frozen, "--out", tmp_path / "a.pb", "--logdir", ""],
                 ["convert", tmp_path / "out" / "optimized.pb", "--out", tmp_path / "a.tflite", "--logdir", ""],
                 ["compare", tmp_path / "out" / "optimized.pb", "--tflite", model, "--logdir", ""]):
        assert run_cli(*argv).code in (0, 1), argv  # (audit exits 1 when it finds something)
    assert run_cli("strip", "--in", frozen, "--out", tmp_path / "b.pb", "--logdir", "").code == 0
    assert run_cli("compare", "--graph", tmp_path / "out" / "optimized.pb", "--tflite", model, "--logdir", "").code == 0
    res = run_cli("convert", frozen, "--in", tmp_path / "out" / "optimized.pb", "--out", tmp_path / "c.tflite")
    assert res.code == 2 and "two model files" in res.err
    res = run_cli("strip", "--out", tmp_path / "d.pb")
    assert res.code == 2 and "give the model file" in res.err
    help_text = run_cli("convert", "--help").out
    assert "FILE" in help_text and "--in " not in help_text


def test_the_relay_of_a_child_s_output_survives_a_reader_that_left(monkeypatch):
    """The deterministic half of the pipe race: the parent's stdout raises BrokenPipe on the first write;
    the relay drains the child's output without writing and returns its stderr and notes."""
    import os

    from graphtools import guard

    class Closed:
        def write(self, _):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

        def fileno(self):
            return os.open(os.devnull, os.O_WRONLY)

    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    st_r, st_w = os.pipe()
    os.write(out_w, b"line one\n" * 1000)
    os.write(err_w, b"a warning\n")
    os.write(st_w, b"stage compare\n")
    for fd in (out_w, err_w, st_w):
        os.close(fd)
    saved = os.dup(1)
    monkeypatch.setattr(sys, "stdout", Closed())
    try:
        err, status = guard._relay(out_r, err_r, st_r, verbose=False)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    assert err == b"a warning\n" and status["stage"] == "compare"
