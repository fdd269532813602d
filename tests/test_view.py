"""Issue 17.2: graphtools view -- the stages in Model Explorer on 127.0.0.1, with overlays."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from conftest import ROOT, assert_clean_error, run_cli


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("view")
    res = run_cli("pipeline", "--out-dir", d / "out", "--logdir", d / "logs", "--quantize", "none,int8", "--no-report")
    assert res.code == 0, res.err
    res = run_cli("compare", "--graph", d / "out" / "optimized.pb", "--tflite", d / "out" / "model.int8.tflite",
                  "--per-op", d / "out" / "per_op", "--per-op-samples", "3", "--logdir", "")
    assert res.code == 0, res.err
    return d / "out"


def test_overlays_mark_what_strip_removed_and_carry_the_per_op_error(out):
    from graphtools.core import io
    from graphtools.core.analysis import diff

    res = run_cli("view", out, "--overlays-only", "--json")
    assert res.code == 0, res.err
    r = json.loads(res.out)
    assert [os.path.basename(m) for m in r["models"]] == ["frozen.pb", "optimized.pb", "model.tflite", "model.int8.tflite"]
    frozen = json.loads((out / "view" / "frozen.node_data.json").read_text())
    d = diff(io.load_graph_def(str(out / "frozen.pb")), io.load_graph_def(str(out / "optimized.pb")))
    removed = {k for k, v in frozen["results"].items() if v["value"] == 1}
    assert removed == set(d["removed"]) and removed and frozen["thresholds"]
    lite = json.loads((out / "view" / "model.int8.node_data.json").read_text())
    assert lite["results"] and all(isinstance(v["value"], float) for v in lite["results"].values())


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_server_serves_the_page_the_models_and_the_overlays_on_loopback(out):
    pytest.importorskip("model_explorer")
    port = _free_port()
    p = subprocess.Popen([sys.executable, "-m", "graphtools.cli", "view", str(out), "--no-browser", "--port", str(port)],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        deadline = time.time() + 120
        while url is None and time.time() < deadline:
            line = p.stdout.readline()
            if not line and p.poll() is not None:
                break
            if line.startswith("Model Explorer: "):
                url = line.split(": ", 1)[1].strip()
        assert url and url.startswith(f"http://127.0.0.1:{port}/?data="), url
        page = None
        while time.time() < deadline:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert page and "<html" in page.lower()
        data = json.loads(urllib.parse.unquote(url.split("?data=", 1)[1]))
        assert [os.path.basename(m["url"]) for m in data["models"]] == \
            ["frozen.pb", "optimized.pb", "model.tflite", "model.int8.tflite"]
        assert data["nodeDataTargets"] == ["frozen.pb", "model.int8.tflite"]
        for model in ("model.int8.tflite", "frozen.pb"):  # Model Explorer's own adapters load each stage
            ext = "builtin_tflite_flatbuffer" if model.endswith(".tflite") else "builtin_graphdef"
            body = json.dumps({"extensionId": ext, "cmdId": "convert", "modelPath": str(out / model), "settings": {},
                               "deleteAfterConversion": False}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/apipost/v1/send_command", data=body,
                                         headers={"Content-Type": "application/json"})
            graphs = json.load(urllib.request.urlopen(req, timeout=60))
            assert graphs["graphCollections"][0]["graphs"][0]["nodes"], model
        q = urllib.parse.quote(data["nodeData"][1])
        overlay = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/read_text_file?path={q}", timeout=10))
        assert json.loads(overlay["content"])["results"]
    finally:
        p.terminate()
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    with pytest.raises(OSError):  # stopped: nothing listens any more
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3)


def test_view_bad_input(tmp_path):
    assert_clean_error(run_cli("view", tmp_path / "none"), "not a directory")
    assert_clean_error(run_cli("view", tmp_path, "--overlays-only"), "no frozen.pb and optimized.pb")


def test_without_model_explorer_or_netron_the_way_to_install_is_said(out, monkeypatch):
    from graphtools.presentation import view
    from graphtools.errors import InputError

    monkeypatch.setattr(view, "backend", lambda: None)
    with pytest.raises(InputError, match=r"pip install 'graphtools\[view\]'"):
        view.serve(view.overlays(str(out)), port=_free_port())


def test_netron_is_the_fallback_where_model_explorer_is_missing(out, monkeypatch):
    """Netron serves the float .tflite on loopback when Model Explorer is not installed."""
    pytest.importorskip("netron")
    import threading

    import netron

    from graphtools.presentation import view

    monkeypatch.setattr(view, "backend", lambda: "netron")
    monkeypatch.setattr(netron, "wait", lambda: None)  # (return instead of serving until Ctrl-C)
    port, said = _free_port(), []
    t = threading.Thread(target=view.serve, args=(view.overlays(str(out)), "127.0.0.1", port, False, said.append))
    t.start()
    t.join(60)
    try:
        assert said and "Netron" in said[0] and said[0].endswith("model.tflite")
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
        assert "<html" in page.lower()
    finally:
        netron.stop(("127.0.0.1", port))
