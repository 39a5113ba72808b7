"""``ductwork init DIR --template NAME``: a self-contained project folder a team checks into git."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import pytest

from components.pipeline_loader import load_pipeline_file


def import_twin(project: Path):
    spec = importlib.util.spec_from_file_location(f"_project_{project.name}", project / "pipeline.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build()


def inside(path: Path | str, root: Path) -> bool:
    return Path(path).resolve().is_relative_to(root.resolve())


@pytest.mark.parametrize("template", ["text-classification", "tabular-regression"])
def test_init_writes_a_self_contained_project(cli, tmp_path: Path, template: str) -> None:
    project = tmp_path / "proj"
    result = cli("init", project, "--template", template, "--json")
    assert result.returncode == 0, result.stderr
    written = json.loads(result.stdout)
    folders = [s["folder"] for s in written["steps"]]
    assert {p.name for p in project.iterdir()} == {"pipeline.yml", "pipeline.py", "README.md", ".gitignore",
                                                   "data", *folders}
    spec = load_pipeline_file(project / "pipeline.yml")
    for job in spec.jobs.values():
        assert inside(job.component.code, project) and inside(job.component.source, project)
    assert all(inside(i.path, project) for i in spec.inputs.values() if i.is_data)
    assert {Path(j.component.code).name for j in spec.jobs.values()} == set(folders)
    for folder in folders:
        assert (project / folder / "component.yml").is_file()
        assert not (project / folder / "__pycache__").exists()
    assert import_twin(project).spec == replace(spec, source=None, warnings=())
    assert ".ductwork/" in (project / ".gitignore").read_text()


def test_readme_says_who_edits_what(cli, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    assert cli("init", project, "--template", "text-classification").returncode == 0
    readme = (project / "README.md").read_text()
    assert "## Who edits what" in readme
    assert "| `clean/` | `text_clean:1` — Clean text | `clean` | `cpu-highmem` | _(name)_ |" in readme
    assert "| `evaluate/` | `text_evaluate:1` — Evaluate classifier | `evaluate`, `evaluate_baseline` | `local` |" \
        in readme
    assert "| `train_transformer/` | `text_train_transformer:1` — Train transformer classifier | `train` | `gpu` |" \
        in readme
    assert "ductwork run pipeline.yml --set epochs=6" in readme
    assert "## Text classification template" in readme  # the template's own README follows


def test_the_project_validates_in_a_seeded_workspace(cli, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    assert cli("init", project, "--template", "text-classification").returncode == 0
    checked = cli("validate", "pipeline.yml", cwd=project, env={"DUCTWORK_SEED": "1"})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"ok: {project / 'pipeline.yml'} (pipeline 'text_classification')" in checked.stdout


def test_init_refuses_a_non_empty_folder_and_writes_nothing(cli, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    result = cli("init", project, "--template", "tabular-regression")
    assert result.returncode == 2
    assert f"project folder '{project}' is not empty (1 entries: 'notes.txt')" in result.stderr
    assert "overwrites nothing" in result.stderr
    assert [p.name for p in project.iterdir()] == ["notes.txt"]


def test_unknown_or_missing_template_lists_the_templates(cli, tmp_path: Path) -> None:
    wrong = cli("init", tmp_path / "p", "--template", "tabular-regresion")
    assert wrong.returncode == 2
    assert "template 'tabular-regresion' does not exist. Did you mean 'tabular-regression'?" in wrong.stderr
    assert "Known templates: tabular-regression, text-classification" in wrong.stderr
    missing = cli("init", tmp_path / "p")
    assert missing.returncode == 2 and "needs --template NAME" in missing.stderr
    assert "text-classification" in missing.stderr
    assert not (tmp_path / "p").exists()
    listed = json.loads(cli("init", "--list", "--json").stdout)
    assert [t["name"] for t in listed] == ["tabular-regression", "text-classification"]


def test_init_without_a_folder_still_creates_the_workspace(cli, tmp_path: Path) -> None:
    result = cli("init", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["home"] == str(tmp_path / "home") and shown["created"] is True
