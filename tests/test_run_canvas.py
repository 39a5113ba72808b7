"""The run page's canvas model (``app.ui.run_canvas``): statuses in words and the model of a
run on the pipeline's own layout, from the step records of real in-process runs (and
constructed records of the same type for the states a finished run has not: pending,
running)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from app.services.components import component_resolver, register_paths
from app.services.designer import run_pipeline_spec
from app.services.lineage import run_layout
from app.services.pipelines import register_pipeline
from app.services.runs import start_run
from app.services.workspace import open_workspace
from app.ui.designer_model import auto_layout
from app.ui.run_canvas import (
    canvas_height,
    describe_seconds,
    run_model,
    run_statuses,
    selected_job,
    short_run_id,
    waits_for,
)
from engine.records import STEP_STATUSES, RunRecord, StepRunRecord, StepStatus

RESOURCES = Path(__file__).parent / "browser" / "resources"
LAYOUT = {"nodes": {"make_numbers": {"x": 10.0, "y": 20.0}, "scale": {"x": 400.0, "y": 80.0}}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A workspace with ``numbers:1`` registered with a layout that places two of its three
    jobs, and three runs: all run, one reused (another factor), one failed (divide by 0)."""
    ws = open_workspace(tmp_path_factory.mktemp("ws"))
    register_paths(ws, [RESOURCES / "components"])
    register_pipeline(ws, RESOURCES / "pipelines" / "numbers.yml", layout=LAYOUT)
    results = [start_run(ws, "numbers:1", params, executor="in-process")
               for params in ({"factor": 2}, {"factor": 3}, {"factor": 0, "mode": "divide"})]
    yield ws, results
    ws.registry.close()


def test_statuses_of_real_runs_in_words(runs):
    _ws, (first, second, failed) = runs
    done = run_statuses(first.steps, now=0.0)
    assert {s["state"] for s in done.values()} == {"completed"}
    assert all(re.fullmatch(r"completed in \d+(\.\d)? s", s["text"]) for s in done.values()), done
    again = run_statuses(second.steps, now=0.0)
    assert again["make_numbers"] == {"state": "reused", "text": f"reused from run {short_run_id(first.run.id)}"}
    assert again["scale"]["state"] == "completed"
    broken = run_statuses(failed.steps, now=0.0)
    assert broken["scale"]["state"] == "failed"
    error = failed.steps[1].error
    assert broken["scale"]["text"] == "failed: " + next(line.strip() for line in error.splitlines() if line.strip())
    assert broken["summarize"] == {"state": "skipped", "text": "skipped: upstream scale failed"}
    assert {s["state"] for s in broken.values()} <= set(STEP_STATUSES)


def test_statuses_of_a_live_run_say_what_each_step_waits_for(runs):
    ws, (first, *_rest) = runs
    spec = run_pipeline_spec(ws, first.run)
    make, scale, summarize = (replace(s) for s in first.steps)
    make.status, make.started_at, make.ended_at, make.duration_s = StepStatus.RUNNING, 100.0, None, None
    scale.status = summarize.status = StepStatus.PENDING
    steps = [make, scale, summarize]
    assert waits_for(steps, spec) == {"make_numbers": [], "scale": ["make_numbers"], "summarize": ["scale"]}
    live = run_statuses(steps, now=112.4, spec=spec)
    assert live["make_numbers"] == {"state": "running", "text": "running 12 s"}
    assert live["scale"] == {"state": "pending", "text": "waiting for make_numbers"}
    assert live["summarize"] == {"state": "pending", "text": "waiting for scale"}
    assert run_statuses(steps, now=112.4)["scale"]["text"] == "waiting to start"  # no spec: no upstream known
    make.status = StepStatus.COMPLETED
    assert run_statuses(steps, now=120.0, spec=spec)["scale"]["text"] == "waiting to start"
    make.started_at, make.status = None, StepStatus.RUNNING
    assert run_statuses(steps, now=1.0)["make_numbers"]["text"] == "starting"
    odd = StepRunRecord(run_id="r", job="x", status="from-the-future")
    assert run_statuses([odd], now=0.0)["x"]["state"] == "pending"
    cancelled = StepRunRecord(run_id="r", job="y", status=StepStatus.CANCELLED, reason="cancelled by the user\nmore")
    assert run_statuses([cancelled], now=0.0)["y"]["text"] == "cancelled: cancelled by the user"


def test_describe_seconds_and_short_run_ids():
    assert [describe_seconds(s) for s in (0.04, 3.24, 12.9, 65, 7325)] == ["0.0 s", "3.2 s", "12 s", "1 min 5 s",
                                                                           "2 h 2 min"]
    assert short_run_id("20250101-120000-3f2a1b") == "3f2a1b"


def test_run_model_draws_the_run_on_the_pipelines_own_layout(runs):
    ws, (_first, second, _failed) = runs
    spec = run_pipeline_spec(ws, second.run)
    layout = run_layout(ws, second.run)
    assert layout == LAYOUT
    model = run_model(second.run, second.steps, layout, component_resolver(ws), 0.0, spec=spec,
                      selection=["scale", "gone"])
    assert (model["mode"], model["readOnly"], model["palette"], model["dirty"]) == ("run", True, [], False)
    assert model["mount"] == f"run:{second.run.id}" and model["selection"] == ["scale"]
    jobs = {j["id"]: j for j in model["jobs"]}
    assert list(jobs) == ["make_numbers", "scale", "summarize"]
    assert (jobs["make_numbers"]["x"], jobs["make_numbers"]["y"]) == (10.0, 20.0)
    assert (jobs["scale"]["x"], jobs["scale"]["y"]) == (400.0, 80.0)
    assert (jobs["summarize"]["x"], jobs["summarize"]["y"]) == auto_layout(spec)["summarize"]  # not in the layout
    scale = jobs["scale"]
    assert scale["title"] == "Scale numbers" and scale["component"] == "scale:1" and scale["compute"]
    assert scale["inputs"] == [{"name": "numbers", "type": "uri_folder", "optional": False, "bound": "job",
                                "missing": False}]  # parameters (factor, mode) are not ports
    assert scale["outputs"] == [{"name": "scaled", "type": "uri_folder"}]
    assert jobs["make_numbers"]["status"]["state"] == "reused" and scale["status"]["state"] == "completed"
    assert model["edges"] == [
        {"id": "make_numbers.numbers->scale.numbers", "source": "make_numbers", "sourceHandle": "numbers",
         "target": "scale", "targetHandle": "numbers"},
        {"id": "scale.scaled->summarize.numbers", "source": "scale", "sourceHandle": "scaled",
         "target": "summarize", "targetHandle": "numbers"},
    ]
    assert 260 <= canvas_height(model) <= 620


def test_run_model_without_the_pipeline_draws_a_node_per_step(runs):
    ws, (first, *_rest) = runs

    def nothing(ref):
        raise KeyError(ref)

    model = run_model(first.run, first.steps, {}, nothing, 0.0, mount="m1", rev=3,
                      ack={"client": "c", "seq": 4})
    assert [j["id"] for j in model["jobs"]] == ["make_numbers", "scale", "summarize"]
    assert len({(j["x"], j["y"]) for j in model["jobs"]}) == 3 and model["edges"] == []
    assert model["jobs"][1]["component"] == "scale:1" and model["jobs"][1]["inputs"] == []  # not resolved
    ported = run_model(first.run, first.steps, {}, component_resolver(ws), 0.0)  # resolved: ports, still no edges
    assert ported["jobs"][1]["outputs"] == [{"name": "scaled", "type": "uri_folder"}] and ported["edges"] == []
    assert (model["mount"], model["rev"], model["ack"]) == ("m1", 3, {"client": "c", "seq": 4})
    empty = run_model(RunRecord(id="r", pipeline="p"), [], None, nothing, 0.0)
    assert empty["jobs"] == [] and canvas_height(empty) == 260


def test_selected_job_takes_the_last_new_select_event():
    events = {"client": "k", "events": [
        {"seq": 1, "type": "select", "jobs": ["prep"]},
        {"seq": 2, "type": "move", "positions": {"prep": [1, 2]}},
        {"seq": 3, "type": "select", "jobs": ["train", "prep"]},
    ]}
    assert selected_job(events) == ("train", 3)
    assert selected_job(events, after_seq=3) == (None, 3)  # seen before: nothing new
    assert selected_job(events, after_seq=1) == ("train", 3)
    assert selected_job({"client": "k", "events": [{"seq": 5, "type": "select", "jobs": []}]}, 3) == (None, 5)
    assert selected_job(None) == (None, -1)
    assert selected_job({"events": [{"type": "select", "jobs": ["x"]}, "junk"]}) == (None, -1)  # no seq
