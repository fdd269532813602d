"""One typed pipeline config: the CLI, a manifest entry and the Python API build the same value, validated once."""
import dataclasses
import json

import pytest

from graphtools.errors import InputError
from graphtools.workflow.config import PipelineConfig, manifest_fields


def _cli_config(argv):
    from graphtools.cli import build_parser

    args = build_parser().parse_args(["pipeline", *argv])
    return PipelineConfig.from_args(args)


def test_cli_manifest_and_api_build_the_same_config(tmp_path):
    from graphtools.workflow.manifest import load_manifest

    ckpt = str(tmp_path / "m.ckpt")
    (tmp_path / "m.ckpt").write_bytes(b"")
    data = tmp_path / "d.npy"
    data.write_bytes(b"")
    cli = _cli_config(["--ckpt", ckpt, "--outputs", "a,b", "--bind", "keep_prob=1.0", "--no-verify", "--quantize",
                       "none,int8", "--rnn", "while", "--gate", "agreement=0.995", "--data", str(data), "--scale",
                       "0.5", "--select-tf-ops", "--remove", "dropout"])
    api = PipelineConfig.from_options(ckpt=ckpt, output_nodes="a, b", bind={"keep_prob": "1.0"}, verify=False,
                                      quantize="none,int8", rnn="while", gates="agreement=0.995", data=str(data),
                                      scale=0.5, select_tf_ops=True, remove=["dropout"])
    (tmp_path / "models.json").write_text(json.dumps([{
        "name": "m", "ckpt": "m.ckpt", "outputs": ["a", "b"], "bind": ["keep_prob=1.0"], "no_verify": True,
        "quantize": "none,int8", "rnn": "while", "gate": "agreement=0.995", "data": "d.npy", "scale": 0.5,
        "select_tf_ops": True, "remove": ["dropout"]}]))
    entry = load_manifest(str(tmp_path / "models.json"))[0]
    man = PipelineConfig.from_manifest(entry)
    assert cli == api == man
    assert cli.outputs == ["a", "b"] and cli.bind == {"keep_prob": "1.0"} and cli.verify is False
    assert cli.gates["agreement"] == 0.995  # (parsed once, into the gates the verdicts use)


def test_defaults_are_the_commands_defaults():
    c = _cli_config([])
    assert c == PipelineConfig() == PipelineConfig.from_options()
    assert (c.quantize, c.rnn, c.remove, c.verify, c.html_report, c.out_dir, c.logdir) == \
        ("all", "auto", ["all"], True, True, "out", "logs")


@pytest.mark.parametrize("options, message", [
    ({"quantize": "int4"}, "int4"),
    ({"rnn": "sideways"}, "--rnn sideways"),
    ({"gates": "agreement=lots"}, "agreement"),
    ({"bind": ["keep_prob"]}, "NAME=VALUE"),
    ({"calibration_samples": 0}, "calibration_samples"),
    ({"rtol": -1.0}, "--rtol"),
    ({"quantise": "int8"}, "did you mean 'quantize'"),
    ({"outputs": "a", "output_nodes": "b"}, "not both"),
])
def test_a_bad_option_is_one_line_before_any_work(options, message):
    with pytest.raises(InputError) as e:
        PipelineConfig.from_options(**options)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_every_option_with_a_flag_is_a_cli_flag_and_a_manifest_key():
    """A new field is one field plus its flag: this fails when the flag is missing from the CLI."""
    from graphtools.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    flags = {s for a in sub.choices["pipeline"]._actions for s in a.option_strings}
    fields = [f for f in dataclasses.fields(PipelineConfig) if f.metadata["flag"]]
    assert [f.metadata["flag"] for f in fields if f.metadata["flag"] not in flags] == []
    keys = manifest_fields()
    for f in fields:
        if f.metadata["manifest"]:
            assert keys[f.metadata["key"] or f.name][0] == f.metadata["flag"]
    assert "out_dir" not in keys and "recipe" not in keys  # (the manifest sets these per entry / refuses them)


def test_run_pipeline_takes_a_config_and_pipeline_takes_either():
    import graphtools
    from graphtools.workflow.stages import run_pipeline

    with pytest.raises(InputError, match="takes a PipelineConfig"):
        run_pipeline({"ckpt": "x"})
    with pytest.raises(InputError, match="not both"):
        graphtools.pipeline(PipelineConfig(), quantize="none")
    assert graphtools.PipelineConfig is PipelineConfig and graphtools.run_pipeline is run_pipeline


def test_the_config_is_frozen():
    c = PipelineConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.quantize = "int8"


def test_the_python_api_runs_the_pipeline_with_options_or_a_config(tmp_path):
    """graphtools.pipeline(**options) as before, and run_pipeline(config) give the same models."""
    import graphtools

    a = graphtools.pipeline(quantize="none", out_dir=str(tmp_path / "a"), logdir="", html_report=False,
                            output_nodes="prediction")
    config = PipelineConfig(quantize="none", out_dir=str(tmp_path / "b"), logdir="", html_report=False,
                            outputs=["prediction"])
    lines = []
    b = graphtools.run_pipeline(config, progress=lines.append)
    assert a["outputs"] == b["outputs"] == ["prediction"] and lines[0] == "[1/5] freeze"
    assert (tmp_path / "a" / "model.tflite").read_bytes() == (tmp_path / "b" / "model.tflite").read_bytes()
    assert not (tmp_path / "a" / "report.html").exists()


def test_none_means_what_the_keyword_arguments_took_it_for():
    """Switches and logdir: None is off (no report, no check, no event files); elsewhere the default."""
    c = PipelineConfig.from_options(logdir=None, html_report=None, verify=None, quantize=None, remove=None,
                                    bind="keep_prob=1.0")
    assert (c.logdir, c.html_report, c.verify, c.quantize, c.remove) == ("", False, False, "all", ["all"])
    assert c.bind == {"keep_prob": "1.0"}  # (one --bind as a plain string)
    with pytest.raises(InputError, match="--remove needs at least one"):
        PipelineConfig.from_options(remove=[])


def test_a_checkpoint_as_the_first_argument_as_before(tmp_path):
    import graphtools

    with pytest.raises(InputError) as e:  # (read as ckpt=: the missing checkpoint is named, not the type)
        graphtools.pipeline(str(tmp_path / "missing.ckpt"), out_dir=str(tmp_path / "o"), logdir="")
    assert "missing.ckpt" in str(e.value) and "PipelineConfig" not in str(e.value)
