"""Compare two runs (``?a=RUN&b=RUN``): the pipeline version of each, the run's input values,
and per step its parameters, component version, code, inputs, environment, compute target,
status and reuse — what differs first, everything compared one click away — then metrics."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app.services.compare import RunComparison, compare_runs
from app.ui import nav
from app.ui.session import errors_shown_here, workspace

__all__ = ["render", "comparison_frames"]

_ABSENT = "—"


def comparison_frames(cmp: RunComparison, only_differences: bool = True) -> dict[str, pd.DataFrame]:
    """The comparison as tables: ``run`` (pipeline version and inputs), ``steps`` (one row per
    step field) and ``metrics``; with ``only_differences`` only the rows that differ."""
    a, b = _column(cmp.a, "A"), _column(cmp.b, "B")
    run_rows = [{"what": "pipeline version", a: cmp.pipeline_a, b: cmp.pipeline_b,
                 "differs": not cmp.same_pipeline}]
    run_rows += [{"what": f"input {f.field}", a: _text(f.a), b: _text(f.b), "differs": f.differs}
                 for f in cmp.run_fields]
    step_rows = []
    for step in cmp.steps:
        if step.in_a != step.in_b:
            step_rows.append({"step": step.job, "what": "step", a: "yes" if step.in_a else _ABSENT,
                              b: "yes" if step.in_b else _ABSENT, "note": "only in one run", "differs": True})
        step_rows += [{"step": step.job, "what": f.field, a: _text(f.a), b: _text(f.b), "note": f.note,
                       "differs": f.differs} for f in step.fields]
    metric_rows = [{"step": m.job, "metric": m.metric, a: m.a, b: m.b, "change": m.change, "differs": m.differs}
                   for m in cmp.metrics]
    frames = {
        "run": pd.DataFrame(run_rows, columns=["what", a, b, "differs"]),
        "steps": pd.DataFrame(step_rows, columns=["step", "what", a, b, "note", "differs"]),
        "metrics": pd.DataFrame(metric_rows, columns=["step", "metric", a, b, "change", "differs"]),
    }
    for name, frame in frames.items():
        if only_differences:
            frame = frame.loc[frame["differs"].astype(bool)]
        frames[name] = frame.drop(columns="differs").reset_index(drop=True)
    return frames


def summary(cmp: RunComparison) -> tuple[str, str]:
    """``(kind, text)`` for the one line above the tables: ``success`` only when nothing differs."""
    if cmp.identical:
        return "success", ("Identical: the same pipeline version, inputs, and per step the same parameters, "
                           "component, code, data, environment, compute, status and reuse.")
    parts = []
    if not cmp.same_pipeline:
        parts.append(f"pipeline version {cmp.pipeline_a} → {cmp.pipeline_b}")
    if cmp.run_differences:
        parts.append("run inputs: " + ", ".join(f.field for f in cmp.run_differences))
    steps = sorted({job for job, _ in cmp.step_differences()} | {s.job for s in cmp.steps if s.in_a != s.in_b},
                   key=[s.job for s in cmp.steps].index)
    if steps:
        parts.append("steps: " + ", ".join(steps))
    if cmp.metric_differences:
        parts.append("metrics: " + ", ".join(dict.fromkeys(f"{m.job}.{m.metric}" for m in cmp.metric_differences)))
    if cmp.same_configuration:
        return "info", ("Same configuration (pipeline version, inputs, parameters, components, code, data, "
                        "environment, compute); only how it went differs: " + "; ".join(parts) + ".")
    return "warning", "Differences: " + "; ".join(parts) + "."


def _column(run_id: str, letter: str) -> str:
    return f"{letter} · {run_id}"


def _text(value: Any) -> str:
    return _ABSENT if value is None else str(value)


def _table(frame: pd.DataFrame, key: str) -> None:
    st.dataframe(frame, hide_index=True, width="stretch", key=key)


def _section(title: str, cmp: RunComparison, name: str, differs: bool, same: str) -> None:
    st.markdown(f"#### {title}")
    frames = comparison_frames(cmp, only_differences=True)
    if differs:
        _table(frames[name], f"cmp_{name}_diff")
    else:
        st.caption(same)
    everything = comparison_frames(cmp, only_differences=False)[name]
    if not everything.empty:
        with st.expander(f"Everything compared ({len(everything)} rows)"):
            _table(everything, f"cmp_{name}_all")


def render() -> None:
    """The Compare page."""
    ws = workspace()
    a, b = st.query_params.get("a"), st.query_params.get("b")
    st.title("Compare runs")
    if not a or not b:
        st.info("Select two runs on the **Runs** page and press **Compare**.")
        st.page_link(nav.page("runs"), label="Go to Runs", icon=":material/history:")
        return
    with errors_shown_here():
        cmp = compare_runs(ws, a, b)
        cols = st.columns(2)
        for col, letter, rid, ref in zip(cols, "AB", (cmp.a, cmp.b), (cmp.pipeline_a, cmp.pipeline_b), strict=True):
            with col:
                st.markdown(f"**{letter} · run `{rid}`** · pipeline `{ref}`")
                if st.button("Open", key=f"cmp_open_{letter}", icon=":material/open_in_new:"):
                    nav.go("run", id=rid)
        kind, text = summary(cmp)
        getattr(st, kind)(text)
        _section("Pipeline version and run inputs", cmp, "run",
                 not cmp.same_pipeline or bool(cmp.run_differences), "Same pipeline version and run inputs.")
        _section("Steps", cmp, "steps", bool(cmp.step_differences()) or any(s.in_a != s.in_b for s in cmp.steps),
                 "Every step has the same parameters, component, code, data, environment, compute, status "
                 "and reuse.")
        _section("Metrics", cmp, "metrics", bool(cmp.metric_differences), "Same metrics (or none logged).")

