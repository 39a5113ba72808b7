"""Run page (``?id=RUN``): the graph coloured by step status (refreshing while the run
is live), the steps table, one step's logs, parameters, inputs, outputs with previews,
metrics, compute and why it ran or was reused, a timeline, and rerun / cancel / clone."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pandas as pd
import streamlit as st

from app.ui import nav
from app.ui.previews import render_output
from app.ui.session import (
    STATUS_COLORS,
    STATUS_ICONS,
    errors_shown_here,
    format_duration,
    show_error,
    status_badge,
    workspace,
)
from app.ui.views.toolbar import request_clone
from engine.costs import describe_costs, run_costs

__all__ = ["render", "steps_frame", "timeline_frame", "graph_elements", "LIVE_REFRESH_S"]

LIVE_REFRESH_S = 1.0
LOG_TAIL = 400


def steps_frame(steps: list[Any]) -> pd.DataFrame:
    """One row per step: status, component, compute, node, duration, why."""
    return pd.DataFrame([{
        "step": s.job,
        "status": f"{STATUS_ICONS.get(s.status, '')} {s.status}",
        "component": s.component,
        "compute": s.compute or "—",
        "node": (s.node_id or "—")[:12],
        "duration": format_duration(s.duration_s),
        "why": s.reason or "",
    } for s in steps], columns=["step", "status", "component", "compute", "node", "duration", "why"])


def timeline_frame(steps: list[Any], now: float | None = None) -> pd.DataFrame:
    """Start and end of every step that started (a running step ends now)."""
    now = now or time.time()
    rows = [{
        "step": s.job, "status": s.status,
        "start": dt.datetime.fromtimestamp(s.started_at),
        "end": dt.datetime.fromtimestamp(s.ended_at or now),
    } for s in steps if s.started_at]
    return pd.DataFrame(rows, columns=["step", "status", "start", "end"])


def graph_elements(steps: list[Any], spec: Any) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Nodes (id, label, colour) and edges (upstream, downstream) of a run's graph."""
    from components.spec import JobOutput

    nodes = [{"id": s.job, "label": f"{s.job}\n{s.status}", "color": STATUS_COLORS.get(s.status, "#98a2b3"),
              "title": f"{s.job} ({s.component}): {s.status}"} for s in steps]
    edges: list[tuple[str, str]] = []
    known = {s.job for s in steps}
    if spec is not None:
        for name, job in spec.jobs.items():
            for binding in job.inputs.values():
                if isinstance(binding, JobOutput) and binding.job in known and name in known:
                    pair = (binding.job, name)
                    if pair not in edges:
                        edges.append(pair)
    return nodes, edges


def _graph(steps: list[Any], spec: Any) -> str | None:
    from streamlit_agraph import Config, Edge, Node, agraph

    nodes, edges = graph_elements(steps, spec)
    config = Config(height=320, width=900, directed=True, physics=False, hierarchical=True, direction="LR",
                    sortMethod="directed", levelSeparation=220, nodeSpacing=120)
    return agraph(
        nodes=[Node(id=n["id"], label=n["label"], title=n["title"], color=n["color"], shape="box",
                    font={"color": "#ffffff", "face": "sans-serif"}) for n in nodes],
        edges=[Edge(source=a, target=b, color="#98a2b3") for a, b in edges],
        config=config,
    )


def _timeline(steps: list[Any]) -> None:
    import altair as alt

    frame = timeline_frame(steps)
    if frame.empty:
        st.caption("No step has started yet.")
        return
    statuses = sorted(set(frame["status"]))
    chart = alt.Chart(frame).mark_bar(cornerRadius=3).encode(
        x=alt.X("start:T", title=None), x2="end:T",
        y=alt.Y("step:N", sort=list(frame["step"]), title=None),
        color=alt.Color("status:N", scale=alt.Scale(domain=statuses, range=[STATUS_COLORS.get(s, "#98a2b3")
                                                                             for s in statuses])),
        tooltip=["step", "status", "start:T", "end:T"],
    ).properties(height=max(80, 32 * len(frame)))
    st.altair_chart(chart, width="stretch")


def _metrics(records: list[Any]) -> None:
    if not records:
        st.caption("This step logged no metrics.")
        return
    frame = pd.DataFrame([{"name": m.name, "value": m.value, "step": m.step, "ts": m.ts} for m in records])
    for name, group in frame.groupby("name", sort=True):
        if len(group) > 1:
            x = "step" if group["step"].notna().all() else "ts"
            st.markdown(f"**{name}**")
            st.line_chart(group.set_index(x)["value"], height=180)
        else:
            st.metric(str(name), f"{group['value'].iloc[0]:.6g}")


def _step_details(ws: Any, details: Any, job: str) -> None:
    from app.services.runs import step_log

    step = details.step(job)
    st.markdown(f"### {job} {status_badge(step.status)}")
    why = step.reason or ("reused" if step.status == "reused" else "")
    if step.status == "reused" and step.reused_from:
        why = f"{why} (outputs of run `{step.reused_from}`)"
    if why:
        st.info(f"Why: {why}")
    if step.error:
        st.error(step.error)
    ingredients = step.ingredients or {}
    tabs = st.tabs(["Logs", "Parameters & inputs", "Outputs", "Metrics", "Compute"])
    with tabs[0]:
        try:
            st.code(step_log(ws, details.run.id, job, tail=LOG_TAIL) or "(empty log)", language=None)
        except Exception as exc:  # noqa: BLE001 - e.g. a reused step has no log
            show_error(exc)
    with tabs[1]:
        params = ingredients.get("params") or ingredients.get("parameters") or {}
        inputs = ingredients.get("inputs") or {}
        st.markdown("**Parameters**")
        if params:
            st.dataframe(pd.DataFrame([{"name": k, "value": str(v)} for k, v in params.items()]), hide_index=True,
                         width="stretch")
        else:
            st.caption("none")
        st.markdown("**Inputs** (data digests)")
        if inputs:
            st.dataframe(pd.DataFrame([{"name": k, "digest": str(v)} for k, v in inputs.items()]), hide_index=True,
                         width="stretch")
        else:
            st.caption("none")
    with tabs[2]:
        paths = details.output_paths.get(job) or {}
        if not paths:
            st.caption("No outputs recorded (yet).")
        for name, path in paths.items():
            render_output(name, path)
    with tabs[3]:
        _metrics(details.metrics.get(job, []))
    with tabs[4]:
        st.markdown(f"compute target **{step.compute or '—'}** · node `{step.node_id or '—'}` · "
                    f"attempts {step.attempts}")
        if step.resources:
            st.json(step.resources, expanded=True)


def _actions(ws: Any, run: Any) -> None:
    from app.services.runs import cancel_run, start_run_background

    c1, c2, c3, _ = st.columns([1, 1, 1.6, 4])
    if c1.button("Rerun", key="run_rerun", icon=":material/replay:",
                 help="Start the same pipeline version with the same parameters (unchanged steps are reused)"):
        with errors_shown_here():
            source = f"{run.pipeline}:{run.version}" if run.version else run.source
            new_id = start_run_background(ws, source, dict(run.params or {}))
            nav.go("run", id=new_id)
    if c2.button("Cancel", key="run_cancel", icon=":material/stop_circle:",
                 disabled=run.status not in ("running", "starting")):
        with errors_shown_here():
            cancel_run(ws, run.id)
            st.toast(f"Cancelling run {run.id}…")
    if c3.button("Clone into designer", key="run_clone", icon=":material/content_copy:"):
        request_clone(run.id)
        nav.go("designer")


def _header(run: Any) -> None:
    started = dt.datetime.fromtimestamp(run.started_at).strftime("%Y-%m-%d %H:%M:%S") if run.started_at else "—"
    end = run.ended_at or (time.time() if run.status == "running" else None)
    duration = format_duration(end - run.started_at if end and run.started_at else None)
    st.markdown(f"## Run `{run.id}` {status_badge(run.status)}")
    st.caption(f"pipeline **{run.pipeline}:{run.version or 'file'}** · started {started} · duration {duration}"
               + (f" · parameters {run.params}" if run.params else ""))
    if run.error:
        st.error(run.error)


def _live(ws: Any, run_id: str) -> Any:
    """Everything that changes while a run is live (re-drawn by the page's fragment);
    returns the run's record, or ``None`` while it is not recorded yet."""
    from app.services.designer import run_pipeline_spec
    from app.services.runs import get_run

    try:
        details = get_run(ws, run_id)
    except Exception as exc:  # noqa: BLE001 - not recorded yet: its driver is starting
        _starting_or_missing(ws, run_id, exc)
        return None
    run = details.run
    _header(run)
    counts: dict[str, int] = {}
    for s in details.steps:
        counts[s.status] = counts.get(s.status, 0) + 1
    st.markdown(" ".join(f"{status_badge(k)} {v}" for k, v in sorted(counts.items())))
    costs = describe_costs(run_costs(details.steps))
    st.caption(costs[:1].upper() + costs[1:])
    clicked = _graph(details.steps, run_pipeline_spec(ws, run))
    st.markdown("#### Steps")
    st.dataframe(steps_frame(details.steps), hide_index=True, width="stretch")
    with st.expander("Timeline", expanded=False):
        _timeline(details.steps)
    if not details.steps:
        return run
    jobs = [s.job for s in details.steps]
    if clicked in jobs:
        st.session_state["run_step"] = clicked
    if st.session_state.get("run_step") not in jobs:  # first look: the step that needs attention
        by_status = {s.status: s.job for s in reversed(details.steps)}
        st.session_state["run_step"] = by_status.get("failed") or by_status.get("running") or jobs[0]
    job = st.selectbox("Step", jobs, key="run_step",
                       format_func=lambda j: f"{STATUS_ICONS.get(details.step(j).status, '')} {j}")
    _step_details(ws, details, job)
    return run


STARTING_GRACE_S = 120.0


def _starting_or_missing(ws: Any, run_id: str, exc: Exception) -> None:
    """A run started a moment ago is not recorded until its driver is up: say so (the
    page keeps refreshing), with the driver's output; otherwise show the error."""
    driver_log = ws.logs_dir / run_id / "driver.log"
    if not driver_log.is_file():
        show_error(exc)
        return
    age = time.time() - driver_log.stat().st_mtime
    from app.services.runs import file_tail

    tail = "\n".join(file_tail(driver_log, 30))  # its end only
    if age > STARTING_GRACE_S:
        st.error(f"Run '{run_id}' never started: its driver stopped before recording it. Its output:")
        st.code(tail or "(no output)", language=None)
        return
    st.info(f"Starting run `{run_id}`…", icon=":material/hourglass_top:")
    if tail:
        st.code(tail, language=None)


def render() -> None:
    """The Run page."""
    from app.services.runs import get_run

    ws = workspace()
    run_id = st.query_params.get("id")
    if not run_id:
        st.info("No run selected. Open one from the **Runs** page.")
        st.page_link(nav.page("runs"), label="Go to Runs", icon=":material/history:")
        return
    try:
        run = get_run(ws, run_id).run
    except Exception as exc:  # noqa: BLE001
        run = None
        starting = (ws.logs_dir / run_id / "driver.log").is_file()
        if not starting:
            show_error(exc)
            return
    else:
        starting = False
    if run is not None:
        _actions(ws, run)
    # The live part refreshes itself while the run is starting or running. The actions
    # above sit outside it (they switch pages), so when the run is recorded or ends the
    # whole page is drawn again once: the actions then exist and match the run's state
    # (Cancel only while it runs), and the refreshing stops.
    live = starting or (run is not None and run.status == "running")
    drawn_without_run = run is None

    @st.fragment(run_every=LIVE_REFRESH_S if live else None)
    def live_view() -> None:
        with errors_shown_here():
            now = _live(ws, run_id)
        if live and now is not None and (drawn_without_run or now.status != "running"):
            st.rerun(scope="app")

    live_view()
