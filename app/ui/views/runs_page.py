"""Runs page: every run, newest first, filtered by pipeline, status and date, one page
at a time (the store counts and slices, so 10,000 runs cost the same as 50); select
one run to open it, or two to compare them. Below, what the filtered runs spent and what
reuse saved them, per pipeline and day (hours, or money where compute targets have a price)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pandas as pd
import streamlit as st

from app.ui import nav
from app.ui.session import STATUS_ICONS, errors_shown_here, format_duration, workspace

__all__ = ["render", "runs_frame", "spend_frame", "date_bounds", "PAGE_SIZE"]

PAGE_SIZE = 50
SPEND_RUNS = 200  #: the spend chart adds up at most this many of the newest matching runs


def date_bounds(value: Any) -> tuple[float | None, float | None]:
    """``st.date_input`` range → (since, until) epoch seconds, local days, ``until`` exclusive."""
    if not value:
        return None, None
    days = list(value) if isinstance(value, tuple | list) else [value]
    start = dt.datetime.combine(days[0], dt.time.min).timestamp()
    last = days[-1] if len(days) > 1 else days[0]
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min).timestamp()
    return start, end


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "—"


def runs_frame(runs: list[Any], counts: dict[str, dict[str, int]], now: float | None = None) -> pd.DataFrame:
    """The table rows: pipeline, version, status, started, duration, steps run/reused."""
    now = now or time.time()
    rows = []
    for run in runs:
        c = counts.get(run.id, {})
        executed = sum(n for s, n in c.items() if s in ("completed", "failed", "running", "cancelled"))
        end = run.ended_at or (now if run.status == "running" else None)
        rows.append({
            "run": run.id,
            "pipeline": run.pipeline,
            "version": str(run.version or "file"),
            "status": f"{STATUS_ICONS.get(run.status, '')} {run.status}",
            "started": _when(run.started_at),
            "duration": format_duration(end - run.started_at if end and run.started_at else None),
            "steps run": executed,
            "reused": c.get("reused", 0),
        })
    columns = ["run", "pipeline", "version", "status", "started", "duration", "steps run", "reused"]
    return pd.DataFrame(rows, columns=columns)


def spend_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """``spend_history`` rows summed per local day and pipeline: hours and money spent and saved."""
    columns = ["day", "pipeline", "spent (h)", "saved (h)", "spent ($)", "saved ($)"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame([{
        "day": dt.datetime.fromtimestamp(r["started_at"] or 0).strftime("%Y-%m-%d"), "pipeline": r["pipeline"],
        "spent (h)": r["spent_s"] / 3600, "saved (h)": r["saved_s"] / 3600,
        "spent ($)": r["spent_cost"], "saved ($)": r["saved_cost"]} for r in rows])
    return frame.groupby(["day", "pipeline"], as_index=False, sort=True).sum()[columns]


def _spend_chart(ws: Any, filters: dict[str, Any]) -> None:
    from app.services.runs import spend_history

    rows = spend_history(ws, **filters, limit=SPEND_RUNS)
    if not any(r["spent_s"] or r["saved_s"] for r in rows):
        return
    priced = any(r["priced"] for r in rows)
    st.subheader("Spend and savings")
    if priced:
        unit = st.radio("Show", ["money", "hours"], horizontal=True, key="runs_spend_unit",
                        help="Money where the compute targets have a price per hour (Compute page)")
    else:
        unit = "hours"
        st.caption("In hours: give the compute targets a price per hour (Compute page) to see money too.")
    frame = spend_frame(rows)
    suffix = "($)" if unit == "money" else "(h)"
    left, right = st.columns(2)
    left.caption(f"Spent {suffix} per pipeline and day")
    left.bar_chart(frame, x="day", y=f"spent {suffix}", color="pipeline", height=260)
    right.caption(f"Saved by reuse {suffix} per pipeline and day")
    right.bar_chart(frame, x="day", y=f"saved {suffix}", color="pipeline", height=260)
    st.caption(f"the newest {len(rows)} matching runs" if len(rows) == SPEND_RUNS else f"{len(rows)} runs")


def _filters(ws: Any) -> dict[str, Any]:
    from app.services.pipelines import list_pipelines
    from engine.records import RUN_STATUSES

    c1, c2, c3 = st.columns([2, 1.4, 2])
    pipelines = ["(all)", *sorted({p.name for p in list_pipelines(ws)})]
    pipeline = c1.selectbox("Pipeline", pipelines, key="runs_pipeline")
    status = c2.selectbox("Status", ["(all)", *RUN_STATUSES], key="runs_status")
    dates = c3.date_input("Started between", value=(), key="runs_dates", format="YYYY-MM-DD")
    since, until = date_bounds(dates)
    return {"pipeline": None if pipeline == "(all)" else pipeline, "status": None if status == "(all)" else status,
            "since": since, "until": until}


def render() -> None:
    """The Runs page."""
    from app.services.designer import step_counts
    from app.services.runs import count_runs, list_runs

    ws = workspace()
    st.title("Runs")
    with errors_shown_here():
        filters = _filters(ws)
        total = count_runs(ws, **filters)
        if total == 0:
            if any(v is not None for v in filters.values()):
                st.info("No run matches these filters.")
            else:
                st.info("No runs yet. Build a pipeline in the **Designer** and press **Run**.")
            return
        pages = max(1, -(-total // PAGE_SIZE))
        c1, c2 = st.columns([1, 5], vertical_alignment="bottom")
        page = c1.number_input("Page", min_value=1, max_value=pages, value=1, step=1, key="runs_page")
        c2.caption(f"{total:,} runs · page {page} of {pages}")
        runs = list_runs(ws, **filters, limit=PAGE_SIZE, offset=(int(page) - 1) * PAGE_SIZE)
        frame = runs_frame(runs, step_counts(ws, [r.id for r in runs]))
        event = st.dataframe(frame, hide_index=True, width="stretch", on_select="rerun",
                             selection_mode="multi-row", key="runs_table",
                             height=min(38 + 35 * len(frame), 38 + 35 * 15))
        chosen = [runs[i].id for i in (event.selection.rows if event is not None else []) if i < len(runs)]
        b1, b2, b3 = st.columns([1, 1, 4])
        if b1.button("Open run", key="runs_open", disabled=len(chosen) != 1, icon=":material/open_in_new:"):
            nav.go("run", id=chosen[0])
        if b2.button("Compare", key="runs_compare", disabled=len(chosen) != 2, icon=":material/compare_arrows:"):
            nav.go("compare", a=chosen[0], b=chosen[1])
        b3.caption("Select one run to open it, two to compare them.")
        _spend_chart(ws, filters)
