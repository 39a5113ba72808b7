"""The canvas adapter and the designer state: timestamp gating, echoes, and what each
kind of canvas report does to the design."""

from __future__ import annotations

import time

from app.ui import designer_model as dm
from app.ui.canvas import CanvasSync, read_event, render_state
from app.ui.designer_state import DesignerState, apply_canvas_report, report
from components.errors import Problem
from components.spec import ComponentRef, ComponentSpec, InputSpec, JobOutput, OutputSpec

MAKE = ComponentSpec("make", "1", inputs={"n": InputSpec("n", "integer", default=3)},
                     outputs={"out": OutputSpec("out")})
SCALE = ComponentSpec("scale", "1", inputs={"data": InputSpec("data", "uri_folder")},
                      outputs={"scaled": OutputSpec("scaled")}, compute="gpu")
TWO_IN = ComponentSpec("join", "1", inputs={"left": InputSpec("left", "uri_folder"),
                                            "right": InputSpec("right", "uri_folder")}, outputs={})
COMPONENTS = {c.name: c for c in (MAKE, SCALE, TWO_IN)}


def resolve(ref: ComponentRef) -> ComponentSpec:
    return COMPONENTS[ref.name]


def _state(*components: ComponentSpec) -> DesignerState:
    state = DesignerState()
    for comp in components:
        design, _ = dm.add_job(state.design, comp)
        state.change(design)
    return state


def _nodes(state: DesignerState, moved: dict[str, tuple[float, float]] | None = None) -> list[dict]:
    moved = moved or {}
    return [{"id": name, "position": {"x": moved.get(name, xy)[0], "y": moved.get(name, xy)[1]}}
            for name, xy in state.design.layout.items()]


def _edges(state: DesignerState, extra: list[tuple[str, str]] = ()) -> list[dict]:
    edges = [{"id": e.id, "source": e.source, "target": e.target} for e in dm.edges(state.design)]
    return edges + [{"id": f"st-flow-edge_{s}-{t}", "source": s, "target": t} for s, t in extra]


def _send(state: DesignerState, nodes, edges, selected=None) -> bool:
    stamp = max(state.sync.pushed, state.sync.received) + 1000
    return apply_canvas_report(state, report(nodes, edges, selected, stamp), resolve)


def _settle(state: DesignerState) -> None:
    """The browser adopting a pushed state reports it back twice, without a selection."""
    for _ in range(2):
        _send(state, _nodes(state), _edges(state))


def test_sync_acts_only_on_new_timestamps_and_pushes_above_the_last_received():
    sync = CanvasSync()
    assert sync.take(None) is None and sync.take({"nodes": []}) is None
    value = {"timestamp": 5000, "nodes": []}
    assert sync.take(value) is value
    assert sync.take(dict(value)) is None  # the same value returned again on a rerun
    sync.push()
    assert sync.pushed > 5000 and sync.echoes == 2
    # above the last report even when the browser's clock is ahead of this one
    ahead = int(time.time() * 1000) + 60_000
    sync.take({"timestamp": ahead, "nodes": []})
    sync.push()
    assert sync.pushed == ahead + 1


def test_a_push_wins_over_a_browser_report_that_has_not_arrived_yet():
    """At mount the browser stamps its own clock; a push made before that report reaches
    Python must still be newer (a cold iframe reported late and the node never appeared)."""
    sync = CanvasSync()
    browser_mounted_at = int(time.time() * 1000)
    sync.push()
    assert sync.pushed > browser_mounted_at


def test_echoes_and_bare_reports_keep_the_selection_and_the_design():
    state = _state(MAKE, SCALE)
    state.selected = "make"
    state.saved = True
    _settle(state)
    assert state.sync.echoes == 0
    # a node click is followed by a drag stop that reports no selection and moves < 0.5 px
    _send(state, _nodes(state, {"make": (40.2, 60.1)}), _edges(state))
    assert state.selected == "make" and state.saved and state.design.layout["make"] == (40.0, 60.0)


def test_drawn_edge_is_mapped_and_pushed_back():
    state = _state(MAKE, SCALE)
    _settle(state)
    before = state.sync.pushed
    assert _send(state, _nodes(state), _edges(state, [("make", "scale")]), "st-flow-edge_make-scale")
    assert state.design.pipeline.jobs["scale"].inputs["data"] == JobOutput("make", "out")
    assert state.sync.pushed > before
    assert [n.text for n in state.notices_for("canvas")] == ["Connected make.out → scale.data."]


def test_refused_edge_leaves_the_design_and_reports_the_reason():
    state = _state(SCALE, MAKE)
    _settle(state)
    _send(state, _nodes(state), _edges(state, [("scale", "make")]), "st-flow-edge_scale-make")
    assert dm.edges(state.design) == []
    [notice] = state.notices_for("canvas")
    assert notice.kind == "error" and "has no data inputs" in notice.text


def test_ambiguous_edge_selects_it_for_the_inspector():
    state = _state(MAKE, TWO_IN)
    _settle(state)
    _send(state, _nodes(state), _edges(state, [("make", "join")]), "st-flow-edge_make-join")
    assert state.design.pending == (("make", "join"),)
    assert state.selected_edge == ("make", "join")
    assert state.notices_for("canvas")[0].kind == "info"


def test_drag_records_the_position_and_selects_the_dragged_job():
    state = _state(MAKE, SCALE)
    _settle(state)
    _send(state, _nodes(state, {"scale": (500.0, 300.0)}), _edges(state))
    assert state.design.layout["scale"] == (500.0, 300.0)
    assert state.selected == "scale" and not state.saved


def test_clicks_select_jobs_and_edges():
    state = _state(MAKE, SCALE)
    state.change(dm.connect(state.design, "make", "scale", resolve).design)
    _settle(state)
    _send(state, _nodes(state), _edges(state), "scale")
    assert state.selected_job == "scale"
    _send(state, _nodes(state), _edges(state), "edge:make->scale")
    assert state.selected_edge == ("make", "scale")


def test_a_canvas_that_lost_a_job_never_deletes_it_and_is_pushed_again():
    state = _state(MAKE, SCALE)
    _settle(state)
    before = state.sync.pushed
    _send(state, [n for n in _nodes(state) if n["id"] != "scale"], [], "make")
    assert "scale" in state.design.pipeline.jobs
    assert state.sync.pushed > before


def test_an_echo_that_shows_an_empty_canvas_is_answered_with_the_design_again():
    """A layout pass that raced a push reported the canvas empty, as an echo: the design's job
    stayed undrawn for good (the flake of tests/browser/test_designer_browser.py)."""
    state = _state(MAKE)
    state.selected = "make"
    before = state.sync.pushed
    _send(state, [], [])  # the first echo of the push that added 'make', without its node
    assert "make" in state.design.pipeline.jobs and state.selected == "make"
    assert state.sync.pushed > before and state.sync.echoes == 2  # pushed again, its echoes awaited
    _settle(state)
    assert state.selected == "make" and state.sync.echoes == 0


def test_render_state_shows_name_version_compute_and_problems():
    state = _state(MAKE, SCALE, TWO_IN)
    problems = {"join": [Problem("missing input", job="join")]}
    flow = render_state(state.design, {n: resolve(j.component) for n, j in state.design.pipeline.jobs.items()},
                        problems, "scale", 1234)
    nodes = {n.id: n for n in flow.nodes}
    assert flow.timestamp == 1234
    assert nodes["make"].type == "input" and nodes["join"].type == "output" and nodes["scale"].type == "default"
    assert "**scale**" in nodes["scale"].data["content"] and "`v1`" in nodes["scale"].data["content"]
    assert "on *gpu*" in nodes["scale"].data["content"]
    assert "1 problem" in nodes["join"].data["content"] and "d92d20" in nodes["join"].style["border"]
    assert all(not n.deletable for n in flow.nodes)


def test_read_event_ignores_unknown_nodes_and_bad_positions():
    state = _state(MAKE)
    event = read_event(state.design, {"nodes": [{"id": "ghost", "position": {"x": 1, "y": 1}},
                                                {"id": "make", "position": {"x": "bad"}}],
                                      "edges": [{"source": "ghost", "target": "make"}], "selectedId": None})
    assert event.moved == [] and event.new_edges == []
