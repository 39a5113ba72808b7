"""Run page (``?id=RUN``): the run drawn read-only on the designer's canvas, on the
pipeline's own layout, with each step's live status (refreshing while the run is live;
a click on a node opens that step), the run's parameters, the steps table, one step's
logs, parameters, inputs, outputs with previews and their lineage, metrics, compute and
why it ran or was reused, a timeline, and rerun / cancel / clone."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pandas as pd
import streamlit as st

from app.ui import nav
from app.ui.previews import render_output
from app.ui.run_canvas import canvas_height, run_model, selected_job, short_run_id, waits_for
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
from components.errors import DuctworkError
from components.spec import ParentInput
from engine.costs import describe_costs, run_costs
from engine.records import StepStatus

try:  # the designer's own canvas (issue #11); until it is there, steps are opened from the selectbox
    from app.ui.canvas import draw_canvas, read_events
except ImportError:
    draw_canvas = read_events = None

__all__ = ["render", "steps_frame", "timeline_frame", "params_frame", "lineage_frame", "LIVE_REFRESH_S"]

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


def params_frame(params: dict[str, Any], spec: Any, resolve: Any = None) -> pd.DataFrame:
    """One row per parameter of a run: name, value, type (declared, else that of the first
    job input it feeds, through ``resolve``), and where the value came from (the pipeline's
    default, or set for this run) when the pipeline is known."""
    declared = spec.inputs if spec is not None else {}
    fed = _fed_types(spec, resolve) if spec is not None and resolve is not None else {}
    rows = []
    for name, value in (params or {}).items():
        pin = declared.get(name)
        if pin is None:
            origin = "" if spec is None else "not an input of the pipeline"
        elif pin.is_data:
            default = pin.path
            origin = "pipeline default" if default is not None and _same_path(value, default) else "set for this run"
        else:
            origin = "pipeline default" if value == pin.value else "set for this run"
        rows.append({"name": name, "value": "—" if value is None else _plain(value),
                     "type": (pin.type if pin is not None and pin.type else fed.get(name, "")), "from": origin})
    return pd.DataFrame(rows, columns=["name", "value", "type", "from"])


def _fed_types(spec: Any, resolve: Any) -> dict[str, str]:
    """Pipeline input → the type of the first job input bound to it."""
    from app.ui.designer_model import job_component

    types: dict[str, str] = {}
    for job in spec.jobs.values():
        bound = {port: b.name for port, b in job.inputs.items() if isinstance(b, ParentInput) and b.name not in types}
        component = job_component(job, resolve) if bound else None
        for port, name in bound.items():
            if component is not None and port in component.inputs:
                types.setdefault(name, component.inputs[port].type)
    return types


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _same_path(value: Any, default: str) -> bool:
    text, tail = str(value).rstrip("/"), str(default).rstrip("/").removeprefix("./")
    return text == tail or text.endswith("/" + tail)


def lineage_frame(lineage: Any) -> pd.DataFrame:
    """One row per step run that made (``produced``/``reused``) or read (``used``) an artifact."""
    rows = [{"role": "reused" if u.status == StepStatus.REUSED else "produced", "run": u.run_id, "step": u.job,
             "port": u.port, "status": u.status, "pipeline": u.pipeline}
            for u in lineage.producers]
    rows += [{"role": "used", "run": u.run_id, "step": u.job, "port": u.port, "status": u.status,
              "pipeline": u.pipeline} for u in lineage.consumers]
    return pd.DataFrame(rows, columns=["role", "run", "step", "port", "status", "pipeline"])


def _run_base(ws: Any, run: Any) -> tuple[Any, dict[str, Any], Any]:
    """What does not change while a run is drawn again and again: the pipeline it executed,
    its saved layout and a (memoising) component resolver — kept for the run shown."""
    from app.services.components import component_resolver
    from app.services.designer import run_pipeline_spec
    from app.services.lineage import run_layout

    kept = st.session_state.get("run_page_base")
    if not kept or kept[0] != run.id or kept[1] is None:  # not found yet (its driver is starting): look again
        kept = (run.id, run_pipeline_spec(ws, run), run_layout(ws, run), component_resolver(ws))
        st.session_state["run_page_base"] = kept
    return kept[1], kept[2], kept[3]


def _take_canvas_selection(key: str, jobs: list[str]) -> None:
    """Open the step the canvas' last new ``select`` event picked (it becomes the selectbox's
    value); remember how far the canvas' events were read, to acknowledge them."""
    if read_events is None:
        return
    events = read_events(key)
    client = (events or {}).get("client")
    if not client:
        return
    ack = st.session_state.get(f"{key}_ack") or {}
    after = ack.get("seq", -1) if ack.get("client") == client else -1
    job, last = selected_job(events, after)
    if last > after:
        st.session_state[f"{key}_ack"] = {"client": client, "seq": last}
    if job in jobs:
        st.session_state["run_step"] = job


def _canvas(ws: Any, details: Any, key: str, selected: str | None) -> None:
    """The run on the designer's canvas (``mode: "run"``); its revision grows only when what
    it shows changes."""
    spec, layout, resolve = _run_base(ws, details.run)
    model = run_model(details.run, details.steps, layout, resolve, time.time(), spec=spec,
                      selection=[selected] if selected else [], ack=st.session_state.get(f"{key}_ack"))
    shown = json.dumps({k: v for k, v in model.items() if k != "rev"}, sort_keys=True, default=str)
    rev, last = st.session_state.get(f"{key}_rev", (0, None))
    if shown != last:
        rev += 1
        st.session_state[f"{key}_rev"] = (rev, shown)
    model["rev"] = rev
    draw_canvas(model, key=key, height=canvas_height(model))


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


def _log(ws: Any, details: Any, step: Any, waits: list[str]) -> None:
    """A step's log; a step that has not started, or has written nothing yet, says so."""
    from app.services.runs import step_log

    if step.status == StepStatus.PENDING:
        why = f" (waits for {', '.join(waits)})" if waits else ""
        st.info(f"Waiting: this step has not started{why}.", icon=":material/hourglass_top:")
        return
    try:
        text = step_log(ws, details.run.id, step.job, tail=LOG_TAIL)
    except DuctworkError as exc:
        if step.status == StepStatus.RUNNING:
            st.info("Running: this step has not written a log yet.", icon=":material/hourglass_top:")
        elif step.status == StepStatus.REUSED:
            st.info(f"{exc}", icon=":material/recycling:")
        else:
            show_error(exc)
        return
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
        return
    if not text and step.status == StepStatus.RUNNING:
        st.info("Running: this step has not written anything yet.", icon=":material/hourglass_top:")
    else:
        st.code(text or "(empty log)", language=None)


def _step_details(ws: Any, details: Any, job: str, waits: list[str]) -> None:
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
        _log(ws, details, step, waits)
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
            ref = step.outputs.get(name)
            if ref is not None and st.button("Lineage", key=f"run_lineage_{job}_{name}", icon=":material/account_tree:",
                                             help=f"Which runs produced output '{name}' and which used it"):
                st.session_state["run_lineage"] = {"digest": ref.digest, "label": f"{job}.{name}"}
            if "://" in path and ref is not None:  # in an object store: previews need a copy on this machine
                fetched = st.session_state.setdefault("fetched_outputs", {})
                if ref.digest not in fetched:
                    st.markdown(f"**{name}** — `{path}`")
                    if st.button("Fetch to preview", key=f"run_fetch_{job}_{name}", icon=":material/download:",
                                 help="Copy this output from the store into this machine's cache and preview it"):
                        from app.services.runs import fetch_output

                        with st.spinner("fetching from the store…"):
                            fetched[ref.digest] = str(fetch_output(ws, ref))
                        st.rerun()
                    continue
                path = fetched[ref.digest]
            render_output(name, path)
    with tabs[3]:
        _metrics(details.metrics.get(job, []))
    with tabs[4]:
        st.markdown(f"compute target **{step.compute or '—'}** · node `{step.node_id or '—'}` · "
                    f"attempts {step.attempts}")
        if step.resources:
            st.json(step.resources, expanded=True)


def _lineage(ws: Any, run_id: str) -> None:
    """The lineage of the output whose Lineage button was pressed: a graph of the step runs
    that produced it (or reused it) and those that used it, and the same as a table."""
    from app.services.lineage import artifact_lineage

    wanted = st.session_state.get("run_lineage")
    if not wanted:
        return
    head, close = st.columns([6, 1])
    if close.button("Close", key="run_lineage_close", icon=":material/close:"):
        st.session_state.pop("run_lineage", None)
        return
    head.markdown(f"#### Lineage of `{wanted['label']}`")
    lineage = artifact_lineage(ws, wanted["digest"])
    st.caption(f"artifact `{wanted['digest'][:16]}…` · produced or reused by {len(lineage.producers)} step "
               f"run(s) · used by {len(lineage.consumers)} step run(s) · {len(lineage.runs)} run(s)")
    _lineage_graph(lineage, wanted["label"], run_id)
    frame = lineage_frame(lineage)
    st.dataframe(frame, hide_index=True, width="stretch")
    others = [r for r in lineage.runs if r != run_id]
    if others:
        c1, c2, _ = st.columns([2, 1, 3])
        target = c1.selectbox("Run", others, key="run_lineage_open_id", label_visibility="collapsed")
        if c2.button("Open run", key="run_lineage_open", icon=":material/open_in_new:"):
            st.session_state.pop("run_lineage", None)
            nav.go("run", id=target)


def _lineage_graph(lineage: Any, label: str, run_id: str) -> None:
    from streamlit_agraph import Config, Edge, Node, agraph

    nodes = [Node(id="artifact", label=f"{label}\n{(lineage.digest or lineage.path or '')[:12]}", shape="database",
                  color="#fdb022", font={"face": "sans-serif"})]
    edges = []
    seen: set[str] = set()
    for role, uses in (("made", lineage.producers), ("used", lineage.consumers)):
        for use in uses:
            node_id = f"{role}:{use.run_id}/{use.job}"
            if node_id not in seen:
                seen.add(node_id)
                here = " (this run)" if use.run_id == run_id else ""
                nodes.append(Node(id=node_id, label=f"{use.job}\nrun {short_run_id(use.run_id)}{here}", shape="box",
                                  color=STATUS_COLORS.get(use.status, "#98a2b3"), font={"color": "#ffffff"},
                                  title=f"run {use.run_id} · {use.pipeline} · {use.component} · {use.status}"))
            pair = (node_id, "artifact") if role == "made" else ("artifact", node_id)
            edges.append(Edge(source=pair[0], target=pair[1], label=use.port, color="#98a2b3",
                              dashes=use.status == StepStatus.REUSED))
    config = Config(height=260, width=900, directed=True, physics=False, hierarchical=True, direction="LR",
                    sortMethod="directed", levelSeparation=240, nodeSpacing=90)
    agraph(nodes=nodes, edges=edges, config=config)


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
    st.caption(f"pipeline **{run.pipeline}:{run.version or 'file'}** · started {started} · duration {duration}")
    if run.error:
        st.error(run.error)


def _live(ws: Any, run_id: str) -> Any:
    """Everything that changes while a run is live (re-drawn by the page's fragment);
    returns the run's record, or ``None`` while it is not recorded yet."""
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
    jobs = [s.job for s in details.steps]
    key = f"run_canvas_{run.id}"
    _take_canvas_selection(key, jobs)
    if jobs and st.session_state.get("run_step") not in jobs:  # first look: the step that needs attention
        by_status = {s.status: s.job for s in reversed(details.steps)}
        st.session_state["run_step"] = by_status.get("failed") or by_status.get("running") or jobs[0]
    if draw_canvas is not None:
        _canvas(ws, details, key, st.session_state.get("run_step"))
    spec, _layout, resolve = _run_base(ws, run)
    if run.params:
        st.markdown("#### Parameters")
        st.table(params_frame(run.params, spec, resolve).set_index("name"))
    st.markdown("#### Steps")
    st.dataframe(steps_frame(details.steps), hide_index=True, width="stretch")
    with st.expander("Timeline", expanded=False):
        _timeline(details.steps)
    if not details.steps:
        return run
    job = st.selectbox("Step", jobs, key="run_step",
                       format_func=lambda j: f"{STATUS_ICONS.get(details.step(j).status, '')} {j}")
    _step_details(ws, details, job, waits_for(details.steps, spec).get(job, []))
    _lineage(ws, run.id)
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
