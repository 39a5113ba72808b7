"""A run's values are checked before anything runs: ``--set``, the SDK's ``run()`` and the app's runs
all go through ``prepare_run``, which checks every value against every component input it feeds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.sdk import run
from app.services.runs import list_runs, prepare_run
from app.services.workspace import open_workspace
from components.errors import ValidationError
from components.fields import GivenText
from components.pipeline_loader import load_pipeline_file, pipeline_from_dict
from components.sdk import load_component, pipeline
from components.spec import ComponentRef, ComponentSpec
from components.validate import check_pipeline_values, read_pipeline_values, with_pipeline_values
from engine.inputs import parse_set_option

TYPOS = Path(__file__).parent / "resources" / "azure" / "tolerated_typos"
ENTRY = "from app.cli import main; main()"


def messages(spec, values, **kwargs) -> list[str]:
    return [p.message for p in check_pipeline_values(spec, values, **kwargs)]


@pytest.fixture(scope="module")
def spec():
    """lr feeds train.learning_rate (number, 0..1) and tune.step_size (number, 0..0.5);
    schedule feeds train.schedule (string, enum linear/cosine)."""
    return load_pipeline_file(TYPOS / "pipeline.yml")


def test_good_values_pass(spec) -> None:
    assert check_pipeline_values(spec, {"lr": 0.5, "schedule": "cosine"}) == []
    assert check_pipeline_values(spec, {"lr": 0}) == []  # an integer is a number
    assert check_pipeline_values(spec, {"lr": None}) == []  # no value: validation decides whether one is needed


def test_a_value_of_the_wrong_type_is_refused_for_every_input_it_feeds(spec) -> None:
    assert messages(spec, {"lr": "abc"}) == [
        "--set lr='abc': pipeline input 'lr' feeds job 'train' input 'learning_rate' (number): "
        "'abc' is not a number; expected a number",
        "--set lr='abc': pipeline input 'lr' feeds job 'tune' input 'step_size' (number): "
        "'abc' is not a number; expected a number",
    ]
    assert "write 0.2 without quotes" in messages(spec, {"lr": "0.2"})[0]


def test_bounds_are_those_of_each_job_that_the_value_feeds(spec) -> None:
    assert messages(spec, {"lr": 0.7}) == [
        "--set lr=0.7: pipeline input 'lr' feeds job 'tune' input 'step_size' (number): 0.7 is above the maximum 0.5"]
    assert [m.split(": ", 2)[1] for m in messages(spec, {"lr": -1})] == [
        "pipeline input 'lr' feeds job 'train' input 'learning_rate' (number)",
        "pipeline input 'lr' feeds job 'tune' input 'step_size' (number)"]
    assert all(m.endswith("-1 is below the minimum 0") for m in messages(spec, {"lr": -1}))


def test_enum(spec) -> None:
    assert messages(spec, {"schedule": "step"}) == [
        "--set schedule='step': pipeline input 'schedule' feeds job 'train' input 'schedule' (string): "
        "'step' is not one of 'linear', 'cosine'"]


def test_unknown_names_get_a_did_you_mean_and_every_problem_is_listed_at_once(spec) -> None:
    problems = check_pipeline_values(spec, {"lrr": 1, "lr": "abc", "schedule": "step"})
    assert [p.message for p in problems][0] == (
        "--set lrr=1: pipeline 'tolerated_typos' has no input 'lrr'. Did you mean 'lr'? Its inputs: lr, schedule")
    assert len(problems) == 4
    assert {p.field for p in problems} == {"inputs.lrr", "inputs.lr", "inputs.schedule"}
    assert {p.file for p in problems} == {str(TYPOS / "pipeline.yml")}
    assert str(ValidationError(problems)).startswith("4 problems in pipeline.yml:\n  - ")


def test_set_text_is_read_by_the_inputs_it_feeds(spec) -> None:
    given = dict(parse_set_option(text) for text in ("lr=0.7", "schedule=0.10"))
    assert given == {"lr": GivenText("0.7"), "schedule": GivenText("0.10")}
    read = read_pipeline_values(spec, given)
    assert read == {"lr": 0.7, "schedule": "0.10"}  # schedule feeds only strings: the text exactly
    assert type(read["schedule"]) is str
    assert read_pipeline_values(spec, {"schedule": GivenText("true"), "lr": GivenText("abc")}) == {
        "schedule": "true", "lr": "abc"}
    assert read_pipeline_values(spec, {"lr": 0.5}) == {"lr": 0.5}  # Python values stay as they are
    assert messages(spec, {"lr": GivenText("abc")})[0].startswith("--set lr='abc': ")
    assert messages(spec, {"lr": GivenText("0.7")}) == [
        "--set lr=0.7: pipeline input 'lr' feeds job 'tune' input 'step_size' (number): 0.7 is above the maximum 0.5"]


def test_declared_types_and_data_inputs(tmp_path: Path) -> None:
    typed = pipeline_from_dict({
        "type": "pipeline",
        "inputs": {"lr": {"type": "number", "default": 0.1}, "data": {"type": "uri_folder", "path": str(tmp_path)}},
        "jobs": {"tune": {"component": "./tune.yml", "inputs": {"step_size": "${{parent.inputs.lr}}"}}},
    }, TYPOS, TYPOS / "typed.yml")
    assert messages(typed, {"lr": "abc"}) == [
        "--set lr='abc': pipeline input 'lr' is declared number: 'abc' is not a number"]
    assert messages(typed, {"data": str(tmp_path)}) == []
    assert read_pipeline_values(typed, {"lr": GivenText("1"), "data": GivenText("2")}) == {"lr": 1, "data": "2"}
    missing, = messages(typed, {"data": "nope"}, base_dir=str(tmp_path))
    assert f"path '{tmp_path / 'nope'}' does not exist" in missing and "--set data=PATH" in missing
    assert "cannot be read here" in messages(typed, {"data": "azureml://datastores/x/paths/y"})[0]
    assert messages(typed, {"data": 3}) == ["--set data=3: pipeline input 'data' is data (uri_folder); give a path"]
    applied = with_pipeline_values(typed, {"lr": 0.3, "data": "sub", "nope": 1}, base_dir=str(tmp_path))
    assert applied.inputs["lr"].value == 0.3 and applied.inputs["data"].path == str(tmp_path / "sub")
    assert set(applied.inputs) == {"lr", "data"}


def test_registered_components_are_resolved_with_the_resolver() -> None:
    tune = load_pipeline_file(TYPOS / "pipeline.yml").jobs["tune"].component
    assert isinstance(tune, ComponentSpec)
    spec = pipeline_from_dict({
        "type": "pipeline", "inputs": {"lr": 0.1},
        "jobs": {"tune": {"component": "typo_tune:1", "inputs": {"step_size": "${{parent.inputs.lr}}"}},
                 "gone": {"component": "nope:1", "inputs": {"step_size": "${{parent.inputs.lr}}"}}},
    }, TYPOS)

    def resolve(ref: ComponentRef) -> ComponentSpec:
        if ref.name != "typo_tune":
            raise KeyError(f"component '{ref.name}' is not registered")
        return tune

    assert messages(spec, {"lr": 0.9}) == []  # without a resolver nothing is known of the inputs
    assert messages(spec, {"lr": 0.9}, resolve=resolve) == [
        "--set lr=0.9: pipeline input 'lr' feeds job 'tune' input 'step_size' (number): 0.9 is above the maximum 0.5"]


def test_a_value_given_for_an_input_without_default_fills_it(tmp_path: Path) -> None:
    for name in ("train.yml", "tune.yml"):
        shutil.copy(TYPOS / name, tmp_path / name)
    path = tmp_path / "needs_lr.yml"
    path.write_text("type: pipeline\ninputs:\n  lr: {type: number}\njobs:\n  tune:\n    component: ./tune.yml\n"
                    "    inputs: {step_size: '${{parent.inputs.lr}}'}\n")
    ws = open_workspace(tmp_path / "ws")
    with pytest.raises(ValidationError, match="pipeline input 'lr' has no value but job 'tune' uses it"):
        prepare_run(ws, path)
    assert prepare_run(ws, path, {"lr": 0.2}).values.literals == {"lr": 0.2}
    with pytest.raises(ValidationError, match="pipeline input 'lr' has no value"):  # None is no value
        prepare_run(ws, path, {"lr": None})
    with pytest.raises(ValidationError) as err:  # a refused value is reported once, not also as "no value"
        prepare_run(ws, path, {"lr": 0.9})
    assert [p.message for p in err.value.problems] == [
        "--set lr=0.9: pipeline input 'lr' feeds job 'tune' input 'step_size' (number): 0.9 is above the maximum 0.5"]


def test_the_sdk_run_refuses_before_anything_runs(tmp_path: Path) -> None:
    train = load_component(source=str(TYPOS / "train.yml"))
    tune = load_component(source=str(TYPOS / "tune.yml"))

    @pipeline(name="sdk_values")
    def tuned(lr=0.1):
        train(learning_rate=lr)
        tune(step_size=lr)

    home = tmp_path / "ws"
    with pytest.raises(ValidationError) as err:
        run(tuned(), {"lr": 0.7, "lrr": 1}, home=home, in_process=True)
    assert [p.message for p in err.value.problems] == [
        "--set lr=0.7: pipeline input 'lr' feeds job 'typo_tune' input 'step_size' (number): 0.7 is above the "
        "maximum 0.5",
        "--set lrr=1: pipeline 'sdk_values' has no input 'lrr'. Did you mean 'lr'? Its inputs: lr"]
    assert list_runs(open_workspace(home)) == []
    assert run(tuned(), {"lr": 0.2}, home=home, in_process=True).ok


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ENTRY, "--home", str(home), *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_refuses_bad_values_with_exit_2_before_any_step_runs(tmp_path: Path) -> None:
    home, pipe = tmp_path / "ws", str(TYPOS / "pipeline.yml")
    bad = cli(home, "run", pipe, "--in-process", "--set", "lr=abc", "--set", "schedule=step")
    assert bad.returncode == 2, bad.stderr
    assert "3 problems in pipeline.yml:" in bad.stderr
    assert ("--set lr='abc': pipeline input 'lr' feeds job 'train' input 'learning_rate' (number): "
            "'abc' is not a number") in bad.stderr
    assert "job 'tune' input 'step_size' (number)" in bad.stderr and "'step' is not one of" in bad.stderr
    plan = cli(home, "run", pipe, "--plan", "--set", "lr=0.7")
    assert plan.returncode == 2 and "0.7 is above the maximum 0.5" in plan.stderr
    unknown = cli(home, "run", pipe, "--plan", "--set", "lrr=0.2")
    assert unknown.returncode == 2 and "has no input 'lrr'. Did you mean 'lr'?" in unknown.stderr
    listed = cli(home, "runs", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    assert not (home / "logs").exists() or not any((home / "logs").iterdir())


def test_cli_an_azure_file_with_tolerated_typos_validates_with_warnings_and_runs(tmp_path: Path) -> None:
    home, pipe = tmp_path / "ws", str(TYPOS / "pipeline.yml")
    checked = cli(home, "validate", pipe)
    assert checked.returncode == 0, checked.stderr
    assert ("unknown field 'default_datestore' in settings (line 14, column 3) is ignored. "
            "Did you mean 'default_datastore'?") in checked.stderr
    assert "unknown field 'display_nmae' in job 'train' (line 21, column 5) is ignored. " \
           "Did you mean 'display_name'?" in checked.stderr
    ran = cli(home, "run", pipe, "--in-process", "--json", "--set", "lr=0.2")
    assert ran.returncode == 0, ran.stderr
    assert {s["status"] for s in json.loads(ran.stdout)["steps"]} == {"completed"}
    assert "Did you mean 'default_datastore'?" in ran.stderr


def test_cli_a_string_input_gets_exactly_the_text_given(tmp_path: Path) -> None:
    path = tmp_path / "say.yml"
    path.write_text("""type: pipeline
inputs:
  msg: hello
jobs:
  say:
    component:
      name: say
      version: 1
      inputs: {msg: {type: string}}
      outputs: {said: {type: uri_folder}}
      command: printf '%s' "${{inputs.msg}}" > ${{outputs.said}}/msg.txt
    inputs: {msg: '${{parent.inputs.msg}}'}
""")
    for text in ("0.10", "true", '{"a": 1}', "null"):
        ran = cli(tmp_path / "ws", "run", str(path), "--in-process", "--json", "--set", f"msg={text}")
        assert ran.returncode == 0, ran.stderr
        step, = json.loads(ran.stdout)["steps"]
        assert (Path(step["outputs"]["said"]) / "msg.txt").read_text() == text
