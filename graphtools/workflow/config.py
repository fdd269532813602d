"""One pipeline run's options: a typed, validated value that the CLI, a manifest entry and the Python API build.

Every field carries what the three front doors need: its ``--flag`` (the CLI's, which a manifest worker is
run with), its manifest key and the kind of JSON value a manifest gives. Adding a pipeline option is one
field here (with its flag) plus the ``add_argument`` of that flag in ``cli/pipeline.py``; the manifest
learns the key from the field, ``run_pipeline`` reads it from the config.
"""
import dataclasses
import typing

from ..errors import InputError

_MISSING = object()


def option(default, flag=None, kind="str", key=None, manifest=True, invert=False):
    """A config field: ``flag`` the CLI's (None: the Python API only), ``kind`` of the manifest's JSON value
    ("path", "str", "list", "repeat", "float", "real", "bool", "int"), ``key`` the manifest's name when it
    is not the field's, ``invert`` for a --no-X flag of a field X that defaults to true."""
    meta = {"flag": flag, "kind": kind, "key": key, "manifest": manifest and flag is not None, "invert": invert}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """What ``run_pipeline`` does. No source (ckpt, graph, saved_model, keras): the bundled fixture."""

    # the source (freeze)
    ckpt: typing.Optional[str] = option(None, "--ckpt", "path")
    graph: typing.Optional[str] = option(None, "--graph", "path")
    saved_model: typing.Optional[str] = option(None, "--saved-model", "path")
    keras: typing.Optional[str] = option(None, "--keras", "path")
    meta: typing.Optional[str] = option(None, "--meta", "path")
    tags: typing.Optional[str] = option(None, "--tags", "str")  # (SavedModel: serve, or its only meta graph's)
    outputs: typing.Optional[list] = option(None, "--outputs", "list")
    inputs: typing.Optional[list] = option(None, "--inputs", "list")
    input_shapes: typing.Any = option(None, "--input-shapes", "str")
    allow_unsafe_ops: bool = option(False, "--allow-unsafe-ops", "bool")
    # strip
    remove: list = option(["all"], "--remove", "list")
    bind: dict = option({}, "--bind", "repeat")
    cut: list = option([], "--cut", "repeat")
    splice: list = option([], "--splice", "repeat")
    verify: bool = option(True, "--no-verify", "bool", key="no_verify", invert=True)
    rtol: float = option(1e-4, "--rtol", "float")
    atol: float = option(1e-5, "--atol", "float")
    allow_leftovers: bool = option(False, "--allow-leftovers", "bool")
    # convert
    quantize: str = option("all", "--quantize", "str")
    calibration_samples: int = option(100)
    select_tf_ops: bool = option(False, "--select-tf-ops", "bool")
    allow_custom_ops: bool = option(False, "--allow-custom-ops", "bool")
    rnn: str = option("auto", "--rnn", "str")
    recipe: typing.Optional[dict] = option(None, "--recipe", "path", manifest=False)  # (budget.load_recipe's dict)
    # the data (calibration and compare)
    data: typing.Optional[str] = option(None, "--data", "path")
    labels: typing.Optional[str] = option(None, "--labels", "path")
    scale: typing.Optional[float] = option(None, "--scale", "float")
    mean: typing.Optional[float] = option(None, "--mean", "real")
    std: typing.Optional[float] = option(None, "--std", "float")
    # verdicts and outputs
    gates: typing.Any = option(None, "--gate", "str", key="gate")
    out_dir: str = option("out", "--out-dir", "path", manifest=False)
    logdir: str = option("logs", "--logdir", "path", manifest=False)
    html_report: bool = option(True, "--no-report", "bool", manifest=False, invert=True)

    def __post_init__(self):
        from ..conversion.loops import ROUTES
        from ..conversion.quantize import parse
        from ..core.signature import parse_bind
        from ..surgery.stripping import passes_for
        from ..verification.verdict import parse_gates

        fix = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (normalised once, here)
        if isinstance(self.outputs, str):
            fix("outputs", [o.strip() for o in self.outputs.split(",") if o.strip()] or None)
        fix("remove", [self.remove] if isinstance(self.remove, str) else list(self.remove))
        passes_for(self.remove)  # (an unknown or empty --remove: one line, before any work)
        if not isinstance(self.bind, dict):
            fix("bind", parse_bind([self.bind] if isinstance(self.bind, str) else self.bind))
        fix("cut", list(self.cut or []))
        fix("splice", list(self.splice or []))
        parse(self.quantize)  # (an unknown mode: one line, before any work)
        if self.rnn not in ROUTES + ("none",):
            raise InputError(f"--rnn {self.rnn}: choose auto, unroll, while or none")
        if not isinstance(self.calibration_samples, int) or self.calibration_samples < 1:
            raise InputError(f"calibration_samples {self.calibration_samples!r}: give a number of samples, 1 or more")
        if not isinstance(self.gates, dict):
            fix("gates", parse_gates(self.gates))
        for k in ("rtol", "atol"):
            if not isinstance(getattr(self, k), (int, float)) or getattr(self, k) < 0:
                raise InputError(f"--{k} {getattr(self, k)!r}: give a tolerance, 0 or more")

    @classmethod
    def from_options(cls, **options):
        """The config of keyword options (the Python API's): older names accepted (``output_nodes=`` for
        ``outputs=``, ``gate=`` for ``gates=``), an unknown one refused naming the closest. ``None`` is what
        the keyword arguments always took it for: off for a switch (``html_report=None``, ``verify=None``)
        and for ``logdir`` (no event files), the default for every other option."""
        from ..errors import closest

        for old, new in OLDER_NAMES.items():
            if old in options:
                value = options.pop(old)
                if options.get(new) is not None and value is not None and options[new] != value:
                    raise InputError(f"give {new}= or its older name {old}=, not both")
                if options.get(new) is None:
                    options[new] = value
        names = {f.name for f in dataclasses.fields(cls)}
        for k in options:
            if k not in names:
                near = closest(k, names)
                raise InputError(f"pipeline: unknown option '{k}'" + (f"; did you mean '{near[0]}'?" if near else ""))
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        for k, v in list(options.items()):
            if v is None and isinstance(defaults[k], bool):
                options[k] = False
            elif v is None and k == "logdir":
                options[k] = ""
            elif v is None:
                del options[k]
        return cls(**options)

    @classmethod
    def from_args(cls, args, **extra):
        """The config of the CLI's parsed flags (each field's flag names its argparse destination)."""
        options = {}
        for f in dataclasses.fields(cls):
            flag = f.metadata["flag"]
            if flag is None:
                continue
            value = getattr(args, flag.lstrip("-").replace("-", "_"), _MISSING)
            if value is _MISSING or value is None or value == []:
                continue
            options[f.name] = (not value) if f.metadata["invert"] else value
        options.update(extra)
        return cls.from_options(**options)

    @classmethod
    def from_manifest(cls, entry):
        """The config of a manifest entry's keys (checked for their JSON kinds by the manifest reader)."""
        fields = {f.metadata["key"] or f.name: f for f in dataclasses.fields(cls) if f.metadata["manifest"]}
        options = {}
        for key, value in entry.items():
            f = fields.get(key) or fields.get(OLDER_NAMES.get(key))
            if f is not None:
                options[f.name] = (not value) if f.metadata["invert"] else value
        return cls.from_options(**options)


OLDER_NAMES = {"output_nodes": "outputs", "gate": "gates"}  # the Python API's and the manifest's older names


def manifest_fields():
    """{manifest key: (flag, kind)}: what a manifest entry may set, from the fields themselves."""
    out = {}
    for f in dataclasses.fields(PipelineConfig):
        if f.metadata["manifest"]:
            out[f.metadata["key"] or f.name] = (f.metadata["flag"], f.metadata["kind"])
    out["output_nodes"] = out["outputs"]  # (the older name)
    return out
