"""The pass registry (issue 15): passes declare their group and what they run after; --remove's groups
and the run order come from it; a new pass file is found without a list to edit; a typed context."""
import numpy as np
import pytest

from builders import tf, tf1
from graphtools.surgery import passes
from graphtools.errors import PassError
from graphtools.surgery.passes import INFO, Options, PassContext, groups, order, register, run_passes
from graphtools.surgery.stripping import passes_for


def test_groups_and_order_come_from_the_registry():
    g = groups()
    assert g["training"] == ["bind_placeholders", "fold_switches", "fold_ifs", "remove_training"]
    assert g["batchnorm"] == ["fold_batch_norms", "fold_constants"] and g["quantized"] == ["dequantize_ops"]
    assert passes_for("all") == ["dequantize_ops", "bind_placeholders", "fold_switches", "fold_ifs",
                                 "strip_dropout", "remove_training", "remove_debug", "remove_identity",
                                 "fold_batch_norms", "fold_constants"]
    assert passes_for(["debug", "dropout"]) == ["strip_dropout", "remove_debug"]  # relative order kept
    assert passes_for("none") == []
    for info in INFO.values():  # every declared dependency exists
        assert set(info.after) <= set(INFO), info


def test_a_new_pass_is_one_registration_and_runs_in_its_declared_place():
    calls = []

    @register("test_negate_nothing", group="test_group", after=("strip_dropout",))
    def _probe(graph, ctx):
        calls.append(sorted(ctx.options.bind))
        return 0

    try:
        assert groups()["test_group"] == ["test_negate_nothing"]
        run = order(["test_negate_nothing", "strip_dropout", "bind_placeholders"])
        assert run == ["bind_placeholders", "strip_dropout", "test_negate_nothing"]  # after what it declared
        assert order(list(INFO)) == order(list(INFO))  # deterministic
        g = tf.Graph()
        with g.as_default():
            x = tf1.placeholder(tf.float32, [None, 2], name="x")
            tf.identity(x * 2.0, name="y")
        out, records = run_passes(g.as_graph_def(), ["test_negate_nothing"],
                                  PassContext(inputs=["x"], outputs=["y"], options=Options(bind={"k": 1})))
        assert calls == [["k"]] and not records
    finally:
        passes.PASSES.pop("test_negate_nothing", None)
        INFO.pop("test_negate_nothing", None)


def test_a_cycle_in_the_declarations_is_refused():
    @register("test_cycle_a", after=("test_cycle_b",))
    def _a(graph, ctx):
        return 0

    @register("test_cycle_b", after=("test_cycle_a",))
    def _b(graph, ctx):
        return 0

    try:
        with pytest.raises(PassError, match="cycle"):
            order(["test_cycle_a"])
    finally:
        for n in ("test_cycle_a", "test_cycle_b"):
            passes.PASSES.pop(n, None)
            INFO.pop(n, None)


def test_the_context_is_typed():
    ctx = PassContext(inputs=["x"], outputs=["y"], options={"bind": {"k": np.float32(1)}})
    assert isinstance(ctx.options, Options) and ctx.options.bind == {"k": 1.0}
    assert ctx.protected == {"x", "y"} and ctx.dirty is None and ctx.ops_after is None
    with pytest.raises(TypeError):
        Options(unknown=1)


def test_a_run_returns_a_typed_result():
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 2], name="x")
        tf.identity(tf.identity(x) * 2.0, name="y")
    run = run_passes(g.as_graph_def(), ["remove_identity"], PassContext(inputs=["x"], outputs=["y"]))
    gd, records = run  # (unpacks as before)
    assert run.graph_def is gd and [r.name for r in records] == ["remove_identity"]
    assert run.ops_after == {"Const": 1, "Identity": 1, "Mul": 1, "Placeholder": 1}


def test_every_pass_has_one_scheduler_and_strip_runs_the_declared_stages():
    """A pass runs from --remove's groups, as a declared baseline stage, or from its own flag
    (--splice); none is scheduled by hand. A training-mode batch norm goes through the declared
    moving-statistics stage, recorded before the main passes."""
    from graphtools.surgery.stripping import BASELINE_STAGES, strip_report

    staged = {s.pass_name for s in BASELINE_STAGES}
    grouped = {p for ps in groups().values() for p in ps}
    assert set(INFO) - grouped - staged == {"splice_nodes"}
    assert [s.name for s in BASELINE_STAGES] == ["cut", "dequantize", "moving statistics"]
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 3, 3, 2], name="x")
        scale, offset = tf.constant([1.5, 0.5]), tf.constant([0.1, -0.2])
        mean = tf.constant([0.3, -0.1], name="bn/moving_mean")
        var = tf.constant([2.0, 0.5], name="bn/moving_variance")
        w = tf.constant(np.random.RandomState(0).randn(1, 1, 2, 2).astype(np.float32))
        conv = tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME")
        y, _, _ = tf1.nn.fused_batch_norm(conv, scale, offset, mean=None, variance=None, is_training=True,
                                          name="bn/fbn")
        tf.identity(y, name="out")
        del mean, var
    result = strip_report(g.as_graph_def(), inputs=["x"], outputs=["out"], verify=False)
    names = [r.name for r in result.passes]
    assert names[0] == "use_moving_statistics" and "fold_batch_norms" in names[1:]
    assert not any(n.op.startswith("FusedBatchNorm") for n in result.graph_def.node)
