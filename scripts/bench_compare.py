"""Benchmark: batched comparison vs the tutorial loop (one set_tensor/invoke per image).

    python scripts/bench_compare.py [--images 10000] [--batch 512]

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
    ap.add_argument("--batch", type=int, default=512)
    args = ap.parse_args()
    import graphtools
    from ai_edge_litert.interpreter import Interpreter
    from graphtools.verification.comparison import LiteModel, compare

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

    # the loop of TensorFlow's post-training quantization tutorial (evaluate_model), verbatim
    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    t = time.perf_counter()
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    prediction_digits = []
    for test_image in x:
        test_image = np.expand_dims(test_image, axis=0).astype(np.float32)
        interpreter.set_tensor(input_index, test_image)
        interpreter.invoke()
        output = interpreter.tensor(output_index)
        prediction_digits.append(np.argmax(output()[0]))
    t_evaluate = time.perf_counter() - t

    lite = LiteModel(model)
    t = time.perf_counter()
    (batched,), _, _ = lite.run({"x": x}, ["x"], ["prediction"], args.batch)
    t_batched = time.perf_counter() - t
    assert np.allclose(np.array(loop), batched, atol=1e-5)

    # the floor: the model's own arithmetic, invoke() alone at the fastest batch size on every core;
    # no batched runner can beat it, so tutorial time / floor is the largest speed-up there is
    floor = float("inf")
    for b in (128, 512, 2048):
        it = Interpreter(model_content=model, num_threads=os.cpu_count())
        it.resize_tensor_input(it.get_input_details()[0]["index"], [b] + list(x.shape[1:]))
        it.allocate_tensors()
        i = it.get_input_details()[0]["index"]
        xb = x.astype(np.float32)
        for _ in range(3):
            spent = 0.0
            for start in range(0, len(x) - b + 1, b):
                it.set_tensor(i, xb[start:start + b])
                t = time.perf_counter()
                it.invoke()
                spent += time.perf_counter() - t
            floor = min(floor, spent * len(x) / (len(x) - len(x) % b))

    t = time.perf_counter()
    compare(gd, [model], {"x": x}, batch=args.batch)
    t_compare = time.perf_counter() - t
    rows = [("minimal loop (details looked up once)", t_loop),
            ("TF tutorial evaluate_model loop", t_evaluate),
            ("tutorial loop, details per image", t_tutorial),
            (f"graphtools batched (batch {args.batch})", t_batched),
            (f"floor: invoke() alone, best batch, {os.cpu_count()} threads", floor)]
    print(f"{args.images} images through the fixture model (float .tflite, LiteRT)")
    print(f"  {'how':<48} {'s':>7} {'us/image':>9} {'vs batched':>11}")
    for name, sec in rows:
        print(f"  {name:<48} {sec:>7.3f} {1e6 * sec / len(x):>9.2f} {sec / t_batched:>10.1f}x")
    print(f"  largest possible speed-up over the tutorial loops: {t_evaluate / floor:.1f}x / {t_tutorial / floor:.1f}x")
    print(f"  whole compare (TF graph + model + metrics): {t_compare:.3f} s")


if __name__ == "__main__":
    main()
