"""Every page's logic through Streamlit's AppTest (headless, real workspace). Canvas edits
are simulated by setting the canvas component's state value (its numbered events) before a run."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.services.components import register_paths
from app.services.workspace import open_workspace

RESOURCES = Path(__file__).parent / "browser" / "resources"
TIMEOUT = 60


def _designer() -> None:
    from app.ui.views import designer

    designer.render()


def _components() -> None:
    from app.ui.views import components_page

    components_page.render()


def _compute() -> None:
    from app.ui.views import compute_page

    compute_page.render()


def _runs() -> None:
    from app.ui.views import runs_page

    runs_page.render()


def _run() -> None:
    from app.ui.views import run_page

    run_page.render()


def _compare() -> None:
    from app.ui.views import compare

    compare.render()


@pytest.fixture
def ws(home):
    workspace = open_workspace(home)
    register_paths(workspace, [RESOURCES / "components"])
    yield workspace
    workspace.registry.close()


def _app(script) -> AppTest:
    at = AppTest.from_function(script, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(elements) -> list[str]:
    return [e.value for e in elements]


# ----------------------------------------------------------------------------- designer


def test_designer_on_an_empty_workspace_tells_what_to_do(home):
    at = _app(_designer)
    assert any("No components are registered yet" in t for t in _texts(at.info))
    assert at.button(key="tb_run").disabled and at.button(key="tb_save").disabled


def test_designer_on_a_seeded_workspace_offers_one_click_template_runs(home):
    from app.services.seed import seed_workspace

    workspace = open_workspace(home)
    seed_workspace(workspace, gpus=0)
    workspace.registry.close()
    at = _app(_designer)
    labels = {b.key: b.label for b in at.button if (b.key or "").startswith("quick_")}
    assert labels == {"quick_text-classification": "Run Text classification",
                      "quick_tabular-regression": "Run Tabular regression"}


class Canvas:
    """The browser's side of the designer canvas: numbered events set as the component's
    state value (what ``setStateValue("events", ...)`` does), then a rerun."""

    def __init__(self, at: AppTest):
        self.at, self.seq = at, 0

    def send(self, *events: dict) -> None:
        batch = []
        for event in events:
            self.seq += 1
            batch.append({"seq": self.seq, **event})
        self.at.session_state["designer_canvas"] = {"events": {"client": "test", "events": batch}}
        self.at.run()
        assert not self.at.exception, self.at.exception

    def model(self) -> dict:
        """What the page drew: the canvas model from the designer state (as the page builds it)."""
        return self.at.session_state["designer"]


def _wire(source: str, output: str, target: str, input_name: str) -> dict:
    return {"type": "connect", "source": source, "sourceHandle": output, "target": target, "targetHandle": input_name}


def test_designer_build_wire_parametrise_save(ws):
    at = _app(_designer)
    canvas = Canvas(at)
    canvas.send({"type": "add", "ref": "make_numbers:1", "x": 40, "y": 60},
                {"type": "add", "ref": "scale:1", "x": 320, "y": 60},
                {"type": "add", "ref": "summarize:1", "x": None, "y": None})
    state = at.session_state["designer"]
    assert list(state.design.pipeline.jobs) == ["make_numbers", "scale", "summarize"]
    assert state.design.layout["scale"] == (320.0, 60.0)
    # unbound required inputs are problems; Run is disabled while any exists
    assert at.button(key="tb_run").disabled
    assert any("does not bind required input 'numbers'" in t for t in _texts(at.markdown))

    canvas.send(_wire("make_numbers", "numbers", "scale", "numbers"), _wire("scale", "scaled", "summarize", "numbers"))
    assert not at.button(key="tb_run").disabled
    assert at.session_state["designer"].canvas_notice().text == "Connected scale.scaled → summarize.numbers."

    # a cycle is refused with the reason, shown in the canvas' message area
    canvas.send(_wire("summarize", "summary", "scale", "numbers"))
    assert "would make a cycle" in at.session_state["designer"].canvas_notice().text
    assert at.session_state["designer"].design.pipeline.jobs["scale"].inputs["numbers"].job == "make_numbers"

    # select scale by clicking it (and move it), then set its factor in the inspector
    canvas.send({"type": "move", "positions": {"scale": [300, 400]}}, {"type": "select", "jobs": ["scale"]})
    gen = at.session_state["designer"].generation
    factor = at.number_input(key=f"insp:{gen}:scale:param:factor")
    assert (factor.min, factor.max) == (0.0, 100.0)
    factor.set_value(4.5).run()
    mode = at.selectbox(key=f"insp:{gen}:scale:param:mode")
    assert mode.options == ["multiply", "divide"]
    compute = at.selectbox(key=f"insp:{gen}:scale:compute")
    compute.set_value("local").run()
    # undo takes back the compute change, redo brings it again
    canvas.send({"type": "undo"})
    assert at.session_state["designer"].design.pipeline.jobs["scale"].compute is None
    canvas.send({"type": "redo"})
    assert at.session_state["designer"].design.pipeline.jobs["scale"].compute == "local"

    at.button(key="tb_save").click().run()
    assert any("Saved pipeline 'untitled:1'" in t.value for t in at.toast)
    record = ws.registry.get_pipeline("untitled", "1")
    assert record.spec["jobs"]["scale"]["inputs"]["factor"] == 4.5
    assert record.spec["jobs"]["scale"]["compute"] == "local"
    assert record.layout["nodes"]["scale"] == {"x": 300.0, "y": 400.0}


def test_designer_delete_edge_and_job_from_the_inspector_and_the_keyboard(ws):
    at = _app(_designer)
    canvas = Canvas(at)
    canvas.send({"type": "add", "ref": "make_numbers:1", "x": 0, "y": 0}, {"type": "add", "ref": "scale:1", "x": 300, "y": 0},
                _wire("make_numbers", "numbers", "scale", "numbers"), {"type": "select", "jobs": ["scale"]})
    gen = at.session_state["designer"].generation
    at.button(key=f"insp:{gen}:del_edge_j:make_numbers.numbers->scale.numbers").click().run()
    assert at.session_state["designer"].design.pipeline.jobs["scale"].inputs == {}
    at.button(key=f"insp:{gen}:del_job:scale").click().run()
    assert list(at.session_state["designer"].design.pipeline.jobs) == ["make_numbers"]
    canvas.send({"type": "delete", "jobs": ["make_numbers"], "edges": []})  # Delete on the canvas
    assert not at.session_state["designer"].design.pipeline.jobs
    canvas.send({"type": "undo"}, {"type": "undo"})
    assert list(at.session_state["designer"].design.pipeline.jobs) == ["make_numbers", "scale"]


def test_designer_new_asks_before_discarding_unsaved_edits(ws):
    at = _app(_designer)
    Canvas(at).send({"type": "add", "ref": "make_numbers:1", "x": 0, "y": 0})
    assert at.button(key="tb_new_blank").disabled
    assert any("has unsaved edits" in w.value for w in at.warning)
    at.checkbox(key="tb_new_discard").check().run()
    at.button(key="tb_new_blank").click().run()
    assert not at.session_state["designer"].design.pipeline.jobs


def test_designer_opens_a_saved_version_and_clones_a_run(ws):
    from app.services.pipelines import register_pipeline
    from app.services.runs import start_run

    register_pipeline(ws, RESOURCES / "pipelines" / "numbers.yml")
    run_id = start_run(ws, "numbers:1", {"factor": 7}, executor="in-process").run.id
    at = AppTest.from_function(_designer, default_timeout=TIMEOUT)
    at.query_params["open"] = "numbers:1"
    at.run()
    state = at.session_state["designer"]
    assert state.origin == "numbers:1" and list(state.design.pipeline.jobs) == ["make_numbers", "scale", "summarize"]
    assert not at.button(key="tb_run").disabled

    # a pipeline input's value is edited in the pipeline panel (nothing selected)
    gen = state.generation
    at.text_input(key=f"insp:{gen}:pipeline:input:factor").set_value("2.5").run()
    assert at.session_state["designer"].design.pipeline.inputs["factor"].value == 2.5

    at.selectbox(key="tb_clone_run").set_value(run_id).run()
    assert at.button(key="tb_clone").disabled  # the input edit is unsaved: cloning would discard it
    at.checkbox(key="tb_clone_discard").check().run()
    at.button(key="tb_clone").click().run()
    state = at.session_state["designer"]
    assert state.origin == f"run:{run_id}" and state.design.pipeline.inputs["factor"].value == 7


def test_designer_previews_the_plan_with_estimates_and_placement(ws):
    from app.services.pipelines import register_pipeline
    from app.services.runs import start_run

    register_pipeline(ws, RESOURCES / "pipelines" / "numbers.yml")
    first = start_run(ws, "numbers:1", {"factor": 7}, executor="in-process")
    at = AppTest.from_function(_designer, default_timeout=TIMEOUT)
    at.query_params["open"] = "numbers:1"
    at.run()
    assert not at.exception, at.exception
    at.toggle(key="designer_plan_preview").set_value(True).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value.set_index("step")
    assert table["action"].to_dict() == {"make_numbers": "reuse", "scale": "run", "summarize": "wait"}
    assert table.loc["scale", "why"].startswith("parameter factor 7")
    assert set(table["placeable"]) == {"yes"} and table.loc["summarize", "estimate"] != "—"
    assert any("placement judged on this machine" in t for t in _texts(at.caption))
    durations = {s.job: s.duration_s for s in first.steps}
    from engine.costs import format_hours

    assert table.loc["scale", "estimate"] == format_hours(durations["scale"])


# ----------------------------------------------------------------------------- components


def test_components_page_registers_by_path_and_lists(ws):
    at = _app(_components)
    assert at.dataframe[0].value["name"].tolist() == ["make_numbers", "scale", "summarize"]
    at.text_input(key="reg_path").set_value(str(RESOURCES / "upload" / "hello_upload.yml")).run()
    at.button(key="reg_path_btn").click().run()
    assert any("Registered component 'hello_upload:1'" in t for t in _texts(at.success))
    at.text_input(key="reg_path").set_value("/no/such/file.yml").run()
    at.button(key="reg_path_btn").click().run()
    assert at.error and "/no/such/file.yml" in at.error[0].value
    at.text_input(key="comp_search").set_value("greeting").run()
    assert at.dataframe[0].value["name"].tolist() == ["hello_upload"]


def test_components_interface_table_and_users(ws):
    from app.services.components import get_component_spec
    from app.ui.views.components_page import code_files, interface_table

    spec = get_component_spec(ws, "scale:1")
    table = interface_table(spec)
    assert table[["kind", "name"]].values.tolist() == [
        ["input", "numbers"], ["parameter", "factor"], ["parameter", "mode"], ["output", "scaled"]]
    assert table.set_index("name").loc["mode", "range / choices"] == "multiply, divide"
    assert "scale.py" in code_files(spec.code)


# ----------------------------------------------------------------------------- compute


def test_compute_page_add_edit_remove(home):
    at = _app(_compute)
    assert "local" in at.dataframe[0].value["name"].tolist()
    form = at.tabs[0]
    form.text_input[0].set_value("gpu_big")
    form.number_input[1].set_value(2.0)
    form.text_input[1].set_value("16GB")
    form.text_input[2].set_value("highmem=1")
    form.button[0].click().run()
    assert any("Added compute target 'gpu_big'" in t for t in _texts(at.success))
    assert "gpu_big" in at.dataframe[0].value["name"].tolist()

    at.tabs[0].text_input[0].set_value("bad")
    at.tabs[0].text_input[2].set_value("highmem")
    at.tabs[0].button[0].click().run()
    assert any("custom resource 'highmem' is not NAME=NUMBER" in t for t in _texts(at.error))

    at.selectbox(key="compute_remove_name").set_value("gpu_big")
    at.button(key="compute_remove").click().run()
    assert "gpu_big" not in at.dataframe[0].value["name"].tolist()


@pytest.mark.ray
def test_compute_page_starts_shows_and_stops_the_warm_ray(home):
    from engine.workspace_ray import WorkspaceRay

    wr = WorkspaceRay(home / "ray")
    try:
        at = _app(_compute)
        assert any("Not running" in t for t in _texts(at.info))
        at.button(key="warm_start").click().run(timeout=120)
        head = wr.head()
        assert head is not None
        assert any(f"Running at `{head.address}`" in t for t in _texts(at.success))
        at.button(key="warm_nodes_button").click().run(timeout=120)
        nodes = at.dataframe[-1].value
        assert nodes["alive"].tolist() == [True] and nodes["CPU"].tolist() == [head.num_cpus]
        at.button(key="warm_stop").click().run(timeout=120)
        assert wr.head() is None
        assert any("Not running" in t for t in _texts(at.info))
    finally:
        wr.stop(force=True)


# ----------------------------------------------------------------------------- runs


@pytest.fixture
def runs(ws):
    from app.services.pipelines import register_pipeline
    from app.services.runs import start_run

    register_pipeline(ws, RESOURCES / "pipelines" / "numbers.yml")
    return [start_run(ws, "numbers:1", params, executor="in-process").run.id
            for params in ({"factor": 2}, {"factor": 3}, {"factor": 0, "mode": "divide"})]


def test_runs_page_empty_and_filtered(home):
    at = _app(_runs)
    assert any("No runs yet" in t for t in _texts(at.info))


def test_runs_table_filters_and_counts(ws, runs):
    at = _app(_runs)
    table = at.dataframe[0].value
    assert table["run"].tolist() == list(reversed(runs))
    by_run = table.set_index("run")
    assert by_run.loc[runs[0], "steps run"] == 3 and by_run.loc[runs[0], "reused"] == 0
    assert by_run.loc[runs[1], "reused"] == 1
    assert by_run.loc[runs[2], "status"].endswith("failed")
    at.selectbox(key="runs_status").set_value("failed").run()
    assert at.dataframe[0].value["run"].tolist() == [runs[2]]
    at.selectbox(key="runs_status").set_value("cancelled").run()
    assert any("No run matches these filters" in t for t in _texts(at.info))


def test_runs_page_charts_what_runs_spent_and_what_reuse_saved_per_pipeline(ws, runs):
    from app.services.runs import spend_history
    from app.ui.views.runs_page import spend_frame

    rows = spend_history(ws)
    assert [r["run"] for r in rows] == runs
    assert rows[1]["saved_s"] > 0 and rows[0]["saved_s"] == 0 and {r["spent_cost"] for r in rows} == {0.0}
    assert not any(r["priced"] for r in rows)
    frame = spend_frame(rows)
    assert frame["pipeline"].tolist() == ["numbers"] * len(frame)
    assert frame["spent (h)"].sum() == pytest.approx(sum(r["spent_s"] for r in rows) / 3600)
    at = _app(_runs)
    assert not at.radio  # no compute target has a price: hours only, and the page says how to see money
    assert any("price per hour" in t for t in _texts(at.caption))
    assert len(at.get("vega_lite_chart")) == 2


def test_run_page_shows_steps_logs_and_reasons(ws, runs):
    at = AppTest.from_function(_run, default_timeout=TIMEOUT)
    at.query_params["id"] = runs[1]
    at.run()
    assert not at.exception, at.exception
    steps = at.dataframe[0].value
    assert steps["step"].tolist() == ["make_numbers", "scale", "summarize"]
    assert steps["status"].tolist()[0].endswith("reused")
    assert any(c.value.startswith("Reuse saved ") and "; spent " in c.value for c in at.caption)
    at.selectbox(key="run_step").set_value("summarize").run()
    assert any("SUMMARY total=45" in c.value for c in at.code)
    at.selectbox(key="run_step").set_value("make_numbers").run()
    assert any("has no log: it was reused" in t for t in _texts(at.info))  # not a red error


def test_run_page_for_a_failed_run_and_an_unknown_id(ws, runs):
    at = AppTest.from_function(_run, default_timeout=TIMEOUT)
    at.query_params["id"] = runs[2]
    at.run()
    statuses = dict(zip(at.dataframe[0].value["step"], at.dataframe[0].value["status"], strict=True))
    assert statuses["scale"].endswith("failed") and statuses["summarize"].endswith("skipped")
    errors = _texts(at.error)
    assert "run stopped after scale failed (continue_on_step_failure: false)" in errors
    assert at.selectbox(key="run_step").value == "scale"  # the failed step is opened first
    assert any("ZeroDivisionError" in c.value for c in at.code)
    at = AppTest.from_function(_run, default_timeout=TIMEOUT)
    at.query_params["id"] = "nope"
    at.run()
    assert any("run 'nope' does not exist" in t for t in _texts(at.error))


