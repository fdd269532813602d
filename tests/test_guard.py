"""A native TensorFlow abort never kills a command: one line, exit 2, nothing written."""
import builders
from conftest import assert_clean_error, run_script
from graphtools import guard


def test_an_abort_in_strips_check_is_one_line_and_exit_2(tmp_path):
    pb = builders.aborting_graph(str(tmp_path / "abort.pb"))
    res = run_script("strip_ops", "--in", pb, "--out", tmp_path / "out.pb", "--outputs", "y", "--logdir", "")
    assert_clean_error(res, "TensorFlow aborted the process (SIGABRT)", "AbortOp")
    assert not (tmp_path / "out.pb").exists()


def test_a_conv_fed_the_wrong_rank_is_one_line_whether_its_kernel_aborts_or_refuses(tmp_path):
    """oneDNN's Conv2D kernel aborts on a rank-2 input, Eigen's refuses it: either way one line, exit 2."""
    pb = builders.conv_of_unknown_rank(str(tmp_path / "conv.pb"), hidden=True)
    res = run_script("strip_ops", "--in", pb, "--out", tmp_path / "out.pb", "--input-shapes", "4,4", "--logdir", "")
    assert_clean_error(res)
    line = res.err.strip()
    assert ("TensorFlow aborted the process (SIGABRT)" in line and "fed x float32[4, 4]" in line) or \
        "must be 4-dimensional" in line, line
    assert not (tmp_path / "out.pb").exists()


def test_an_abort_in_pipeline_leaves_no_out_dir_and_no_lock(tmp_path):
    pb = builders.aborting_graph(str(tmp_path / "abort.pb"))
    out, logs = tmp_path / "out", tmp_path / "logs"
    res = run_script("pipeline", "--graph", pb, "--inputs", "x", "--input-shapes", "4,4", "--output-nodes", "y",
                     "--out-dir", out, "--logdir", logs)
    assert_clean_error(res, "TensorFlow aborted the process")
    assert not out.exists() and not logs.exists()  # the lock file and the directory made for it are gone


def test_a_normal_run_passes_its_stderr_and_exit_code_through(tmp_path):
    res = run_script("inspect", tmp_path / "missing.pb")
    assert_clean_error(res, "missing.pb")


def test_abort_message_names_kernel_stage_and_check():
    err = ("F0000 00:00:1.1 2901 tensor_format.h:428] Check failed: index >= 0 Invalid index 3, 0, C\n"
           "*** Check failure stack trace: ***\n"
           "    @     0x7f  tensorflow::MklConvOp<>::Compute()\n")
    msg = guard.abort_message(6, err, "running the graph (fed x float32[4, 4])")
    assert msg.startswith("TensorFlow aborted the process (SIGABRT) in the MklConvOp kernel while running the graph")
    assert "Check failed: index >= 0 Invalid index 3, 0, C (tensor_format.h)" in msg
    assert "\n" not in msg
    assert guard.abort_message(11, "", "").startswith("TensorFlow aborted the process (SIGSEGV);")


def test_a_rank_that_cannot_feed_the_first_op_is_refused_before_tensorflow_runs(tmp_path):
    pb = builders.conv_of_unknown_rank(str(tmp_path / "conv.pb"))
    res = run_script("strip_ops", "--in", pb, "--out", tmp_path / "out.pb", "--input-shapes", "4,4", "--logdir", "")
    assert_clean_error(res, "input x has shape [4, 4] but feeds y (Conv2D), which needs rank 4", "--input-shapes")
    assert "aborted" not in res.err
    from conftest import run_cli

    res = run_cli("audit", pb, "--input-shapes", "1,64")
    assert res.code == 1 and "input x has rank 2 ([1,64]) but feeds y (Conv2D), which needs rank 4" in res.out
    res = run_cli("convert", "--in", pb, "--out", tmp_path / "m.tflite", "--input-shapes", "1,64")
    assert_clean_error(res, "node y (Conv2D) needs a rank-4 input but gets rank 2", "--input-shapes")
    assert run_cli("audit", pb, "--input-shapes", "1,8,8,1").code == 0


def test_an_unexpected_failure_in_the_guarded_child_shows_its_traceback_with_verbose(capfd):
    """--verbose promises the traceback of an internal error; the forked child gives it, and one line without."""
    from graphtools import guard

    def broken():
        raise ZeroDivisionError("boom")

    for verbose in (True, False):
        code = guard.run_guarded(broken, "graphtools test", verbose=verbose)
        err = capfd.readouterr().err
        assert code != 0 and "internal error: ZeroDivisionError: boom" in err
        assert ("Traceback (most recent call last)" in err and "in broken" in err) == verbose, err
