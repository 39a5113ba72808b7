"""The run page through Streamlit's AppTest (real workspace, real in-process runs): the run's
parameters as a table, a step that has not started says it waits, the lineage of an output,
and the run on the canvas (the canvas component itself is replaced by a recorder: its
drawing is the browser tests' business). Also :func:`app.services.lineage.artifact_lineage`
on the same real records."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.services.components import register_paths
from app.services.lineage import artifact_lineage
from app.services.pipelines import register_pipeline
from app.services.runs import output_paths, run_store, start_run
from app.services.workspace import open_workspace
from app.ui.views import run_page
from engine.records import RunStatus, StepStatus, StoreBatch

RESOURCES = Path(__file__).parent / "browser" / "resources"
TIMEOUT = 60


def _run() -> None:
    from app.ui.views import run_page

    run_page.render()


@pytest.fixture
def ws(home):
    workspace = open_workspace(home)
    register_paths(workspace, [RESOURCES / "components"])
    register_pipeline(workspace, RESOURCES / "pipelines" / "numbers.yml")
    yield workspace
    workspace.registry.close()


@pytest.fixture
def runs(ws):
    """All three steps run; then, with another factor, make_numbers is reused."""
    return [start_run(ws, "numbers:1", params, executor="in-process") for params in ({"factor": 2}, {"factor": 3})]


def _page(run_id: str) -> AppTest:
    at = AppTest.from_function(_run, default_timeout=TIMEOUT)
    at.query_params["id"] = run_id
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(elements) -> list[str]:
    return [e.value for e in elements]


def test_the_runs_parameters_are_a_table_with_where_each_value_came_from(ws, runs):
    at = _page(runs[1].run.id)
    table = at.table[0].value
    assert table.loc["factor"].tolist() == ["3", "number", "set for this run"]
    assert table.loc["mode"].tolist() == ["multiply", "string", "pipeline default"]
    assert not any("parameters {" in c for c in _texts(at.caption))  # no longer a dict in the header
    assert at.dataframe[0].value["step"].tolist() == ["make_numbers", "scale", "summarize"]  # steps stay first


def _live_run(ws, done) -> str:
    """A run recorded as live: make_numbers running (no log yet), the others pending — the
    records a driver writes, with this run's own id."""
    run = replace(done.run, id="20990101-000000-abcdef", status=RunStatus.RUNNING, started_at=time.time(),
                  ended_at=None)
    steps = [replace(s, run_id=run.id, outputs={}, ended_at=None, duration_s=None, log_path=None, error=None,
                     reused_from=None) for s in done.steps]
    steps[0].status, steps[0].started_at = StepStatus.RUNNING, time.time() - 3
    for s in steps[1:]:
        s.status, s.started_at = StepStatus.PENDING, None
    run_store(ws).apply(StoreBatch(runs=[run], step_runs=steps))
    return run.id


def test_a_pending_step_says_it_waits_and_a_running_one_without_a_log_says_so(ws, runs):
    at = _page(_live_run(ws, runs[0]))
    assert at.selectbox(key="run_step").value == "make_numbers"  # the running step is opened first
    assert "Running: this step has not written a log yet." in _texts(at.info)
    at.selectbox(key="run_step").set_value("scale").run()
    assert not at.exception, at.exception
    assert "Waiting: this step has not started (waits for make_numbers)." in _texts(at.info)
    assert not any("has no log" in t for t in _texts(at.error))  # not a red error
    at.selectbox(key="run_step").set_value("summarize").run()
    assert "Waiting: this step has not started (waits for scale)." in _texts(at.info)


def test_an_outputs_lineage_shows_who_produced_and_who_used_it(ws, runs):
    first, second = runs
    at = _page(second.run.id)
    at.selectbox(key="run_step").set_value("make_numbers").run()
    at.button(key="run_lineage_make_numbers_numbers").click().run()
    assert not at.exception, at.exception
    assert any("Lineage of `make_numbers.numbers`" in m for m in _texts(at.markdown))
    frame = at.dataframe[-1].value
    rows = set(zip(frame["role"], frame["run"], frame["step"], frame["port"], strict=True))
    assert rows == {
        ("produced", first.run.id, "make_numbers", "numbers"), ("reused", second.run.id, "make_numbers", "numbers"),
        ("used", first.run.id, "scale", "numbers"), ("used", second.run.id, "scale", "numbers"),
    }
    assert at.selectbox(key="run_lineage_open_id").options == [first.run.id]  # the other run, to open
    at.button(key="run_lineage_close").click().run()
    assert not any("Lineage of" in m for m in _texts(at.markdown))


def test_artifact_lineage_by_digest_and_by_path(ws, runs):
    first, second = runs
    scaled = first.steps[1].outputs["scaled"].digest
    lineage = artifact_lineage(ws, scaled)
    assert [(u.run_id, u.job, u.port, u.status) for u in lineage.producers] == [
        (first.run.id, "scale", "scaled", "completed")]
    assert [(u.run_id, u.job, u.port) for u in lineage.consumers] == [(first.run.id, "summarize", "numbers")]
    made = second.steps[0]
    by_path = artifact_lineage(ws, output_paths(ws, made)["numbers"])
    assert by_path.digest == made.outputs["numbers"].digest
    assert by_path.runs == [second.run.id, first.run.id]  # newest first
    assert {u.status for u in by_path.producers} == {"completed", "reused"}
    outside = artifact_lineage(ws, str(ws.home / "elsewhere"))
    assert outside.digest is None and outside.producers == outside.consumers == ()


def test_the_run_is_drawn_on_the_canvas_and_a_click_on_a_node_opens_its_step(ws, runs, monkeypatch):
    drawn: list[tuple[dict, str, int]] = []
    events: dict = {}
    monkeypatch.setattr(run_page, "draw_canvas", lambda model, *, key, height=620: drawn.append((model, key, height)))
    monkeypatch.setattr(run_page, "read_events", lambda key: events.get(key))
    run_id = runs[1].run.id
    key = f"run_canvas_{run_id}"
    at = _page(run_id)
    model, drawn_key, _height = drawn[-1]
    assert drawn_key == key and model["mode"] == "run" and model["readOnly"] is True
    assert {j["id"]: j["status"]["state"] for j in model["jobs"]} == {
        "make_numbers": "reused", "scale": "completed", "summarize": "completed"}
    assert model["selection"] == ["make_numbers"] and model["ack"] == {"client": "", "seq": 0}  # nothing read yet
    rev = model["rev"]
    events[key] = {"client": "k1", "events": [{"seq": 1, "type": "select", "jobs": ["summarize"]}]}
    at.run()
    assert at.selectbox(key="run_step").value == "summarize"
    assert any("SUMMARY total=45" in c.value for c in at.code)  # its log
    model = drawn[-1][0]
    assert model["selection"] == ["summarize"] and model["ack"] == {"client": "k1", "seq": 1}
    assert model["rev"] > rev
    at.selectbox(key="run_step").set_value("scale").run()  # the same event again changes nothing
    assert at.selectbox(key="run_step").value == "scale" and drawn[-1][0]["selection"] == ["scale"]


def test_an_output_in_a_shared_store_is_fetched_to_preview_and_its_url_names_it(home, tmp_path, monkeypatch):
    monkeypatch.setenv("DUCTWORK_STORE", str(tmp_path / "team-store"))
    workspace = open_workspace(home)
    try:
        register_paths(workspace, [RESOURCES / "components"])
        register_pipeline(workspace, RESOURCES / "pipelines" / "numbers.yml")
        done = start_run(workspace, "numbers:1", {"factor": 2}, executor="in-process")
        assert done.run.status == RunStatus.COMPLETED, [s.error for s in done.steps]
        made = done.steps[0]
        url = output_paths(workspace, made)["numbers"]
        assert url.startswith((tmp_path / "team-store").as_uri() + "/trees/")
        assert artifact_lineage(workspace, url).digest == made.outputs["numbers"].digest
    finally:
        workspace.registry.close()
    at = _page(done.run.id)
    at.selectbox(key="run_step").set_value("make_numbers").run()
    assert any(url in m for m in _texts(at.markdown))
    at.button(key="run_fetch_make_numbers_numbers").click().run()
    assert not at.exception, at.exception
    with pytest.raises(KeyError):
        at.button(key="run_fetch_make_numbers_numbers")  # fetched: the preview replaces the button
    fetched = Path(at.session_state["fetched_outputs"][made.outputs["numbers"].digest])
    assert fetched.is_relative_to(Path(os.environ["DUCTWORK_NODE_CACHE"]))
    assert any(str(fetched) in m for m in _texts(at.markdown))
