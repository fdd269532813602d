"""Fuzz every command with broken and hostile model files (seeded, bounded).

    python scripts/fuzz.py [--count 44] [--seed 0] [--seconds 600]

Mutates the bundled fixture's frozen graph (truncation, flipped bits, deleted nodes, dangling and
self-referencing inputs, cycles, duplicate names, wrong dtypes, absurd shapes, empty files, text
where binary is expected) and a copy of its checkpoint (index and data that disagree), and feeds
each case to inspect, freeze, strip, audit, convert, toco, compare and pipeline. Every run must end with
exit 0 and its output, or exit 2 and one line on stderr with no output file left and the input
unchanged. Prints the counts; exits 1 when anything else happened.
"""
import argparse
import contextlib
import hashlib
import io
import os
import random
import shutil
import sys
import tempfile
import time

sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

KINDS = ["truncate", "flip", "delete", "dangling", "self", "duplicate", "dtype", "shape", "cycle", "empty", "text",
         "checkpoint"]


def mutate(kind, gd, base, rng):
    g = type(gd)()
    g.CopyFrom(gd)
    pick = lambda: g.node[rng.randrange(len(g.node))]  # noqa: E731
    if kind == "truncate":
        return base[: rng.randint(0, len(base) - 1)]
    if kind == "flip":
        b = bytearray(base)
        for _ in range(rng.randint(1, 20)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind == "empty":
        return b""
    if kind == "text":
        return b'node { name: "x" op: "Placeholder" }\n this is not a graph'
    if kind == "delete":
        del g.node[rng.randrange(len(g.node))]
    elif kind == "dangling":
        pick().input.append("no_such_node")
    elif kind == "self":
        n = pick()
        n.input.append(n.name)
    elif kind == "duplicate":
        g.node.add().CopyFrom(pick())
    elif kind == "dtype":
        n = pick()
        for k in n.attr:
            if n.attr[k].type:
                n.attr[k].type = rng.choice([1, 3, 7, 10, 99])
    elif kind == "shape":
        for n in g.node:
            if n.op == "Placeholder" and n.attr["shape"].shape.dim:
                n.attr["shape"].shape.dim[-1].size = rng.choice([0, 10 ** 9, -5])
    elif kind == "cycle":
        a, b = rng.sample(range(len(g.node)), 2)
        g.node[a].input.append(g.node[b].name)
        g.node[b].input.append(g.node[a].name)
    return g.SerializeToString()


def commands(path, d, ckpt):
    yield ["inspect", path]
    yield ["freeze", "--graph", path, "--out", f"{d}/f.pb", "--logdir", ""]
    yield ["strip", "--in", path, "--out", f"{d}/o.pb", "--logdir", ""]
    yield ["audit", path]
    yield ["convert", "--in", path, "--out", f"{d}/m.tflite", "--logdir", ""]
    yield ["toco", f"--input_file={path}", f"--output_file={d}/t.tflite"]
    yield ["compare", "--graph", path, "--tflite", f"{d}/none.tflite", "--logdir", ""]
    yield ["pipeline", "--graph", path, "--out-dir", f"{d}/out", "--logdir", f"{d}/logs", "--quantize", "dynamic"]
    if ckpt:
        yield ["freeze", "--ckpt", ckpt, "--out", f"{d}/c.pb", "--logdir", ""]


def run_case(argv):
    from graphtools.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
        except BaseException as e:  # the very thing being counted
            code = f"uncaught {type(e).__name__}: {str(e)[:100]}"
    return code, err.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=44, help="mutated files (each goes to every command)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=600, help="stop starting new cases after this long")
    args = ap.parse_args()
    from graphtools import _tf

    _tf.quiet()
    import graphtools

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    fixture = os.path.join(root, "fixtures", "digits_cnn")
    gd = graphtools.freeze(ckpt=os.path.join(fixture, "model.ckpt")).graph_def
    base = gd.SerializeToString()
    rng = random.Random(args.seed)
    counts = {"cases": 0, "runs": 0, "valid outputs": 0, "clean errors": 0, "failures": 0}
    start = time.time()
    for k in range(args.count):
        if time.time() - start > args.seconds:
            break
        kind = KINDS[k % len(KINDS)]
        d = tempfile.mkdtemp(prefix="graphtools-fuzz-")
        try:
            ckpt = None
            path = os.path.join(d, "in.pb")
            if kind == "checkpoint":  # an index and data file that do not belong together
                for f in os.listdir(fixture):
                    shutil.copy(os.path.join(fixture, f), d)
                data = os.path.join(d, "model.ckpt.data-00000-of-00001")
                blob = bytearray(open(data, "rb").read())
                for _ in range(50):
                    blob[rng.randrange(len(blob))] ^= 0xFF
                open(data, "wb").write(bytes(blob[: rng.randint(len(blob) // 2, len(blob))]))
                ckpt = os.path.join(d, "model.ckpt")
                open(path, "wb").write(base)
            else:
                open(path, "wb").write(mutate(kind, gd, base, rng))
            with open(path, "rb") as f:
                before = hashlib.sha256(f.read()).hexdigest()
            counts["cases"] += 1
            for argv in commands(path, d, ckpt):
                made_before = set(os.listdir(d))
                code, err = run_case(argv)
                lines = [ln for ln in err.splitlines() if ln.strip()]
                counts["runs"] += 1
                new = set(os.listdir(d)) - made_before
                with open(path, "rb") as f:
                    unchanged = hashlib.sha256(f.read()).hexdigest() == before
                if code == 0 or (argv[0] == "audit" and code == 1):
                    counts["valid outputs"] += 1
                elif code == 2 and len(lines) == 1 and "Traceback" not in err and not new and unchanged:
                    counts["clean errors"] += 1
                else:
                    counts["failures"] += 1
                    print(f"FAIL {kind} {argv[0]}: exit {code}, new files {sorted(new)}, "
                          f"stderr {lines[-2:]}", flush=True)
        finally:
            shutil.rmtree(d, ignore_errors=True)
    print(", ".join(f"{k} {v}" for k, v in counts.items()))
    sys.exit(1 if counts["failures"] else 0)


if __name__ == "__main__":
    main()
