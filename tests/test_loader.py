"""The YAML loaders: components and pipelines in the Azure ML CLI v2 format (pure, no Ray, no DB)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from components.errors import ValidationError
from components.loader import component_from_dict, load_component_file
from components.pipeline_loader import load_pipeline_file
from components.spec import (
    ComponentRef,
    ComponentSpec,
    ExternalData,
    JobOutput,
    LiteralValue,
    ParentInput,
)
from components.yamlio import load_yaml_text

BASIC = Path(__file__).parent / "resources" / "basic"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def component_yaml(tmp_path: Path, body: str, name: str = "comp.yml") -> Path:
    (tmp_path / "src").mkdir(parents=True, exist_ok=True)
    (tmp_path / "src" / "run.py").write_text("print('hi')\n")
    return write(tmp_path, name, body)


def messages(err: pytest.ExceptionInfo[ValidationError]) -> str:
    return "\n".join(str(p) for p in err.value.problems)


# ---------------------------------------------------------------- components

def test_component_file_every_input_type_and_field() -> None:
    spec = load_component_file(BASIC / "train.yml")
    assert spec.name == "train_model" and spec.version == "3" and spec.kind == "command"
    assert spec.inputs["learning_rate"].default == 0.01
    assert (spec.inputs["learning_rate"].min, spec.inputs["learning_rate"].max) == (0, 1)
    assert spec.inputs["schedule"].enum == ("time-based", "step")
    assert spec.inputs["extra"].optional and not spec.inputs["extra"].required
    assert spec.inputs["training_data"].required and spec.inputs["training_data"].is_data
    assert spec.outputs["model_output"].type == "uri_folder"
    assert spec.code == BASIC / "train_src" and spec.code.is_absolute()
    assert spec.resources is not None and spec.resources.memory == 512 * 2**20
    assert spec.source == BASIC / "train.yml"


@pytest.mark.parametrize("type_", ["string", "integer", "number", "boolean", "uri_folder", "uri_file",
                                   "mltable", "mlflow_model", "custom_model"])
def test_every_input_type_is_accepted(tmp_path: Path, type_: str) -> None:
    path = component_yaml(tmp_path, f"""
        name: c
        version: 1
        inputs: {{x: {{type: {type_}, optional: true}}}}
        command: echo $[[${{{{inputs.x}}}}]]
        """)
    assert load_component_file(path).inputs["x"].type == type_


def test_azure_only_fields_are_ignored_with_one_warning_each(tmp_path: Path) -> None:
    path = component_yaml(tmp_path, """
        $schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
        type: command
        name: c
        version: 1
        is_anonymous: false
        distribution: {type: pytorch}
        resources: {instance_count: 2, cpus: 2}
        inputs:
          a: {type: uri_folder, mode: ro_mount}
          b: {type: uri_folder, mode: download}
        outputs:
          o: {type: uri_folder, mode: rw_mount, datastore: azureml:workspaceblobstore}
        code: ./src
        command: python run.py ${{inputs.a}} ${{inputs.b}} ${{outputs.o}}
        """)
    spec = load_component_file(path)
    assert spec.resources is not None and spec.resources.cpus == 2
    mode_warnings = [w for w in spec.warnings if "'mode'" in w]
    assert len(mode_warnings) == 1 and "input 'a'" in mode_warnings[0] and "input 'b'" in mode_warnings[0]
    for field in ("is_anonymous", "distribution", "resources.instance_count", "datastore"):
        assert sum(f"'{field}'" in w for w in spec.warnings) == 1, field


def test_unknown_top_level_key_suggests_the_closest(tmp_path: Path) -> None:
    path = component_yaml(tmp_path, """
        name: c
        version: 1
        comand: echo hi
        """)
    with pytest.raises(ValidationError) as err:
        load_component_file(path)
    text = messages(err)
    assert "unknown field 'comand'" in text and "Did you mean 'command'?" in text
    assert f"{path}:4:1" in text  # file:line:column of the key


@pytest.mark.parametrize("type_", ["parallel", "spark", "sweep", "pipeline"])
def test_other_component_types_are_not_supported_yet(tmp_path: Path, type_: str) -> None:
    path = component_yaml(tmp_path, f"type: {type_}\nname: c\n")
    with pytest.raises(ValidationError, match=f"type '{type_}', which Ductwork does not support yet"):
        load_component_file(path)


@pytest.mark.parametrize("name, fix", [("Train-Model", "train_model"), ("my.comp", "my_comp"), ("1st", "_1st")])
def test_invalid_names_get_a_suggestion(tmp_path: Path, name: str, fix: str) -> None:
    path = component_yaml(tmp_path, f"name: {name}\nversion: 1\ncommand: echo\n")
    with pytest.raises(ValidationError, match=f"use '{fix}'"):
        load_component_file(path)


def test_omitted_version_is_automatic_and_stable(tmp_path: Path) -> None:
    body = "name: c\ncode: ./src\ncommand: python run.py\n"
    first = load_component_file(component_yaml(tmp_path, body, "a.yml"))
    second = load_component_file(component_yaml(tmp_path, body, "b.yml"))
    assert first.version is not None and first.version.startswith("auto-") and len(first.version) == 17
    assert first.version == second.version
    (tmp_path / "src" / "run.py").write_text("print('changed')\n")
    assert load_component_file(tmp_path / "a.yml").version != first.version


@pytest.mark.parametrize("env, kind, warned", [
    # an Azure reference names a registered environment; whether there is one is the run's question
    ("azureml:AzureML-sklearn-1.0:3", "reference", False),
    ("azureml:my-env@latest", "reference", False),
    ("azureml://registries/azureml/environments/sklearn-1.5/labels/latest", "reference", False),
    ("python:3.11-slim", "unsupported", True),
    ("{image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04}", "unsupported", True),
    ("{pip: [scikit-learn==1.5.2, pandas]}", "pip", False),
    ("{image: python:3.11, conda_file: ./conda.yml}", "conda", True),
    ("{conda_file: ./conda.yml}", "conda", False),
])
def test_environment_forms(tmp_path: Path, env: str, kind: str, warned: bool) -> None:
    write(tmp_path, "conda.yml", "name: e\ndependencies: [python=3.11, {pip: [numpy]}]\n")
    path = component_yaml(tmp_path, f"name: c\nversion: 1\ncommand: echo\nenvironment: {env}\n")
    spec = load_component_file(path)
    assert spec.environment.kind == kind
    assert any("environment" in w for w in spec.warnings) == warned
    if kind == "conda":
        assert spec.environment.conda == {"name": "e", "dependencies": ["python=3.11", {"pip": ["numpy"]}]}
    if kind == "pip":
        assert spec.environment.pip == ("scikit-learn==1.5.2", "pandas")


@pytest.mark.parametrize("memory, expected", [("8GB", 8 * 10**9), ("512Mi", 512 * 2**20), (1024, 1024),
                                              ("1.5Gi", int(1.5 * 2**30))])
def test_resources_memory_units(tmp_path: Path, memory: object, expected: int) -> None:
    path = component_yaml(tmp_path, f"""
        name: c
        version: 1
        command: echo
        compute: cpu-highmem
        resources: {{cpus: 2, gpus: 0, memory: {memory}, custom: {{highmem: 1}}}}
        """)
    spec = load_component_file(path)
    assert spec.resources is not None
    assert (spec.resources.cpus, spec.resources.gpus, spec.resources.memory) == (2, 0, expected)
    assert spec.resources.custom == {"highmem": 1} and spec.compute == "cpu-highmem"


def test_malformed_resources_are_problems(tmp_path: Path) -> None:
    path = component_yaml(tmp_path, """
        name: c
        version: 1
        command: echo
        resources: {cpus: -1, memory: lots, custom: {highmem: many}}
        """)
    with pytest.raises(ValidationError) as err:
        load_component_file(path)
    text = messages(err)
    assert "resources.cpus" in text and "-1" in text
    assert "memory 'lots' is not a size" in text
    assert "resources.custom 'highmem'" in text
    assert len(err.value.problems) == 3


def test_code_file_uses_its_folder_with_a_warning(tmp_path: Path) -> None:
    path = component_yaml(tmp_path, "name: c\nversion: 1\ncode: ./src/run.py\ncommand: python run.py\n")
    spec = load_component_file(path)
    assert spec.code == tmp_path / "src"
    assert any("snapshotted" in w for w in spec.warnings)


@pytest.mark.parametrize("code", [".", "../outside", "./src"])
def test_code_relative_forms(tmp_path: Path, code: str) -> None:
    (tmp_path / "outside").mkdir()
    path = component_yaml(tmp_path / "inner", f"name: c\nversion: 1\ncode: {code}\ncommand: echo\n")
    assert load_component_file(path).code == (path.parent / code).resolve()


def test_missing_code_folder_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yml", "name: c\nversion: 1\ncode: ./nope\ncommand: echo\n")
    with pytest.raises(ValidationError, match="'code' of component 'c' is './nope'.*does not exist"):
        load_component_file(path)


def test_function_component_entry_round_trips_through_a_dict(tmp_path: Path) -> None:
    write(tmp_path, "mod.py", "def f(x: int) -> None:\n    pass\n")
    spec = component_from_dict(load_yaml_text("""
        name: f
        version: 2
        function: mod:f
        inputs: {x: {type: integer}}
        """), tmp_path)
    assert spec.kind == "function" and spec.code == tmp_path and spec.function is not None
    assert (spec.function.module, spec.function.qualname) == ("mod", "f")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yml", """
        name: Bad Name
        version: 1
        inputs:
          a: {type: strnig}
          b: {type: integer, default: "3"}
          c: {type: number, min: 5, max: 1}
        outputs:
          o: {type: integer}
        command: echo
        is_deterministic: maybe
        """)
    with pytest.raises(ValidationError) as err:
        load_component_file(path)
    text = messages(err)
    assert "Did you mean 'string'?" in text
    assert "'3' is not an integer; write 3 without quotes" in text
    assert "min 5 is greater than max 1" in text
    assert "output 'o'" in text and "Outputs are folders or files" in text
    assert "is_deterministic" in text and "'Bad Name'" in text
    assert len(err.value.problems) == 6


# ---------------------------------------------------------------- pipelines

def test_basic_pipeline_loads_every_binding_kind() -> None:
    spec = load_pipeline_file(BASIC / "pipeline.yml")
    assert spec.name == "nlp_train" and spec.display_name == "nlp-train"
    assert spec.inputs["max_epochs"].value == 20 and spec.inputs["max_epochs"].type is None
    assert spec.inputs["raw"].path == str(BASIC / "data")
    assert spec.settings.default_compute == "cpu"
    prep, train = spec.jobs["prep"], spec.jobs["train"]
    assert isinstance(prep.component, ComponentSpec) and prep.component.name == "prep_data"
    assert prep.inputs == {"raw_data": ParentInput("raw"), "min_len": LiteralValue(3)}
    assert prep.outputs == {"clean": None} and prep.compute == "cpu-highmem"
    assert train.inputs["training_data"] == JobOutput("prep", "clean")
    assert train.outputs == {"model_output": "trained_model"}
    assert (train.timeout, train.retries, train.environment_variables) == (600.0, 1, {"PYTHONHASHSEED": "0"})


@pytest.mark.parametrize("ref, expected", [
    ("train_model:3", ComponentRef("train_model", "3")),
    ("train_model@latest", ComponentRef("train_model", None)),
    ("azureml:train_model:3", ComponentRef("train_model", "3")),
    ("azureml:train_model@latest", ComponentRef("train_model", None)),
    ("train_model", ComponentRef("train_model", None)),
])
def test_registered_component_references(tmp_path: Path, ref: str, expected: ComponentRef) -> None:
    path = write(tmp_path, "p.yml", f"""
        type: pipeline
        jobs:
          train:
            component: {ref}
        """)
    assert load_pipeline_file(path).jobs["train"].component == expected


def test_file_prefix_and_inline_component(tmp_path: Path) -> None:
    component_yaml(tmp_path, "name: c\nversion: 1\ncode: ./src\ncommand: python run.py\n")
    path = write(tmp_path, "p.yml", """
        type: pipeline
        jobs:
          a:
            component: file:./comp.yml
          b:
            component:
              code: ./src
              command: python run.py ${{inputs.n}}
              inputs: {n: {type: integer}}
            inputs: {n: 4}
        """)
    spec = load_pipeline_file(path)
    a, b = spec.jobs["a"].component, spec.jobs["b"].component
    assert isinstance(a, ComponentSpec) and a.name == "c"
    assert isinstance(b, ComponentSpec) and b.name == "b" and b.version is not None
    assert spec.jobs["b"].inputs == {"n": LiteralValue(4)}


def test_inline_command_jobs_synthesise_a_component() -> None:
    spec = load_pipeline_file(BASIC / "inline_jobs.yml")
    flt = spec.jobs["filter"].component
    assert isinstance(flt, ComponentSpec) and flt.name == "filter"
    assert flt.inputs["raw"].type == "uri_folder" and flt.inputs["min_len"].type == "integer"
    assert flt.environment.kind == "reference"  # an Azure environment reference
    report = spec.jobs["report"].component
    assert isinstance(report, ComponentSpec) and report.code is None
    assert report.inputs["note"].type == "string" and spec.jobs["report"].inputs["note"] == LiteralValue("hello")
    assert spec.settings.default_compute == "azureml:cpu-cluster"
    assert any("experiment_name" in w for w in spec.warnings)


def test_job_input_bound_to_a_path_and_remote_paths_kept(tmp_path: Path) -> None:
    component_yaml(tmp_path, "name: c\nversion: 1\ninputs: {d: {type: uri_file}}\ncommand: cat ${{inputs.d}}\n")
    path = write(tmp_path, "p.yml", """
        type: pipeline
        inputs:
          remote: {type: uri_folder, path: azureml://datastores/blob/paths/data}
          web: {type: uri_file, path: https://example.com/x.csv}
        jobs:
          j:
            component: ./comp.yml
            inputs:
              d: {type: uri_file, path: ./data/x.csv, mode: download}
        """)
    spec = load_pipeline_file(path)
    assert spec.inputs["remote"].path == "azureml://datastores/blob/paths/data"
    assert spec.inputs["web"].path == "https://example.com/x.csv"
    assert spec.jobs["j"].inputs["d"] == ExternalData(str(tmp_path / "data" / "x.csv"), "uri_file")


@pytest.mark.parametrize("value, fragment", [
    ("${{parent.input.x}}", "write 'parent.inputs', plural"),
    ("${{parent.job.a.outputs.o}}", "write 'parent.jobs', plural"),
    ("${{inputs.x}}", "in a pipeline write 'parent.inputs.x'"),
    ("data_${{parent.inputs.x}}", "mixes text and a binding"),
    ("${{parent.outputs.y}}", "only allowed as the value of a job output"),
])
def test_bad_bindings_name_file_job_and_field(tmp_path: Path, value: str, fragment: str) -> None:
    path = write(tmp_path, "p.yml", f"""
        type: pipeline
        jobs:
          train:
            component: c:1
            inputs:
              x: {value}
        """)
    with pytest.raises(ValidationError) as err:
        load_pipeline_file(path)
    (problem,) = err.value.problems
    assert fragment in problem.message
    assert (problem.file, problem.job, problem.field, problem.line) == (str(path), "train", "inputs.x", 7)


def test_job_outputs_forms(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yml", """
        type: pipeline
        outputs: {final: {}}
        jobs:
          j:
            component: c:1
            outputs:
              a: {}
              b:
              c: ${{parent.outputs.final}}
              d: {type: uri_folder, mode: upload, path: azureml://datastores/x}
        """)
    spec = load_pipeline_file(path)
    assert spec.jobs["j"].outputs == {"a": None, "b": None, "c": "final", "d": None}
    assert any("'mode'" in w for w in spec.warnings) and any("'path'" in w for w in spec.warnings)


def test_settings_and_job_options(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yml", """
        type: pipeline
        settings: {default_compute: azureml:gpu-cluster, continue_on_step_failure: true,
                   force_rerun: true, default_datastore: azureml:workspaceblobstore}
        jobs:
          j:
            component: c:1
            compute: azureml:cpu
            force_rerun: true
            display_name: The job
            limits: {timeout: 30}
        """)
    spec = load_pipeline_file(path)
    assert spec.settings.default_compute == "azureml:gpu-cluster"
    assert spec.settings.continue_on_step_failure and spec.settings.force_rerun
    job = spec.jobs["j"]
    assert (job.compute, job.force_rerun, job.display_name, job.timeout) == ("azureml:cpu", True, "The job", 30.0)
    assert any("default_datastore" in w for w in spec.warnings)


def test_unknown_keys_azure_accepts_are_warnings_with_where_and_the_closest_key(tmp_path: Path) -> None:
    write(tmp_path, "c.yml", """
        name: c
        version: 1
        descripton: typo, as Azure tolerates
        inputs:
          n: {type: integer, defualt: 3}
        outputs:
          o: {type: uri_folder, desciption: x}
        command: echo ${{inputs.n}} > ${{outputs.o}}/n
        resources: {cpus: 1, gpu: 1}
        """)
    path = write(tmp_path, "p.yml", """
        type: pipeline
        inputs:
          n: {type: integer, default: 2, descripion: x}
        settings: {default_datestore: azureml:workspaceblobstore}
        jobs:
          j:
            component: ./c.yml
            display_nmae: J
            limits: {timeout: 30, timout: 20}
            inputs: {n: '${{parent.inputs.n}}'}
        """)
    spec = load_pipeline_file(path)  # no error
    warnings = "\n".join(spec.warnings)
    for expected in (
        "unknown field 'default_datestore' in settings (line 5, column 12) is ignored. Did you mean 'default_datastore'?",
        "unknown field 'display_nmae' in job 'j' (line 9, column 5) is ignored. Did you mean 'display_name'?",
        "unknown field 'timout' in limits of job 'j' (line 10, column 27) is ignored. Did you mean 'timeout'?",
        "unknown field 'descripion' in pipeline input 'n' (line 4, column 34) is ignored. Did you mean 'description'?",
        "c.yml: unknown field 'descripton' in component 'c' (line 4, column 1) is ignored. Did you mean 'description'?",
        "c.yml: unknown field 'defualt' in input 'n' of component 'c' (line 6, column 22) is ignored. "
        "Did you mean 'default'?",
        "c.yml: unknown field 'desciption' in output 'o' of component 'c'",
        "c.yml: unknown field 'gpu' in the resources of component 'c' (line 10, column 22) is ignored. Did you mean 'gpus'?",
    ):
        assert expected in warnings, f"{expected!r} not in\n{warnings}"
    assert spec.jobs["j"].timeout == 30.0


def test_what_azure_refuses_stays_an_error_and_a_misspelt_required_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yml", """
        type: pipeline
        settings: {force_rerun: yes please}
        jbos:
          j: {component: c:1, retries: many}
        """)
    with pytest.raises(ValidationError) as err:
        load_pipeline_file(path)
    text = messages(err)
    assert "settings.force_rerun is 'yes please'; expected true or false" in text
    assert (f"{path}:4:1, field 'jobs': the pipeline has no jobs; add a 'jobs:' mapping with at least one job. "
            "The unknown field 'jbos' is ignored. Did you mean 'jobs'?") in text
    job = write(tmp_path, "q.yml", "type: pipeline\njobs:\n  j:\n    componnet: c:1\n")
    with pytest.raises(ValidationError, match="The unknown field 'componnet' is ignored. Did you mean 'component'?"):
        load_pipeline_file(job)
    typed = component_yaml(tmp_path, "name: c\nversion: 1\ninputs:\n  n: {tpye: integer}\ncommand: echo\n")
    with pytest.raises(ValidationError, match="input 'n' of component 'c' has no 'type'.*Did you mean 'type'?"):
        load_component_file(typed)

def test_broken_component_file_problems_carry_the_job(tmp_path: Path) -> None:
    write(tmp_path, "bad.yml", "name: c\nversion: 1\ncommand: echo ${{inputs.nope}}\n")
    path = write(tmp_path, "p.yml", "type: pipeline\njobs:\n  j:\n    component: ./bad.yml\n  k:\n    component: ./missing.yml\n")
    with pytest.raises(ValidationError) as err:
        load_pipeline_file(path)
    problems = err.value.problems
    assert [p.job for p in problems] == ["j", "k"]
    assert problems[0].file == str(tmp_path / "bad.yml") and "input 'nope' is not declared" in problems[0].message
    assert "component file './missing.yml' does not exist" in problems[1].message


@pytest.mark.parametrize("text, fragment, line", [
    ("type: pipeline\njobs:\n\tj: {}\n", "tabs", 3),
    ("type: pipeline\njobs: [a, b\n", "malformed YAML", 3),
    ("type: pipeline\njobs: {}\njobs: {}\n", "key 'jobs' appears twice", 3),
    ("", "the file is empty", None),
    ("- type: pipeline\n", "top level of the file is a list", 1),
])
def test_malformed_yaml_is_located(tmp_path: Path, text: str, fragment: str, line: int | None) -> None:
    path = tmp_path / "p.yml"
    path.write_text(text)
    with pytest.raises(ValidationError) as err:
        load_pipeline_file(path)
    (problem,) = err.value.problems
    assert fragment in problem.message and problem.line == line


def test_binary_file_is_a_clear_problem(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(ValidationError, match="the file is binary"):
        load_pipeline_file(path)


def test_pipeline_level_compute_is_the_default_compute(tmp_path: Path) -> None:
    """Azure pipeline jobs often say `compute: azureml:cpu-cluster` at the top instead of in settings."""
    component_yaml(tmp_path, "name: c\nversion: 1\ncode: ./src\ncommand: python run.py\n")
    top_only = write(tmp_path, "top.yml", """
        type: pipeline
        compute: azureml:cpu-cluster
        jobs: {a: {component: ./comp.yml}}
        """)
    spec = load_pipeline_file(top_only)
    assert spec.settings.default_compute == "azureml:cpu-cluster"
    assert not any("'compute'" in w for w in spec.warnings)
    both = write(tmp_path, "both.yml", """
        type: pipeline
        compute: cpu
        settings: {default_compute: gpu}
        jobs: {a: {component: ./comp.yml}}
        """)
    assert load_pipeline_file(both).settings.default_compute == "gpu"
