"""Issue 17.1: report.html, checked in a real browser (headless Chromium: .ci/run installs it)."""
import html.parser
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from conftest import ROOT, assert_clean_error, run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
# .ci/run installs Chromium and sets GRAPHTOOLS_REQUIRE_BROWSER=1: there a missing browser fails the run
REQUIRED = os.environ.get("GRAPHTOOLS_REQUIRE_BROWSER") == "1"
browser = pytest.mark.skipif(CHROMIUM is None and not REQUIRED,
                             reason="headless Chromium is not installed (apt-get install chromium)")
# the README's picture, made by this test: GRAPHTOOLS_UPDATE_SCREENSHOT=1 python -m pytest tests/test_report.py
SCREENSHOT = os.path.join(ROOT, "tests", "data", "report.png")


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("rep")
    res = run_cli("pipeline", "--out-dir", d / "out", "--logdir", d / "logs", "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["report_html"] == str(d / "out" / "report.html")
    # a per-op run into OUT/per_op: the report draws its chart
    res = run_cli("compare", "--graph", d / "out" / "optimized.pb", "--tflite", d / "out" / "model.int8.tflite",
                  "--per-op", d / "out" / "per_op", "--per-op-samples", "4", "--logdir", "")
    assert res.code == 0, res.err
    res = run_cli("report", d / "out", "--json")
    assert res.code == 0, res.err
    return d / "out"


def _chromium(*args, timeout=120):
    assert CHROMIUM, "GRAPHTOOLS_REQUIRE_BROWSER=1 but no chromium on PATH: apt-get install chromium"
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000", *args],
                          capture_output=True, text=True, timeout=timeout)


def _console_errors(stderr):
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


class _DOM(html.parser.HTMLParser):
    """The elements with ids and data-* attributes, with their text, from Chromium's --dump-dom."""

    def __init__(self):
        super().__init__()
        self.ids, self.cells, self.rows, self.stack, self.text = set(), [], [], [], []
        self.images = 0
        self.svgs = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img" and a.get("src", "").startswith("data:image/png;base64,"):
            self.images += 1
        if tag == "svg":
            self.svgs += 1
        if tag == "tr" and "data-model" in a:
            self.rows.append(a["data-model"])
        if tag == "tr":
            self.stack.append(("tr", a))
        if tag == "td" and "data-k" in a:
            self.cells.append((self.rows[-1] if self.rows else None, a["data-k"], a.get("data-v"), a))

    def handle_endtag(self, tag):
        if tag == "tr" and self.stack:
            self.stack.pop()


@browser
def test_the_browser_detects_console_errors(tmp_path):
    """(The check below can fail: a page with a script error is caught.)"""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    r = _chromium("--dump-dom", bad.as_uri())
    assert _console_errors(r.stderr), r.stderr[-500:]


@browser
def test_report_renders_in_chromium_with_the_numbers_of_report_json(out, tmp_path):
    page = out / "report.html"
    text = page.read_text()
    import re

    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # nothing is fetched
    assert "<script src" not in text and "<link" not in text
    r = _chromium("--dump-dom", page.as_uri())
    assert r.returncode == 0 and not _console_errors(r.stderr), _console_errors(r.stderr)
    dom = _DOM()
    dom.feed(r.stdout)
    assert {"summary", "chart-size-accuracy", "per-class", "worst", "samples", "strip", "per-op", "diff"} <= dom.ids
    rep = json.loads((out / "report.json").read_text())
    # the first screen: a verdict per model and the recommended model, as report.json has them
    assert {"verdicts", "recommended"} <= dom.ids and r.stdout.index("id=\"verdicts\"") < r.stdout.index("id=\"summary\"")
    for m in rep["compare"]["models"]:
        assert f'data-model="{os.path.basename(m["model"])}" data-verdict="{m["verdict"]}"' in r.stdout
    assert os.path.basename(rep["recommended"]["model"]) in r.stdout.split('id="recommended"')[1][:300]
    # the per-sample table: worst first (a disagreement on top when there is one), the worst 50 shown
    table = r.stdout.split('id="samples"')[1]
    body = table.split("<tbody>")[1].split("</tbody>")[0]
    rows = body.split("<tr")[1:]
    assert len(rows) > 50 and sum('class="more"' in row or "more" in row.split(">")[0] for row in rows) == len(rows) - 50
    if any("disagree" in row.split(">")[0] for row in rows):
        assert "disagree" in rows[0].split(">")[0] and 'class="off"' in rows[0]
    assert 'id="show-all"' in table
    for m in rep["compare"]["models"]:
        name = os.path.basename(m["model"])
        o = m["outputs"]["prediction"]
        got = {k: v for row, k, v, _ in dom.cells if row == name}
        assert int(got["size_bytes"]) == m["size_bytes"] and int(got["operators"]) == m["operators"]
        assert float(got["max_abs_diff"]) == pytest.approx(o["max_abs_diff"], rel=1e-9)
        assert float(got["agreement"]) == pytest.approx(o["top1_agreement"]) and \
            float(got["accuracy"]) == pytest.approx(o["accuracy"])
    assert dom.svgs >= 2 + len(rep["compare"]["models"])  # the chart, a confusion matrix per model, the per-op chart
    worst = {os.path.basename(m["model"]): m["outputs"]["prediction"]["top1_agreement"] for m in rep["compare"]["models"]}
    if min(worst.values()) < 1:
        assert dom.images >= 1  # thumbnails of the disagreements
    shot = tmp_path / "shot.png"
    r = _chromium("--window-size=1100,1500", f"--screenshot={shot}", page.as_uri())
    assert r.returncode == 0 and shot.exists(), r.stderr[-300:]
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))
    assert pixels.std() > 0.05 and (pixels[..., :3] < 0.5).mean() > 0.01  # not blank: text, tables, charts
    if os.environ.get("GRAPHTOOLS_UPDATE_SCREENSHOT") == "1":
        small = tmp_path / "small.png"
        _chromium("--window-size=900,1100", "--force-device-scale-factor=0.75", f"--screenshot={small}", page.as_uri())
        os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
        shutil.copyfile(small, SCREENSHOT)


def test_per_class_metrics_are_the_books_definitions():
    from graphtools.presentation.report import class_metrics

    m = class_metrics([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0], 3)
    # rows: truth, columns: prediction (truth 0 predicted 2 once, truth 1 predicted 0 once)
    assert m["confusion"] == [[1, 0, 1], [1, 2, 0], [0, 0, 1]] and m["support"] == [2, 3, 1]
    assert np.allclose(m["precision"], [0.5, 1.0, 0.5]) and np.allclose(m["recall"], [0.5, 2 / 3, 1.0])
    assert np.allclose(m["f1"], [0.5, 0.8, 2 / 3])


def test_report_bad_input_is_one_line(tmp_path):
    assert_clean_error(run_cli("report", tmp_path / "none"), "not a directory")
    assert_clean_error(run_cli("report", tmp_path), "no report.json")
