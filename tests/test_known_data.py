"""Known data for a data input, from real run records (DuckDB, in-process runs) and the
built-in templates' sample data: most recent first, each path once, existing paths only,
and only what fits the input's type."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.services.data import KnownData, known_data, sample_data
from app.services.runs import start_run
from components.library.catalog import LIBRARY_DIR

PIPELINE = """\
type: pipeline
name: peek
inputs:
  folder: {type: uri_folder, path: ./data}
  table: {type: uri_file, path: ./data/rows.csv}
jobs:
  look:
    type: command
    command: python -c "import sys; print(sys.argv[1:])" ${{inputs.folder}} ${{inputs.table}}
    inputs:
      folder: ${{parent.inputs.folder}}
      table: ${{parent.inputs.table}}
"""
TEXT_SAMPLE = str(LIBRARY_DIR / "text" / "data")
HOUSES = str(LIBRARY_DIR / "tabular" / "data" / "houses.csv")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for name in ("data", "other", "gone"):
        (root / name).mkdir(parents=True)
        (root / name / "rows.csv").write_text(f"x\n{name}\n")
    (root / "pipeline.yml").write_text(PIPELINE)
    return root


def _run(ws, project: Path, **params: str) -> str:
    return start_run(ws, project / "pipeline.yml", params, executor="in-process").run.id


def _recent(found: list[KnownData]) -> list[str]:
    return [k.path for k in found if k.source == "recent"]


def test_a_fresh_workspace_offers_the_built_in_samples(ws):
    folders = known_data(ws, "uri_folder")
    assert [k.source for k in folders] == ["sample", "sample"]
    assert TEXT_SAMPLE in [k.path for k in folders]
    assert all(k.data_type == "uri_folder" and Path(k.path).is_dir() for k in folders)
    assert any(k.label.startswith("Sample: text/data (Text classification") for k in folders)
    files = known_data(ws, "uri_file")
    assert HOUSES in [k.path for k in files] and all(Path(k.path).is_file() for k in files)
    assert known_data(ws, "mltable") == folders  # folder types take any folder
    assert known_data(ws, "string") == [] and known_data(ws, "integer") == []


def test_recent_inputs_most_recent_first_once_each_existing_only(ws, project):
    first = _run(ws, project)
    _run(ws, project, folder=str(project / "gone"), table=str(project / "gone" / "rows.csv"))
    last = _run(ws, project, folder=str(project / "other"))
    shutil.rmtree(project / "gone")

    folders = known_data(ws, "uri_folder")
    assert _recent(folders) == [str(project / "other"), str(project / "data")]
    assert [k.source for k in folders[2:]] == ["sample", "sample"]  # then the samples
    newest = folders[0]
    assert newest == KnownData(str(project / "other"), newest.label, "recent", "uri_folder")
    assert f"look.folder of run {last} (peek" in newest.label and f"run {first}" in folders[1].label

    files = known_data(ws, "uri_file")  # the last run read data/rows.csv again: it comes first
    assert _recent(files) == [str(project / "data" / "rows.csv")]
    assert HOUSES in [k.path for k in files if k.source == "sample"]
    assert known_data(ws, "uri_folder", limit=1)[0].path == str(project / "other")
    assert _recent(known_data(ws, "uri_folder", limit=1)) == [str(project / "other")]


def test_a_sample_used_by_a_run_is_listed_once_as_recent(ws, project):
    _run(ws, project, folder=TEXT_SAMPLE)
    folders = known_data(ws, "uri_folder")
    assert [k.path for k in folders].count(TEXT_SAMPLE) == 1
    used = next(k for k in folders if k.path == TEXT_SAMPLE)
    assert used.source == "recent" and "(sample)" in used.label
    assert folders.index(used) == 0


def test_sample_data_is_what_the_templates_ship():
    paths = {k.path for k in sample_data("uri_folder")}
    assert paths == {str(LIBRARY_DIR / "tabular" / "data"), TEXT_SAMPLE}
    assert {Path(k.path).name for k in sample_data("uri_file")} == {"houses.csv", "news_topics.csv"}
