"""Export back to YAML: load → export → load gives an equal spec, for every valid example."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from components.digest import component_digest
from components.loader import load_component_file
from components.pipeline_loader import load_pipeline_file, pipeline_from_dict
from components.serialize import component_to_dict, dump_yaml, pipeline_to_dict
from components.spec import ComponentRef, ComponentSpec, PipelineSpec

RESOURCES = Path(__file__).parent / "resources"
PIPELINES = sorted(
    p for folder in ("basic", "azure") for p in (RESOURCES / folder).rglob("*.yml")
    if yaml.safe_load(p.read_text()).get("type") == "pipeline"
)
COMPONENTS = sorted(
    p for folder in ("basic", "azure") for p in (RESOURCES / folder).rglob("*.yml")
    if yaml.safe_load(p.read_text()).get("type", "command") == "command"
    and "conda" not in p.name and "jobs" not in yaml.safe_load(p.read_text())
)


def bare_component(spec: ComponentSpec) -> ComponentSpec:
    return replace(spec, source=None, warnings=())


def bare(spec: PipelineSpec) -> PipelineSpec:
    jobs = {name: replace(job, component=bare_component(job.component))
            if isinstance(job.component, ComponentSpec) else job for name, job in spec.jobs.items()}
    return replace(spec, source=None, warnings=(), jobs=jobs)


def test_examples_are_found() -> None:
    assert len(PIPELINES) >= 6 and len(COMPONENTS) >= 4


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: str(p.relative_to(RESOURCES)))
def test_pipeline_round_trip(tmp_path: Path, path: Path) -> None:
    original = load_pipeline_file(path)
    out = tmp_path / "nested" / "exported.yml"
    out.parent.mkdir()
    out.write_text(dump_yaml(pipeline_to_dict(original, relative_to=out.parent)))
    again = load_pipeline_file(out)
    assert bare(again) == bare(original)
    for name, job in original.jobs.items():
        if isinstance(job.component, ComponentSpec):
            assert component_digest(again.jobs[name].component) == component_digest(job.component)
    # a second export is byte-identical: the format is canonical
    assert dump_yaml(pipeline_to_dict(again, relative_to=out.parent)) == out.read_text()


@pytest.mark.parametrize("path", COMPONENTS, ids=lambda p: str(p.relative_to(RESOURCES)))
def test_component_round_trip(tmp_path: Path, path: Path) -> None:
    original = load_component_file(path)
    out = tmp_path / "exported.yml"
    out.write_text(dump_yaml(component_to_dict(original, relative_to=tmp_path)))
    again = load_component_file(out)
    assert bare_component(again) == bare_component(original)


def test_absolute_paths_without_relative_to(tmp_path: Path) -> None:
    original = load_pipeline_file(RESOURCES / "basic" / "pipeline.yml")
    data = yaml.safe_load(dump_yaml(pipeline_to_dict(original)))
    assert data["inputs"]["raw"]["path"] == str(RESOURCES / "basic" / "data")
    assert bare(pipeline_from_dict(data, tmp_path)) == bare(original)


def test_component_refs_export_jobs_as_registered_references(tmp_path: Path) -> None:
    original = load_pipeline_file(RESOURCES / "basic" / "pipeline.yml")
    data = pipeline_to_dict(original, relative_to=tmp_path,
                            component_refs=lambda c: c.ref if c.name == "train_model" else None)
    assert data["jobs"]["train"]["component"] == "train_model:3"
    assert isinstance(data["jobs"]["prep"]["component"], dict)
    again = pipeline_from_dict(yaml.safe_load(dump_yaml(data)), tmp_path)
    assert again.jobs["train"].component == ComponentRef("train_model", "3")
    assert again.jobs["train"].inputs == original.jobs["train"].inputs


def test_dump_yaml_is_block_style_and_keeps_order() -> None:
    text = dump_yaml({"z": 1, "a": {"command": "line one\nline two\n", "list": [1, 2]}, "b": "${{parent.inputs.x}}"})
    assert text.index("z:") < text.index("a:") < text.index("b:")
    assert "command: |" in text and "- 1" in text and "{" not in text.replace("${{parent.inputs.x}}", "")
    assert yaml.safe_load(text)["b"] == "${{parent.inputs.x}}"
