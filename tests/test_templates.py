"""The built-in templates: YAML and Python twins, valid against the seeded compute targets."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest

from components.errors import DuctworkError
from components.library import TemplateInfo, find_template, list_templates
from components.pipeline_loader import load_pipeline_file
from components.spec import ComponentSpec, JobOutput, ParentInput
from components.validate import validate_pipeline

TEMPLATES = list_templates()
SEEDED_COMPUTE = ["local", "cpu-highmem", "gpu"]


def build_python_twin(template: TemplateInfo):
    spec = importlib.util.spec_from_file_location(f"_template_{template.name.replace('-', '_')}",
                                                  template.python_file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build()


def no_resolver(ref):
    raise KeyError(f"template job refers to registered component '{ref}'; templates must use files")


def test_the_library_has_both_templates_with_their_files() -> None:
    assert [t.name for t in TEMPLATES] == ["tabular-regression", "text-classification"]
    for template in TEMPLATES:
        assert template.title and template.description and template.tags
        assert template.pipeline_file.is_file() and template.python_file.is_file()
        assert template.readme_file.read_text().startswith(f"# {template.title} template")


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.name)
def test_python_twin_equals_the_yaml(template: TemplateInfo) -> None:
    from_yaml = load_pipeline_file(template.pipeline_file)
    assert from_yaml.warnings == ()
    assert build_python_twin(template).spec == replace(from_yaml, source=None, warnings=())


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.name)
def test_template_validates_against_the_seeded_compute_targets(template: TemplateInfo) -> None:
    spec = load_pipeline_file(template.pipeline_file)
    assert validate_pipeline(spec, no_resolver, SEEDED_COMPUTE, include_warnings=True) == []
    assert all(isinstance(job.component, ComponentSpec) for job in spec.jobs.values())
    data = [i for i in spec.inputs.values() if i.is_data]
    assert len(data) == 1 and Path(data[0].path).is_dir()  # the shipped sample, inside the library


def test_text_classification_prepares_on_highmem_and_trains_on_gpu() -> None:
    spec = load_pipeline_file(find_template("text-classification").pipeline_file)
    assert list(spec.jobs) == ["load", "clean", "split", "tokenizer", "featurise", "train", "evaluate",
                               "baseline", "evaluate_baseline"]
    assert {n: j.compute for n, j in spec.jobs.items() if j.compute} == {
        "clean": "cpu-highmem", "featurise": "cpu-highmem", "train": "gpu"}
    assert spec.settings.default_compute == "local"
    train = spec.jobs["train"]
    assert train.inputs["features"] == JobOutput("featurise", "features")
    assert train.inputs["epochs"] == ParentInput("epochs")
    assert spec.jobs["tokenizer"].inputs["train"] == JobOutput("split", "train")  # fitted on train only
    assert set(spec.outputs) == {"model", "evaluation", "baseline_evaluation"}


def test_unknown_template_suggests_the_closest_and_lists_all() -> None:
    with pytest.raises(DuctworkError) as err:
        find_template("text-clasification")
    assert str(err.value) == ("template 'text-clasification' does not exist. Did you mean 'text-classification'? "
                              "Known templates: tabular-regression, text-classification")
