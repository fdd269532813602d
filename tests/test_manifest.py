"""pipeline --manifest: many models in parallel worker processes, resumable, failures isolated."""
import json
import os

import pytest

from conftest import FIXTURE_CKPT, assert_clean_error, run_cli


def _manifest(tmp_path, entries):
    p = tmp_path / "models.json"
    p.write_text(json.dumps(entries))
    return p


@pytest.mark.heavy  # (28 s: four pipelines in two workers; .ci/run runs it with the other heavy tests)
def test_manifest_runs_in_parallel_isolates_failures_and_resumes(tmp_path):
    (tmp_path / "broken.pb").write_bytes(b"\x08\x01garbage that is no GraphDef")
    entries = [
        {"name": "digits", "ckpt": FIXTURE_CKPT, "output_nodes": "prediction", "quantize": "none"},
        {"name": "digits-dynamic", "ckpt": FIXTURE_CKPT, "output_nodes": ["prediction"], "quantize": "dynamic",
         "remove": ["all"]},
        {"name": "broken", "graph": "broken.pb"},  # relative to the manifest
        {"name": "hangs", "ckpt": FIXTURE_CKPT, "timeout": 1},
    ]
    m = _manifest(tmp_path, entries)
    out, logs = tmp_path / "out", tmp_path / "logs"
    res = run_cli("pipeline", "--manifest", m, "--jobs", "2", "--out-dir", out, "--logdir", logs, "--json")
    assert res.code == 1, res.err  # some entries failed: the others still finished
    r = json.loads(res.out)
    status = {e["name"]: e["status"] for e in r["models"]}
    assert status == {"digits": "done", "digits-dynamic": "done", "broken": "failed", "hangs": "failed"}
    assert [e["name"] for e in r["models"]] == [e["name"] for e in entries]  # every entry, in manifest order
    assert r["counts"] == {"done": 2, "skipped": 0, "failed": 2}
    by = {e["name"]: e for e in r["models"]}
    assert "broken.pb: not a valid binary GraphDef" in by["broken"]["detail"]
    assert "did not finish within 1 s" in by["hangs"]["detail"]
    assert sorted(os.listdir(out / "digits")) == ["frozen.pb", "manifest-entry.json", "model.tflite",
                                                  "optimized.pb", "report.html", "report.json"]
    assert sorted(os.listdir(out / "digits-dynamic")) == ["frozen.pb", "manifest-entry.json",
                                                          "model.dynamic.tflite", "optimized.pb", "report.html",
                                                          "report.json"]
    for failed in ("broken", "hangs"):  # failures leave no output (a killed worker at most its released lock)
        assert not [f for f in os.listdir(out / failed) if not f.startswith(".")] if (out / failed).exists() else True
    assert sorted(os.listdir(logs / "digits")) == ["compare", "freeze", "optimized", "tflite"]
    assert by["digits"]["tflite_models"] == 1 and by["digits"]["min_agreement"] >= 0.97
    stamp = os.stat(out / "digits" / "model.tflite").st_mtime_ns

    # re-run: finished entries are skipped (files untouched); a changed entry runs again
    entries[1]["quantize"] = "float16"
    entries = entries[:2]
    m = _manifest(tmp_path, entries)
    res = run_cli("pipeline", "--manifest", m, "--jobs", "2", "--out-dir", out, "--logdir", logs)
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines[0].endswith("2 models, 1 already done, 1 to run with 1 worker")
    assert any(line.split()[:2] == ["digits", "skipped"] for line in lines)
    assert any(line.split()[:2] == ["digits-dynamic", "done"] for line in lines)
    assert os.stat(out / "digits" / "model.tflite").st_mtime_ns == stamp
    assert (out / "digits-dynamic" / "model.float16.tflite").exists()

    # --force runs it again; --only picks entries
    res = run_cli("pipeline", "--manifest", m, "--only", "digits", "--force", "--out-dir", out, "--logdir", logs,
                  "--json")
    assert res.code == 0, res.err
    assert [(e["name"], e["status"]) for e in json.loads(res.out)["models"]] == [("digits", "done")]
    assert os.stat(out / "digits" / "model.tflite").st_mtime_ns != stamp


def test_shards_split_a_manifest_into_disjoint_parts_that_cover_it():
    from graphtools.workflow.manifest import select

    entries = [{"name": f"model-{i}"} for i in range(40)]
    parts = [select(entries, shard=f"{k}/3") for k in (1, 2, 3)]
    names = [e["name"] for p in parts for e in p]
    assert sorted(names) == sorted(e["name"] for e in entries) and len(names) == len(set(names))
    assert all(parts)  # 40 names spread over 3 shards
    # a shard depends on the name only, not on the manifest's order
    assert select(list(reversed(entries)), shard="2/3") == list(reversed(parts[1]))


@pytest.mark.parametrize("content, needles", [
    ("not json", ["not valid JSON"]),
    ("[]", ["non-empty JSON list"]),
    ('[{"ckpt": "x"}]', ["entry 1 needs a \"name\""]),
    ('[{"name": "a/b", "ckpt": "x"}]', ["usable as a directory name"]),
    ('[{"name": "a", "graph": "m.pb"}, {"name": "a", "graph": "m.pb"}]', ["entry 'a' appears twice"]),
    ('[{"name": "a", "graph": "m.pb", "quantise": "none"}]', ["unknown key 'quantise'", "did you mean 'quantize'"]),
    ('[{"name": "a"}]', ["names no model"]),
    ('[{"name": "a", "graph": "missing.pb"}]', ["graph 'missing.pb' does not exist"]),
    ('[{"name": "a", "graph": "m.pb", "quantize": "int4"}]', ["quantize int4: unknown; choose from none, dynamic"]),
    ('[{"name": "a", "graph": "m.pb", "scale": "x"}]', ["'scale' must be a number"]),
])
def test_bad_manifests_are_refused_before_anything_runs(tmp_path, content, needles):
    (tmp_path / "m.pb").write_bytes(b"")
    m = tmp_path / "models.json"
    m.write_text(content)
    res = run_cli("pipeline", "--manifest", m, "--out-dir", tmp_path / "out", "--logdir", tmp_path / "logs")
    assert_clean_error(res, "models.json", *needles)
    assert not (tmp_path / "out").exists() and not (tmp_path / "logs").exists()


@pytest.mark.parametrize("argv, needle", [
    (["--jobs", "0"], "--jobs 0"),
    (["--shard", "4/3"], "--shard '4/3' is not K/N"),
    (["--only", "digts"], "entry 'digts' is not in the manifest; closest: digits"),
    (["--ckpt", FIXTURE_CKPT], "--ckpt cannot be combined with --manifest"),
    (["--quantize", "none"], "--quantize cannot be combined with --manifest"),
    (["--allow-unsafe-ops"], "--allow-unsafe-ops cannot be combined with --manifest"),
])
def test_bad_manifest_flags(tmp_path, argv, needle):
    m = _manifest(tmp_path, [{"name": "digits", "ckpt": FIXTURE_CKPT}])
    res = run_cli("pipeline", "--manifest", m, "--out-dir", tmp_path / "out", *argv)
    assert_clean_error(res, needle)
    assert not (tmp_path / "out").exists()


def test_manifest_flags_need_a_manifest():
    assert_clean_error(run_cli("pipeline", "--shard", "1/2"), "--shard works with --manifest only")


def test_every_pipeline_flag_is_a_manifest_key(tmp_path):
    from graphtools.workflow.manifest import command, load_manifest

    (tmp_path / "m.pb").write_bytes(b"")
    path = _manifest(tmp_path, [{"name": "a", "graph": "m.pb", "bind": ["is_training=false", "keep_prob=1.0"],
                                 "select_tf_ops": True, "quantize": "none,dynamic", "mean": -1.5, "rtol": 0.001}])
    [entry] = load_manifest(path)
    argv = command(entry, "out", "logs")
    i = argv.index("--bind")
    assert argv[i:i + 4] == ["--bind", "is_training=false", "--bind", "keep_prob=1.0"]
    assert "--select-tf-ops" in argv and argv[argv.index("--quantize") + 1] == "none,dynamic"
    assert argv[argv.index("--mean") + 1] == "-1.5" and argv[argv.index("--rtol") + 1] == "0.001"
    res = run_cli("pipeline", "--manifest", path, "--bind", "x=1", "--out-dir", tmp_path / "out")
    assert_clean_error(res, "--bind cannot be combined with --manifest")
