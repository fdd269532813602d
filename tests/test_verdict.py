"""Verdicts a person can act on (issue 24, section 1): ship / check / do not ship per model against gates,
and the smallest model that ships recommended."""
import json

import pytest

from conftest import run_cli
from graphtools.errors import InputError
from graphtools.verification.verdict import CHECK, DEFAULT_GATES, NO, SHIP, apply, judge, parse_gates


def _model(name, size, **outputs):
    return {"model": name, "size_bytes": size, "deterministic": True, "random_ops": [], "fallback": [],
            "outputs": outputs}


def test_each_kind_of_output_is_judged_by_its_own_figure():
    g = dict(DEFAULT_GATES)
    probs = {"top1_agreement": 0.995, "probabilities": True, "max_abs_diff": 0.01, "ref_max_abs": 1.0}
    assert judge(_model("a", 1, softmax=probs), g)[0] == SHIP
    assert judge(_model("a", 1, softmax=dict(probs, top1_agreement=0.96)), g)[0] == CHECK
    assert judge(_model("a", 1, softmax=dict(probs, top1_agreement=0.80)), g)[0] == NO
    # a regression with two columns: never top-1 agreement, its error relative to the output's scale
    reg = {"top1_agreement": 0.5, "max_abs_diff": 0.02, "ref_max_abs": 1544.6}
    verdict, why = judge(_model("a", 1, steering=reg), g)
    assert verdict == SHIP and "scale" in why[0] and "agreement" not in why[0]
    assert judge(_model("a", 1, steering=dict(reg, max_abs_diff=20.0)), g)[0] == CHECK  # 1.3e-2 of the scale
    assert judge(_model("a", 1, steering=dict(reg, max_abs_diff=300.0)), g)[0] == NO
    assert judge(dict(_model("a", 1, softmax=probs), random_ops=[["dropout/random_uniform"]]), g)[0] == NO
    assert judge(dict(_model("a", 1, softmax=probs), fallback=["FlexCTCGreedyDecoder"]), g)[0] == CHECK
    assert judge(dict(_model("a", 1, softmax=probs), fallback=["FlexX"]), dict(g, fallback="fail"))[0] == NO
    assert judge({"model": "d", "found_fraction": 0.95, "worst_image_fraction": 0.9}, g)[0] == SHIP
    assert judge({"model": "d", "found_fraction": 0.5, "worst_image_fraction": 0.2}, g)[0] == NO


def test_the_smallest_model_that_ships_is_recommended_and_none_when_none_does():
    probs = {"top1_agreement": 1.0, "probabilities": True, "max_abs_diff": 0.0, "ref_max_abs": 1.0}
    report = {"models": [_model("float", 400, p=probs), _model("int8", 100, p=dict(probs, top1_agreement=0.9)),
                         _model("float16", 200, p=probs)]}
    apply(report)
    assert [m["verdict"] for m in report["models"]] == [SHIP, NO, SHIP]
    assert report["recommended"]["model"] == "float16"
    apply(report, parse_gates("agreement=1.0"))
    report["models"][0]["outputs"]["p"]["top1_agreement"] = 0.5
    report["models"][2]["outputs"]["p"]["top1_agreement"] = 0.5
    apply(report)
    assert report["recommended"]["model"] is None and "no model passes" in report["recommended"]["why"]


def test_gates_are_checked_before_any_work():
    assert parse_gates("agreement=0.98, error=0.01")["error"] == 0.01
    for bad in ("agreement=2", "speed=1", "error=x", "fallback=maybe", "agreement"):
        with pytest.raises(InputError):
            parse_gates(bad)


def test_pipeline_and_compare_say_the_verdicts_and_the_recommendation(tmp_path):
    res = run_cli("pipeline", "--out-dir", tmp_path / "out", "--logdir", "", "--quantize", "none,int8",
                  "--no-report", "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    models = report["compare"]["models"]
    assert all(m["verdict"] in (SHIP, CHECK, NO) and m["verdict_why"] for m in models)
    shipping = [m for m in models if m["verdict"] == SHIP]
    assert report["recommended"]["model"] == min(shipping, key=lambda m: m["size_bytes"])["model"]
    out = tmp_path / "out"
    res = run_cli("compare", out / "optimized.pb", "--tflite", out / "model.tflite", "--gate", "agreement=0.999",
                  "--logdir", "")
    assert res.code == 0 and "recommended: model.tflite" in res.out and "SHIP" in res.out
    res = run_cli("compare", out / "optimized.pb", "--tflite", out / "model.tflite", "--gate", "agreement=1.5")
    assert res.code == 2 and "--gate" in res.err and len(res.err.strip().splitlines()) == 1
    res = run_cli("pipeline", "--out-dir", tmp_path / "never", "--gate", "speed=2")
    assert res.code == 2 and not (tmp_path / "never").exists()


def test_a_regression_gets_its_error_never_a_top_class(tmp_path):
    import numpy as np

    from builders import tf, tf1

    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 3], name="x")
        w = tf.constant(np.random.RandomState(0).randn(3, 2).astype(np.float32) * 500)
        tf.identity(tf.matmul(x, w), name="steering_and_speed")  # two real numbers, not two classes
    (tmp_path / "reg.pb").write_bytes(g.as_graph_def().SerializeToString())
    res = run_cli("pipeline", "--graph", tmp_path / "reg.pb", "--quantize", "none,dynamic", "--out-dir",
                  tmp_path / "out", "--logdir", "", "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    for m in report["compare"]["models"]:
        o = m["outputs"]["steering_and_speed"]
        assert "top1_agreement" not in o and not o["worst"] and o["ref_max_abs"] > 100
        assert "scale" in m["verdict_why"][0]
    res = run_cli("compare", tmp_path / "out" / "optimized.pb", "--tflite", tmp_path / "out" / "model.tflite",
                  "--logdir", "")
    assert "disagrees on sample" not in res.out and "top-1" not in res.out
    page = (tmp_path / "out" / "report.html").read_text()
    assert "id='chart-output-error'" in page  # (each output's error relative to its scale, per model)


def test_labels_of_points_on_one_another_do_not_overlap():
    from graphtools.presentation.report import _place_labels
    from graphtools.presentation.plotting import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    pts = [(56.3, 1.0, "float"), (30.5, 1.0, "float16"), (30.6, 1.0, "dynamic"), (30.55, 1.0, "int16x8")]
    for x, y, _ in pts:
        ax.scatter([x], [y])
    boxes = _place_labels(fig, ax, pts)
    plt.close(fig)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3])
