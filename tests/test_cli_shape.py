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
