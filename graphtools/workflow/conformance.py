"""Conformance on real models: every case folder through the named, zero-config and plain routes.

A *case folder* holds a public legacy model as its authors left it plus ``case.json`` (where it comes
from, its data inputs, the output its authors fetch, the inference feeds they use, a tolerance) and
``ref.npz`` (seeded inputs ``x0, x1, ...`` and plain TensorFlow's outputs ``y``, ``y_extra0, ...``), as
``../shared/corpus/MANIFEST.md`` describes. Three routes are measured:

- **named**: ``graphtools pipeline`` with the case's outputs, inputs, shapes and feeds (``--bind``);
- **zero-config**: ``graphtools pipeline`` with no names (only a shape the graph does not declare);
- **plain**: what a user does without graphtools -- freeze with ``convert_variables_to_constants`` and
  ``TFLiteConverter.from_frozen_graph`` with the data inputs, outputs and shapes. It is the floor.

Each route runs in a process of its own (a native abort or a hang ends that route, not the runner),
and its .tflite is run with LiteRT on the reference inputs: the result is the largest |tflite - y|
relative to max |y| over every sample and output, against the case's tolerance. A zero-config run
that picked other outputs than the case names is measured against plain TensorFlow's value of the
outputs it picked (the same frozen graph and feeds as the reference), and the table says which.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from .cases import case_outputs, expects_error, find_cases, load_case, pipeline_argv, reference, sample_feed
from .conformance_plain import plain_convert, plain_freeze, tf_reference

ROUTES = ("named", "zero", "plain")
RANDOM_OPS = {"RANDOM_UNIFORM", "RANDOM_STANDARD_NORMAL", "MULTINOMIAL", "FlexRandomUniform",
              "FlexRandomStandardNormal", "FlexRandomUniformInt"}
PASS, WRONG, ERROR, CRASH, TIMEOUT, MISSING = "pass", "wrong", "error", "crash", "timeout", "skipped"


# ------------------------------------------------------------------------------------------ evaluation

def _tensor_name(name):
    return name[:-2] if name.endswith(":0") else name


def evaluate(tflite_path, case, outputs=None, reference_outputs=None):
    """Run the .tflite on the case's reference inputs; the worst relative difference per output.

    ``outputs``: the TF outputs the model computes (default the case's); ``reference_outputs``: their
    values per sample when they are not the case's (from :func:`tf_reference`).
    """
    from ai_edge_litert.interpreter import Interpreter

    from ..core import tflite

    xs, ys = reference(case)
    if reference_outputs is not None:
        ys = reference_outputs
    outputs = outputs or list(ys)
    it = Interpreter(model_path=str(tflite_path))
    it.allocate_tensors()
    ins, outs = it.get_input_details(), it.get_output_details()
    notes = []
    order = []
    for j, spec in enumerate(case["inputs"]):
        want = {spec["name"], spec.get("tensor", spec["name"]), spec["name"].replace(":", "_")}
        hit = [d for d in ins if _tensor_name(d["name"]) in want or d["name"] in want]
        if not hit:
            notes.append(f"input {spec['name']} not found by name (model has {', '.join(d['name'] for d in ins)})")
            hit = [ins[j]] if j < len(ins) else []
        if not hit:
            raise ValueError(f"the model has {len(ins)} inputs, the case {len(case['inputs'])}")
        order.append(hit[0])
    extra = [d for d in ins if all(d["index"] != o["index"] for o in order)]
    fed_extra = [(d, case["feeds"][_tensor_name(d["name"])]) for d in extra
                 if _tensor_name(d["name"]) in case.get("feeds", {})]
    if len(extra) > len(fed_extra):
        notes.append(f"the model has {len(ins)} inputs, the case {len(order)}")
    out_of = {}
    for name in outputs:
        hit = [d for d in outs if _tensor_name(d["name"]) == name]
        if not hit and len(outs) == 1 and len(outputs) == 1:
            hit = outs
            notes.append(f"output {name} taken by position (model calls it {outs[0]['name']})")
        if hit:
            out_of[name] = hit[0]
        else:
            notes.append(f"output {name} missing (model has {', '.join(d['name'] for d in outs)})")
    from ..conversion.detection import OUTPUTS as DETECTIONS
    from ..verification.detection_match import match

    detecting = set(DETECTIONS) <= set(out_of)  # (an SSD's outputs: matched as detections, not slot by slot)
    matches = []
    worst = {name: 0.0 for name in out_of if not (detecting and name in DETECTIONS)}
    n = len(next(iter(ys.values())))

    def run(feed):
        for d, v in zip(order, feed):
            shape = tuple(d["shape"])
            if v.size != int(np.prod(shape)) and shape and v.size * shape[0] == int(np.prod(shape)):
                v = np.repeat(v.reshape((1,) + tuple(shape[1:])), shape[0], axis=0)  # a fixed batch: tile
            it.set_tensor(d["index"], v.reshape(shape).astype(d["dtype"]))
        for d, value in fed_extra:  # an input the route kept that the authors feed a constant (zeros, a flag)
            it.set_tensor(d["index"], np.full(tuple(d["shape"]), value).astype(d["dtype"]))
        it.invoke()
        return {name: it.get_tensor(d["index"]).copy() for name, d in out_of.items()}

    for k in range(n):
        feed = sample_feed(case, xs, k)
        rows = {v.shape[0] for d, v in zip(order, feed) if len(d["shape"]) and d["shape"][0] == 1
                and v.ndim == len(d["shape"]) and v.shape[0] > 1 and v[:1].size == int(np.prod(d["shape"]))}
        if len(rows) == 1:  # a sample of several rows (a face pair) for a model of batch 1: row by row
            r = rows.pop()
            parts = [run([v[j:j + 1] if v.ndim and v.shape[0] == r else v for v in feed]) for j in range(r)]
            outs_k = {name: np.concatenate([p[name] for p in parts]) for name in out_of}
        else:
            outs_k = run(feed)
        if detecting:
            matches.append(match({o: np.asarray(ys[o][k]) for o in DETECTIONS}, {o: outs_k[o] for o in DETECTIONS}))
        for name, d in out_of.items():
            if name not in worst:
                continue
            y = np.asarray(ys[name][k])
            got = outs_k[name]
            if got.size != y.size and got.shape and y.size and got.size % y.size == 0:
                got = got.reshape((-1,) + y.shape[1:])[:y.shape[0] if y.ndim else 1]  # row 0 of a fixed batch
            got = got.reshape(y.shape).astype(np.float64)
            scale = float(np.abs(y).max()) or 1.0
            worst[name] = max(worst[name], float(np.abs(got - y.astype(np.float64)).max() / scale))
    ops = tflite.summarize(str(tflite_path))["op_histogram"]
    found = None
    if detecting:  # the share of TF's ten best detections found on the worst image: its miss rate as the difference
        found = min((m["found"] / m["checked"] for m in matches if m["checked"]), default=1.0)
        worst["detections missed"] = 1.0 - found
        notes.append(f"detections matched: at least {found:.0%} of TensorFlow's 10 best found on every input "
                     f"(same class, IoU >= 0.9, score within 0.02)")
    return {"rel_diff": max(worst.values()) if worst else None, "per_output": worst, "detections_found": found,
            "missing": [o for o in outputs if o not in out_of], "ops": sum(ops.values()),
            "random_ops": sorted(set(ops) & RANDOM_OPS), "flex_ops": sorted(o for o in ops if o.startswith("Flex")),
            "notes": notes}


def verdict(ev, tol):
    """pass / wrong (and why) for an evaluated model."""
    if ev["random_ops"]:
        return WRONG, f"random ops in the model: {', '.join(ev['random_ops'])}"
    if ev["missing"]:
        return WRONG, f"outputs missing: {', '.join(ev['missing'])}"
    if ev.get("detections_found") is not None:
        if ev["detections_found"] < 0.9:
            return WRONG, f"{ev['detections_found']:.0%} of TensorFlow's 10 best detections found on the worst input"
        other = {k: v for k, v in ev["per_output"].items() if k != "detections missed"}
        if not other or max(other.values()) <= tol:
            return PASS, ""
    if ev["rel_diff"] is None or not np.isfinite(ev["rel_diff"]) or ev["rel_diff"] > tol:
        return WRONG, f"relative difference {ev['rel_diff']:.3g} > tolerance {tol:g}"
    return PASS, ""


# ------------------------------------------------------------------------------------------ routes

def _worker(route, folder, work):
    """In a child process: run one route of one case; print its result as one JSON line."""
    case = load_case(folder)
    t0 = time.perf_counter()
    res = {"route": route}
    if route == "plain" and expects_error(case):
        res.update(status=ERROR, detail="nothing to convert (the case expects a refusal)", seconds=0.0)
        return res
    if route == "plain":
        out = os.path.join(work, "plain.tflite")
        try:
            plain_convert(case, out)
        except Exception as e:  # the plain route's failure is its result, not a runner error
            res.update(status=ERROR, detail=_first_line(e))
            res["seconds"] = time.perf_counter() - t0
            return res
        tfl, outputs, ref_out = out, None, None
    else:
        out_dir = os.path.join(work, route)
        argv = pipeline_argv(case, route, out_dir)
        p = subprocess.run([sys.executable, "-m", "graphtools.cli", *argv], capture_output=True, text=True)
        res["argv"] = argv
        if p.returncode != 0:
            err = [ln for ln in p.stderr.splitlines() if ln.strip()]
            clean = p.returncode == 2 and len(err) == 1 and "Traceback" not in p.stderr
            status = ERROR if clean else CRASH
            if clean and expects_error(case):  # (a weights-only .h5: the one line is the right answer)
                status = PASS
            res.update(status=status, code=p.returncode, detail=(err[-1] if err else f"exit {p.returncode}")[:400])
            res["seconds"] = time.perf_counter() - t0
            return res
        if expects_error(case):
            res.update(status=WRONG, detail=f"converted a model the case says must be refused: {case.get('expected')}")
            res["seconds"] = time.perf_counter() - t0
            return res
        with open(os.path.join(out_dir, "report.json")) as f:
            report = json.load(f)
        res["picked"] = {"inputs": report.get("inputs"), "outputs": report.get("outputs")}
        tfl = os.path.join(out_dir, "model.tflite")
        outputs, ref_out = report.get("outputs"), None
        if not set(outputs or []) <= set(case_outputs(case)):  # (a subset: the case's reference has them)
            try:
                pb = os.path.join(work, f"{route}.reference.pb")
                gd = plain_freeze(case, outputs)
                with open(pb, "wb") as f:
                    f.write(gd.SerializeToString())
                ref_out = tf_reference(case, outputs, pb, report.get("inputs"))
                res["reference"] = "plain TF on the outputs it picked"
            except Exception as e:
                res.update(status=WRONG, detail=f"picked outputs {outputs}, which plain TF cannot compute: "
                                                f"{_first_line(e)}")
                res["seconds"] = time.perf_counter() - t0
                return res
    try:
        ev = evaluate(tfl, case, outputs, ref_out)
    except Exception as e:
        res.update(status=WRONG, detail=f"the .tflite does not run on the reference inputs: {_first_line(e)}")
        res["seconds"] = time.perf_counter() - t0
        return res
    status, why = verdict(ev, float(case.get("tol", 1e-4)))
    res.update(status=status, detail=why, rel_diff=ev["rel_diff"], ops=ev["ops"], notes=ev["notes"],
               flex_ops=ev["flex_ops"])
    res["seconds"] = time.perf_counter() - t0
    return res


def _first_line(e):
    text = str(e).strip().splitlines()
    line = next((ln for ln in text if "error" in ln.lower()), text[0] if text else type(e).__name__)
    return f"{type(e).__name__}: {line.strip()}"[:400]


def run_route(folder, route, work, timeout=900):
    """One route of one case in its own process; a crash or a hang is that route's result."""
    os.makedirs(work, exist_ok=True)
    t0 = time.perf_counter()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    try:
        p = subprocess.run([sys.executable, "-m", "graphtools.workflow.conformance", "--worker", route, folder, work],
                           capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"route": route, "status": TIMEOUT, "detail": f"over {timeout} s", "seconds": timeout}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        err = [ln for ln in p.stderr.splitlines() if ln.strip()]
        return {"route": route, "status": CRASH, "seconds": time.perf_counter() - t0,
                "detail": f"runner process exit {p.returncode}: {err[-1] if err else ''}"[:400]}
    return json.loads(lines[-1])


def run_case(folder, routes=ROUTES, work=None, timeout=900):
    case = load_case(folder)
    work = work or tempfile.mkdtemp(prefix="conformance-")
    row = {"case": case["id"], "kind": case.get("kind"), "tol": case.get("tol", 1e-4), "routes": {}}
    for route in routes:
        row["routes"][route] = run_route(case["dir"], route, os.path.join(work, case["id"]), timeout)
    plain = row["routes"].get("plain")
    row["worse_than_plain"] = sorted(r for r in routes if r != "plain" and plain and plain["status"] == PASS
                                     and row["routes"][r]["status"] != PASS)
    return row


def score(rows, routes=ROUTES):
    out = {}
    for r in routes:
        st = [row["routes"][r]["status"] for row in rows if r in row["routes"]]
        out[r] = {s: st.count(s) for s in (PASS, WRONG, ERROR, CRASH, TIMEOUT)}
        out[r]["total"] = len(st)
    out["worse_than_plain"] = sum(1 for row in rows if row["worse_than_plain"])
    return out


def main(argv=None):
    import argparse

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        route, folder, work = argv[1:4]
        print(json.dumps(_worker(route, folder, work), default=float))
        return 0
    p = argparse.ArgumentParser(prog="conformance", description=(
        "Run every case folder (case.json + ref.npz) in the given directories through graphtools with the "
        "names given, graphtools with no names, and plain TensorFlow (freeze + from_frozen_graph); print one "
        "row per case and a score line. A route that aborts, hangs or errors is that route's result."))
    p.add_argument("dirs", nargs="+", metavar="DIR", help="case folders, or directories holding them")
    p.add_argument("--routes", default=",".join(ROUTES), help="comma list of named, zero, plain (default: all)")
    p.add_argument("--only", help="comma list of case ids (or substrings of them)")
    p.add_argument("--timeout", type=float, default=900, help="seconds per route (default 900)")
    p.add_argument("--work", help="keep each route's files here (default: a temporary directory)")
    p.add_argument("--jobs", type=int, default=1, help="cases run at once (default 1)")
    p.add_argument("--json", action="store_true", help="print the rows and the score as JSON")
    p.add_argument("--save", metavar="FILE", help="also write the JSON there")
    p.add_argument("--markdown", metavar="FILE", help="also write a Markdown table (source, what it is, each route)")
    args = p.parse_args(argv)
    routes = [r.strip() for r in args.routes.split(",") if r.strip()]
    bad = [r for r in routes if r not in ROUTES]
    missing = [d for d in args.dirs if not os.path.isdir(d)]
    if bad or missing:
        print(f"conformance: {'unknown route ' + bad[0] + ' (named, zero, plain)' if bad else 'no directory ' + missing[0]}",
              file=sys.stderr)
        return 2
    folders = find_cases(args.dirs)
    if args.only:
        keys = args.only.split(",")
        folders = [f for f in folders if any(k in os.path.basename(f) for k in keys)]
    if not folders:
        print(f"conformance: no case folder (with case.json) in {', '.join(args.dirs)}", file=sys.stderr)
        return 2
    work = args.work or tempfile.mkdtemp(prefix="conformance-")
    if not args.json:
        print(_header(routes), flush=True)

    def one(folder):
        t0 = time.perf_counter()
        row = run_case(folder, routes, work, args.timeout)
        row["seconds"] = time.perf_counter() - t0
        if not args.json:
            print(_row_text(row, routes), flush=True)
        return row

    from concurrent.futures import ThreadPoolExecutor  # (each route is a process of its own)

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        rows = list(pool.map(one, folders))
    result = {"rows": rows, "score": score(rows, routes)}
    if args.save:
        with open(args.save, "w") as f:
            json.dump(result, f, indent=1, default=float)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(rows, routes, folders))
    if args.json:
        print(json.dumps(result, indent=1, default=float))
    else:
        print(_score_text(result["score"], routes, len(rows)))
        for row in rows:
            for r in routes:
                x = row["routes"][r]
                if x["status"] != PASS and x.get("detail"):
                    print(f"  {row['case']} [{r}] {x['status']}: {x['detail']}")
                elif x.get("reference"):
                    print(f"  {row['case']} [{r}] picked {', '.join(x['picked']['outputs'])}: compared with {x['reference']}")
    return 0


def markdown(rows, routes, folders):
    """The rows as a Markdown table: where each model comes from, what it is, each route's result."""
    cases = {os.path.basename(os.path.normpath(f)): load_case(f) for f in folders}
    sc = score(rows, routes)
    out = [f"Score: {', '.join(f'{r} {sc[r][PASS]}/{len(rows)}' for r in routes)}; worse than plain: "
           f"{sc['worse_than_plain']}.", "",
           "| case | source (repo@commit: path) | kind | what is hard | " + " | ".join(routes) + " |",
           "|---|---|---|---|" + "---|" * len(routes)]
    for row in rows:
        c = cases.get(row["case"], {})
        paths = ", ".join(c.get("paths") or list(c.get("files", {}))[:3])
        src = f"{c.get('repo', '?')}@{str(c.get('commit', '?'))[:10]}: {paths}"
        cells = []
        for r in routes:
            x = row["routes"][r]
            d = f" {x['rel_diff']:.1e}" if x.get("rel_diff") is not None else ""
            cells.append(f"{x['status']}{d}")
        why = str(c.get("why_hard", "")).replace("|", "/")[:160]
        out.append(f"| {row['case']} | {src.replace('|', '/')} | {c.get('kind', '')} | {why} | " + " | ".join(cells) + " |")
    out += ["", "What did not pass, and why:", ""]
    for row in rows:
        for r in routes:
            x = row["routes"][r]
            if x["status"] != PASS and x.get("detail"):
                out.append(f"- {row['case']} [{r}] {x['status']}: {x['detail'][:300]}")
    return "\n".join(out) + "\n"


def _header(routes):
    cells = "".join(f"{r:>10} {'rel diff':>9}" for r in routes)
    return f"{'case':<46}{cells} {'ops':>5} {'seconds':>8}"


def _row_text(row, routes):
    cells = ""
    for r in routes:
        x = row["routes"][r]
        d = f"{x['rel_diff']:.1e}" if x.get("rel_diff") is not None else "-"
        cells += f"{x['status']:>10} {d:>9}"
    ops = next((row["routes"][r].get("ops") for r in routes if row["routes"][r].get("ops")), "-")
    flag = "  WORSE THAN PLAIN: " + ",".join(row["worse_than_plain"]) if row["worse_than_plain"] else ""
    return f"{row['case'][:45]:<46}{cells} {ops:>5} {row['seconds']:>8.1f}{flag}"


def _score_text(sc, routes, n):
    parts = [f"{r} {sc[r][PASS]}/{n}" for r in routes]
    return f"score: {', '.join(parts)}; worse than plain: {sc['worse_than_plain']}"


if __name__ == "__main__":
    sys.exit(main())
