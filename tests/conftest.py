import contextlib
import hashlib
import io
import os
import subprocess
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
FIXTURES = os.path.join(ROOT, "fixtures")
FIXTURE_CKPT = os.path.join(FIXTURES, "digits_cnn", "model.ckpt")
SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared"))
CORPUS = os.path.join(SHARED, "corpus")
MNIST = os.path.join(SHARED, "data", "mnist")


def pytest_collection_modifyitems(config, items):
    """Heavy tests (every corpus case through every route) run only when asked: -m heavy (.ci/run does)."""
    if "heavy" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="heavy: run with -m heavy")
    for item in items:
        if "heavy" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "heavy: long acceptance runs (every corpus case, every route); -m heavy")
    # TensorFlow, tf_keras and the legacy layers the tests build warn about their own deprecation
    for pattern in ("ignore::DeprecationWarning", "ignore::UserWarning:tf_keras.*",
                    "ignore:`tf.keras.backend.set_learning_phase`:UserWarning",
                    "ignore::UserWarning:builders", "ignore::UserWarning:test_strip"):
        config.addinivalue_line("filterwarnings", pattern)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Result:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err


def run_cli(*argv):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    from graphtools.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv], guard=False)
    return Result(code, out.getvalue(), err.getvalue())


def run_script(script, *argv, env=None):
    """Run scripts/<script>.py in a fresh interpreter (real exit codes, real stderr)."""
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", script + ".py")] + [str(a) for a in argv],
                       capture_output=True, text=True, env=e, timeout=300)
    return Result(p.returncode, p.stdout, p.stderr)


def assert_clean_error(res, *needles):
    """Exit 2, exactly one line on stderr, no traceback, naming what it should."""
    assert res.code == 2, (res.code, res.err)
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert len(lines) == 1, res.err
    assert "Traceback" not in res.err
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.fixture(scope="session")
def fixture_frozen(tmp_path_factory):
    """The bundled fixture frozen once for the session (FreezeResult)."""
    from graphtools.sources import freezing

    return freezing.freeze(ckpt=FIXTURE_CKPT, output_nodes="prediction,fc2/logits")


@pytest.fixture(scope="session")
def fixture_optimized(fixture_frozen):
    """The fixture frozen and stripped (remove all) to 'prediction', once for the session (GraphDef)."""
    from graphtools.surgery.stripping import strip

    return strip(fixture_frozen.graph_def, remove=["all"], outputs=["prediction"])


needs_corpus = pytest.mark.skipif(not os.path.isdir(CORPUS), reason="../shared/corpus not present")
needs_mnist = pytest.mark.skipif(not os.path.isdir(MNIST), reason="../shared/data/mnist not present")
