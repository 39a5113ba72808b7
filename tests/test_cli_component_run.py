"""``ductwork component run``: one component alone, through the real CLI (subprocesses, real
Ray where it matters, DuckDB run store, SQLite registry), with the reuse of a pipeline step."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

RES = Path(__file__).parent / "resources"


@pytest.fixture
def engine(tmp_path: Path) -> Path:
    """A private copy of tests/resources/engine (components prep/train/evaluate, data, chain.yml)."""
    return Path(shutil.copytree(RES / "engine", tmp_path / "engine"))


def _json(result) -> dict:
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(result.stdout)


def test_a_component_runs_on_ray_prints_its_outputs_then_is_reused_and_a_changed_parameter_reruns(cli, engine):
    first = cli("component", "run", engine / "train.yml", "--input", "data=engine/data", "--set", "lr=0.5")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "completed: 1 run, 0 reused" in first.stdout
    model = Path(first.stdout.split("model: ", 1)[1].split()[0])
    assert (model / "model.txt").read_text() == "hello\n|lr=0.5"  # really ran the script with the given values

    again = _json(cli("component", "run", engine / "train.yml", "-i", "data=engine/data", "--set", "lr=0.5", "--json"))
    step = again["steps"][0]
    assert (again["pipeline"], step["name"], step["status"]) == ("engine_train", "engine_train", "reused")
    assert step["outputs"]["model"] == str(model)
    assert again["params"] == {"lr": 0.5, "data": str(engine / "data")}  # recorded like a pipeline's inputs

    changed = _json(cli("component", "run", engine / "train.yml", "-i", "data=engine/data", "--set", "lr=0.7",
                        "--json", "--in-process"))
    assert changed["steps"][0]["status"] == "completed"
    assert changed["steps"][0]["reason"] == "parameter lr 0.5 → 0.7"
    shown = _json(cli("runs", "show", changed["id"], "--json"))
    assert shown["steps"][0]["compute"] == "local" and shown["steps"][0]["resources"]["cpus"] == 1.0
    assert [m["name"] for m in shown["steps"][0]["metrics"]] == ["loss"] * 3
    log = cli("runs", "logs", changed["id"], "engine_train")
    assert "trained with lr 0.7" in log.stdout and "to stderr" in log.stdout

    forced = _json(cli("component", "run", engine / "train.yml", "-i", "data=engine/data", "--set", "lr=0.7",
                       "--json", "--in-process", "--force"))
    assert forced["steps"][0]["status"] == "completed" and forced["steps"][0]["reason"].startswith("forced")


def test_a_component_run_and_a_pipeline_step_reuse_each_other(cli, engine):
    """Same signature as the step of a pipeline: the unit test of a step pays for it once."""
    pipeline = _json(cli("run", engine / "chain.yml", "--in-process", "--json"))
    prep = next(s for s in pipeline["steps"] if s["name"] == "prep")
    alone = _json(cli("component", "run", engine / "prep.yml", "--input", f"raw={engine / 'data'}", "--json"))
    assert alone["steps"][0]["status"] == "reused"
    assert alone["steps"][0]["reused_from"] == pipeline["id"]
    assert alone["steps"][0]["outputs"]["clean"] == prep["outputs"]["clean"]
    plan = _json(cli("component", "run", engine / "prep.yml", "-i", f"raw={engine / 'data'}", "--plan", "--json"))
    assert plan["steps"][0]["action"] == "reuse"


def test_a_registered_component_runs_by_name_and_version_on_a_chosen_compute(cli, engine):
    assert cli("component", "register", engine / "train.yml").returncode == 0
    assert cli("compute", "add", "small", "--cpus", "1").returncode == 0
    data = _json(cli("component", "run", "engine_train:1", "-i", "data=engine/data", "--compute", "small",
                     "--json", "--in-process"))
    step = data["steps"][0]
    assert (step["status"], step["compute"]) == ("completed", "small")
    assert Path(step["outputs"]["model"], "model.txt").read_text() == "hello\n|lr=0.01"  # the default applied
    unknown = cli("component", "run", "engine_trian", "-i", "data=engine/data")
    assert unknown.returncode == 2 and "Did you mean 'engine_train'" in unknown.stderr
    bad_compute = cli("component", "run", "engine_train", "-i", "data=engine/data", "--compute", "smal")
    assert bad_compute.returncode == 2 and "Did you mean 'small'" in bad_compute.stderr


def test_a_python_function_component_runs_from_its_module(cli, tmp_path):
    module = tmp_path / "steps.py"
    module.write_text(textwrap.dedent("""
        from components.sdk import Output, command_component

        @command_component()
        def greet(out: Output(type="uri_folder"), name: str = "world", times: int = 1) -> None:
            with open(f"{out}/greeting.txt", "w") as fh:
                fh.write(" ".join([f"hello {name}"] * times))

        @command_component()
        def other(x: int = 1) -> int:
            return x
    """))
    many = cli("component", "run", module, "--in-process")
    assert many.returncode == 2 and "defines 2 components (greet, other)" in many.stderr
    data = _json(cli("component", "run", f"{module}:greet", "--set", "name=ductwork", "--set", "times=2",
                     "--json", "--in-process"))
    assert Path(data["steps"][0]["outputs"]["out"], "greeting.txt").read_text() == "hello ductwork hello ductwork"


def test_mistakes_exit_2_with_every_problem_located_and_nothing_runs(cli, engine, tmp_path):
    bad = cli("component", "run", engine / "train.yml", "--input", "dta=engine/data", "--input", "data=nowhere",
              "--set", "lr=fast", "--set", "l_r=1", "--set", "data=1")
    assert bad.returncode == 2, bad.stdout + bad.stderr
    err = bad.stderr
    assert "problems in train.yml" in err and str(engine / "train.yml") in err
    assert "field '--input dta'" in err and "no data input 'dta'. Did you mean 'data'?" in err
    assert "field '--input data'" in err and "'nowhere' does not exist" in err
    assert "field '--set lr'" in err and "'fast' is not a number" in err
    assert "no parameter 'l_r'. Did you mean 'lr'?" in err
    assert "'data' is a data input (uri_folder); use --input data=PATH" in err
    missing = cli("component", "run", engine / "train.yml")
    assert missing.returncode == 2
    assert "required data input 'data' (uri_folder) was not given; add --input data=PATH" in missing.stderr
    malformed = cli("component", "run", engine / "train.yml", "--input", "data")
    assert malformed.returncode == 2 and "not of the form NAME=PATH" in malformed.stderr
    not_there = cli("component", "run", tmp_path / "nope.yml")
    assert not_there.returncode == 2 and "does not exist" in not_there.stderr
    pipeline = cli("component", "run", engine / "chain.yml")
    assert pipeline.returncode == 2 and "is a pipeline, not a component; run it with: ductwork run" in pipeline.stderr
    assert _json(cli("runs", "list", "--json")) == []
