"""Designer page: palette (left), canvas (centre), inspector (right), toolbar above.

The canvas report is applied at the top of the script, before anything is drawn, so
the palette, the canvas and the inspector all show the same design in one pass (and
an ``AppTest`` can simulate a canvas edit by setting ``session_state[FLOW_KEY]``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import streamlit as st
from streamlit_flow import streamlit_flow

from app.ui import designer_model as dm
from app.ui import nav
from app.ui.canvas import render_state
from app.ui.designer_state import DesignerState, apply_canvas_report
from app.ui.session import errors_shown_here, show_error, workspace
from app.ui.views import toolbar
from app.ui.views.inspector import render_inspector
from app.ui.views.palette import render_palette
from app.ui.views.plan_preview import render_plan_preview
from components.errors import Problem

__all__ = ["FLOW_KEY", "STATE_KEY", "designer_state", "render"]

FLOW_KEY = "designer_canvas"
STATE_KEY = "designer"
CANVAS_HEIGHT = 620


def designer_state() -> DesignerState:
    """This browser session's designer state (created on first use)."""
    if STATE_KEY not in st.session_state:
        st.session_state[STATE_KEY] = DesignerState()
    return st.session_state[STATE_KEY]


def _problems(ws: Any, state: DesignerState, resolve: dm.Resolve) -> list[Problem]:
    from app.services.designer import validate_design

    problems = dm.design_problems(state.design)
    if state.design.pipeline.jobs:
        try:
            problems += validate_design(ws, state.design.pipeline, resolve)
        except Exception as exc:  # noqa: BLE001 - shown, never a traceback
            show_error(exc)
    return problems


def _canvas(state: DesignerState, resolve: dm.Resolve, problems: list[Problem]) -> None:
    by_job: dict[str, list[Problem]] = defaultdict(list)
    for problem in problems:
        if problem.job in state.design.pipeline.jobs:
            by_job[problem.job].append(problem)
    components = {name: dm.job_component(job, resolve) for name, job in state.design.pipeline.jobs.items()}
    flow = render_state(state.design, components, by_job, state.selected, state.sync.pushed)
    streamlit_flow(
        FLOW_KEY,
        flow,
        height=CANVAS_HEIGHT,
        fit_view=False,
        show_controls=True,
        show_minimap=False,
        allow_new_edges=True,
        animate_new_edges=False,
        get_node_on_click=True,
        get_edge_on_click=True,
        pan_on_drag=True,
        allow_zoom=True,
        min_zoom=0.3,
        hide_watermark=True,
        style={"border": "1px solid #e4e7ec", "borderRadius": "8px", "background": "#fcfcfd"},
    )
    if not state.design.pipeline.jobs:
        st.caption("The canvas is empty: click a component on the left to add a job.")


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
    if not problems:
        st.success("No problems: ready to save and run.", icon=":material/check_circle:")
        return
    with st.expander(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} — Run is disabled until "
                     "they are fixed", expanded=True):
        for problem in problems:
            where = f"**{problem.job}** · " if problem.job else ""
            st.markdown(f"- {where}{problem.message}")


def render() -> None:
    """The Designer page."""
    from app.services.components import component_resolver, list_components
    from app.services.compute import compute_names

    nav.follow_run_just_started()  # a late canvas message must not pull the user back here
    ws = workspace()
    state = designer_state()
    resolve = component_resolver(ws)
    with errors_shown_here():
        toolbar.take_requests(ws, state)
    apply_canvas_report(state, st.session_state.get(FLOW_KEY), resolve)
    problems = _problems(ws, state, resolve)
    names = compute_names(ws)

    toolbar.render_toolbar(ws, state, problems)
    for notice in state.notices_for("toolbar"):
        getattr(st, notice.kind)(notice.text)
    left, centre, right = st.columns([1.05, 3.4, 1.55], gap="small")
    with left:
        with errors_shown_here():
            render_palette(state, list_components(ws))
    with centre:
        for notice in state.notices_for("canvas"):
            getattr(st, notice.kind)(notice.text)
        _canvas(state, resolve, problems)
        _problem_summary(state, problems)
        if state.design.pipeline.jobs and not any(p.severity != "warning" for p in problems):
            with errors_shown_here():
                render_plan_preview(ws, state.design.pipeline)
        if not state.design.pipeline.jobs:
            with errors_shown_here():
                _quick_start(ws)
    with right:
        with errors_shown_here():
            render_inspector(state, resolve, problems, names)
