"""The designer's state: the canvas' events (docs/canvas-protocol.md) applied to the
design, acknowledged by sequence number, and undone and redone."""

from __future__ import annotations

from test_ui_designer_model import PREP, resolve

from app.ui import designer_model as dm
from app.ui.designer_state import DesignerState, apply_events, load_design
from components.spec import JobOutput, LiteralValue


class Browser:
    """A canvas client: numbers its events and resends those not acknowledged."""

    def __init__(self, client: str = "c1"):
        self.client, self.seq, self.unacked = client, 0, []

    def send(self, state: DesignerState, *events: dict, drop: bool = False) -> bool:
        for event in events:
            self.seq += 1
            self.unacked.append({"seq": self.seq, **event})
        changed = apply_events(state, {"client": self.client, "events": list(self.unacked)}, resolve)
        if state.ack["client"] == self.client and not drop:
            self.unacked = [e for e in self.unacked if e["seq"] > state.ack["seq"]]
        return changed


def _built() -> tuple[DesignerState, Browser]:
    state, browser = DesignerState(), Browser()
    browser.send(state, {"type": "add", "ref": "prep:1", "x": 100, "y": 50},
                 {"type": "add", "ref": "train:1", "x": 400.4, "y": 50},
                 {"type": "connect", "source": "prep", "sourceHandle": "clean", "target": "train",
                  "targetHandle": "training_data"})
    return state, browser


def test_a_drop_adds_the_job_at_the_drop_point_and_selects_it():
    state, _ = _built()
    assert list(state.design.pipeline.jobs) == ["prep", "train"]
    assert state.design.layout["train"] == (400.4, 50.0)
    assert state.design.pipeline.jobs["train"].inputs == {"training_data": JobOutput("prep", "clean")}
    assert state.selection == ("train",) and state.dirty and state.rev == 3
    assert state.canvas_notice().text == "Connected prep.clean → train.training_data."


def test_events_already_applied_are_not_applied_again():
    state, browser = DesignerState(), Browser()
    browser.send(state, {"type": "add", "ref": "prep:1", "x": 0, "y": 0}, drop=True)  # the ack was lost
    assert browser.send(state, {"type": "add", "ref": "prep:1", "x": 0, "y": 300})
    assert list(state.design.pipeline.jobs) == ["prep", "prep_2"]
    assert not apply_events(state, {"client": "c1", "events": [{"seq": 1, "type": "add", "ref": "prep:1"}]}, resolve)
    assert state.ack == {"client": "c1", "seq": 2}
    other = Browser("c2")  # a remounted canvas has its own numbering
    other.send(state, {"type": "add", "ref": "prep:1", "x": None, "y": None})
    assert len(state.design.pipeline.jobs) == 3 and state.ack == {"client": "c2", "seq": 1}


def test_malformed_values_and_events_are_ignored():
    state = DesignerState()
    for junk in (None, "x", {"client": 3}, {"client": "c", "events": "no"}, {"client": "", "events": []}):
        assert not apply_events(state, junk, resolve)
    assert apply_events(state, {"client": "c", "events": [
        {"seq": True, "type": "add", "ref": "prep:1"}, {"seq": 1, "type": "explode"},
        {"seq": 2, "type": "move", "positions": {"ghost": [1, 2], "x": "bad"}},
        {"seq": 3, "type": "add", "ref": "prep:1", "x": float("nan"), "y": 5},
        {"seq": 4, "type": "delete", "jobs": "prep"}, {"seq": 5, "type": "connect"}]}, resolve)
    assert list(state.design.pipeline.jobs) == ["prep"]  # the NaN drop is placed by Python
    assert "Cannot connect" in state.canvas_notice().text


def test_an_unknown_component_is_refused_with_how_to_fix():
    state, browser = DesignerState(), Browser()
    browser.send(state, {"type": "add", "ref": "ghost:9", "x": 1, "y": 1})
    assert not state.design.pipeline.jobs
    assert "no registered component 'ghost:9'" in state.canvas_notice().text


def test_an_incompatible_connection_is_refused_and_says_why():
    state, browser = _built()
    browser.send(state, {"type": "add", "ref": "evaluate:1", "x": 700, "y": 50},
                 {"type": "connect", "source": "train", "sourceHandle": "metrics", "target": "evaluate",
                  "targetHandle": "model"})
    assert "model" not in state.design.pipeline.jobs["evaluate"].inputs
    notice = state.canvas_notice()
    assert notice.kind == "error" and "uri_file and the input takes mlflow_model" in notice.text


def test_delete_removes_jobs_and_edges_and_undo_and_redo_restore_every_edit():
    state, browser = _built()
    designs = [state.design]
    browser.send(state, {"type": "move", "positions": {"prep": [10, 20]}})
    designs.append(state.design)
    state.change(dm.set_parameter(state.design, "train", "epochs", 7))  # an inspector edit
    designs.append(state.design)
    browser.send(state, {"type": "delete", "jobs": [], "edges": ["prep.clean->train.training_data"]})
    assert state.design.pipeline.jobs["train"].inputs == {"epochs": LiteralValue(7)}
    assert "Deleted edge prep.clean → train.training_data" in state.canvas_notice().text
    designs.append(state.design)
    browser.send(state, {"type": "delete", "jobs": ["prep"], "edges": []})
    assert list(state.design.pipeline.jobs) == ["train"]
    for expected in reversed(designs):
        browser.send(state, {"type": "undo"})
        assert state.design == expected
    for expected in designs[1:]:
        browser.send(state, {"type": "redo"})
        assert state.design == expected
    browser.send(state, {"type": "undo"}, {"type": "add", "ref": "evaluate:1", "x": 0, "y": 0})
    assert not state.future  # a new edit after undo drops the redo branch
    browser.send(state, {"type": "redo"})
    assert state.canvas_notice().text == "Nothing to redo."


def test_paste_copies_the_selection_with_fresh_names():
    state, browser = _built()
    browser.send(state, {"type": "select", "jobs": ["prep", "train", "ghost"]})
    assert state.selection == ("prep", "train") and state.selected_job is None
    browser.send(state, {"type": "paste", "jobs": ["prep", "train"], "dx": 40, "dy": 40})
    assert state.selection == ("prep_2", "train_2")
    assert state.design.pipeline.jobs["train_2"].inputs == {"training_data": JobOutput("prep_2", "clean")}


def test_a_draft_restores_only_into_an_untouched_designer():
    def read(text: str, layout):
        assert text == "yaml text"
        design, _ = dm.add_job(dm.new_design("kept"), PREP)
        return dm.design_from_pipeline(design.pipeline, layout)

    fresh = DesignerState()
    assert fresh.restorable
    draft = {"yaml": "yaml text", "layout": {"nodes": {"prep": {"x": 5, "y": 6}}}, "origin": "kept:2"}
    apply_events(fresh, {"client": "c", "events": [{"seq": 1, "type": "restore", "draft": draft}]}, resolve, read)
    assert fresh.design.pipeline.name == "kept" and fresh.design.layout["prep"] == (5.0, 6.0)
    assert fresh.dirty and fresh.origin == "kept:2" and not fresh.restorable

    busy, _ = _built()
    before = busy.design
    apply_events(busy, {"client": "z", "events": [{"seq": 1, "type": "restore", "draft": draft}]}, resolve, read)
    assert busy.design is before

    opened = DesignerState()
    load_design(opened, dm.new_design("blank"), None)  # New: a draft is no longer offered
    assert not opened.restorable


def test_a_draft_that_no_longer_reads_is_dropped_with_the_reason():
    def read(text, layout):
        raise ValueError("component 'gone:1' is not registered")

    state = DesignerState()
    apply_events(state, {"client": "c", "events": [{"seq": 1, "type": "restore",
                                                      "draft": {"yaml": "x", "layout": {}}}]}, resolve, read)
    assert not state.design.pipeline.jobs
    assert "could not be restored: component 'gone:1'" in state.canvas_notice().text


def test_opening_another_design_starts_a_new_history():
    state, _ = _built()
    load_design(state, dm.new_design("other"), "other:1")
    assert not state.history and not state.undo() and state.saved and not state.dirty


def test_an_inspector_change_for_a_deleted_job_is_ignored():
    from app.ui.views import inspector

    state, browser = _built()
    browser.send(state, {"type": "delete", "jobs": ["train"], "edges": []})
    before = state.design
    inspector._set_compute(state, "train", "no-such-widget-key")  # a late widget callback
    inspector._delete_job(state, "train")
    assert state.design is before
