"""A conformance case (a folder with case.json and ref.npz, ../shared/corpus/MANIFEST.md): reading it, the
arguments its source gives each route, its reference outputs and inference feeds."""
import json
import os

import numpy as np


def find_cases(dirs):
    """Every folder holding a case.json under the given directories (a case folder itself is fine)."""
    found = []
    for d in dirs:
        if os.path.isfile(os.path.join(d, "case.json")):
            found.append(d)
            continue
        for name in sorted(os.listdir(d)):
            if os.path.isfile(os.path.join(d, name, "case.json")):
                found.append(os.path.join(d, name))
    return found


def load_case(folder):
    with open(os.path.join(folder, "case.json")) as f:
        case = json.load(f)
    case["dir"] = os.path.abspath(folder)
    case.setdefault("id", os.path.basename(os.path.normpath(folder)))
    return case


def expects_error(case):
    """A case whose right result is a one-line refusal (a weights-only .h5: no architecture to convert)."""
    return bool(case.get("weights_only") or case.get("expect_error"))


def case_outputs(case):
    return [case["output"], *case.get("extra_outputs", [])]


def _shape_text(shape):
    return ",".join(str(v) for v in shape)


def source_args(case):
    """The pipeline flags that name the case's model files."""
    src, d = case["source"], case["dir"]
    if "keras" in src:
        return ["--keras", os.path.join(d, src["keras"])]
    if "saved_model" in src:
        return ["--saved-model", os.path.join(d, src["saved_model"])]
    argv = []
    if "graph" in src:
        argv += ["--graph", os.path.join(d, src["graph"])]
    if "ckpt" in src:
        argv += ["--ckpt", os.path.join(d, src["ckpt"])]
    return argv


def pipeline_argv(case, route, out_dir):
    """The graphtools command line of a route (named or zero)."""
    argv = ["pipeline", *source_args(case), "--quantize", "none", "--no-report", "--out-dir", out_dir,
            "--logdir", "", "--json"]
    if route == "named" and case.get("output"):
        argv += ["--outputs", ",".join(case_outputs(case))]
    if route == "named" and case["source"].get("tags"):  # (a SavedModel's own tags: as the user would name them)
        argv += ["--tags", case["source"]["tags"]]
    if route == "named" and case.get("inputs"):
        shapes = [[i["pad_batch"], *i["shape"][1:]] if i.get("pad_batch") else i["shape"] for i in case["inputs"]]
        argv += ["--inputs", ",".join(i["name"] for i in case["inputs"]),
                 "--input-shapes", ":".join(_shape_text(s) for s in shapes)]
    if route == "named":
        for k, v in case.get("feeds", {}).items():
            argv += ["--bind", f"{k}={json.dumps(v) if isinstance(v, bool) else v}"]
        for flags in case.get("named_extra", {}).values():
            argv += flags
    elif case.get("zero_config_input_shapes"):
        zs = case["zero_config_input_shapes"]
        if isinstance(zs, dict):  # ({input: shape}: in the case's input order)
            zs = ":".join(_shape_text(zs[i["name"]]) for i in case["inputs"] if i["name"] in zs)
        argv += ["--input-shapes", zs]
    return argv


def reference(case):
    """{'x': [arrays per input], 'y': {output: array of samples}} from ref.npz."""
    ref = np.load(os.path.join(case["dir"], "ref.npz"))
    xs = [ref[f"x{j}"] if f"x{j}" in ref else ref["x"] for j in range(len(case["inputs"]))]
    ys = {case["output"]: ref["y"]}
    for k, name in enumerate(case.get("extra_outputs", [])):
        if f"y_extra{k}" in ref:
            ys[name] = ref[f"y_extra{k}"]
    return xs, ys


def sample_feed(case, xs, k):
    """The inputs of sample k as the authors feed them (batch dim 1 unless the input has none)."""
    feed = []
    for spec, x in zip(case["inputs"], xs):
        v = x[k] if spec.get("batch_axis", True) is False else x[k:k + 1]
        feed.append(np.asarray(v).astype(spec["dtype"]))
    return feed
