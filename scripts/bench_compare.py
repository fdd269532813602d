"""Benchmark: batched comparison vs the tutorial loop (one set_tensor/invoke per image).

    python scripts/bench_compare.py [--images 10000] [--batch 256]

Runs the bundled fixture model (frozen, stripped, converted to float TFLite here) over N digit
images both ways in the same run and prints a table with the speed-up.
"""
import argparse
import os
import sys
import time

sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from graphtools import _tf  # noqa: E402

_tf.quiet()
import numpy as np  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    import graphtools
    from ai_edge_litert.interpreter import Interpreter
    from graphtools.comparison import LiteModel, compare

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frozen = graphtools.freeze(ckpt=os.path.join(root, "fixtures", "digits_cnn", "model.ckpt"),
                               output_nodes="prediction").graph_def
    gd = graphtools.strip(frozen, outputs=["prediction"])
    model = graphtools.convert(gd, quantize="none")
    d = np.load(os.path.join(root, "fixtures", "digits.npz"))
    pool = np.concatenate([d["x_train"], d["x_test"]])
    x = pool[np.arange(args.images) % len(pool)]

    it = Interpreter(model_content=model)  # the tutorial pattern
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    t = time.perf_counter()
    loop = []
    for img in x:
        it.set_tensor(i, img[None])
        it.invoke()
        loop.append(it.get_tensor(o)[0].copy())
    t_loop = time.perf_counter() - t

    # the loop as the TensorFlow Lite tutorials write it: details looked up and the input copied per image
    it = Interpreter(model_content=model)
    it.allocate_tensors()
    t = time.perf_counter()
    for k in range(len(x)):
        inp, out = it.get_input_details(), it.get_output_details()
        it.set_tensor(inp[0]["index"], np.array(x[k:k + 1], dtype=np.float32))
        it.invoke()
        it.get_tensor(out[0]["index"])
    t_tutorial = time.perf_counter() - t

    lite = LiteModel(model)
    t = time.perf_counter()
    (batched,), _, _ = lite.run({"x": x}, ["x"], ["prediction"], args.batch)
    t_batched = time.perf_counter() - t
    assert np.allclose(np.array(loop), batched, atol=1e-5)

    t = time.perf_counter()
    compare(gd, [model], {"x": x}, batch=args.batch)
    t_compare = time.perf_counter() - t
    print(f"{'images':>7} {'minimal loop s':>15} {'tutorial loop s':>16} {'batched s':>10} "
          f"{'vs minimal':>11} {'vs tutorial':>12} {'whole compare s':>16}")
    print(f"{args.images:>7} {t_loop:>15.3f} {t_tutorial:>16.3f} {t_batched:>10.3f} {t_loop / t_batched:>10.1f}x "
          f"{t_tutorial / t_batched:>11.1f}x {t_compare:>16.3f}")


if __name__ == "__main__":
    main()
