"""The quantization modes, in one table: what each needs and what it tells the converter.

``convert``, ``pipeline`` and the library read this table; adding a mode is one row here (plus its
test): its name, file suffix, whether it needs representative data, and how it sets up a
``TFLiteConverter``.
"""
import dataclasses

from ..errors import InputError


@dataclasses.dataclass(frozen=True)
class Mode:
    name: str
    suffix: str            # model.tflite -> model<suffix>.tflite ('' for the float model)
    needs_data: bool       # calibration needs representative data
    summary: str           # what the converter is told (README, --help)
    optimize: bool = True  # Optimize.DEFAULT
    types: tuple = ()      # target_spec.supported_types, by tf dtype name
    ops: str = "TFLITE_BUILTINS"  # the builtin ops set (OpsSet member name)
    integer_io: bool = False      # may take --inference-input-type / --inference-output-type


TABLE = (
    Mode("none", "", False, "float", optimize=False),
    Mode("dynamic", ".dynamic", False, "Optimize.DEFAULT: int8 weights, float activations"),
    Mode("float16", ".float16", False, "Optimize.DEFAULT + supported_types=[float16]", types=("float16",)),
    Mode("int8", ".int8", True, "full integer with a representative dataset, TFLITE_BUILTINS_INT8",
         ops="TFLITE_BUILTINS_INT8", integer_io=True),
    Mode("int16x8", ".int16x8", True, "EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8 with a "
                                      "representative dataset", ops="EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8"),
)
MODES = {m.name: m for m in TABLE}
NAMES = tuple(MODES)
CALIBRATED = tuple(m.name for m in TABLE if m.needs_data)


def mode(name):
    if name not in MODES:
        raise InputError(f"--quantize {name}: unknown; choose from {', '.join(NAMES)} or all")
    return MODES[name]


def parse(spec):
    """'all' (or None), one mode, or a comma list ('none,dynamic') -> the mode names in order, each checked."""
    if spec in (None, "all"):
        return list(NAMES)
    names = [m.strip() for m in str(spec).split(",") if m.strip()]
    for m in names:
        if m not in MODES:
            raise InputError(f"--quantize {m}: unknown; choose from {', '.join(NAMES)}, a comma list or all")
    if not names:
        raise InputError(f"--quantize '{spec}': give a mode, a comma list (none,dynamic) or all")
    return list(dict.fromkeys(names))


def split_by_data(names, have_data, data_flag="--data", explicit=False):
    """(modes to run, [{"mode", "why"}] skipped): the calibrated modes need data. With ``explicit``
    (the user named exactly those modes) a missing dataset is an error, not a skip; so is having no
    mode left to run."""
    skipped = [] if have_data else [{"mode": m, "why": f"needs calibration data: give {data_flag}"}
                                    for m in names if MODES[m].needs_data]
    run = [m for m in names if m not in {s["mode"] for s in skipped}]
    if skipped and (explicit or not run):
        what = ", ".join(s["mode"] for s in skipped)
        raise InputError(f"--quantize {what} needs {data_flag} (calibration data: .npy, .npz, IDX or an image "
                         f"directory)" + ("" if explicit else "; or add none to the modes"))
    return run, skipped


def configure(conv, m, tf):
    """Set ``conv`` (a TFLiteConverter) up for mode ``m`` (its ops set is returned, for the caller to
    add SELECT_TF_OPS to)."""
    if m.optimize:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if m.types:
        conv.target_spec.supported_types = [tf.as_dtype(t) for t in m.types]
    return {getattr(tf.lite.OpsSet, m.ops)}
