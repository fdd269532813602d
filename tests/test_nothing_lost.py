"""Nothing lost: inputs are never touched, a killed run leaves old files or none, one run per out dir,
and graphs past protobuf's 2 GB limit are refused up front."""
import os
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from conftest import FIXTURE_CKPT, FIXTURES, ROOT, assert_clean_error, run_cli, sha256


def _tree(d):
    """Every file under d with its bytes' hash and its modification time."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, d)] = (sha256(p), os.stat(p).st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, fixture_frozen):
    """A folder of every kind of input a command reads: checkpoint, frozen and stripped graphs, models, data."""
    import graphtools

    d = tmp_path_factory.mktemp("inputs")
    shutil.copytree(os.path.dirname(FIXTURE_CKPT), d / "ckpt")
    graphtools.save_graph_def(fixture_frozen.graph_def, str(d / "frozen.pb"))
    opt = graphtools.strip(fixture_frozen.graph_def, outputs=["prediction"])
    graphtools.save_graph_def(opt, str(d / "optimized.pb"))
    (d / "model.tflite").write_bytes(graphtools.convert(opt, quantize="none"))
    z = np.load(os.path.join(FIXTURES, "digits.npz"))
    np.save(d / "calib.npy", z["x_train"][:20])
    np.savez(d / "test.npz", x=z["x_test"][:50], y=z["y_test"][:50])
    return d


COMMANDS = {
    "inspect": lambda i, o: ["inspect", i / "ckpt" / "model.ckpt"],
    "freeze": lambda i, o: ["freeze", "--ckpt", i / "ckpt" / "model.ckpt", "--out", o / "f.pb", "--logdir", o / "l"],
    "strip": lambda i, o: ["strip", "--in", i / "frozen.pb", "--out", o / "s.pb", "--outputs", "prediction",
                           "--logdir", o / "l", "--report", o / "r.json"],
    "audit": lambda i, o: ["audit", i / "optimized.pb"],
    "convert": lambda i, o: ["convert", "--in", i / "optimized.pb", "--out", o / "m.tflite", "--quantize", "int8",
                             "--representative-data", i / "calib.npy"],
    "toco": lambda i, o: ["toco", f"--input_file={i / 'optimized.pb'}", f"--output_file={o / 't.tflite'}",
                          "--input_arrays=x", "--output_arrays=prediction", "--input_shapes=1,8,8,1"],
    "compare": lambda i, o: ["compare", "--graph", i / "optimized.pb", "--tflite", i / "model.tflite",
                             "--data", i / "test.npz", "--json"],
    "pipeline": lambda i, o: ["pipeline", "--ckpt", i / "ckpt" / "model.ckpt", "--output-nodes", "prediction",
                              "--data", i / "test.npz", "--quantize", "dynamic", "--out-dir", o / "out",
                              "--logdir", o / "logs"],
    "diff": lambda i, o: ["diff", i / "frozen.pb", i / "optimized.pb"],
    "bad-node": lambda i, o: ["strip", "--in", i / "frozen.pb", "--out", o / "s.pb", "--outputs", "nope"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_inputs_are_byte_identical_after_every_command(inputs, tmp_path, command):
    before = _tree(inputs)
    res = run_cli(*COMMANDS[command](inputs, tmp_path))
    assert res.code == (2 if command == "bad-node" else 0), res.err
    assert _tree(inputs) == before  # same bytes and not even rewritten (mtime unchanged)


# ---------------------------------------------------------------- killed mid-write

# A run of the real CLI whose N-th fsync (the moment between writing a temp file and renaming it into
# place) announces itself and stalls, so the test can kill -9 the process exactly mid-write.
DRIVER = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {root!r})
    stall_at, calls, real = int(sys.argv[1]), [0], os.fsync
    def fsync(fd):
        calls[0] += 1
        if calls[0] == stall_at:
            print("MID-WRITE", flush=True)
            time.sleep(600)
        return real(fd)
    os.fsync = fsync
    from graphtools.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def _kill_mid_write(tmp_path, stall_at, argv):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(root=ROOT))
    p = subprocess.Popen([sys.executable, str(driver), str(stall_at)] + [str(a) for a in argv],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in p.stdout:
            if line.strip() == "MID-WRITE":
                break
        else:
            raise AssertionError(f"the run ended before write {stall_at} (exit {p.wait()})")
    finally:
        p.kill()
        p.wait()


def test_killed_mid_write_leaves_old_output_or_none(tmp_path):
    out, logs = tmp_path / "out", tmp_path / "logs"
    common = ["pipeline", "--quantize", "none", "--out-dir", out, "--logdir", logs]
    res = run_cli(*common, "--remove", "dropout,training")  # the old output: optimized.pb differs from the new one
    assert res.code == 0, res.err
    old = {f: sha256(out / f) for f in os.listdir(out)}
    assert sorted(old) == ["frozen.pb", "model.tflite", "optimized.pb", "report.html", "report.json"]

    # killed while optimized.pb (write 2) is half done: it is still the old file, frozen.pb is complete
    _kill_mid_write(tmp_path, 2, common)
    files = sorted(os.listdir(out))
    assert any(f.startswith(".optimized.pb.") and f.endswith(".tmp") for f in files), files  # really mid-write
    assert {f: sha256(out / f) for f in old} == old

    # killed at model.tflite (write 3): optimized.pb is the new file in full, model.tflite the old one
    _kill_mid_write(tmp_path, 3, common)
    assert sha256(out / "optimized.pb") != old["optimized.pb"]
    assert sha256(out / "model.tflite") == old["model.tflite"]
    import graphtools

    assert "RandomUniform" not in {n.op for n in graphtools.load_graph_def(str(out / "optimized.pb")).node}

    # into an empty out dir, killed at the first write: no output at all
    fresh = tmp_path / "fresh"
    _kill_mid_write(tmp_path, 1, ["pipeline", "--quantize", "none", "--out-dir", fresh, "--logdir", logs])
    assert not [f for f in os.listdir(fresh) if not f.startswith(".")]

    # the next run takes over: no lock is left behind, the temp files are cleaned, everything is new
    res = run_cli(*common)
    assert res.code == 0, res.err
    assert sorted(os.listdir(out)) == sorted(old)
    assert sha256(out / "report.json") != old["report.json"]


# ---------------------------------------------------------------- one run per out dir

def test_two_pipelines_on_one_out_dir_refuse_instead_of_mixing(tmp_path):
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "graphtools.cli", "pipeline", "--quantize", "none", "--out-dir", str(out),
            "--logdir", str(tmp_path / "logs")]
    env = dict(os.environ, PYTHONPATH=ROOT)
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 120
    while not (out / ".graphtools.lock").exists():  # the first run holds the directory
        assert first.poll() is None and time.time() < deadline, first.communicate()
        time.sleep(0.05)
    second = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    out1, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert [line for line in second.stderr.splitlines() if line.strip()] == [
        f"graphtools pipeline: error: {out} is being written by another graphtools run (pid {first.pid}); "
        f"wait for it to finish or choose another --out-dir"]
    assert sorted(os.listdir(out)) == ["frozen.pb", "model.tflite", "optimized.pb", "report.html", "report.json"]
    # once the first has finished, the directory is free again
    assert run_cli("pipeline", "--quantize", "none", "--out-dir", out, "--logdir", tmp_path / "logs").code == 0


def test_dir_lock_is_released_by_a_failed_run_and_removes_an_empty_dir(tmp_path):
    from graphtools.core.io import DirLock

    d = tmp_path / "new"
    with pytest.raises(RuntimeError):
        with DirLock(str(d)):
            assert (d / DirLock.NAME).exists()
            with pytest.raises(Exception, match="being written by another graphtools run"):
                with DirLock(str(d)):
                    pass
            raise RuntimeError("stage failed")
    assert not d.exists()
    with DirLock(str(d)):  # free again
        (d / "kept").write_text("x")
    assert os.listdir(d) == ["kept"]


# ---------------------------------------------------------------- protobuf's 2 GB limit

@pytest.mark.parametrize("command", ["inspect", "strip", "audit", "convert"])
def test_graph_def_past_2gb_is_refused_before_reading(tmp_path, command):
    big = tmp_path / "huge.pb"
    with open(big, "wb") as f:  # a sparse file: 2.1 GB long, no disk used, nothing read
        f.truncate(2 ** 31 + 100 * 2 ** 20)
    argv = {"inspect": ["inspect", big], "audit": ["audit", big],
            "strip": ["strip", "--in", big, "--out", tmp_path / "o.pb", "--no-verify"],
            "convert": ["convert", "--in", big, "--out", tmp_path / "o.tflite"]}[command]
    res = run_cli(*argv)
    assert_clean_error(res, "huge.pb: 2.10 GB, past protobuf's 2 GB limit", "checkpoint with its .meta")
    assert sorted(os.listdir(tmp_path)) == ["huge.pb"]


def test_freeze_refuses_weights_that_would_pass_2gb(tmp_path, monkeypatch):
    from graphtools.core import io
    from graphtools.sources import session

    mg = io.load_meta_graph(FIXTURE_CKPT + ".meta")
    # the measure itself: the fixture's 13,770 float parameters the prediction needs
    assert session.variable_bytes(mg.graph_def, ["prediction"]) == 13770 * 4
    monkeypatch.setattr(session, "variable_bytes", lambda gd, outputs: 3 * 2 ** 30)
    res = run_cli("freeze", "--ckpt", FIXTURE_CKPT, "--out", tmp_path / "f.pb")
    assert_clean_error(res, "the frozen graph would be 3.00 GB, past protobuf's 2 GB limit", "from_saved_model")
    assert not (tmp_path / "f.pb").exists()


def test_writing_a_graph_def_past_2gb_is_refused(monkeypatch, fixture_frozen):
    from graphtools.core import io
    from graphtools.errors import InputError

    monkeypatch.setattr(io, "PROTO_LIMIT", 1000)
    with pytest.raises(InputError, match="past protobuf's 2 GB limit"):
        io.graph_def_bytes(fixture_frozen.graph_def)
