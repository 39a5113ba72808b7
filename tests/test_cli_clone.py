"""Starting from earlier work: ``ductwork runs clone`` (file runs, registered runs, component runs)
and ``ductwork pipeline fork TEMPLATE``, through the real CLI on a real workspace."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

RES = Path(__file__).parent / "resources"


@pytest.fixture
def engine(tmp_path: Path) -> Path:
    return Path(shutil.copytree(RES / "engine", tmp_path / "engine"))


def _json(result) -> dict | list:
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(result.stdout)


def _statuses(data: dict) -> dict[str, str]:
    return {s["name"]: s["status"] for s in data["steps"]}


def test_a_file_run_clones_as_it_ran_even_after_its_files_changed(cli, engine, tmp_path):
    run = _json(cli("run", engine / "chain.yml", "--set", "lr=0.3", "--in-process", "--json"))
    # the team edits the pipeline and the training script afterwards
    (engine / "src" / "train" / "train.py").write_text("raise SystemExit('the new code is broken')\n")
    (engine / "chain.yml").write_text((engine / "chain.yml").read_text().replace("lr: 0.1", "lr: 0.9"))

    out = tmp_path / "clone.yml"
    wrote = cli("runs", "clone", run["id"][-6:], "--output", out)
    assert wrote.returncode == 0, wrote.stderr
    data = yaml.safe_load(out.read_text())
    assert data["name"] == "engine_chain" and data["inputs"]["lr"] == 0.3  # the run's value, not the file's
    assert _json(cli("pipeline", "list", "--json")) == []  # --output alone registers nothing

    rerun = _json(cli("run", out, "--in-process", "--json"))  # the clone is the code that ran: all reused
    assert set(_statuses(rerun).values()) == {"reused"}

    registered = _json(cli("runs", "clone", run["id"], "--json"))
    assert registered["created"] is True
    assert registered["pipeline"]["ref"] == "engine_chain:1"
    assert registered["pipeline"]["cloned_from_run"] == run["id"]
    shown = _json(cli("pipeline", "show", "engine_chain:1", "--json"))
    assert shown["cloned_from_run"] == run["id"] and shown["spec"]["inputs"]["lr"] == 0.3
    by_name = _json(cli("run", "engine_chain:1", "--in-process", "--json"))
    assert set(_statuses(by_name).values()) == {"reused"}


def test_a_registered_run_clones_its_exact_version_with_the_run_parameters(cli, engine):
    assert cli("pipeline", "register", engine / "chain.yml").returncode == 0
    run = _json(cli("run", "engine_chain", "--set", "lr=0.2", "--in-process", "--json"))
    (engine / "chain.yml").write_text((engine / "chain.yml").read_text().replace("lr: 0.1", "lr: 0.5"))
    assert cli("pipeline", "register", engine / "chain.yml").returncode == 0  # version 2 exists now

    clone = _json(cli("runs", "clone", run["id"], "--name", "chain_lr02", "--json"))
    assert clone["pipeline"]["ref"] == "chain_lr02:1" and clone["pipeline"]["cloned_from_run"] == run["id"]
    v1 = _json(cli("pipeline", "show", "engine_chain:1", "--json"))["spec"]
    mine = _json(cli("pipeline", "show", "chain_lr02:1", "--json"))["spec"]
    assert mine["jobs"] == v1["jobs"] and mine["inputs"]["lr"] == 0.2

    same = cli("runs", "clone", clone_run_of(cli, "chain_lr02"))
    assert same.returncode == 0 and "nothing new was registered" in same.stdout


def clone_run_of(cli, ref: str) -> str:
    """Run ``ref`` and return its run id."""
    return _json(cli("run", ref, "--in-process", "--json"))["id"]


def test_a_component_run_clones_into_a_one_job_pipeline(cli, engine):
    run = _json(cli("component", "run", engine / "train.yml", "-i", "data=engine/data", "--set", "lr=0.4",
                    "--in-process", "--json"))
    clone = _json(cli("runs", "clone", run["id"], "--name", "train_alone", "--json"))
    spec = _json(cli("pipeline", "show", clone["pipeline"]["ref"], "--json"))["spec"]
    assert list(spec["jobs"]) == ["engine_train"] and spec["inputs"]["lr"]["default"] == 0.4
    again = _json(cli("run", "train_alone", "--in-process", "--json"))
    assert _statuses(again) == {"engine_train": "reused"}


def test_runs_recorded_before_pipelines_were_kept_clone_only_while_their_file_is_unchanged(cli, engine, tmp_path):
    run = _json(cli("run", engine / "chain.yml", "--in-process", "--json"))
    kept = tmp_path / "home" / "run_pipelines" / f"{run['id']}.yml"
    assert kept.is_file()
    kept.unlink()  # as a run from before this existed
    ok = cli("runs", "clone", run["id"], "--output", tmp_path / "a.yml")
    assert ok.returncode == 0, ok.stderr
    (engine / "src" / "prep" / "prep.py").write_text("print('changed')\n")
    refused = cli("runs", "clone", run["id"], "--output", tmp_path / "b.yml")
    assert refused.returncode == 2
    assert "cannot be cloned exactly" in refused.stderr and "component of job 'prep' changed" in refused.stderr
    unknown = cli("runs", "clone", "no-such-run")
    assert unknown.returncode == 2 and "does not exist" in unknown.stderr


def test_the_designer_clone_is_the_same_clone(ws, engine):
    from app.services.clones import cloned_pipeline
    from app.services.designer import run_source
    from app.services.runs import start_run

    result = start_run(ws, engine / "chain.yml", {"lr": 0.25}, executor="in-process")
    source = run_source(ws, result.run.id)
    spec, layout, _run = cloned_pipeline(ws, result.run.id)
    assert source.spec == spec and source.origin == f"run:{result.run.id}"
    assert source.spec.inputs["lr"].value == 0.25


def test_pipeline_fork_starts_from_a_template_and_remembers_it(cli):
    env = {"DUCTWORK_SEED": "1"}
    fork = _json(cli("pipeline", "fork", "text-classification", "my_nlp", "--json", env=env))
    assert fork["ref"] == "my_nlp:1" and fork["forked_from"] == "template:text-classification"
    assert fork["jobs"] == 9
    again = _json(cli("pipeline", "fork", "my_nlp", "my_nlp_b", "--json", env=env))
    assert again["forked_from"] == "my_nlp:1"
    unknown = cli("pipeline", "fork", "text-clasification", "x", env=env)
    assert unknown.returncode == 2 and "text-classification" in unknown.stderr


def _designer() -> None:
    from app.ui.views import designer

    designer.render()


def test_the_designers_new_from_template_is_a_fork_of_it(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from app.services.seed import seed_workspace
    from app.services.workspace import open_workspace

    monkeypatch.setenv("DUCTWORK_HOME", str(tmp_path / "ws"))
    ws = open_workspace(tmp_path / "ws")
    seed_workspace(ws, gpus=0)
    at = AppTest.from_function(_designer, default_timeout=90)
    at.run()
    at.text_input(key="tb_new_name").set_value("my_nlp")
    at.selectbox(key="tb_template").set_value("text-classification")
    at.button(key="tb_new_template").click().run()
    assert not at.exception, at.exception
    assert at.session_state["designer"].design.pipeline.name == "my_nlp"
    at.button(key="tb_save").click().run()
    assert not at.exception, at.exception
    record = ws.registry.get_pipeline("my_nlp", "1")
    assert record.forked_from == "template:text-classification" and len(record.spec["jobs"]) == 9
    ws.registry.close()
