"""The canvas model: what the browser is told to draw for a design."""

from __future__ import annotations

from test_ui_designer_model import COMPONENTS, EVAL, PREP, TRAIN, resolve

from app.ui import designer_model as dm
from app.ui.canvas_model import PaletteEntry, build_model, fits_table, preview_marks
from components.errors import Problem


def _design() -> dm.Design:
    design = dm.new_design("demo")
    for comp in (PREP, TRAIN, EVAL):
        design, _ = dm.add_job(design, comp)
    design = dm.connect(design, dm.Wire("prep", "clean", "train", "training_data"), resolve).design
    return dm.set_external_input(design, "prep", "raw", "/data", "uri_folder")


def _components(design: dm.Design):
    return {name: COMPONENTS[job.component.name] for name, job in design.pipeline.jobs.items()}


def test_jobs_have_named_ports_with_their_bindings_and_missing_required_inputs():
    design = _design()
    model = build_model(design, _components(design), mount="design-0", rev=4,
                        problems=[Problem("input 'model' is required", job="evaluate"),
                                  Problem("just a warning", job="prep", severity="warning")])
    jobs = {j["id"]: j for j in model["jobs"]}
    assert [(p["name"], p["type"], p["bound"], p["missing"]) for p in jobs["train"]["inputs"]] == [
        ("training_data", "uri_folder", "job", False), ("validation_data", "uri_folder", None, True)]
    assert jobs["prep"]["inputs"][0]["bound"] == "external"
    assert [o["name"] for o in jobs["train"]["outputs"]] == ["model", "metrics"]
    assert jobs["train"]["component"] == "train:1" and jobs["train"]["compute"] == "gpu"
    assert jobs["evaluate"]["problems"] == ["input 'model' is required"] and jobs["prep"]["problems"] == []
    assert model["edges"] == [{"id": "prep.clean->train.training_data", "source": "prep", "sourceHandle": "clean",
                               "target": "train", "targetHandle": "training_data"}]
    assert (jobs["train"]["x"], jobs["train"]["y"]) == design.layout["train"]


def test_fits_follow_the_validators_type_rule():
    fits = fits_table(["custom_thing"])
    assert "mltable" in fits["uri_folder"] and "uri_file" not in fits["uri_folder"]
    assert fits["uri_file"] == ["uri_file"] and fits["custom_thing"] == ["custom_thing"]


def test_preview_marks_read_the_plan_rows():
    marks = preview_marks([{"name": "prep", "action": "reuse", "reason": "reused from run r1"},
                           {"name": "train", "action": "run", "reason": "parameter epochs changed"},
                           {"name": "evaluate", "action": "wait", "reason": "waits for train"}])
    assert marks["prep"] == {"state": "reused", "text": "reused: reused from run r1"}
    assert marks["train"]["state"] == "run" and marks["train"]["text"].startswith("will run: ")
    assert marks["evaluate"]["state"] == "waits"


def test_run_mode_is_read_only_without_palette_draft_or_restore():
    design = _design()
    entry = PaletteEntry("prep", "1", "Prep", "cleans", "data")
    model = build_model(design, _components(design), mount="run-r1", rev=1, mode="run", palette=[entry],
                        restorable=True, dirty=True, draft={"yaml": "x"},
                        statuses={"prep": {"state": "running", "text": "running 3 s"}})
    assert model["readOnly"] and model["palette"] == [] and not model["restorable"]
    assert {j["id"]: j["status"] for j in model["jobs"]}["prep"] == {"state": "running", "text": "running 3 s"}
    design_model = build_model(design, _components(design), mount="d", rev=1, palette=[entry], dirty=False,
                               draft={"yaml": "x"})
    assert design_model["palette"][0]["ref"] == "prep:1" and design_model["draft"] is None
