"""The Azure-shaped Python SDK: function components, YAML components as callables, the pipeline DSL."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from components.errors import DuctworkError
from components.loader import load_component_file
from components.pipeline_loader import load_pipeline_file
from components.sdk import Input, Output, command_component, load_component, pipeline, set_resolver
from components.spec import ComponentRef, ComponentSpec, ExternalData, JobOutput, LiteralValue, ParentInput

BASIC = Path(__file__).parent / "resources" / "basic"


def import_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_sdk_test_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def fn_module(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # Other tests load components with a module of the same name (`helpers`) into this process.
    for name in [n for n in sys.modules if n.split(".")[0] in ("helpers", "count_words")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(BASIC / "fn_src"))
    return importlib.import_module("count_words")


def test_python_pipeline_equals_its_yaml_twin() -> None:
    job = import_file(BASIC / "sdk_pipeline.py").build()
    yaml_spec = load_pipeline_file(BASIC / "pipeline_twin.yml")
    assert job.spec == replace(yaml_spec, source=None, warnings=())
    assert list(job.spec.jobs) == ["prep", "train"]  # names come from the variables


def test_function_component_spec(fn_module: ModuleType) -> None:
    spec = fn_module.count_words.spec
    assert spec.kind == "function" and spec.name == "count_words" and spec.version == "1"
    assert spec.code == BASIC / "fn_src"
    assert (spec.function.module, spec.function.qualname) == ("count_words", "count_words")
    assert spec.description == "Count words in the texts."
    assert spec.inputs["texts"].type == "uri_folder" and spec.inputs["texts"].required
    assert (spec.inputs["min_len"].type, spec.inputs["min_len"].default) == ("integer", 1)
    assert spec.inputs["lowercase"].type == "boolean"
    assert list(spec.outputs) == ["counts"]
    assert spec.compute == "cpu" and spec.resources.memory == 256 * 2**20


def test_returned_primitive_becomes_output_and_version_is_automatic(fn_module: ModuleType) -> None:
    spec = fn_module.total.spec
    assert list(spec.outputs) == ["output"] and spec.description == "Sum the word counts."
    assert spec.version.startswith("auto-")


def test_calling_a_function_component_outside_a_pipeline_runs_it(fn_module: ModuleType, tmp_path: Path) -> None:
    fn_module.count_words(texts=str(BASIC / "data"), counts=str(tmp_path / "out"), min_len=5)
    counts = json.loads((tmp_path / "out" / "counts.json").read_text())
    assert counts["pipelines"] == 1 and "ok" not in counts
    assert fn_module.total(counts=str(tmp_path / "out")) == sum(counts.values())


def test_function_component_equals_the_yaml_with_the_function_extension(fn_module: ModuleType) -> None:
    from_yaml = load_pipeline_file(BASIC / "fn_pipeline.yml").jobs["count"].component
    assert replace(from_yaml, source=None, warnings=()) == replace(fn_module.count_words.spec, source=None)


def test_lambdas_and_nested_functions_are_refused() -> None:
    with pytest.raises(DuctworkError, match="is a lambda; .*imports it by module and name"):
        command_component(lambda x: x)

    def inner(x: int) -> None:
        pass

    with pytest.raises(DuctworkError, match="defined inside another function"):
        command_component(name="inner")(inner)


def test_untyped_parameter_is_refused() -> None:
    with pytest.raises(DuctworkError, match="parameter 'x' of function 'untyped' has no type"):
        command_component(untyped)


def untyped(x):  # noqa: ANN001 - deliberately untyped
    return x


def test_pipeline_of_function_components_exports_and_loads_back(fn_module: ModuleType, tmp_path: Path) -> None:
    @pipeline(default_compute="cpu", description="Count then total.")
    def words(texts, min_len: int = 2):
        count = fn_module.count_words(texts=texts, min_len=min_len)
        count.compute = "cpu-highmem"
        summed = fn_module.total(counts=count.outputs.counts)
        summed.retries = 2
        return {"total": summed.outputs.output}

    job = words(texts=Input(type="uri_folder", path=str(BASIC / "data")))
    spec = job.spec
    assert spec.name == "words" and spec.settings.default_compute == "cpu"
    assert spec.inputs["texts"].path == str(BASIC / "data") and spec.inputs["min_len"].value == 2
    assert spec.jobs["count"].inputs == {"texts": ParentInput("texts"), "min_len": ParentInput("min_len")}
    assert spec.jobs["summed"].inputs == {"counts": JobOutput("count", "counts")}
    assert spec.jobs["summed"].outputs == {"output": "total"} and spec.jobs["summed"].retries == 2
    again = load_pipeline_file(job.dump(tmp_path / "words.yml"))
    jobs = {n: replace(j, component=replace(j.component, source=None, warnings=())) for n, j in again.jobs.items()}
    mine = {n: replace(j, component=replace(j.component, source=None)) for n, j in spec.jobs.items()}
    assert jobs == mine and again.inputs == spec.inputs and again.outputs == spec.outputs


def test_repeated_components_get_numbered_names_and_literals_and_paths_bind() -> None:
    prep = load_component(source=str(BASIC / "prep.yml"))

    @pipeline
    def many():
        for n in (1, 2, 3):
            prep(raw_data=Input(type="uri_folder", path="data"), min_len=n)

    spec = many().spec
    assert list(spec.jobs) == ["prep_data", "prep_data_2", "prep_data_3"]
    assert spec.jobs["prep_data_3"].inputs["min_len"] == LiteralValue(3)
    assert spec.jobs["prep_data"].inputs["raw_data"] == ExternalData(str(Path(__file__).parent / "data"))


def test_helpful_errors_while_building() -> None:
    train = load_component(source=str(BASIC / "train.yml"))

    @pipeline
    def typo(data):
        train(trainig_data=data)

    with pytest.raises(DuctworkError, match="has no input 'trainig_data'. Did you mean 'training_data'?"):
        typo(data=Input(path=str(BASIC)))

    @pipeline
    def bad_output(data):
        node = train(training_data=data)
        return {"m": node.outputs.modle_output}

    with pytest.raises(DuctworkError, match="no output 'modle_output'. Did you mean 'model_output'?"):
        bad_output(data=Input(path=str(BASIC)))
    with pytest.raises(DuctworkError, match="has no input 'dta'. Did you mean 'data'?"):
        bad_output(dta=1)
    with pytest.raises(DuctworkError, match="can only be called inside a @pipeline"):
        train(training_data="x")


def test_load_component_by_reference_needs_a_resolver() -> None:
    spec = load_component_file(BASIC / "train.yml")
    seen: list[ComponentRef] = []

    def resolve(ref: ComponentRef) -> ComponentSpec:
        seen.append(ref)
        if ref.name != "train_model":
            raise KeyError(f"component '{ref.name}' is not registered")
        return spec

    assert load_component("azureml:train_model:3", resolve=resolve).spec is spec
    assert seen == [ComponentRef("train_model", "3")]
    with pytest.raises(DuctworkError, match="no registry is connected"):
        load_component("train_model:3")
    set_resolver(resolve)
    try:
        assert load_component("train_model@latest").spec is spec
        with pytest.raises(DuctworkError, match="component 'nope' is not registered"):
            load_component("nope:1")
    finally:
        set_resolver(None)


def test_input_and_output_types_are_checked() -> None:
    with pytest.raises(DuctworkError, match="Did you mean 'uri_folder'"):
        Input(type="uri_foldr")
    with pytest.raises(DuctworkError, match="outputs are folders or files"):
        Output(type="integer")
