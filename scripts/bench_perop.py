"""Benchmark: does the per-op local error find a layer damaged on purpose?

    python scripts/bench_perop.py [--modes none,float16,dynamic,int8,int16x8] [--seeds 3] [--samples 8]
                                  [--corpus ../shared/corpus] [--json out.json]

For models built in code (an MLP and a CNN with batch norms, random weights, data in their input
range), each weight layer in turn is damaged in the GraphDef the .tflite is compared with (that
layer's weights x1.1); the .tflite is converted from the undamaged graph in every mode. A trial is a
hit when the damaged layer's TFLite op ranks first by local error. Prints the hit rate per mode
(target >= 95 %) and, for the corpus models present, the share of TFLite op outputs mapped to TF nodes.
"""
import argparse
import json
import os
import sys
import time

sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from graphtools import _tf  # noqa: E402

_tf.quiet()
import numpy as np  # noqa: E402


def mlp(rng):
    tf = _tf.tf()
    tf1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        h = tf1.placeholder(tf.float32, [None, 32], name="x")
        for k, units in enumerate([64, 48, 32, 10]):
            w = tf.constant((rng.randn(int(h.shape[-1]), units) / np.sqrt(int(h.shape[-1]))).astype(np.float32),
                            name=f"dense{k}/w")
            b = tf.constant(0.1 * rng.randn(units).astype(np.float32), name=f"dense{k}/b")
            h = tf.nn.bias_add(tf.matmul(h, w), b, name=f"dense{k}/out")
            if k < 3:
                h = tf.nn.relu(h, name=f"dense{k}/relu")
        tf.identity(h, name="logits")
    return g.as_graph_def(), {"x": rng.randn(64, 32).astype(np.float32)}, ["logits"]


def cnn(rng):
    tf = _tf.tf()
    tf1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        h = tf1.placeholder(tf.float32, [None, 16, 16, 3], name="x")
        for k, ch in enumerate([8, 16, 16]):
            cin = int(h.shape[-1])
            w = tf.constant((rng.randn(3, 3, cin, ch) / np.sqrt(9 * cin)).astype(np.float32), name=f"conv{k}/w")
            h = tf.nn.conv2d(h, w, [1, 1, 1, 1], "SAME", name=f"conv{k}/conv")
            scale = tf.constant((1 + 0.1 * rng.randn(ch)).astype(np.float32), name=f"conv{k}/scale")
            shift = tf.constant(0.1 * rng.randn(ch).astype(np.float32), name=f"conv{k}/shift")
            h = tf.nn.relu(h * scale + shift, name=f"conv{k}/relu")
            if k < 2:
                h = tf.nn.max_pool2d(h, 2, 2, "VALID", name=f"conv{k}/pool")
        h = tf.reshape(h, [-1, 4 * 4 * 16])
        w = tf.constant((rng.randn(256, 10) / 16).astype(np.float32), name="fc/w")
        tf.identity(tf.matmul(h, w), name="logits")
    return g.as_graph_def(), {"x": rng.rand(64, 16, 16, 3).astype(np.float32)}, ["logits"]


def damaged(graph_def, weight):
    from graphtools.core.graph import Graph

    g = Graph(type(graph_def).FromString(graph_def.SerializeToString()))
    g.set_const(weight, g.const(weight) * 1.1)
    return g.graph_def


def inside(graph, report, row, inputs):
    """The TF nodes the TFLite op of ``row`` computes: what its TF node reads, minus what the TF nodes
    of its inputs read (the hit test: is the damaged weight among them? Names alone do not say: the
    last layer's tensor carries the output's name, a folded weight a new one)."""
    feeding = [r["node"] for r in report["rows"] if r["tensor"] in row["inputs"] and r is not row]
    feeding += [i for i in inputs if i in row["inputs"]]
    return graph.ancestors([row["node"]]) - (graph.ancestors(feeding) if feeding else set())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", default="none,float16,dynamic,int8,int16x8")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                     "shared", "corpus"))
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    import graphtools
    from graphtools.verification import perop
    from graphtools.core.graph import Graph

    modes = args.modes.split(",")
    results = {m: [0, 0] for m in modes}
    misses = []
    t0 = time.time()
    for seed in range(args.seeds):
        for build in (mlp, cnn):
            rng = np.random.RandomState(seed)
            gd, data, outputs = build(rng)
            weights = [n.name for n in Graph(gd).nodes_of("Const") if n.name.endswith("/w")]
            for mode in modes:
                model = graphtools.convert(gd, inputs=list(data), outputs=outputs, quantize=mode,
                                           representative_data={k: v[:32] for k, v in data.items()})
                feeds = {k: v[32:32 + args.samples] for k, v in data.items()}
                for w in weights:
                    r = perop.per_op(damaged(gd, w), model, feeds, list(data))
                    top = next((row for row in r["rows"] if row["tensor"] == (r["top_local"] or [None])[0]), None)
                    hit = top is not None and w in inside(Graph(gd), r, top, list(data))
                    results[mode][0] += hit
                    results[mode][1] += 1
                    if not hit:
                        misses.append({"seed": seed, "model": build.__name__, "mode": mode, "damaged": w,
                                       "ranked_first": top and top["tensor"]})
    print(f"fault injection: one layer's weights x1.1 in the GraphDef, {args.seeds} seeds x (MLP 4 layers, "
          f"CNN 4 layers), {args.samples} samples ({time.time() - t0:.0f} s)")
    print(f"  {'mode':<10}{'trials':>8}{'hits':>6}{'hit rate':>10}")
    total = [0, 0]
    for mode, (hit, n) in results.items():
        total[0] += hit
        total[1] += n
        print(f"  {mode:<10}{n:>8}{hit:>6}{100 * hit / n:>9.1f}%")
    print(f"  {'all':<10}{total[1]:>8}{total[0]:>6}{100 * total[0] / total[1]:>9.1f}%")
    for m in misses:
        print(f"  miss: {m}")
    coverage = corpus_coverage(args.corpus, args.samples)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"hits": results, "misses": misses, "coverage": coverage}, f, indent=1)


CORPUS = [  # folder, GraphDef, inputs, outputs, input shapes, input range
    ("mobilenet_v1_025_128", "frozen_graph.pb", ["input"], ["MobilenetV1/Predictions/Reshape_1"],
     [1, 128, 128, 3], (-1, 1)),
    ("poets_mobilenet_retrained", "retrained_graph.pb", ["input"], ["final_result"], [1, 128, 128, 3], (-1, 1)),
    ("mnist_mlp_sgd", "frozen.pb", ["Placeholder"], ["softmax_linear/add"], [100, 784], (0, 1)),
    ("charrnn_fixed_batch", "frozen_model.pb", ["input_data"], ["probs"], [10, 10], "ref.npz"),
]


def corpus_coverage(root, samples):
    import graphtools
    from graphtools.core import io
    from graphtools.verification import perop

    rows = []
    for folder, pb, ins, outs, shape, value_range in CORPUS:
        path = os.path.join(root, folder, pb)
        if not os.path.exists(path):
            continue
        gd = graphtools.strip(io.load_graph_def(path), inputs=ins, outputs=outs)
        model = graphtools.convert(gd, inputs=ins, outputs=outs, shapes={ins[0]: shape})
        if value_range == "ref.npz":  # whole samples of the graph's fixed shape (char-rnn's [10, 10] ids)
            x = np.load(os.path.join(root, folder, "ref.npz"))["x"]
            r = perop.per_op(gd, model, {ins[0]: x}, ins, whole=True)
        else:
            lo, hi = value_range
            rng = np.random.RandomState(0)
            batch = shape[0]
            x = (lo + (hi - lo) * rng.rand(batch * min(samples, 4), *shape[1:])).astype(np.float32)
            r = perop.per_op(gd, model, {ins[0]: x}, ins, fixed_batch=batch if batch > 1 else None)
        worst = max((row["local"]["relative"] for row in r["rows"] if row["local"]), default=0.0)
        rows.append((folder, r["mapped"], r["op_outputs"], r["coverage"], r["local_skipped"], worst))
    if rows:
        print("\nmapping coverage on the corpus (float models, strip --remove all):")
        print(f"  {'model':<28}{'mapped':>8}{'op outputs':>12}{'coverage':>10}{'no local':>10}{'worst local rel':>17}")
        for folder, mapped, total, cov, skipped, worst in rows:
            print(f"  {folder:<28}{mapped:>8}{total:>12}{100 * cov:>9.1f}%{skipped:>10}{worst:>17.3g}")
    return [dict(zip(("model", "mapped", "op_outputs", "coverage", "local_skipped", "worst_local"), r)) for r in rows]


if __name__ == "__main__":
    main()
