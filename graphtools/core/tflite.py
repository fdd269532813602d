"""Read .tflite flatbuffers without TensorFlow (LiteRT's generated schema)."""
import collections
import struct

import numpy as np

from ..errors import InputError
from .io import TFLITE_MAGIC, read_bytes

STOCHASTIC_BUILTINS = {"RANDOM_UNIFORM", "RANDOM_STANDARD_NORMAL", "MULTINOMIAL"}


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        raise InputError("reading .tflite files needs the ai-edge-litert package: pip install ai-edge-litert")
    return schema


def _enum_names(cls):
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def load_model(path_or_bytes, path=None):
    """Parse a .tflite file (path or bytes) into the schema's object API ModelT."""
    schema = _schema()
    data = read_bytes(path_or_bytes) if isinstance(path_or_bytes, str) else bytes(path_or_bytes)
    path = path or (path_or_bytes if isinstance(path_or_bytes, str) else "<tflite>")
    if len(data) < 8 or data[4:8] != TFLITE_MAGIC:
        raise InputError(f"{path}: not a TensorFlow Lite model (no TFL3 identifier); pass a .tflite file")
    try:
        return schema.ModelT.InitFromPackedBuf(data, 0)
    except (struct.error, IndexError, ValueError, TypeError, UnicodeDecodeError, AttributeError, OverflowError) as e:
        raise InputError(f"{path}: corrupt or truncated TensorFlow Lite model ({type(e).__name__}); convert it again")


def op_names(model):
    """Operator name per opcode index: builtin name, or the custom code (Flex ops start with 'Flex')."""
    builtins = _enum_names(_schema().BuiltinOperator)
    names = []
    for oc in model.operatorCodes or []:
        code = max(oc.builtinCode or 0, oc.deprecatedBuiltinCode or 0)
        name = builtins.get(code, f"BUILTIN_{code}")
        if name == "CUSTOM":
            cc = oc.customCode.decode() if isinstance(oc.customCode, bytes) else (oc.customCode or "?")
            name = cc if cc.startswith("Flex") else f"CUSTOM:{cc}"
        names.append(name)
    return names


def _tensor_info(t, types):
    name = t.name.decode() if isinstance(t.name, bytes) else (t.name or "")
    shape = [int(d) for d in (t.shape if t.shape is not None else [])]
    sig = [int(d) for d in t.shapeSignature] if t.shapeSignature is not None else shape
    info = {"name": name, "dtype": types.get(t.type, str(t.type)).lower(), "shape": sig}
    q = t.quantization
    if q is not None and q.scale is not None and len(q.scale):
        info["quantization"] = {"scale": [float(s) for s in q.scale][:4],
                                "zero_point": [int(z) for z in (q.zeroPoint if q.zeroPoint is not None else [])][:4]}
    return info


def summarize(path_or_bytes, path=None):
    """Inputs, outputs, op histogram, parameter count and what looks wrong, for one .tflite."""
    model = load_model(path_or_bytes, path)
    types = _enum_names(_schema().TensorType)
    names = op_names(model)
    hist = collections.Counter()
    tensor_types = collections.Counter()
    params = 0
    param_bytes = 0
    buffers = model.buffers or []
    if not model.subgraphs:
        raise InputError(f"{path or path_or_bytes}: TensorFlow Lite model has no subgraph; convert it again")
    for sg in model.subgraphs:
        for op in sg.operators or []:
            idx = op.opcodeIndex
            hist[names[idx] if idx < len(names) else f"opcode{idx}"] += 1
        for t in sg.tensors or []:
            tensor_types[types.get(t.type, str(t.type)).lower()] += 1
            b = buffers[t.buffer] if 0 < t.buffer < len(buffers) else None
            size = (len(b.data) if b is not None and b.data is not None else 0) or (b.size if b is not None and b.size else 0)
            if size and t.shape is not None and len(t.shape):
                n = 1
                for d in t.shape:
                    n *= int(d)
                params += n
                param_bytes += size
    main = model.subgraphs[0]
    tensors = main.tensors or []
    inputs = [_tensor_info(tensors[i], types) for i in (main.inputs if main.inputs is not None else [])]
    outputs = [_tensor_info(tensors[i], types) for i in (main.outputs if main.outputs is not None else [])]
    blockers = []
    stochastic = sorted(set(hist) & STOCHASTIC_BUILTINS)
    if stochastic:
        blockers.append({"kind": "stochastic", "nodes": stochastic,
                         "message": f"random ops make outputs random (dropout left in?): {', '.join(stochastic)}; "
                                    f"strip the graph with 'graphtools strip --remove dropout' and convert again"})
    flex = sorted(n for n in hist if n.startswith("Flex"))
    if flex:
        blockers.append({"kind": "select_tf_ops", "nodes": flex,
                         "message": f"needs the TensorFlow Select ops runtime: {', '.join(flex[:5])}"})
    # (the custom ops LiteRT's own built-in resolver registers need nothing at run time)
    from .ops import RUNTIME_CUSTOM_OPS

    builtin_custom = {f"CUSTOM:{op}" for op in RUNTIME_CUSTOM_OPS}
    custom = sorted(n for n in hist if n.startswith("CUSTOM:") and n not in builtin_custom)
    if custom:
        blockers.append({"kind": "custom_ops", "nodes": custom,
                         "message": f"needs custom op implementations at run time: {', '.join(custom[:5])}"})
    sigs = [(s.signatureKey.decode() if isinstance(s.signatureKey, bytes) else s.signatureKey)
            for s in (model.signatureDefs or [])]
    return {
        "inputs": inputs,
        "outputs": outputs,
        "op_histogram": dict(hist.most_common()),
        "operators": sum(hist.values()),
        "tensor_types": dict(tensor_types.most_common()),
        "parameters": {"count": params, "bytes": param_bytes},
        "subgraphs": len(model.subgraphs),
        "signatures": sigs,
        "version": model.version,
        "blockers": blockers,
    }


# ---------------------------------------------------------------- running

KERNELS = ("xnnpack", "builtin", "reference")


def interpreter(model, threads=1, kernels="builtin", preserve=False):
    """A LiteRT interpreter for ``model`` (bytes), allocated; ``kernels``: xnnpack (the default
    builtin kernels with the XNNPACK delegate), builtin (those alone), reference. Open dimensions are
    resized to 1. LiteRT's own chatter is hidden unless --verbose; a model it cannot run is one line."""
    import warnings

    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from .._tf import stderr_quiet

    resolver = {"xnnpack": OpResolverType.AUTO, "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                "reference": OpResolverType.BUILTIN_REF}[kernels]
    try:
        with warnings.catch_warnings(), stderr_quiet():
            warnings.simplefilter("ignore")  # (preserve_all_tensors: "intended for debugging")
            it = Interpreter(model_content=model, num_threads=threads, experimental_op_resolver_type=resolver,
                             experimental_preserve_all_tensors=preserve)
            for d in it.get_input_details():
                sig = d.get("shape_signature")
                if sig is not None and len(sig) and min(sig) < 0:
                    it.resize_tensor_input(d["index"], [1 if s < 0 else int(s) for s in sig])
            it.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise InputError(f"LiteRT cannot run the model with the {kernels} kernels ({str(e).splitlines()[0][:120]})")
    return it


# ---------------------------------------------------------------- signatures

SIGNATURE_KEY = "serving_default"


def add_signature(model_bytes, inputs, outputs, key=SIGNATURE_KEY):
    """``model_bytes`` with a SignatureDef ``key`` over subgraph 0: input and output keys are the TF
    names ``inputs``/``outputs`` in the order the converter was given them (its subgraph lists them
    in that order). A model that has signatures already is returned unchanged."""
    import flatbuffers

    schema = _schema()
    model = load_model(model_bytes)
    if model.signatureDefs:
        return bytes(model_bytes)
    sub = model.subgraphs[0]
    if len(sub.inputs) != len(inputs) or len(sub.outputs) != len(outputs):
        raise InputError(f"the converted model has {len(sub.inputs)} inputs and {len(sub.outputs)} outputs, "
                         f"not the {len(inputs)} and {len(outputs)} asked for; no signature can be named")

    def maps(names, indices):
        out = []
        for name, index in zip(names, indices):
            m = schema.TensorMapT()
            m.name, m.tensorIndex = name, int(index)
            out.append(m)
        return out

    def by_name(names, indices):  # the converter keeps the order it was given; trust names if they say otherwise
        have = [_text(sub.tensors[i].name) for i in indices]
        if sorted(have) == sorted(names) and len(set(have)) == len(have):
            return [indices[have.index(n)] for n in names]
        return list(indices)

    sig = schema.SignatureDefT()
    sig.signatureKey, sig.subgraphIndex = key, 0
    sig.inputs = maps(inputs, by_name(inputs, list(sub.inputs)))
    sig.outputs = maps(outputs, by_name(outputs, list(sub.outputs)))
    model.signatureDefs = [sig]
    builder = flatbuffers.Builder(max(1024, len(model_bytes) + 4096))
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_MAGIC)
    return bytes(builder.Output())


def _text(value):
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")


def io_card(path_or_bytes, key=SIGNATURE_KEY):
    """The signature's inputs and outputs: key, dtype, shape, and scale/zero point of integer tensors."""
    model = load_model(path_or_bytes)
    types = _enum_names(_schema().TensorType)
    sigs = {_text(s.signatureKey): s for s in model.signatureDefs or []}
    if key not in sigs:
        return None
    s = sigs[key]
    tensors = model.subgraphs[s.subgraphIndex].tensors

    def rows(maps):
        out = []
        for m in maps:
            t = tensors[m.tensorIndex]
            row = {"key": _text(m.name),
                   "dtype": types.get(t.type, str(t.type)).lower(),
                   "shape": [int(d) for d in (t.shapeSignature if t.shapeSignature is not None else
                                              t.shape if t.shape is not None else [])]}  # ([]: shape unknown)
            q = t.quantization
            if q is not None and q.scale is not None and len(q.scale) and row["dtype"] in ("int8", "uint8", "int16"):
                row["scale"], row["zero_point"] = float(q.scale[0]), int(q.zeroPoint[0])
            out.append(row)
        return out

    return {"signature": key, "inputs": rows(s.inputs), "outputs": rows(s.outputs)}


def _plus(k):
    return f" + {k}" if k > 0 else f" - {-k}" if k < 0 else ""


def io_snippet(card, path="model.tflite"):
    """A few lines of Python that feed the signature correctly (quantizing integer inputs)."""
    lines = ["import numpy as np", "from ai_edge_litert.interpreter import Interpreter", "",
             f"runner = Interpreter(model_path={path!r}).get_signature_runner({card['signature']!r})"]
    feeds = []
    for i in card["inputs"]:
        shape = tuple(1 if d < 0 else d for d in i["shape"])
        var = "x%d" % len(feeds)
        lines.append(f"{var} = np.zeros({shape}, np.float32)  # your {i['key']!r} data")
        if "scale" in i:
            lines.append(f"{var} = np.clip(np.round({var} / {i['scale']:.8g}{_plus(i['zero_point'])}), "
                         f"np.iinfo(np.{i['dtype']}).min, np.iinfo(np.{i['dtype']}).max).astype(np.{i['dtype']})")
        else:
            lines.append(f"{var} = {var}.astype(np.{i['dtype']})")
        feeds.append(f"{i['key']!r}: {var}")
    lines.append(f"out = runner(**{{{', '.join(feeds)}}})")
    for o in card["outputs"]:
        if "scale" in o:
            lines.append(f"{o['key'].replace('/', '_').replace(':', '_')} = "
                         f"(out[{o['key']!r}].astype(np.float32){_plus(-o['zero_point'])}) * {o['scale']:.8g}")
        else:
            lines.append(f"{o['key'].replace('/', '_').replace(':', '_')} = out[{o['key']!r}]")
    return "\n".join(lines)


def quantize(x, detail):
    dt = detail["dtype"]
    if dt in (np.float32, np.float16, np.float64):
        return x.astype(dt)
    scale, zp = detail["quantization"]
    if not scale:
        return x.astype(dt)
    info = np.iinfo(dt)
    return np.clip(np.round(x / scale + zp), info.min, info.max).astype(dt)


def dequantize(y, detail):
    if detail["dtype"] in (np.float32, np.float16, np.float64):
        return np.asarray(y, dtype=np.float32)
    scale, zp = detail["quantization"]
    return (np.asarray(y, dtype=np.float32) - zp) * (scale or 1.0)
