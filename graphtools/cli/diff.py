"""graphtools diff: what changed between two GraphDefs (no TensorFlow)."""

from .common import _common, _emit, _fmt_bytes


def _add_diff(sub):
    p = sub.add_parser("diff", help="what changed between two GraphDefs (e.g. frozen.pb and optimized.pb)",
                       description="Nodes removed, added and rewired, op histogram delta, parameter and size "
                                   "delta between two stages.")
    p.add_argument("a", metavar="A.pb")
    p.add_argument("b", metavar="B.pb")
    p.add_argument("--show", type=int, default=10, help="how many node names to list per kind (default 10)")
    _common(p)
    p.set_defaults(run=run_diff)


def run_diff(args):
    from ..core import io
    from ..core.analysis import diff

    d = diff(io.load_graph_def(args.a), io.load_graph_def(args.b))
    d.update({"a": args.a, "b": args.b})

    def names(kind):
        items = d[kind]
        shown = ", ".join(items[: args.show]) + (f" (+{len(items) - args.show} more)" if len(items) > args.show else "")
        return f"  {kind}: {len(items)}" + (f"  {shown}" if items else "")

    lines = [f"{args.a} -> {args.b}: {d['nodes'][0]} -> {d['nodes'][1]} nodes, "
             f"{_fmt_bytes(d['size_bytes'][0])} -> {_fmt_bytes(d['size_bytes'][1])}, parameters "
             f"{d['parameters'][0]:,} -> {d['parameters'][1]:,}"]
    lines += [names(k) for k in ("removed", "added", "rewired", "retyped")]
    lines.append("  ops: " + (", ".join(f"{k} {v:+d}" for k, v in d["op_delta"].items()) or "unchanged"))
    _emit(args, d, "\n".join(lines))
    return 0
