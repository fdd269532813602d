"""Every stage's graph is readable by TensorBoard's own event-file reader."""
import os

import graphtools
from conftest import FIXTURE_CKPT, run_cli
from graphtools.presentation import tensorboard


def _tb_graph(logdir):
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance={event_accumulator.GRAPH: 1,
                                                                          event_accumulator.TENSORS: 10})
    acc.Reload()
    return acc


def test_freeze_writes_the_frozen_graph_for_tensorboard(tmp_path):
    logdir = tmp_path / "logs" / "freeze"
    out = tmp_path / "frozen.pb"
    assert run_cli("freeze", "--ckpt", FIXTURE_CKPT, "--out", out, "--logdir", logdir).code == 0
    acc = _tb_graph(logdir)
    shown = graphtools.load_graph_def(str(out)).__class__()
    shown.ParseFromString(acc.Graph().SerializeToString())
    assert shown == graphtools.load_graph_def(str(out))
    assert "freeze/summary" in acc.Tags()["tensors"]
    text = acc.Tensors("freeze/summary")[0].tensor_proto.string_val[0].decode()
    assert "prediction" in text and "33 variables" in text


def test_rerun_replaces_its_own_event_file_and_keeps_others(tmp_path):
    logdir = tmp_path / "run"
    logdir.mkdir()
    foreign = logdir / "events.out.tfevents.123.someone_else"
    foreign.write_bytes(b"")
    for _ in range(2):
        assert run_cli("freeze", "--ckpt", FIXTURE_CKPT, "--out", tmp_path / "f.pb", "--logdir", logdir).code == 0
    assert len(tensorboard.previous_event_files(str(logdir))) == 1
    assert foreign.exists()
    res = run_cli("freeze", "--ckpt", FIXTURE_CKPT, "--out", tmp_path / "f.pb", "--logdir", logdir)
    assert "replaced the previous run's event file" in res.out


def test_no_logdir_writes_no_events(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli("freeze", "--ckpt", FIXTURE_CKPT, "--out", "f.pb", "--logdir", "").code == 0
    assert sorted(os.listdir(tmp_path)) == ["f.pb"]
