"""First start: a new workspace is seeded with the library, the templates and compute targets,
once, and a seeded template runs for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.services.seed import SEED_FILE, SeedReport, builtin_compute_targets, seed_on_open, seed_workspace
from app.services.workspace import open_workspace
from components.library import component_files

COMPONENTS = 13


def test_seed_registers_everything_once(ws) -> None:
    first = seed_workspace(ws, gpus=0)
    assert sorted(a for a in first.added if a.startswith("compute:")) == ["compute:cpu-highmem", "compute:gpu"]
    assert len([a for a in first.added if a.startswith("component:")]) == COMPONENTS == len(component_files())
    assert {a for a in first.added if a.startswith(("template:", "pipeline:"))} == {
        "template:text-classification", "template:tabular-regression",
        "pipeline:text_classification", "pipeline:tabular_regression"}
    assert first.warnings == []
    second = seed_workspace(ws, gpus=0)
    assert second.added == [] and second.warnings == []
    assert ws.registry.compute_names() == ["local", "cpu-highmem", "gpu"]
    assert len(ws.registry.list_components()) == COMPONENTS
    assert [p.version for p in ws.registry.list_pipelines(all_versions=True)] == ["1", "1"]
    template = ws.registry.get_template("text-classification")
    assert template.builtin and template.display_name == "Text classification"
    assert template.spec["jobs"]["train"]["component"] == "text_train_transformer:1"


def test_gpu_target_requests_a_gpu_only_where_one_is_visible() -> None:
    without, with_gpu = builtin_compute_targets(gpus=0), builtin_compute_targets(gpus=2)
    assert [t["name"] for t in without] == ["cpu-highmem", "gpu"]
    assert without[1]["gpus"] == 0 and "ductwork compute update gpu --gpus 1" in without[1]["description"]
    assert with_gpu[1]["gpus"] == 1
    highmem = without[0]
    assert highmem["cpus"] >= 1 and highmem["memory"] > 0 and highmem["price_per_hour"] > 0
    assert "resources" not in highmem  # a local Ray advertises no custom resource: none is asked for


def test_seed_keeps_what_a_person_changed(ws) -> None:
    from app.services.compute import add_compute

    add_compute(ws, "gpu", cpus=4, gpus=1, price_per_hour=9.0)
    report = seed_workspace(ws, gpus=0)
    assert "compute:gpu" in report.kept
    gpu = ws.registry.get_compute("gpu")
    assert (gpu.gpus, gpu.price_per_hour) == (1.0, 9.0)


def test_open_hook_seeds_a_new_workspace_once_and_can_be_turned_off(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting_seed(ws) -> SeedReport:
        calls.append(str(ws.home))
        return SeedReport(added=["x"])

    monkeypatch.setenv("DUCTWORK_SEED", "1")
    ws = open_workspace(tmp_path / "home")  # the real hook seeds it
    try:
        assert len(ws.registry.list_components()) == COMPONENTS
        assert (ws.home / SEED_FILE).is_file()
        assert seed_on_open(ws, seed=counting_seed) is None and calls == []  # library unchanged: nothing to do
        (ws.home / SEED_FILE).write_text("stale")
        assert seed_on_open(ws, seed=counting_seed).added == ["x"] and len(calls) == 1
        monkeypatch.setenv("DUCTWORK_SEED", "0")
        (ws.home / SEED_FILE).unlink()
        assert seed_on_open(ws, seed=counting_seed) is None and len(calls) == 1
    finally:
        ws.registry.close()


def test_designer_opens_a_seeded_template_with_registered_components(ws) -> None:
    from app.services.components import component_resolver
    from app.services.designer import template_source
    from components.validate import validate_pipeline

    seed_workspace(ws, gpus=0)
    source = template_source(ws, "text-classification")
    assert source.origin == "template:text-classification"
    problems = validate_pipeline(source.spec, component_resolver(ws), ws.registry.compute_names())
    assert problems == []


def test_seeded_tabular_template_runs_and_a_parameter_change_reruns_only_what_depends_on_it(ws) -> None:
    from app.services.runs import start_run

    seed_workspace(ws, gpus=0)
    first = start_run(ws, "tabular_regression", executor="in-process")
    assert first.ok, [(s.job, s.status, s.error) for s in first.steps]
    assert [s.status for s in first.steps] == ["completed"] * 4
    again = start_run(ws, "tabular_regression", {"algorithm": "ridge"}, executor="in-process")
    assert {s.job: s.status for s in again.steps} == {
        "load": "reused", "split": "reused", "train": "completed", "score": "completed"}


def test_hidden_gpus_count_as_none(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.services.seed import visible_gpus

    for hidden in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert visible_gpus() == 0
        assert builtin_compute_targets()[1]["gpus"] == 0


@pytest.mark.parametrize("count", [4, 8])
def test_concurrent_first_opens_seed_once_and_silently(tmp_path: Path, count: int) -> None:
    home = tmp_path / "fresh"
    env = {**os.environ, "DUCTWORK_SEED": "1"}
    cmd = [sys.executable, "-c", "from app.cli import main; main()", "--home", str(home), "compute", "list"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for _ in range(count)]
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    failed = [f"exit {p.returncode}:\n{o[-2000:]}" for p, o in zip(procs, outputs, strict=True) if p.returncode]
    assert not failed, "\n\n".join(failed)
    assert not [o for o in outputs if "already exists" in o or "Traceback" in o], outputs
    listed = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, timeout=120)
    names = [t["name"] for t in json.loads(listed.stdout)]
    assert sorted(names) == ["cpu-highmem", "gpu", "local"]
