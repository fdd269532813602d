"""Freezing a Keras-2 HDF5 model (tf_keras in a v1 graph): legacy configs read, recurrent layers unrolled
where their time steps are fixed."""
import json
import logging
import os
import re
from ..core import io
from ..errors import InputError
from .session import as_names, freeze_in_session, new_session, pick_outputs

log = logging.getLogger(__name__)


def freeze_keras(path, output_nodes=None):
    """Freeze a Keras-2 HDF5 model (``model.save('x.h5')``) loaded with tf_keras in inference mode."""
    from .._tf import tf

    tf = tf()
    if io.sniff(path) != "keras_h5":
        raise InputError(f"{path}: not an HDF5 file; pass the .h5 written by model.save('model.h5')")
    try:
        import tf_keras
        from tf_keras.src import backend as K  # set_session/get_session are not exported in tf_keras 2.21
    except ImportError:
        raise InputError("freezing Keras-2 .h5 models needs the tf_keras package: pip install tf_keras")
    config, repaired = legacy_keras_config(path)
    g = tf.Graph()
    try:
        with g.as_default():
            K.set_session(new_session(tf, g))
            import warnings

            with warnings.catch_warnings():  # (tf_keras announces the deprecation of what it still needs)
                warnings.simplefilter("ignore")
                K.set_learning_phase(0)
            try:
                if repaired:  # the architecture as the Keras that wrote it meant it, then the weights
                    log.info("%s: read as its Keras wrote it: %s", path, "; ".join(repaired))
                    model = tf_keras.models.model_from_json(json.dumps(config))
                    model.load_weights(path)
                else:
                    model = tf_keras.models.load_model(path, compile=False)
            except (OSError, ValueError, KeyError, TypeError, EOFError, SystemError) as e:
                first = str(e).splitlines()[0][:150] if str(e).strip() else type(e).__name__
                first = re.sub(r"<[^>]*GFile object at 0x[0-9a-f]+>", path, first)
                lambdas = _lambda_layers(config)
                if lambdas and (isinstance(e, (EOFError, SystemError)) or "marshal" in first):
                    raise InputError(
                        f"{path}: its Lambda layer{'s' if len(lambdas) > 1 else ''} {', '.join(lambdas[:3])} "
                        f"{'hold' if len(lambdas) > 1 else 'holds'} Python bytecode that another Python version "
                        f"wrote ({first}); this Python cannot run it. Load the model in tf_keras with the Lambda "
                        f"re-created from its source (custom_objects) and freeze that session "
                        f"(graphtools.freeze_session), or re-save the model in this Python")
                hint = ("a Lambda or custom layer needs its Python code: load it in tf_keras with custom_objects "
                        "and freeze the session (graphtools.freeze_session)" if "Unknown" in first or "Lambda" in first
                        else "re-save it with model.save('x.h5') from the code that built it")
                raise InputError(f"{path}: cannot load this Keras model ({first}); {hint}")
            if output_nodes:
                outputs, candidates, discovered = as_names(output_nodes), [], False
            elif model.outputs:
                outputs = [t.op.name for t in model.outputs]
                candidates = [{"name": o, "op": "", "score": 0, "why": "Keras model output"} for o in outputs]
                discovered = True
            else:  # (a Sequential with no input shape, built on first call: the graph says what it computes)
                outputs, candidates, discovered = pick_outputs(g.as_graph_def(), None, path)
            sess = K.get_session()
            try:
                return freeze_in_session(sess, g, outputs, path, candidates, discovered)
            finally:
                sess.close()
    finally:
        K.clear_session()


def legacy_keras_config(path):
    """(model config, [what was repaired]) of a Keras-2 .h5: the architecture as the Keras version that wrote
    it computed, where tf_keras reads the same config differently.

    - GRU configs written before ``reset_after`` existed (Keras < 2.1.5 wrote none): False, the only GRU
      that Keras had (tf_keras defaults a missing key to True, a different cell, and refuses the weights);
    - ``{'type': 'ndarray', 'value': 0.3}`` (Keras 2.0 serialised numpy scalars so): the number.

    A file with weights but no architecture (``save_weights``) is one clear error.
    """
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs.get("model_config")
        if raw is None:
            weights = "layer_names" in f.attrs or "model_weights" in f
            raise InputError(f"{path}: holds {'weights only' if weights else 'no Keras model'} (no model_config: "
                             f"written by save_weights); build the model in code, model.load_weights('{os.path.basename(path)}'), "
                             f"then model.save('full.h5') and convert that")
        version = f.attrs.get("keras_version", b"")
    raw = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    version = version.decode("utf-8") if isinstance(version, bytes) else str(version)
    config = json.loads(raw)
    repaired = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "ndarray" and "value" in node and len(node) == 2:
                repaired.append("numpy scalars in the config as numbers")
                return node["value"]
            cls, cfg = node.get("class_name"), node.get("config")
            if cls in ("GRU", "CuDNNGRU") and isinstance(cfg, dict) and "reset_after" not in cfg:
                cfg["reset_after"] = False
                repaired.append(f"GRU {cfg.get('name', '')} without reset_after (Keras {version or '< 2.1.5'}): "
                                f"reset_after=False")
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    config = walk(config)
    steps = _keras_timesteps(config)
    rnns = []

    def unroll(node):  # a recurrent layer over a known, moderate number of steps: straight-line ops
        if isinstance(node, dict):
            cfg = node.get("config")
            if node.get("class_name") in KERAS_RNN_LAYERS and isinstance(cfg, dict) and not cfg.get("unroll"):
                cfg["unroll"] = True
                rnns.append(cfg.get("name", node.get("class_name")))
            for v in node.values():
                unroll(v)
        elif isinstance(node, list):
            for v in node:
                unroll(v)

    if steps and steps <= MAX_KERAS_UNROLL:
        unroll(config)
        if rnns:
            repaired.append(f"{', '.join(rnns)} unrolled over {steps} steps (a TensorList while loop has no "
                            f"static shapes for the converter)")
    return config, list(dict.fromkeys(repaired))


KERAS_RNN_LAYERS = {"LSTM", "GRU", "SimpleRNN", "CuDNNLSTM", "CuDNNGRU", "RNN"}


MAX_KERAS_UNROLL = 1000


def _keras_timesteps(config):
    """The largest fixed sequence length a Keras config's inputs declare (batch_input_shape[1]; an
    Embedding's input_length), or None when one of them is open."""
    found = []
    for node in _layer_nodes(config):
        cfg = node.get("config")
        if isinstance(cfg, dict):
            shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
            if shape and len(shape) >= 3:
                found.append(shape[1])
            if node.get("class_name") == "Embedding" and "input_length" in cfg:
                found.append(cfg["input_length"])
    if not found or any(f is None for f in found):
        return None
    return max(int(f) for f in found)


def _lambda_layers(config):
    """Names of the Lambda layers anywhere in a Keras model config (nested models too)."""
    return [(n.get("config") or {}).get("name") or n.get("name") or "lambda" for n in _layer_nodes(config)
            if n.get("class_name") == "Lambda"]


def _layer_nodes(node):
    """Every dict in a Keras model config, depth first (layers of nested models too)."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _layer_nodes(v)
    elif isinstance(node, list):
        for v in node:
            yield from _layer_nodes(v)
