"""Bad input ends in one clear line on stderr, exit code 2, no traceback, no output left behind."""
import os
import shutil

import pytest

from conftest import FIXTURE_CKPT, assert_clean_error, run_cli, run_script, sha256
from graphtools.core import io as gio
from graphtools.errors import InputError


@pytest.fixture
def ckpt_copy(tmp_path):
    d = tmp_path / "ckpt"
    d.mkdir()
    for f in os.listdir(os.path.dirname(FIXTURE_CKPT)):
        shutil.copy(os.path.join(os.path.dirname(FIXTURE_CKPT), f), d / f)
    return str(d / "model.ckpt")


def _no_outputs(tmp_path, name="out.pb"):
    left = [p for p in tmp_path.rglob("*") if p.name == name or p.name.endswith(".tmp")]
    assert not left, left


def test_missing_path(tmp_path):
    assert_clean_error(run_cli("inspect", tmp_path / "nope.pb"), "nope.pb", "no such file")
    res = run_cli("freeze", "--ckpt", tmp_path / "nope", "--out", tmp_path / "out.pb")
    assert_clean_error(res, "nope")
    _no_outputs(tmp_path)


@pytest.mark.parametrize("content", [b"", os.urandom(2048), b"node {\n name: 'x' op: }}}"],
                         ids=["empty", "random", "bad_text"])
def test_garbage_graph_files(tmp_path, content):
    bad = tmp_path / "bad.pb"
    bad.write_bytes(content)
    for argv in (("inspect", bad), ("freeze", "--graph", bad, "--out", tmp_path / "out.pb")):
        assert_clean_error(run_cli(*argv), "bad.pb")
    _no_outputs(tmp_path)


def test_truncated_graph(tmp_path, fixture_frozen):
    data = fixture_frozen.graph_def.SerializeToString()
    for cut in (len(data) // 2, len(data) - 3, 7):
        bad = tmp_path / "cut.pb"
        bad.write_bytes(data[:cut])
        assert_clean_error(run_cli("inspect", bad), "cut.pb")


def test_tflite_where_a_graph_def_is_expected(tmp_path):
    fake = tmp_path / "model.pb"
    fake.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 64)
    res = run_cli("freeze", "--graph", fake, "--out", tmp_path / "out.pb")
    assert_clean_error(res, "model.pb", "TensorFlow Lite model")
    with pytest.raises(InputError, match="TensorFlow Lite"):
        gio.load_graph_def(str(fake))


def test_checkpoint_with_missing_data_file(tmp_path, ckpt_copy):
    os.remove(ckpt_copy + ".data-00000-of-00001")
    res = run_cli("freeze", "--ckpt", ckpt_copy, "--out", tmp_path / "out.pb")
    assert_clean_error(res, "model.ckpt", "no data file")
    _no_outputs(tmp_path)


def test_checkpoint_with_missing_shard(tmp_path, ckpt_copy):
    os.rename(ckpt_copy + ".data-00000-of-00001", ckpt_copy + ".data-00000-of-00002")
    res = run_cli("freeze", "--ckpt", ckpt_copy, "--out", tmp_path / "out.pb")
    assert_clean_error(res, "model.ckpt.data-00001-of-00002", "shard missing")


@pytest.mark.parametrize("which", [".index", ".data-00000-of-00001", ".meta"])
def test_corrupt_checkpoint_files(tmp_path, ckpt_copy, which):
    path = ckpt_copy + which
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 3] + os.urandom(64))
    res = run_cli("freeze", "--ckpt", ckpt_copy, "--out", tmp_path / "out.pb", "--logdir", tmp_path / "logs")
    assert_clean_error(res, "model.ckpt")
    _no_outputs(tmp_path)


def test_unknown_output_node_names_closest(tmp_path):
    res = run_cli("freeze", "--ckpt", FIXTURE_CKPT, "--output-nodes", "fc2/logit", "--out", tmp_path / "out.pb")
    assert_clean_error(res, "fc2/logit", "closest: fc2/logits")
    _no_outputs(tmp_path)


def test_unknown_flag_names_the_nearest():
    res = run_cli("freeze", "--output-node", "x")
    assert_clean_error(res, "--output-node", "did you mean --outputs")  # (the alias --output-nodes is hidden)


def test_input_files_are_never_modified(tmp_path):
    files = [FIXTURE_CKPT + s for s in (".meta", ".index", ".data-00000-of-00001")]
    before = [sha256(f) for f in files]
    run_cli("freeze", "--ckpt", FIXTURE_CKPT, "--out", tmp_path / "a.pb", "--logdir", tmp_path / "l")
    run_cli("inspect", FIXTURE_CKPT)
    assert [sha256(f) for f in files] == before


def test_output_may_not_overwrite_an_input(tmp_path, ckpt_copy):
    meta = ckpt_copy + ".meta"
    before = sha256(meta)
    res = run_cli("freeze", "--ckpt", ckpt_copy, "--out", meta, "--logdir", "")
    assert_clean_error(res, "is also an input")
    assert sha256(meta) == before


def test_atomic_write_keeps_old_content_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "out.pb"
    target.write_bytes(b"old")

    def boom(*a):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        gio.atomic_write(str(target), b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.pb"]


def test_real_process_has_no_traceback(tmp_path):
    bad = tmp_path / "random.pb"
    bad.write_bytes(os.urandom(512))
    res = run_script("inspect", bad)
    assert_clean_error(res, "random.pb")
