"""The conformance runner's plain-TensorFlow route: what a user gets without graphtools (freeze by hand,
``from_frozen_graph``), and TensorFlow's own outputs for a case."""
import os

import numpy as np

from .cases import case_outputs, reference, sample_feed


def plain_freeze(case, outputs):
    """Freeze the case's model the way a user does without graphtools; -> GraphDef (TF imported)."""
    from .._tf import tf as _tf

    tf = _tf()  # (with TF_USE_LEGACY_KERAS set first: Keras-2 files load with tf_keras)
    tf1 = tf.compat.v1
    src, d = case["source"], case["dir"]
    nodes = [o.split(":")[0] for o in outputs]
    if "keras" in src:
        import tf_keras
        from tf_keras.src import backend as K  # (get_session is not exported in tf_keras 2.21)

        tf1.disable_eager_execution()
        tf_keras.models.load_model(os.path.join(d, src["keras"]), compile=False)  # (into the session)
        sess = K.get_session()
        return tf1.graph_util.convert_variables_to_constants(sess, sess.graph.as_graph_def(), nodes)
    if "saved_model" in src:
        g = tf.Graph()
        with tf1.Session(graph=g) as sess:
            tf1.saved_model.loader.load(sess, src.get("tags", "serve").split(","), os.path.join(d, src["saved_model"]))
            return tf1.graph_util.convert_variables_to_constants(sess, g.as_graph_def(), nodes)
    if "ckpt" in src:
        g = tf.Graph()
        with g.as_default(), tf1.Session(graph=g) as sess:
            prefix = os.path.join(d, src["ckpt"])
            if "graph" in src and not os.path.exists(prefix + ".meta"):  # (a user restores the meta graph)
                tf1.import_graph_def(_read_graph_def(os.path.join(d, src["graph"])), name="")
                # a text graph has no collections: the variables by their ops
                saver = tf1.train.Saver(var_list={op.name: op.outputs[0] for op in g.get_operations()
                                                  if op.type in ("VariableV2", "Variable")})
            else:
                saver = tf1.train.import_meta_graph(prefix + ".meta", clear_devices=True)
            saver.restore(sess, prefix)
            return tf1.graph_util.convert_variables_to_constants(sess, g.as_graph_def(), nodes)
    return _read_graph_def(os.path.join(d, src["graph"]))


def _read_graph_def(path):
    import tensorflow as tf
    from google.protobuf import text_format

    gd = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith((".pbtxt", ".txt")):
        text_format.Merge(data.decode("utf-8"), gd)
    else:
        gd.ParseFromString(data)
    return gd


def plain_convert(case, out_path):
    """Plain freeze + from_frozen_graph with the data inputs, outputs and shapes; writes out_path."""
    import tensorflow as tf

    outputs = case_outputs(case)
    gd = plain_freeze(case, outputs)
    pb = out_path + ".frozen.pb"
    with open(pb, "wb") as f:
        f.write(gd.SerializeToString())
    names = [i["name"] for i in case["inputs"]]
    conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        pb, names, outputs, {i["name"]: list(i["shape"]) for i in case["inputs"]})
    for flags in case.get("named_extra", {}).values():
        if "--allow-custom-ops" in flags:
            conv.allow_custom_ops = True
    with open(out_path, "wb") as f:
        f.write(conv.convert())


def tf_reference(case, outputs, frozen_pb, inputs=None):
    """Plain TensorFlow's value of ``outputs`` on the case's reference inputs, with its feeds; ``inputs``:
    the tensors the j-th reference input goes to where a route picked others than the case's."""
    import tensorflow as tf

    gd = _read_graph_def(frozen_pb)
    xs, ys = reference(case)
    n = len(next(iter(ys.values())))
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(gd, name="")
    got = {o: [] for o in outputs}
    with tf.compat.v1.Session(graph=g) as sess:
        fetch = [g.get_tensor_by_name(o if ":" in o else o + ":0") for o in outputs]
        feeds = {}
        for k, v in case.get("feeds", {}).items():
            if _has_node(g, k):
                t = g.get_tensor_by_name(k if ":" in k else k + ":0")
                shape = t.shape.as_list() if t.shape.rank is not None else None
                fill = np.ndim(v) == 0 and shape and all(d is not None for d in shape)
                feeds[t] = np.full(shape, v, dtype=t.dtype.as_numpy_dtype) if fill else v
        for k in range(n):
            fd = dict(feeds)
            for j, (spec, v) in enumerate(zip(case["inputs"], sample_feed(case, xs, k))):
                name = spec["name"]
                if inputs and j < len(inputs) and _has_node(g, inputs[j]):
                    name = inputs[j]
                t = g.get_tensor_by_name(name if ":" in name else name + ":0")
                pad = spec.get("pad_batch")
                fd[t] = np.repeat(v, pad, axis=0) if pad else v
            vals = sess.run(fetch, fd)
            for o, v in zip(outputs, vals):
                pad = any(s.get("pad_batch") for s in case["inputs"])
                got[o].append(v[:1] if pad and np.ndim(v) else v)
    return {o: np.stack(v) for o, v in got.items()}


def _has_node(g, name):
    try:
        g.get_operation_by_name(name.split(":")[0])
        return True
    except KeyError:
        return False
