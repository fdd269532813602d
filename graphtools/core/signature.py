"""One signature per command: a graph's inputs, outputs, shapes, dtypes, training flags and labels.

Resolved once at the front door of a command, with the user's flags applied (``--inputs``,
``--outputs``, ``--input-shapes``, ``--bind``), and passed down to every TensorFlow run, check,
conversion and comparison, so the layers cannot disagree about what the graph takes:

    sig = resolve(graph_def, outputs="logits", shapes="1,28,28,1")
    sig.names                 # ['x']: the data inputs, in the file's order
    sig.flags                 # {'keep_prob': 1.0}: what training flags and bound placeholders are fed
    sig.shapes()              # {'x': [1, 28, 28, 1]}: for the converter (the graph's fixed batch, else 1)
    sig.random_feeds(seed=0)  # seeded inputs for a check (the graph's fixed batch, else 2)
    sig.against(stripped)     # the same signature for a rewritten graph (bound flags are gone)
"""
import dataclasses

import numpy as np

from ..errors import InputError, NodeNotFoundError
from .graph import node_name

CHECK_BATCH = 2  # the batch of a check's random inputs where the graph leaves it open


@dataclasses.dataclass(frozen=True)
class Input:
    """One placeholder the outputs read."""

    name: str
    dtype: str
    shape: object = None           # as the graph states it: list of sizes (-1 unknown), None unknown rank
    role: str = "data"             # 'data' or 'training_flag'
    optional: bool = False         # a PlaceholderWithDefault
    given: object = None           # the shape the user gave (--input-shapes)
    int_range: object = None       # [lo, hi): ids that index an embedding table of hi rows
    inference_value: object = None  # a training flag's value at inference, decided by what it drives
    label: bool = False            # feeds a loss, a metric or one_hot: not a model input

    @property
    def known(self):
        """The user's shape where given, else the graph's."""
        return list(self.given) if self.given is not None else (None if self.shape is None else list(self.shape))

    def as_dict(self):
        """The dict form the reports (and older callers) use: name, dtype, shape, role, optional, ..."""
        d = {"name": self.name, "dtype": self.dtype, "shape": self.known, "role": self.role,
             "optional": self.optional}
        if self.int_range is not None:
            d["int_range"] = list(self.int_range)
        if self.inference_value is not None:
            d["inference_value"] = self.inference_value
        return d


@dataclasses.dataclass
class Signature:
    inputs: tuple                  # the data inputs a caller feeds, in order (Input)
    outputs: tuple                 # output node names
    flags: dict                    # placeholder -> value fed at inference (training flags, --bind)
    placeholders: dict             # name -> Input: every placeholder the outputs read
    batch: object = None           # the batch the graph fixes (a Reshape to a constant shape), or None
    notes: tuple = ()              # lines worth printing (what was discovered)
    outputs_discovered: bool = False
    inputs_discovered: bool = False

    @property
    def names(self):
        return [i.name for i in self.inputs]

    @property
    def labels(self):
        return [p.name for p in self.placeholders.values() if p.label]

    def input(self, name):
        return next(i for i in self.inputs if i.name == name)

    def shapes(self, batch=None):
        """{input: shape} with every size known, for the converter and data loading: the given shape,
        else the graph's with an open batch set to the graph's fixed batch (or ``batch``, else 1).
        Raises InputError naming --input-shapes where a shape cannot be known."""
        batch = self.batch or batch or 1
        out = {}
        for i in self.inputs:
            shape = i.known
            if shape is None:
                raise InputError(f"input '{i.name}' has no shape in the graph; give it with --input-shapes "
                                 f"(e.g. 1,224,224,3)")
            if any(d < 0 for d in shape[1:]):
                raise InputError(f"input '{i.name}' has unknown dimensions {shape}; give its shape with "
                                 f"--input-shapes")
            out[i.name] = [batch if (k == 0 and d < 0) else d for k, d in enumerate(shape)]
        return out

    def check_batch(self):
        """The batch of a check's random inputs: the graph's own where it fixes one, else 2."""
        return self.batch or CHECK_BATCH

    def random_feeds(self, seed=0, batch=None):
        """(feeds, why): seeded inputs for a TensorFlow run; (None, why) when one cannot be made
        (unknown rank, string input)."""
        from .feeds import random_feeds

        return random_feeds([i.as_dict() for i in self.inputs], seed, batch or self.check_batch())

    def feeds_for(self, graph_names, feeds):
        """``feeds`` plus the flags, for the placeholders in ``graph_names`` (a graph's node names)."""
        from .feeds import inference_flag_value

        out = {k: v for k, v in feeds.items() if k in graph_names}
        for name, p in self.placeholders.items():
            if name in out or name not in graph_names:
                continue
            if name in self.flags:
                out[name] = self.flags[name]
            elif p.role == "training_flag" or not p.optional:
                out[name] = inference_flag_value(p.as_dict())
        return out

    def against(self, graph_def):
        """This signature for a rewrite of its graph: the placeholders it still has (bound flags are
        constants now), the same inputs, outputs, shapes and batch."""
        names = {n.name for n in graph_def.node}
        missing = [i.name for i in self.inputs if i.name not in names] + [o for o in self.outputs if o not in names]
        if missing:
            raise InputError(f"the rewritten graph lost {', '.join(missing)}; rerun with --inputs/--outputs naming "
                             f"what it still has")
        kept = {k: v for k, v in self.placeholders.items() if k in names}
        return dataclasses.replace(self, placeholders=kept, flags={k: v for k, v in self.flags.items() if k in kept},
                                   notes=())

    def as_dict(self):
        return {"inputs": [i.as_dict() for i in self.inputs], "outputs": list(self.outputs),
                "flags": {k: (v.item() if np.ndim(v) == 0 and hasattr(v, "item") else np.asarray(v).tolist() if hasattr(v, "shape") else v) for k, v in self.flags.items()},
                "labels": self.labels, "batch": self.batch}


def _names(value):
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return [node_name(i.strip()) for i in items if str(i).strip()] or None


def resolve(graph_def, inputs=None, outputs=None, shapes=None, bind=None, analysis=None, output_flag="--outputs",
            input_flag="--inputs", bind_flags=True, strict_flags=False):
    """The Signature of ``graph_def`` with the user's flags applied.

    ``inputs``/``outputs``: names (comma string or list), discovered where absent. ``shapes``: toco
    syntax ('1,28,28,1:1,10') or {input: shape}, for the data inputs (bound placeholders are not
    inputs). ``bind``: {placeholder: value}. ``bind_flags``: discovered training flags are fed their
    inference values; ``strict_flags``: instead, an unlisted training flag is an error (the converter
    cannot feed one). Unknown names raise NodeNotFoundError with the closest names.
    """
    from .analysis import GraphAnalysis
    from .feeds import inference_flag_value

    a = analysis or GraphAnalysis(graph_def)
    notes = []
    outs, discovered = a.outputs_or_best(outputs, output_flag)
    if discovered:
        notes.append(f"{output_flag.lstrip('-').replace('-', ' ')} (discovered): {', '.join(outs)}")
    found = {}
    for d in a.discover_inputs(outs):
        found[d["name"]] = Input(d["name"], d["dtype"], d["shape"], d["role"], d["optional"],
                                 int_range=tuple(d["int_range"]) if "int_range" in d else None,
                                 inference_value=d.get("inference_value"),
                                 label=d["role"] != "training_flag" and a.feeds_as_label(d["name"]))
    bind = dict(bind or {})
    for b in bind:
        if b not in a.index:
            raise NodeNotFoundError(b, list(found) or a.index.keys(), what="--bind placeholder")
    listed = _names(inputs)
    if listed:
        for i in listed:
            if i not in a.index:
                raise NodeNotFoundError(i, list(found) or a.index.keys(), what=f"input ({input_flag})")
            if found.get(i) is not None and found[i].optional:
                notes.append(f"warning: {i} is a PlaceholderWithDefault: as an input it cuts away what fed its default")
        chosen = []
        for i in listed:
            p = found.get(i)
            if p is None:  # a tensor inside the graph, fed directly
                node = a.index[i]
                dtype = node.attr["T"].type or node.attr["dtype"].type
                from .describe import dtype_name

                p = Input(i, dtype_name(dtype) if dtype else "float32", None)
            chosen.append(dataclasses.replace(p, role="data", optional=False))
    else:
        unfed = [n for n, p in found.items() if p.role == "training_flag" and not p.optional and n not in bind]
        if unfed and strict_flags:
            raise InputError(f"training-flag placeholders {', '.join(unfed)} feed the outputs: strip the graph "
                             f"first (graphtools strip FILE --out optimized.pb) or list them in {input_flag}")
        chosen = [p for n, p in found.items() if p.role == "data" and not p.optional and n not in bind]
        if chosen:
            notes.append(f"{input_flag.lstrip('-').replace('-', ' ')} (discovered): {', '.join(p.name for p in chosen)}")
    fed = {p.name for p in chosen}
    flags = {}
    for name, p in found.items():
        if name in bind:
            flags[name] = bind[name]
        elif bind_flags and p.role == "training_flag" and name not in fed:
            flags[name] = inference_flag_value(p.as_dict())
    open_shape = [p.name for p in chosen if p.shape is None or any(d < 0 for d in p.shape[1:])]
    given = _parse_shapes(shapes, [p.name for p in chosen], input_flag, open_shape)
    if isinstance(shapes, str) and len(given) < len(chosen):
        notes.append(f"--input-shapes {shapes}: for {', '.join(given)} (the inputs whose shape the graph leaves "
                     f"open); the others keep the graph's")
    chosen = [dataclasses.replace(p, given=tuple(given[p.name])) if p.name in given else p for p in chosen]
    for k, p in enumerate(chosen):
        fixed = p.shape is not None and p.given is not None and len(p.shape) == len(p.given) and len(p.shape)
        if fixed and any(d >= 0 and g != d for d, g in zip(p.shape[1:], p.given[1:])):
            raise InputError(f"--input-shapes {','.join(str(g) for g in p.given)}: input {p.name} is fixed at "
                             f"{p.shape} in the graph; give {','.join(str(d if d >= 0 else g) for d, g in zip(p.shape, p.given))}")
        if fixed and p.shape[0] >= 0 and p.given[0] != p.shape[0]:  # the graph's own batch: it cannot take another
            notes.append(f"{p.name}: batch {p.shape[0]} fixed by the graph (not {p.given[0]})")
            chosen[k] = dataclasses.replace(p, given=(p.shape[0],) + tuple(p.given[1:]))
        if p.given is not None and p.shape is not None and len(p.shape) != len(p.given) and p.shape != []:
            notes.append(f"warning: {p.name}: --input-shapes gives rank {len(p.given)}, the graph says "
                         f"{p.shape}")
    batch = a.fixed_batch([{"name": p.name, "shape": p.shape} for p in chosen])  # the graph's, not the flags'

    if batch:
        notes.append(f"batch {batch}: fixed by the graph")
    return Signature(tuple(chosen), tuple(outs), flags, found, batch, tuple(notes), discovered, not listed)


def _parse_shapes(shapes, names, input_flag, open_shape=()):
    """{input: shape} from toco syntax (one shape per data input, or one per input whose shape the graph
    leaves open when that is how many were given) or a dict."""
    if not shapes:
        return {}
    if isinstance(shapes, str):
        if not names:
            raise InputError(f"--input-shapes: the graph has no data inputs to give shapes to; name them with "
                             f"{input_flag}")
        count = len(shapes.split(":"))
        if count != len(names) and open_shape and count == len(open_shape):
            return parse_shapes(shapes, list(open_shape))
        return parse_shapes(shapes, names)
    out = {node_name(k): [int(d) for d in v] for k, v in dict(shapes).items()}
    for k in out:
        if k not in names:
            raise InputError(f"--input-shapes names '{k}', which is not a data input ({', '.join(names) or 'none'})")
    return out


def parse_shapes(text, names):
    """toco syntax '1,28,28,1:1,10' -> {name: [1, 28, 28, 1], ...} in ``names`` order."""
    parts = text.split(":")
    if len(parts) != len(names):
        raise InputError(f"--input-shapes {text}: {len(parts)} shape(s) for {len(names)} input(s) "
                         f"({', '.join(names)}); separate shapes with ':'")
    out = {}
    for name, part in zip(names, parts):
        try:
            out[name] = [int(d) for d in part.split(",") if d.strip()]
        except ValueError:
            raise InputError(f"--input-shapes {text}: '{part}' is not a comma-separated list of sizes")
    return out


def parse_bind(items):
    """``--bind`` values (['is_training=false', ...]) -> {name: value text}; a dict is returned as given."""
    if isinstance(items, dict):
        return dict(items)
    bind = {}
    for b in items or []:
        if "=" not in b:
            raise InputError(f"--bind {b}: expected NAME=VALUE, e.g. is_training=false")
        k, v = b.split("=", 1)
        bind[k.strip()] = v.strip()
    return bind
