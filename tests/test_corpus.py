"""Acceptance on real legacy models from ../shared/corpus (skipped when it is absent)."""
import os

import numpy as np
import pytest

import graphtools
from conftest import CORPUS, MNIST, needs_corpus, needs_mnist, run_cli, sha256
from graphtools.core.data import load_idx
from graphtools.presentation.inspection import inspect_path
from graphtools.core.runtime import run_graph

MLP = os.path.join(CORPUS, "mnist_mlp_sgd")


@needs_corpus
@needs_mnist
def test_freezing_the_mnist_checkpoint_reproduces_the_authors_frozen_graph(tmp_path):
    out = tmp_path / "frozen.pb"
    before = sha256(os.path.join(MLP, "model.ckpt-1999.meta"))
    res = run_cli("freeze", "--ckpt", os.path.join(MLP, "model.ckpt-1999"), "--output-nodes",
                  "softmax_linear/add", "--out", out, "--logdir", tmp_path / "logs")
    assert res.code == 0, res.err
    ours = graphtools.load_graph_def(str(out))
    theirs = graphtools.load_graph_def(os.path.join(MLP, "frozen.pb"))
    assert sorted((n.name, n.op) for n in ours.node) == sorted((n.name, n.op) for n in theirs.node)
    images = load_idx(os.path.join(MNIST, "t10k-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float32) / 255
    labels = load_idx(os.path.join(MNIST, "t10k-labels-idx1-ubyte.gz"))
    assert images.shape == (10000, 784)
    a, b = [], []
    for i in range(0, 10000, 100):  # the graph takes batches of exactly 100
        batch = images[i:i + 100]
        a.append(run_graph(ours, {"Placeholder": batch}, ["softmax_linear/add"])[0])
        b.append(run_graph(theirs, {"Placeholder": batch}, ["softmax_linear/add"])[0])
    a, b = np.concatenate(a), np.concatenate(b)
    np.testing.assert_array_equal(a, b)
    acc = float((a.argmax(1) == labels).mean())
    assert 0.895 <= acc <= 0.905, acc  # the author's ~89.9 %
    assert sha256(os.path.join(MLP, "model.ckpt-1999.meta")) == before


@needs_corpus
def test_output_discovery_on_the_mnist_checkpoint():
    r = graphtools.freeze(ckpt=os.path.join(MLP, "model.ckpt-1999"))
    assert r.outputs == ["softmax_linear/add"]
    assert [i["name"] for i in r.inputs] == ["Placeholder"]  # Placeholder_1 holds the labels


EXPECTED_INPUTS = {
    "mnist_mlp_sgd/frozen.pb": ([("Placeholder", "float32", [100, 784])], [], "softmax_linear/add"),
    "mnist_mlp_sgd/model.ckpt-1999": ([("Placeholder", "float32", [100, 784])], [], "softmax_linear/add"),
    "mnist_mlp_sgd/model.ckpt-1999.meta": ([("Placeholder", "float32", [100, 784])], [], "softmax_linear/add"),
    "mobilenet_v1_025_128/frozen_graph.pb": ([("input", "float32", [1, 128, 128, 3])], [],
                                             "MobilenetV1/Predictions/Reshape_1"),
    "mobilenet_v1_025_128/quantized_graph.pb": ([("input", "float32", [1, 128, 128, 3])], [],
                                                "MobilenetV1/Predictions/Reshape_1"),
    "poets_mobilenet_retrained/retrained_graph.pb": ([("input", "float32", [1, 128, 128, 3])],
                                                     ["input_1/BottleneckInputPlaceholder"], "final_result"),
    "poets_mobilenet_retrained/optimized_graph.pb": ([("input", "float32", None)],
                                                     ["input_1/BottleneckInputPlaceholder"], "final_result"),
}


@needs_corpus
@pytest.mark.parametrize("rel", sorted(EXPECTED_INPUTS))
def test_inspect_reports_the_real_inputs(rel):
    inputs, optional, output = EXPECTED_INPUTS[rel]
    r = inspect_path(os.path.join(CORPUS, rel))
    assert [(i["name"], i["dtype"], i["shape"]) for i in r["inputs"]] == inputs
    assert [i["name"] for i in r["optional_inputs"]] == optional
    assert r["outputs"] == [output]
    kinds = {b["kind"] for b in r["blockers"]}
    if "quantized" in rel:
        assert "quantize_leftovers" in kinds
    if "optimized" in rel:
        assert "unknown_shape" in kinds
    if rel.endswith((".pb",)) and "quantized" not in rel and "optimized" not in rel:
        assert not kinds & {"stochastic", "not_frozen", "unfed_placeholders"}


@needs_corpus
@pytest.mark.parametrize("rel,output", [("mobilenet_v1_025_128/frozen_graph.pb", "MobilenetV1/Predictions/Reshape_1"),
                                        ("poets_mobilenet_retrained/retrained_graph.pb", "final_result")])
def test_corpus_graphs_strip_to_folded_inference_graphs(tmp_path, rel, output):
    from graphtools.surgery.stripping import strip_report

    src = os.path.join(CORPUS, rel)
    before = sha256(src)
    gd = graphtools.load_graph_def(src)
    r = strip_report(gd, remove=["all"])
    assert r.outputs == [output] and [i["name"] for i in r.inputs] == ["input"]
    ops = {n.op for n in r.graph_def.node}
    assert not ops & {"Identity", "Rsqrt", "Sub", "FusedBatchNorm", "PlaceholderWithDefault"}
    assert sum(n.op == "Mul" for n in r.graph_def.node) == 0  # every batch norm folded into its conv
    assert r.equivalence.checked and all(e["ok"] for e in r.equivalence.outputs.values())
    x = np.random.RandomState(1).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)
    np.testing.assert_allclose(run_graph(r.graph_def, {"input": x}, [output])[0],
                               run_graph(gd, {"input": x}, [output])[0], rtol=1e-4, atol=1e-6)
    assert sha256(src) == before


@needs_corpus
def test_strip_an_input_without_shape_verifies_with_input_shapes(tmp_path):
    src = os.path.join(CORPUS, "poets_mobilenet_retrained", "optimized_graph.pb")
    res = run_cli("strip", "--in", src, "--out", tmp_path / "a.pb", "--logdir", "")
    assert res.code == 0 and "not verified: input input has unknown rank; give the input shapes" in res.out
    res = run_cli("strip", "--in", src, "--out", tmp_path / "b.pb", "--logdir", "", "--input-shapes", "1,128,128,3",
                  "--json")
    assert res.code == 0, res.err
    import json

    rep = json.loads(res.out)
    assert rep["verified"] and rep["outputs"] == ["final_result"]


# ---------------------------------------------------------------- legacy models with a reference (case.json)

def _case(name):
    import json

    d = os.path.join(CORPUS, name)
    with open(os.path.join(d, "case.json")) as f:
        return d, json.load(f), np.load(os.path.join(d, "ref.npz"))


def _source_args(d, case):
    src = case["source"]
    key = next(k for k in ("ckpt", "graph", "saved_model") if k in src)
    return [f"--{key.replace('_', '-')}", os.path.join(d, src[key])]


def _check_against_ref(model_path, case, ref):
    """Run the .tflite on the reference inputs, one sample at a time; return the worst relative error."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(model_path))
    it.allocate_tensors()
    ins, out = it.get_input_details(), it.get_output_details()[0]
    by_name = {d["name"]: d for d in ins}
    worst = 0.0
    for k in range(len(ref["y"])):
        for j, spec in enumerate(case["inputs"]):
            d = by_name.get(spec["name"], ins[j])
            it.set_tensor(d["index"], ref[f"x{j}"][k].reshape(d["shape"]).astype(d["dtype"]))
        it.invoke()
        y = ref["y"][k]
        worst = max(worst, float(np.abs(it.get_tensor(out["index"]).reshape(y.shape) - y).max() / np.abs(y).max()))
    from graphtools.core import tflite

    ops = set(tflite.summarize(str(model_path))["op_histogram"])
    return worst, ops


CONVERTING = ["srcnn_v1_checkpoint", "bn_text_savedmodel", "charrnn_fixed_batch", "bilstm_dropoutwrapper"]


@needs_corpus
@pytest.mark.parametrize("name", CONVERTING)
@pytest.mark.parametrize("named", [False, True], ids=["zero-config", "names-given"])
def test_legacy_corpus_model_converts_within_its_reference_tolerance(tmp_path, name, named):
    d, case, ref = _case(name)
    argv = ["pipeline", *_source_args(d, case), "--quantize", "none", "--out-dir", tmp_path / "out", "--logdir", ""]
    if named:
        shapes = ":".join(",".join(str(v) for v in i["shape"]) for i in case["inputs"])
        argv += ["--output-nodes", case["output"], "--inputs", ",".join(i["name"] for i in case["inputs"]),
                 "--input-shapes", shapes]
    elif case.get("zero_config_input_shapes") and name != "srcnn_v1_checkpoint":  # srcnn's is in _output_shapes
        argv += ["--input-shapes", case["zero_config_input_shapes"]]
    before = {f: sha256(os.path.join(d, f)) for f in os.listdir(d) if os.path.isfile(os.path.join(d, f))}
    res = run_cli(*argv)
    assert res.code == 0, res.err
    import json

    report = json.loads((tmp_path / "out" / "report.json").read_text())
    if report["outputs"] != [case["output"]]:  # zero-config: the Softmax inference computes over the case's logits
        [picked] = report["outputs"]
        frozen = graphtools.load_graph_def(str(tmp_path / "out" / "frozen.pb"))
        node = next(n for n in frozen.node if n.name == picked)
        assert not named and node.op == "Softmax" and node.input[0] == case["output"], (picked, node)
        y = np.exp(ref["y"] - ref["y"].max(-1, keepdims=True))
        ref = dict(ref, y=y / y.sum(-1, keepdims=True))
    worst, ops = _check_against_ref(tmp_path / "out" / "model.tflite", case, ref)
    assert worst <= case["tol"], worst
    assert not ops & {"RANDOM_UNIFORM", "RANDOM_STANDARD_NORMAL", "MULTINOMIAL", "FlexRandomUniform"}
    assert before == {f: sha256(os.path.join(d, f)) for f in before}


@needs_corpus
def test_the_8bit_stylize_graph_becomes_a_float_builtin_model(tmp_path):
    d, case, ref = _case("stylize_quantized")
    res = run_cli("pipeline", *_source_args(d, case), "--quantize", "none", "--out-dir", tmp_path / "out", "--logdir",
                  "", "--input-shapes", "1,64,64,3:26", "--json")
    assert res.code == 0, res.err
    import json

    report = json.loads(res.out)
    assert report["outputs"] == [case["output"]] and report["inputs"] == ["input", "style_num"]
    [m] = report["compare"]["models"]
    assert m["outputs"][case["output"]]["max_abs_diff"] < 1e-3  # the .tflite computes what the float graph does
    worst, ops = _check_against_ref(tmp_path / "out" / "model.tflite", case, ref)
    assert "CONV_2D" in ops and not any(o.startswith(("Flex", "CUSTOM")) for o in ops)
    # The reference is the 8-bit graph run by TF's quantized kernels; its float form differs from it by
    # 8-bit rounding (the 8-bit graph itself differs by 0.12-0.22 between TF's oneDNN and Eigen kernels).
    assert worst < 0.3, worst


@needs_corpus
def test_the_bilstm_strips_inside_its_loops_and_unrolls_to_builtins(tmp_path):
    d, case, ref = _case("bilstm_dropoutwrapper")
    assert graphtools.freeze(ckpt=os.path.join(d, "model.ckpt")).outputs == ["Softmax"]  # (over dense/BiasAdd)
    r = graphtools.freeze(ckpt=os.path.join(d, "model.ckpt"), output_nodes=case["output"])
    assert [i["name"] for i in r.inputs if i["role"] == "data"] == ["inputs"]  # 'output' is the label
    from graphtools.surgery.stripping import strip_report

    s = strip_report(r.graph_def, input_shapes={"inputs": [1, 33]})
    assert s.bound == {"dropout_input": 1.0, "dropout_output": 1.0}
    assert s.equivalence.checked and all(o["ok"] for o in s.equivalence.outputs.values())
    assert not {n.op for n in s.graph_def.node} & {"RandomUniform", "Floor"}
    for k in range(len(ref["y"])):
        y = run_graph(s.graph_def, {"inputs": ref["x"][k][None]}, [case["output"]])[0]
        assert np.abs(y - ref["y"][k]).max() <= case["tol"] * np.abs(ref["y"][k]).max()
    from graphtools.conversion import converter as conversion, loops

    gd, sig, rnn = conversion.prepare_loops(s.graph_def, s.signature)
    assert rnn["route"] == "unroll" and [lp["trip_count"] for lp in rnn["loops"]] == [33, 33]
    assert not loops.has_tensor_arrays(gd) and not {n.op for n in gd.node} & {"Enter", "Merge", "TensorListGetItem"}
    for k in range(len(ref["y"])):  # the unrolled graph computes what the loops did
        y = run_graph(gd, {"inputs": ref["x"][k][None]}, [case["output"]])[0]
        assert np.abs(y - ref["y"][k]).max() <= case["tol"] * np.abs(ref["y"][k]).max()
    res = run_cli("pipeline", "--ckpt", os.path.join(d, "model.ckpt"), "--quantize", "none", "--rnn", "while",
                  "--outputs", case["output"], "--out-dir", tmp_path / "out", "--logdir", "")  # the WHILE route
    assert res.code == 0, res.err
    worst, ops = _check_against_ref(tmp_path / "out" / "model.tflite", case, ref)
    assert worst <= case["tol"] and "WHILE" in ops and not [o for o in ops if o.startswith("Flex")], (worst, ops)


@needs_corpus
def test_the_graph_transform_quantized_mobilenet_converts_and_computes_what_its_8bit_weights_do(tmp_path):
    src = os.path.join(CORPUS, "mobilenet_v1_025_128", "quantized_graph.pb")
    out = "MobilenetV1/Predictions/Reshape_1"
    res = run_cli("pipeline", "--graph", src, "--quantize", "none", "--out-dir", tmp_path / "out", "--logdir", "",
                  "--json")
    assert res.code == 0, res.err
    import json

    report = json.loads(res.out)
    assert report["outputs"] == [out] and report["strip"]["verified"]
    q = graphtools.load_graph_def(src)
    d = graphtools.load_graph_def(str(tmp_path / "out" / "optimized.pb"))
    assert not {n.op for n in d.node} & {"Dequantize", "QuantizeV2"}
    x = np.random.RandomState(0).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)
    want = run_graph(q, {"input": x}, [out])[0]  # TF's own Dequantize of the quint8 weights
    np.testing.assert_allclose(run_graph(d, {"input": x}, [out])[0], want, atol=1e-4 * np.abs(want).max())
    assert report["compare"]["models"][0]["outputs"][out]["max_abs_diff"] < 1e-4
