"""Many models at once: ``graphtools pipeline --manifest models.json --jobs N``.

A manifest is a JSON list of entries (or ``{"models": [...]}``), each one pipeline run::

    [{"name": "mnist", "ckpt": "mnist/model.ckpt-1999", "output_nodes": "softmax",
      "input_shapes": "100,784", "inputs": "x", "quantize": "dynamic"},
     {"name": "poets", "graph": "poets/retrained_graph.pb", "quantize": "none"}]

Every entry runs in its own worker process (a crash, hang or out-of-memory in one model cannot
touch the others) and writes OUT/<name>/ and LOGDIR/<name>/. An entry's key is a hash of its
settings and of its source files' sizes and times; when OUT/<name>/manifest-entry.json holds the
same key the entry is skipped, so a re-run after an interruption does only what is left. Entries
are independent, so one manifest can be split across machines: ``--shard K/N`` takes the entries
whose name hashes to K of N, ``--only NAME`` takes one.
"""
import glob
import hashlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from ..errors import InputError
from .config import PipelineConfig, manifest_fields

#: manifest keys -> pipeline flags; value kinds: "path", "str", "list", "float", "bool", "int"
FIELDS = {**manifest_fields(), "timeout": (None, "int")}  # (every pipeline option's key, from its config field)
MARKER = "manifest-entry.json"
DEFAULT_TIMEOUT = 3600


def load_manifest(path):
    """Read and check a manifest; every problem is found before any model runs."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise InputError(f"{path}: no such manifest; give a JSON file listing the models (see --help)")
    except OSError as e:
        raise InputError(f"{path}: cannot read the manifest ({e.strerror})")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{path}: not valid JSON ({str(e).splitlines()[0][:100]}); a manifest is a JSON list "
                         f"of entries like {{\"name\": \"m\", \"ckpt\": \"model.ckpt\"}}")
    entries = doc.get("models") if isinstance(doc, dict) else doc
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: expected a non-empty JSON list of entries (or {{\"models\": [...]}})")
    base = os.path.dirname(os.path.abspath(path))
    seen, out = set(), []
    for k, e in enumerate(entries):
        where = f"{path}: entry {k + 1}"
        if not isinstance(e, dict):
            raise InputError(f"{where} is not an object; each entry is {{\"name\": ..., \"ckpt\"|\"graph\"|...}}")
        name = e.get("name")
        if not isinstance(name, str) or not name or name.startswith(".") or any(c in name for c in "/\\\0"):
            raise InputError(f"{where} needs a \"name\" usable as a directory name (no '/', not starting with '.')")
        where = f"{path}: entry '{name}'"
        if name in seen:
            raise InputError(f"{where} appears twice; names key the outputs and must be unique")
        seen.add(name)
        unknown = sorted(set(e) - set(FIELDS) - {"name"})
        if unknown:
            from ..errors import closest

            near = closest(unknown[0], FIELDS)
            raise InputError(f"{where}: unknown key '{unknown[0]}'" + (f"; did you mean '{near[0]}'?" if near else
                             f"; known keys: name, {', '.join(FIELDS)}"))
        sources = [s for s in ("ckpt", "graph", "saved_model", "keras") if e.get(s)]
        if not sources:
            raise InputError(f"{where} names no model; give \"ckpt\", \"graph\", \"saved_model\" or \"keras\"")
        entry = {"name": name}
        for key, value in e.items():
            if key == "name" or value is None:
                continue
            kind = FIELDS[key][1]
            entry[key] = _check_value(where, key, kind, value, base)
        try:  # (the config the worker will build: quantize, rnn, gate, bind checked before any model runs)
            PipelineConfig.from_manifest(entry)
        except InputError as e:
            raise InputError(f"{where}: {str(e).replace('--', '', 1)}")
        out.append(entry)
    return out


def _check_value(where, key, kind, value, base):
    bad = InputError(f"{where}: '{key}' must be {'a number' if kind in ('float', 'int', 'real') else 'true or false' if kind == 'bool' else 'a string'}"
                     f"{' or a list of strings' if kind in ('list', 'repeat') else ''}, got {json.dumps(value)[:40]}")
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad
        return value
    if kind in ("float", "int", "real"):  # real: any number; float and int: positive
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind != "real" and value <= 0):
            raise bad
        return value
    if kind == "repeat":  # a flag given once per item
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
            raise bad
        return list(items)
    if kind == "list":
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return ",".join(value)
        if not isinstance(value, str) or not value:
            raise bad
        return value
    if not isinstance(value, str) or not value:
        raise bad
    if kind == "path":
        path = os.path.normpath(os.path.join(base, os.path.expanduser(value)))
        if not (os.path.exists(path) or os.path.exists(path + ".index") or os.path.exists(path + ".meta")):
            raise InputError(f"{where}: {key} '{value}' does not exist (paths are relative to the manifest's folder)")
        return path
    return value


def entry_key(entry):
    """What makes a finished entry still valid: its settings and its source files' sizes and times."""
    stamp = {}
    for key, value in sorted(entry.items()):
        if FIELDS.get(key, (None, ""))[1] == "path":
            for p in [value] + sorted(glob.glob(glob.escape(value) + ".*")):  # a checkpoint's every shard
                if os.path.isfile(p):
                    st = os.stat(p)
                    stamp[p] = [st.st_size, st.st_mtime_ns]
            if os.path.isdir(value):
                for root, _, files in os.walk(value):
                    for f in sorted(files):
                        st = os.stat(os.path.join(root, f))
                        stamp[os.path.join(root, f)] = [st.st_size, st.st_mtime_ns]
    text = json.dumps({"entry": {k: v for k, v in entry.items() if k != "timeout"}, "files": stamp}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def shard_of(name, n):
    """1-based shard of an entry: stable across machines and manifest order."""
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % n + 1


def select(entries, shard=None, only=None):
    if only:
        names = [n for n in only.split(",") if n]
        missing = [n for n in names if n not in {e["name"] for e in entries}]
        if missing:
            from ..errors import NodeNotFoundError

            raise NodeNotFoundError(missing[0], [e["name"] for e in entries], what="entry", where="the manifest")
        entries = [e for e in entries if e["name"] in names]
    if shard:
        try:
            k, n = (int(v) for v in shard.split("/"))
            assert 1 <= k <= n
        except (ValueError, AssertionError):
            raise InputError(f"--shard '{shard}' is not K/N with 1 <= K <= N (e.g. --shard 2/4)")
        entries = [e for e in entries if shard_of(e["name"], n) == k]
    return entries


def command(entry, out_dir, logdir):
    """The worker's command line: the single-model pipeline in a fresh interpreter."""
    argv = [sys.executable, "-m", "graphtools.cli", "pipeline", "--json",
            "--out-dir", os.path.join(out_dir, entry["name"]), "--logdir", os.path.join(logdir, entry["name"])]
    for key, value in entry.items():
        flag, kind = FIELDS.get(key, (None, None))
        if flag is None:
            continue
        if kind == "bool":
            argv += [flag] if value else []
        elif kind == "repeat":
            for v in value:
                argv += [flag, v]
        else:
            argv += [flag, str(value)]
    return argv


def run_manifest(path, jobs=1, out_dir="out", logdir="logs", shard=None, only=None, force=False, progress=None):
    """Run every selected entry, ``jobs`` at a time; return the summary (every entry's outcome)."""
    from ..core import io

    say = progress or (lambda msg: None)
    if not isinstance(jobs, int) or jobs < 1:
        raise InputError(f"--jobs {jobs}: give a number of worker processes, 1 or more")
    entries = select(load_manifest(path), shard, only)
    t0 = time.perf_counter()
    results, todo = {}, []
    for e in entries:
        e_key = entry_key(e)
        marker = _read_marker(os.path.join(out_dir, e["name"], MARKER))
        if not force and marker and marker.get("key") == e_key:
            results[e["name"]] = dict(marker.get("summary", {}), name=e["name"], status="skipped", seconds=0.0,
                                      detail="finished earlier with the same settings and files")
        else:
            todo.append((e, e_key))
    if todo:
        os.makedirs(out_dir, exist_ok=True)
    workers = min(jobs, max(len(todo), 1))
    say(f"manifest {path}: {len(entries)} models, {len(results)} already done, {len(todo)} to run with "
        f"{workers} worker{'s' if workers > 1 else ''}")
    env = dict(os.environ)
    pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # (above graphtools/)
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    done = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_run_one, e, key, out_dir, logdir, env): e["name"] for e, key in todo}
        for fut in as_completed(futures):
            r = fut.result()
            results[r["name"]] = r
            done += 1
            if r["status"] == "done":
                marker = {"key": r.pop("key"), "entry": r.pop("entry"), "summary": r}
                io.atomic_write(os.path.join(out_dir, r["name"], MARKER), json.dumps(marker, indent=2) + "\n")
            say(f"[{done}/{len(todo)}] {r['name']}: {r['status']} in {r['seconds']:.1f} s"
                + (f": {r['detail']}" if r["status"] != "done" else ""))
    ordered = [results[e["name"]] for e in entries]
    counts = {s: sum(r["status"] == s for r in ordered) for s in ("done", "skipped", "failed")}
    return {"manifest": path, "out_dir": out_dir, "logdir": logdir, "jobs": jobs, "shard": shard,
            "counts": counts, "seconds": round(time.perf_counter() - t0, 2), "models": ordered}


def _run_one(entry, key, out_dir, logdir, env):
    t = time.perf_counter()
    base = {"name": entry["name"], "out_dir": os.path.join(out_dir, entry["name"])}
    timeout = entry.get("timeout", DEFAULT_TIMEOUT)
    try:
        p = subprocess.run(command(entry, out_dir, logdir), capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(base, status="failed", seconds=time.perf_counter() - t,
                    detail=f"did not finish within {timeout} s (set \"timeout\" in its entry to allow more)")
    seconds = time.perf_counter() - t
    if p.returncode != 0:
        lines = [line for line in p.stderr.splitlines() if line.strip()]
        why = lines[-1] if lines else ""
        if p.returncode < 0:
            why = f"worker killed by signal {-p.returncode}" + (f" ({why})" if why else "")
        else:
            for prefix in ("graphtools pipeline: ", "error: "):
                why = why[len(prefix):] if why.startswith(prefix) else why
        return dict(base, status="failed", seconds=seconds, exit_code=p.returncode, detail=why or "no message")
    try:
        report = json.loads(p.stdout)
    except ValueError:
        return dict(base, status="failed", seconds=seconds, detail="the worker printed no report")
    return dict(base, status="done", seconds=seconds, key=key, entry=entry, detail="",
                **_summarize(report))


def _summarize(report):
    models = (report.get("compare") or {}).get("models", [])
    agree = [o["top1_agreement"] for m in models for o in m.get("outputs", {}).values() if "top1_agreement" in o]
    diffs = [o.get("max_abs_diff") for m in models for o in m.get("outputs", {}).values()
             if o.get("max_abs_diff") is not None]
    return {"files": report.get("files", []), "tflite_models": len(models),
            "min_agreement": min(agree) if agree else None, "max_abs_diff": max(diffs) if diffs else None,
            "inputs": report.get("inputs"), "outputs": report.get("outputs")}


def _read_marker(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
