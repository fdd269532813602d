"""Tiny legacy TF1 models built in code (fixed seeds) for the tests.

Each builder writes what a TF1 user would have on disk (checkpoint + meta graph, SavedModel,
Keras .h5) into a directory, and returns the paths plus the outputs the live session computed
on seeded feeds, so a test can compare a frozen graph against them.
"""
import contextlib
import dataclasses
import os

import numpy as np

from graphtools._tf import tf as _tf

tf = _tf()
tf1 = tf.compat.v1


@dataclasses.dataclass
class Built:
    prefix: str = None          # checkpoint prefix
    graph_def: object = None    # the training graph (with variables)
    outputs: list = None
    feeds: dict = None          # {placeholder name: array} for inference
    expected: list = None       # session outputs for ``feeds``
    path: str = None            # SavedModel dir or .h5 file


@contextlib.contextmanager
def control_flow(version):
    """Build tf.cond as v1 Switch/Merge (``1``) or v2 If (``2``) inside the block."""
    from tensorflow.python.ops import control_flow_util

    old = control_flow_util.ENABLE_CONTROL_FLOW_V2
    control_flow_util.ENABLE_CONTROL_FLOW_V2 = version == 2
    try:
        yield
    finally:
        control_flow_util.ENABLE_CONTROL_FLOW_V2 = old


def _session(g):
    return tf1.Session(graph=g, config=tf1.ConfigProto(inter_op_parallelism_threads=2,
                                                       intra_op_parallelism_threads=2))


def mlp(out_dir, resource=False, partitioned=False, cond=None, seed=0, save_meta=True):
    """x[?,8] -> dense(6) (optionally partitioned) -> [tf.cond on is_training] -> dense(3) -> softmax.

    ``resource`` picks VarHandleOp over VariableV2; ``cond`` is None, 1 or 2 (control flow version),
    with a variable read inside the branches. Also a label placeholder, a loss, an optimizer, a
    summary and a Saver, the way training scripts had them.
    """
    os.makedirs(out_dir, exist_ok=True)
    g = tf.Graph()
    rng = np.random.RandomState(seed)
    with g.as_default(), control_flow(cond or 2):
        tf1.set_random_seed(seed)
        x = tf1.placeholder(tf.float32, [None, 8], name="x")
        labels = tf1.placeholder(tf.int64, [None], name="labels")
        is_training = tf1.placeholder_with_default(False, [], name="is_training")
        kw = dict(use_resource=resource, initializer=tf1.random_normal_initializer(seed=seed))
        if partitioned:
            kw["partitioner"] = tf1.fixed_size_partitioner(2)
        w1 = tf1.get_variable("dense1/kernel", shape=[8, 6], **kw)
        kw.pop("partitioner", None)
        b1 = tf1.get_variable("dense1/bias", shape=[6], **kw)
        w2 = tf1.get_variable("dense2/kernel", shape=[6, 3], **kw)
        h = tf.nn.relu(tf.matmul(x, w1) + b1)
        if cond:
            h = tf.cond(is_training, lambda: tf.matmul(h * 0.5, w2), lambda: tf.matmul(h, w2))
        else:
            h = tf.matmul(h, w2)
        logits = tf.identity(h, name="logits")
        prob = tf.nn.softmax(logits, name="prob")
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits),
                              name="loss")
        tf1.summary.scalar("loss", loss)
        step = tf1.train.get_or_create_global_step()
        train = tf1.train.MomentumOptimizer(0.1, 0.9).minimize(loss, global_step=step)
        saver = tf1.train.Saver()
        feeds = {"x": rng.rand(5, 8).astype(np.float32)}
        with _session(g) as sess:
            sess.run(tf1.global_variables_initializer())
            sess.run(train, {x: rng.rand(16, 8).astype(np.float32), labels: rng.randint(0, 3, 16)})
            expected = sess.run([prob], {x: feeds["x"]})
            prefix = saver.save(sess, os.path.join(out_dir, "model.ckpt"), global_step=1,
                                write_meta_graph=save_meta)
    return Built(prefix=prefix, graph_def=g.as_graph_def(), outputs=["prob"], feeds=feeds, expected=expected)


def mlp_session(cond=2, seed=0):
    """A live (graph, session) with resource variables and a v2 cond, for freeze_session."""
    g = tf.Graph()
    rng = np.random.RandomState(seed)
    with g.as_default(), control_flow(cond):
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        flag = tf1.placeholder_with_default(False, [], name="is_training")
        w = tf1.get_variable("w", shape=[4, 2], use_resource=True,
                             initializer=tf1.random_normal_initializer(seed=seed))
        out = tf.cond(flag, lambda: tf.matmul(x, w) * 2.0, lambda: tf.matmul(x, w))
        out = tf.identity(out, name="out")
    sess = _session(g)
    with g.as_default():
        sess.run(tf1.global_variables_initializer())
    feeds = {"x": rng.rand(3, 4).astype(np.float32)}
    expected = sess.run([out], {x: feeds["x"]})
    return g, sess, Built(outputs=["out"], feeds=feeds, expected=expected)


def saved_model_v1(out_dir, seed=0, tags=("serve",)):
    """A v1 SavedModel (SavedModelBuilder) with a predict signature."""
    g = tf.Graph()
    rng = np.random.RandomState(seed)
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 5], name="images")
        w = tf1.get_variable("w", shape=[5, 4], use_resource=False,
                             initializer=tf1.random_normal_initializer(seed=seed))
        b = tf1.get_variable("b", shape=[4], use_resource=False, initializer=tf1.ones_initializer())
        scores = tf.nn.softmax(tf.matmul(x, w) + b, name="scores")
        feeds = {"images": rng.rand(3, 5).astype(np.float32)}
        with _session(g) as sess:
            sess.run(tf1.global_variables_initializer())
            expected = sess.run([scores], {x: feeds["images"]})
            builder = tf1.saved_model.builder.SavedModelBuilder(out_dir)
            sig = tf1.saved_model.signature_def_utils.predict_signature_def(
                inputs={"images": x}, outputs={"scores": scores})
            builder.add_meta_graph_and_variables(sess, list(tags), signature_def_map={"serving_default": sig})
            builder.save()
    return Built(path=out_dir, outputs=["scores"], feeds=feeds, expected=expected)


def keras_h5(path, seed=0):
    """A Keras-2 Sequential model (Dense, BatchNorm, Dropout) trained a little and saved as .h5."""
    import tf_keras

    tf_keras.utils.set_random_seed(seed)
    rng = np.random.RandomState(seed)
    model = tf_keras.Sequential([
        tf_keras.layers.Dense(16, activation="relu", input_shape=(10,), name="dense_1"),
        tf_keras.layers.BatchNormalization(name="bn"),
        tf_keras.layers.Dropout(0.5, name="dropout_1"),
        tf_keras.layers.Dense(3, activation="softmax", name="softmax_out"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.rand(64, 10).astype(np.float32) * 3
    model.fit(x, rng.randint(0, 3, 64), epochs=3, verbose=0)
    model.save(path)
    feeds = x[:6]
    expected = [model.predict(feeds, verbose=0)]
    tf_keras.backend.clear_session()
    return Built(path=path, feeds={"dense_1_input": feeds}, expected=expected)


def tflite_from_graph_def(graph_def, path, inputs, outputs, shapes):
    """Convert a frozen GraphDef with TFLiteConverter.from_frozen_graph (test helper)."""
    pb = str(path) + ".pb"
    with open(pb, "wb") as f:
        f.write(graph_def.SerializeToString())
    conv = tf1.lite.TFLiteConverter.from_frozen_graph(pb, inputs, outputs, input_shapes=shapes)
    data = conv.convert()
    with open(path, "wb") as f:
        f.write(data)
    os.remove(pb)
    return str(path)


# ---------------------------------------------------------------- graphs for the strip passes

DROPOUT_FORMS = ("floor", "cast_div", "cast_mul", "select", "rate_const", "stateless")


def _keep_tensor(kind, value=0.5):
    if kind == "placeholder":  # unknown rank, as TF 1.0 tutorials wrote it
        return tf1.placeholder(tf.float32, name="keep_prob")
    if kind == "default":
        return tf1.placeholder_with_default(tf.constant(value), [], name="keep_prob")
    return tf.constant(value, name="keep_prob")


def _dropout(h, form, keep):
    """Dropout as the TF versions wrote it into graphs."""
    if form == "floor":  # TF 1.0-1.12
        rnd = keep + tf1.random_uniform(tf.shape(h), dtype=h.dtype)
        return tf.math.truediv(h, keep) * tf.floor(rnd)
    if form in ("cast_div", "cast_mul"):  # TF 1.13-1.15
        rate = tf.subtract(1.0, keep, name="rate")
        mask = tf.cast(tf1.random_uniform(tf.shape(h)) >= rate, h.dtype)
        if form == "cast_div":
            return tf.math.truediv(h, 1.0 - rate) * mask
        return h * tf.math.truediv(1.0, 1.0 - rate) * mask
    if form == "select":  # TF 2.x compat.v1.nn.dropout(keep_prob=...)
        return tf1.nn.dropout(h, keep_prob=keep)
    if form == "rate_const":
        return tf.nn.dropout(h, rate=0.3)
    if form == "stateless":
        return tf.nn.experimental.stateless_dropout(h, rate=0.3, seed=[1, 2])
    raise ValueError(form)


def dense_with_dropout(form="select", keep="placeholder", seed=0, dropout_is_output=False):
    """x[?,6] -> dense(5) -> relu -> dropout -> dense(3) -> 'out', weights as constants (already frozen).

    Returns (graph_def, feeds for x, output name); with ``dropout_is_output`` the dropout's own
    last node is the output.
    """
    rng = np.random.RandomState(seed)
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 6], name="x")
        k = _keep_tensor(keep)
        h = tf.nn.relu(tf.matmul(x, tf.constant(rng.randn(6, 5).astype(np.float32))))
        d = _dropout(h, form, k)
        if dropout_is_output:
            out = d.op.name
        else:
            out = tf.identity(tf.matmul(d, tf.constant(rng.randn(5, 3).astype(np.float32))), name="out").op.name
    return g.as_graph_def(), {"x": rng.rand(4, 6).astype(np.float32)}, out


def layers_cnn(out_dir, cond=1, fused=True, training_flag=True, seed=0, depthwise=False, center=True, scale=True,
               resource=False, op_scope=None):
    """A tf.compat.v1.layers CNN trained two steps and saved, plus its hand-written inference twin.

    x[?,8,8,3] -> conv2d(8) -> batch_normalization -> relu [-> depthwise conv + batch norm]
    -> flatten -> dense(16) -> dropout(0.4) -> dense(4) 'logits' -> softmax 'prob'.
    ``training_flag``: batch norm and dropout follow an ``is_training`` placeholder through tf.cond
    (``cond`` 1: Switch/Merge, 2: If); False builds them always in training mode (the tf-slim
    ``is_training=True`` style). Returns (checkpoint prefix, inference GraphDef frozen from the
    same checkpoint by code that says training=False, feeds). ``center``/``scale`` False: batch norms
    without beta/gamma (tf-slim's arg scopes); ``resource``: resource variables throughout; ``op_scope``:
    the network's ops under this name scope while its variables are not (a tower, a reused model).
    """
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.RandomState(seed)
    x_val = rng.rand(16, 8, 8, 3).astype(np.float32)
    y_val = rng.randint(0, 4, 16)

    def net(x, training):
        with tf1.variable_scope(tf1.get_variable_scope(), use_resource=True if resource else None):
            if op_scope:
                with tf.name_scope(op_scope):
                    out = _net(x, training)
            else:
                out = _net(x, training)
        return tf.identity(out, name="logits")

    def _net(x, training):
        h = tf1.layers.conv2d(x, 8, 3, padding="same", use_bias=False, name="conv1",
                              kernel_initializer=tf1.glorot_uniform_initializer(seed=seed))
        h = tf1.layers.batch_normalization(h, training=training, fused=fused, name="bn1", center=center, scale=scale)
        h = tf.nn.relu(h)
        if depthwise:
            w = tf1.get_variable("dw/depthwise_kernel", [3, 3, 8, 2],
                                 initializer=tf1.glorot_uniform_initializer(seed=seed + 1))
            h = tf.nn.depthwise_conv2d(h, w, [1, 1, 1, 1], "SAME")
            h = tf1.layers.batch_normalization(h, training=training, fused=fused, name="bn2", center=center,
                                               scale=scale)
            h = tf.nn.relu6(h)
        h = tf1.layers.flatten(h)
        h = tf1.layers.dense(h, 16, activation=tf.nn.relu, name="fc1",
                             kernel_initializer=tf1.glorot_uniform_initializer(seed=seed + 2))
        h = tf1.layers.dropout(h, rate=0.4, training=training, name="dropout")
        return tf1.layers.dense(h, 4, name="fc2", kernel_initializer=tf1.glorot_uniform_initializer(seed=seed + 3))

    g = tf.Graph()
    with g.as_default(), control_flow(cond):
        tf1.set_random_seed(seed)
        x = tf1.placeholder(tf.float32, [None, 8, 8, 3], name="x")
        y = tf1.placeholder(tf.int64, [None], name="labels")
        training = tf1.placeholder(tf.bool, [], name="is_training") if training_flag else True
        logits = net(x, training)
        tf.nn.softmax(logits, name="prob")
        loss = tf1.losses.sparse_softmax_cross_entropy(y, logits)
        with tf.control_dependencies(tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)):
            train = tf1.train.AdamOptimizer(0.01).minimize(loss)
        saver = tf1.train.Saver()
        feed = {x: x_val, y: y_val}
        if training_flag:
            feed[training] = True
        with _session(g) as sess:
            sess.run(tf1.global_variables_initializer())
            for _ in range(3):
                sess.run(train, feed)
            prefix = saver.save(sess, os.path.join(out_dir, "model.ckpt"))
    # the inference graph a careful engineer writes by hand, restored from the same checkpoint
    gi = tf.Graph()
    with gi.as_default():
        x = tf1.placeholder(tf.float32, [None, 8, 8, 3], name="x")
        logits = net(x, False)
        tf.nn.softmax(logits, name="prob")
        with _session(gi) as sess:
            tf1.train.Saver().restore(sess, prefix)
            reference = tf1.graph_util.convert_variables_to_constants(sess, gi.as_graph_def(), ["logits", "prob"])
    return prefix, reference, {"x": rng.rand(3, 8, 8, 3).astype(np.float32)}


def tflite_run(graph_def, path, inputs, outputs, shapes, feeds):
    """Convert with from_frozen_graph and run with LiteRT: (op count, op names, list of outputs)."""
    from ai_edge_litert.interpreter import Interpreter

    tflite_from_graph_def(graph_def, path, inputs, outputs, shapes)
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], feeds[d["name"]])
    it.invoke()
    outs = [it.get_tensor(d["index"]) for d in it.get_output_details()]
    ops = [o["op_name"] for o in it._get_ops_details()]
    return len(ops), ops, outs


def slim():
    """tf_slim with its batch norm pointed at tf.compat.v1.layers (tf_keras 2.21 dropped legacy_tf_layers)."""
    import tf_slim
    from tf_slim.layers import layers as slim_layers

    slim_layers.normalization_layers = tf1.layers
    return tf_slim


def slim_net(out_dir, arch, seed=0):
    """A small tf-slim ResNet v1 or Inception v1 training graph built with is_training=True.

    Trained-ish (batch-norm moving statistics updated a few times), saved with its meta graph;
    returns (checkpoint prefix, inference GraphDef frozen from the same checkpoint by the same
    code with is_training=False, feeds, output name).
    """
    sl = slim()
    from tf_slim.nets import inception_v1, resnet_utils, resnet_v1

    rng = np.random.RandomState(seed)
    size = 64

    def net(x, is_training):
        if arch == "resnet":
            with sl.arg_scope(resnet_utils.resnet_arg_scope()):
                blocks = [resnet_v1.resnet_v1_block("block1", base_depth=8, num_units=2, stride=2),
                          resnet_v1.resnet_v1_block("block2", base_depth=16, num_units=1, stride=1)]
                logits, _ = resnet_v1.resnet_v1(x, blocks, num_classes=5, is_training=is_training,
                                                global_pool=True, scope="resnet_tiny")
                logits = tf.squeeze(logits, [1, 2])
        else:
            with sl.arg_scope(inception_v1.inception_v1_arg_scope()):
                with sl.arg_scope([sl.batch_norm, sl.dropout], is_training=is_training):
                    h, _ = inception_v1.inception_v1_base(x, final_endpoint="Mixed_3b", scope="InceptionV1")
                    h = tf.reduce_mean(h, [1, 2], keepdims=True)
                    h = sl.dropout(h, 0.8, scope="Dropout")
                    logits = tf.squeeze(sl.conv2d(h, 5, [1, 1], activation_fn=None, normalizer_fn=None,
                                                  scope="Logits"), [1, 2])
        return tf.identity(logits, name="output")

    g = tf.Graph()
    with g.as_default():
        tf1.set_random_seed(seed)
        x = tf1.placeholder(tf.float32, [None, size, size, 3], name="input")
        net(x, True)
        updates = tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)
        saver = tf1.train.Saver()
        with _session(g) as sess:
            sess.run(tf1.global_variables_initializer())
            for _ in range(3):
                sess.run(updates, {x: rng.rand(4, size, size, 3).astype(np.float32)})
            prefix = saver.save(sess, os.path.join(out_dir, "model.ckpt"))
    gi = tf.Graph()
    with gi.as_default():
        x = tf1.placeholder(tf.float32, [None, size, size, 3], name="input")
        net(x, False)
        with _session(gi) as sess:
            tf1.train.Saver().restore(sess, prefix)
            reference = tf1.graph_util.convert_variables_to_constants(sess, gi.as_graph_def(), ["output"])
    return prefix, reference, {"input": rng.rand(2, size, size, 3).astype(np.float32)}, "output"


def conv_of_unknown_rank(path, hidden=False):
    """x (unknown rank) -> Conv2D: fed a rank-2 tensor, TensorFlow's kernel aborts the process.

    ``hidden``: through a Sin, which graphtools' rank check does not see through (so the abort happens).
    """
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, None, name="x")
        w = tf.constant(np.ones((3, 3, 1, 2), np.float32))
        tf.nn.conv2d(tf.sin(x) if hidden else x, w, [1, 1, 1, 1], "SAME", name="y")
    with open(path, "wb") as f:
        f.write(g.as_graph_def().SerializeToString())
    return path


def aborting_graph(path):
    """x[?, 4] -> y = 2x, with a control dependency on TensorFlow's Abort op: running y aborts the process
    (LOG(FATAL), SIGABRT) on every machine, whatever its kernels (a Conv2D fed a rank-2 tensor aborts in
    oneDNN's kernel but is a clean error in Eigen's)."""
    g = tf.Graph()
    with g.as_default():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        abort = tf.raw_ops.Abort(error_msg="graphtools test abort", exit_without_error=False)
        with tf.control_dependencies([abort]):
            tf.multiply(x, 2.0, name="y")
    with open(path, "wb") as f:
        f.write(g.as_graph_def().SerializeToString())
    return path
