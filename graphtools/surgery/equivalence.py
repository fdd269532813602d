"""Equivalence checks: run two graphs on the same seeded inputs and measure how far they differ."""
import dataclasses
import logging

import numpy as np

from ..errors import GraphtoolsError, RewriteError
from ..core.feeds import inference_flag_value, random_feeds



log = logging.getLogger(__name__)


class NotEquivalentError(RewriteError):
    """A rewrite changed what an output computes."""


@dataclasses.dataclass
class Equivalence:
    checked: bool
    outputs: dict            # name -> {"max_abs": float, "max_ref": float, "ok": bool}
    note: str = ""


def _with_flags(graph_def, feeds, outputs, flags, signature=None):
    """``feeds`` for the data inputs ``graph_def`` has, plus its training flags at inference values
    (those of ``signature`` where given: the command's, resolved once)."""
    from ..core.analysis import GraphAnalysis

    if signature is not None:
        names = {n.name for n in graph_def.node}
        return dataclasses.replace(signature, flags={**signature.flags, **flags}).feeds_for(names, feeds)

    out = {}
    for p in GraphAnalysis(graph_def).discover_inputs(outputs):
        name = p["name"]
        if name in feeds:
            out[name] = feeds[name]
        elif name in flags:
            out[name] = flags[name]
        elif p["role"] == "training_flag" or not p["optional"]:
            out[name] = inference_flag_value(p)
    return out


def is_random(graph_def, data_inputs, outputs, flags, seed=0, runner=None, batch=2, signature=None):
    """True when the random ops the outputs read change the outputs (training flags at inference values).

    Decided exactly, not by chance: the random tensors are fed with their extremes (0 and 0.999 for
    uniform noise, -3 and 3 for normal noise) and the outputs compared. ``runner``: a GraphRunner
    over ``graph_def`` to share with later runs (importing a large graph is the expensive part).
    """
    from ..core.analysis import GraphAnalysis
    from ..core.ops import STOCHASTIC_OPS
    from ..core.runtime import GraphRunner, RunError

    a = GraphAnalysis(graph_def)
    randoms = sorted(n for n in a.reachable(outputs) if a.index[n].op in STOCHASTIC_OPS
                     and not a.index[n].op.endswith(("GetKeyCounter", "GetKeyCounterAlg", "Skip")))
    if not randoms:
        return False
    feeds, _ = random_feeds(data_inputs, seed, batch)
    if feeds is None:
        return True
    feeds = _with_flags(graph_def, feeds, outputs, flags, signature)
    own = runner is None
    runner = runner or GraphRunner(graph_def, path="the graph")  # one import for every run below
    try:
        try:  # all at once; one by one only when some sit in a dead v1 cond branch
            live, values = randoms, runner.run(feeds, randoms)
        except RunError as e:
            if e.internal:  # random ops inside a v1 while loop cannot be fetched
                return True  # (then strip_dropout's structure check decides, and the rest is run numerically)
            if "does not have value" not in str(e):
                raise
            live, values = [], []
            for r in randoms:
                try:
                    values.append(runner.run(feeds, [r])[0])
                    live.append(r)
                except GraphtoolsError as e:
                    if "does not have value" not in str(e):
                        raise  # a dead branch of a v1 cond (dropout switched off by its flag) is not random
        if not live:
            return False
        runs = []
        for extreme in (0, 1):
            fed = dict(feeds)
            for name, v in zip(live, values):
                normal = "Normal" in a.index[name].op
                low, high = (-3.0, 3.0) if normal else (0.0, 0.999)
                fed[name] = np.full(np.shape(v), high if extreme else low, dtype=np.asarray(v).dtype)
            runs.append(runner.run(fed, outputs))
    finally:
        if own:
            runner.close()
    return any(not np.array_equal(x, y, equal_nan=True) for x, y in zip(*runs))


def _difference(r, g):
    """(max |r - g|, max |r|, count of non-finite values in r): NaN and inf must sit at the same places
    with the same value (a mismatch counts as an infinite difference); finite values are compared."""
    if not r.size:
        return 0.0, 0.0, 0
    finite_r, finite_g = np.isfinite(r), np.isfinite(g)
    same_nonfinite = (~finite_r & ~finite_g) & ((np.isnan(r) & np.isnan(g)) | (r == g))
    both = finite_r & finite_g
    if np.any(~both & ~same_nonfinite):
        diff = float("inf")
    else:
        diff = float(np.max(np.abs(r[both] - g[both]))) if both.any() else 0.0
    scale = float(np.max(np.abs(r[finite_r]))) if finite_r.any() else 0.0
    return diff, scale, int((~finite_r).sum())


def check_equivalent(before, after, data_inputs, outputs, flags, seed=0, rtol=1e-4, atol=1e-5, batch=2,
                     before_runner=None, signature=None):
    """Run ``before`` (training flags fed their inference values) and ``after`` on the same seeded feeds.
    ``before_runner``: a GraphRunner over ``before`` that has imported it already.

    Raises NotEquivalentError naming the first output that differs beyond ``atol + rtol * max|ref|``.
    """
    from ..core.runtime import run_graph

    feeds, why = random_feeds(data_inputs, seed, batch)
    if feeds is None:
        return Equivalence(False, {}, why)
    before_feeds = _with_flags(before, feeds, outputs, flags, signature)
    after_feeds = _with_flags(after, feeds, outputs, flags, signature)
    if before_runner is not None:
        ref = before_runner.run(before_feeds, outputs)
    else:
        ref = run_graph(before, before_feeds, outputs, path="the graph before")
    got = run_graph(after, after_feeds, outputs, path="the graph after")
    report = {}
    for name, r, g in zip(outputs, ref, got):
        r, g = np.asarray(r, dtype=np.float64), np.asarray(g, dtype=np.float64)
        if r.shape != g.shape:
            raise NotEquivalentError(f"output '{name}' changed shape from {list(r.shape)} to {list(g.shape)}; "
                                     f"the rewrite is wrong — rerun with --no-verify to write it anyway")
        diff, scale, nonfinite = _difference(r, g)
        ok = diff <= atol + rtol * scale
        report[name] = {"max_abs": diff, "max_ref": scale, "ok": ok}
        if nonfinite:
            report[name]["nonfinite"] = nonfinite
        if not ok:
            raise NotEquivalentError(f"output '{name}' differs by {diff:.3g} (largest value {scale:.3g}, tolerance "
                                     f"{atol + rtol * scale:.3g}) after stripping; nothing was written — rerun "
                                     f"with --no-verify to write it anyway")
    return Equivalence(True, report)
