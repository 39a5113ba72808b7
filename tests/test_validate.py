"""Validation: every malformed file in tests/resources/malformed/ fails with the expected wording,
valid examples pass, and the pipeline checks report every problem at once."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from components.errors import Problem, ValidationError
from components.loader import load_component_file
from components.pipeline_loader import load_pipeline_file
from components.spec import ComponentRef, ComponentSpec, Resources
from components.validate import compute_for_job, resolve_pipeline, validate_component, validate_pipeline
from components.yamlio import load_yaml_file

RESOURCES = Path(__file__).parent / "resources"
MALFORMED = RESOURCES / "malformed"
EXPECTED: dict[str, list[str]] = yaml.safe_load((MALFORMED / "EXPECTED.yml").read_text())
COMPUTES = ["local", "cpu", "cpu-highmem", "gpu"]
REGISTERED = {spec.ref: spec for spec in (load_component_file(RESOURCES / "basic" / f) for f in ("prep.yml", "train.yml"))}


def resolve(ref: ComponentRef) -> ComponentSpec:
    """An in-memory registry of the basic components (train_model:3, prep_data:1)."""
    versions = sorted(s.version for s in REGISTERED.values() if s.name == ref.name)
    if not versions:
        raise KeyError(f"component '{ref.name}' is not registered")
    version = ref.version or versions[-1]
    if f"{ref.name}:{version}" not in REGISTERED:
        raise KeyError(f"component '{ref.name}' has no version '{version}'; known versions: {', '.join(versions)}")
    return REGISTERED[f"{ref.name}:{version}"]


def check_file(path: Path) -> str:
    """Load and validate like `ductwork validate FILE`: the error text, or '' when valid."""
    try:
        data = load_yaml_file(path)
        if data.get("type") == "pipeline":
            problems = validate_pipeline(load_pipeline_file(path), resolve, COMPUTES)
        else:
            problems = validate_component(load_component_file(path))
    except ValidationError as err:
        return str(err)
    return str(ValidationError(problems)) if problems else ""


def test_corpus_is_complete() -> None:
    files = sorted(p.name for p in MALFORMED.iterdir() if p.is_file() and p.name != "EXPECTED.yml")
    assert files == sorted(EXPECTED) and len(files) >= 45


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_file_fails_with_expected_wording(name: str) -> None:
    text = check_file(MALFORMED / name)
    assert text, f"{name} was accepted"
    assert "Traceback" not in text
    for fragment in EXPECTED[name]:
        assert fragment in text, f"{name}: {fragment!r} not in:\n{text}"


VALID = sorted(p for folder in ("basic", "azure") for p in (RESOURCES / folder).rglob("*.yml"))


@pytest.mark.parametrize("path", VALID, ids=lambda p: str(p.relative_to(RESOURCES)))
def test_valid_examples_pass(path: Path) -> None:
    assert check_file(path) == ""


def test_messages_are_pinned() -> None:
    spec = load_pipeline_file(MALFORMED / "pipe_undeclared_input.yml")
    problems = validate_pipeline(spec, resolve, COMPUTES)
    assert problems[0].message == (
        "job 'train' input 'trainig_data' is not declared by component 'train_model:3'. Did you mean 'training_data'?")
    assert (problems[0].job, problems[0].field, problems[0].file) == ("train", "inputs.trainig_data", str(spec.source))
    cycle = validate_pipeline(load_pipeline_file(MALFORMED / "pipe_cycle.yml"), resolve, COMPUTES)
    assert [p.message for p in cycle] == [
        "cycle: a → b → c → a; a job cannot depend on its own output, directly or through other jobs"]


def test_unknown_registered_version_uses_the_resolver_message(tmp_path: Path) -> None:
    text = check_file(MALFORMED / "pipe_unknown_component_version.yml")
    assert "job 'train' component 'train_model:99' cannot be found: component 'train_model' has no version '99'; " \
           "known versions: 3" in text


def test_azure_compute_falls_back_with_a_warning_and_local_names_are_used() -> None:
    spec = load_pipeline_file(RESOURCES / "azure" / "iris_train_score_eval" / "pipeline.yml")
    assert validate_pipeline(spec, resolve, COMPUTES) == []
    warnings = validate_pipeline(spec, resolve, COMPUTES, include_warnings=True)
    assert all(w.severity == "warning" for w in warnings)
    assert any("'azureml:gpu-cluster' is an Azure compute target that is not defined here" in w.message
               and w.job == "train_job" for w in warnings)
    train = spec.jobs["train_job"]
    name, problems = compute_for_job(train, None, spec.settings, COMPUTES, "local")
    assert name == "local" and len(problems) == 2  # job's and pipeline's azureml: names both fall back
    name, problems = compute_for_job(train, None, spec.settings, [*COMPUTES, "cpu-cluster"], "local")
    assert name == "cpu-cluster" and [p.severity for p in problems] == ["warning"]
    credit = load_pipeline_file(RESOURCES / "azure" / "credit_default" / "pipeline.yml")
    assert compute_for_job(credit.jobs["clean"], None, credit.settings, COMPUTES)[0] == "cpu-highmem"


def test_compute_resolution_order() -> None:
    spec = load_pipeline_file(RESOURCES / "basic" / "pipeline.yml")
    prep, train = spec.jobs["prep"], spec.jobs["train"]
    assert compute_for_job(prep, prep.component, spec.settings, COMPUTES)[0] == "cpu-highmem"  # job
    no_job = replace(prep, compute=None)
    assert compute_for_job(no_job, prep.component, spec.settings, COMPUTES)[0] == "cpu"  # component
    assert compute_for_job(replace(train, compute=None), train.component, spec.settings, COMPUTES)[0] == "cpu"
    bare = replace(spec.settings, default_compute=None)
    assert compute_for_job(replace(train, compute=None), train.component, bare, COMPUTES, "local")[0] == "local"


def test_resolve_pipeline_replaces_references() -> None:
    spec = load_pipeline_file(RESOURCES / "basic" / "pipeline.yml")
    with_refs = replace(spec, jobs={n: replace(j, component=ComponentRef(j.component.name, j.component.version))
                                    for n, j in spec.jobs.items()})
    resolved = resolve_pipeline(with_refs, resolve)
    assert resolved.jobs["train"].component is REGISTERED["train_model:3"]
    assert validate_pipeline(with_refs, resolve, COMPUTES) == []
    broken = replace(with_refs, jobs={**with_refs.jobs, "x": replace(with_refs.jobs["prep"], name="x",
                                                                    component=ComponentRef("nope", None))})
    with pytest.raises(ValidationError) as err:
        resolve_pipeline(broken, resolve)
    assert [p.job for p in err.value.problems] == ["x"] and "component 'nope' is not registered" in str(err.value)


def test_component_checks_catch_what_the_sdk_could_build() -> None:
    spec = load_component_file(RESOURCES / "basic" / "train.yml")
    bad = replace(spec, resources=Resources(cpus=-1, memory=-5, custom={"highmem": -1}))
    messages = [p.message for p in validate_component(bad)]
    assert len(messages) == 3 and all("0 or more" in m for m in messages)
    assert validate_component(replace(spec, name="Bad")) == [
        Problem("component 'Bad:3': name 'Bad' may contain only lowercase letters, digits and underscores "
                "(and must not start with a digit); use 'bad'", file=str(spec.source), field="name")]
