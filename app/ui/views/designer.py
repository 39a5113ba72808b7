"""Designer page: the toolbar above; the canvas (our own component, with its palette) in
the centre; the inspector on the right.

The canvas' events are applied at the top of the script, before anything is drawn, so
the canvas, the inspector and the toolbar all show the same design in one pass (and an
``AppTest`` can simulate the browser by setting ``session_state[CANVAS_KEY]``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from typing import Any

import streamlit as st

from app.ui import canvas, nav
from app.ui import designer_model as dm
from app.ui.canvas_model import build_model, preview_marks
from app.ui.designer_state import DesignerState, apply_events
from app.ui.session import errors_shown_here, show_error, workspace
from app.ui.views import toolbar
from app.ui.views.inspector import render_inspector
from app.ui.views.palette import palette_entries
from app.ui.views.plan_preview import TOGGLE_KEY, render_plan_table
from components.errors import Problem

__all__ = ["CANVAS_KEY", "STATE_KEY", "designer_state", "render"]

CANVAS_KEY = "designer_canvas"
STATE_KEY = "designer"
CANVAS_HEIGHT = 640


#: Set to print each rerun's server time, phase by phase, as one JSON line on stderr (bench/designer.py).
TIMINGS_ENV = "DUCTWORK_UI_TIMINGS"


class _Timer:
    """Where one rerun of the page spends its time (milliseconds per phase)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.phases: dict[str, float] = {}
        self.events = 0

    @contextmanager
    def phase(self, name: str):
        begin = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = round((time.perf_counter() - begin) * 1000, 2)

    def report(self, jobs: int) -> None:
        if os.environ.get(TIMINGS_ENV):
            total = round((time.perf_counter() - self.start) * 1000, 2)
            print("DESIGNER_TIMING " + json.dumps({"total_ms": total, "jobs": jobs, "events": self.events,
                                                   **self.phases}), file=sys.stderr, flush=True)


def designer_state() -> DesignerState:
    """This browser session's designer state (created on first use)."""
    if STATE_KEY not in st.session_state:
        st.session_state[STATE_KEY] = DesignerState()
    return st.session_state[STATE_KEY]


def _problems(ws: Any, state: DesignerState, resolve: dm.Resolve) -> list[Problem]:
    from app.services.designer import validate_design

    if not state.design.pipeline.jobs:
        return []
    try:
        return validate_design(ws, state.design.pipeline, resolve)
    except Exception as exc:  # noqa: BLE001 - shown, never a traceback
        show_error(exc)
        return []


def _read_draft(ws: Any):
    from app.services.designer import read_pipeline_upload

    def read(text: str, layout: Any) -> dm.Design:
        source = read_pipeline_upload(ws, "draft.yml", text.encode("utf-8"))
        return dm.design_from_pipeline(source.spec, layout or source.layout)

    return read


def _draft(state: DesignerState) -> dict[str, Any] | None:
    """What the browser keeps while the design is unsaved (restored after a reload)."""
    if not state.dirty:
        return None
    try:
        text = toolbar.design_yaml(state)
    except Exception:  # noqa: BLE001 - a design that cannot be written yet is not kept
        return None
    return {"yaml": text, "layout": dm.layout_to_dict(state.design), "origin": state.origin}


def _preview(ws: Any, state: DesignerState, problems: list[Problem]) -> Any:
    """The engine's plan of the design when the Preview toggle is on and the design is valid."""
    if not st.session_state.get(TOGGLE_KEY) or not state.design.pipeline.jobs:
        return None
    if any(p.severity != "warning" for p in problems):
        return None
    from app.services.runs import preview_run

    try:
        return preview_run(ws, state.design.pipeline)
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        return None


def _canvas(ws: Any, state: DesignerState, resolve: dm.Resolve, problems: list[Problem], plan: Any) -> None:
    from app.services.components import list_components

    components = {name: dm.job_component(job, resolve) for name, job in state.design.pipeline.jobs.items()}
    palette = palette_entries(list_components(ws))
    if not palette:
        st.info("No components are registered yet. Register one on the **Components** page (upload a YAML "
                "file or give a path), then drag it from the palette onto the canvas.")
    notice = state.canvas_notice()
    model = build_model(
        state.design, components, mount=f"design-{state.generation}", rev=state.rev, ack=state.ack,
        problems=problems, preview=preview_marks(plan.rows()) if plan is not None else None,
        selection=state.selection, notice={"id": notice.id, "kind": notice.kind, "text": notice.text} if notice else None,
        palette=palette, dirty=state.dirty, restorable=state.restorable,
        can_undo=bool(state.history), can_redo=bool(state.future), draft=_draft(state),
    )
    canvas.draw_canvas(model, key=CANVAS_KEY, height=CANVAS_HEIGHT)


def _quick_start(ws: Any) -> None:
    """On an empty canvas: run a template's registered pipeline in one click (the first-start path)."""
    from app.services.pipelines import list_pipelines
    from app.services.runs import start_run_background

    registered = {p.name for p in list_pipelines(ws)}
    templates = [t for t in ws.registry.list_templates() if (t.spec or {}).get("name") in registered]
    if not templates:
        return
    st.markdown("**Quick start** — run a template as it is, then open it with **New → From a template** "
                "to change it:")
    for column, template in zip(st.columns(len(templates)), templates, strict=True):
        title = template.display_name or template.name
        if column.button(f"Run {title}", key=f"quick_{template.name}", icon=":material/play_arrow:",
                         width="stretch", help=template.description or None):
            run_id = start_run_background(ws, template.spec["name"])
            nav.leave_designer_for_run(run_id)


def _problem_summary(state: DesignerState, problems: list[Problem]) -> None:
    if not state.design.pipeline.jobs:
        return
    blocking = [p for p in problems if p.severity != "warning"]
    if not blocking:
        st.caption(":material/check_circle: No problems: ready to save and run.")
        return
    with st.expander(f"{len(blocking)} problem{'s' if len(blocking) != 1 else ''} — Run is disabled until "
                     "they are fixed", expanded=True):
        for problem in blocking:
            where = f"**{problem.job}** · " if problem.job else ""
            st.markdown(f"- {where}{problem.message}")


def render() -> None:
    """The Designer page."""
    from app.services.components import component_resolver
    from app.services.compute import compute_names

    timer = _Timer()
    ws = workspace()
    state = designer_state()
    resolve = component_resolver(ws)
    with errors_shown_here():
        toolbar.take_requests(ws, state)
    with timer.phase("events_ms"):
        seen = state.ack
        if apply_events(state, canvas.read_events(CANVAS_KEY), resolve, _read_draft(ws)):
            timer.events = state.ack["seq"] - (seen["seq"] if seen["client"] == state.ack["client"] else 0)
    with timer.phase("validate_ms"):
        problems = _problems(ws, state, resolve)
    names = compute_names(ws)

    with timer.phase("toolbar_ms"):
        toolbar.render_toolbar(ws, state, problems)
    for toast in state.take_toasts():
        st.toast(toast.text, icon={"success": ":material/check_circle:", "error": ":material/error:",
                                   "warning": ":material/warning:"}.get(toast.kind, ":material/info:"))
    centre, right = st.columns([4.2, 1.5], gap="small")
    with centre:
        st.toggle("Preview", key=TOGGLE_KEY, help="Show on every job what a run would do now — reused (from which "
                  "run), will run (and why), or waits — from the engine's own plan. Nothing runs.")
        with timer.phase("preview_ms"):
            plan = _preview(ws, state, problems)
        with timer.phase("canvas_ms"):
            _canvas(ws, state, resolve, problems, plan)
        _problem_summary(state, problems)
        if plan is not None:
            render_plan_table(plan)
        if not state.design.pipeline.jobs:
            with errors_shown_here():
                _quick_start(ws)
    with right, timer.phase("inspector_ms"):
        with errors_shown_here():
            render_inspector(state, resolve, problems, names)
    timer.report(len(state.design.pipeline.jobs))
