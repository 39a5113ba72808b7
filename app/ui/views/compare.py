"""Compare two runs (``?a=RUN&b=RUN``): parameters, metrics and steps that differ, side by side."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app.ui import nav
from app.ui.session import errors_shown_here, format_duration, workspace

__all__ = ["render", "comparison_frames"]


def comparison_frames(result: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """``compare_runs`` output as three tables: parameters, steps and metrics that differ."""
    a, b = result["a"], result["b"]
    params = pd.DataFrame([{"parameter": k, a: _text(v["a"]), b: _text(v["b"])} for k, v in result["params"].items()],
                          columns=["parameter", a, b])
    steps, metrics = [], []
    for step in result["steps"]:
        status, duration = step["status"], step["duration_s"]
        if status["a"] != status["b"] or not step["same_signature"]:
            steps.append({"step": step["name"], f"status {a}": status["a"] or "—", f"status {b}": status["b"] or "—",
                          "same inputs & code": "yes" if step["same_signature"] else "no",
                          f"duration {a}": format_duration(duration["a"]), f"duration {b}": format_duration(duration["b"])})
        ma, mb = step["metrics"]["a"], step["metrics"]["b"]
        for name in sorted(set(ma) | set(mb)):
            if ma.get(name) != mb.get(name):
                delta = (mb[name] - ma[name]) if name in ma and name in mb else None
                metrics.append({"step": step["name"], "metric": name, a: ma.get(name), b: mb.get(name),
                                "change": delta})
    return {
        "params": params,
        "steps": pd.DataFrame(steps, columns=["step", f"status {a}", f"status {b}", "same inputs & code",
                                              f"duration {a}", f"duration {b}"]),
        "metrics": pd.DataFrame(metrics, columns=["step", "metric", a, b, "change"]),
    }


def _text(value: Any) -> str:
    return "—" if value is None else str(value)


def render() -> None:
    """The Compare page."""
    from app.services.runs import compare_runs

    ws = workspace()
    a, b = st.query_params.get("a"), st.query_params.get("b")
    st.title("Compare runs")
    if not a or not b:
        st.info("Select two runs on the **Runs** page and press **Compare**.")
        st.page_link(nav.page("runs"), label="Go to Runs", icon=":material/history:")
        return
    with errors_shown_here():
        result = compare_runs(ws, a, b)
        frames = comparison_frames(result)
        cols = st.columns(2)
        for col, rid in zip(cols, (result["a"], result["b"]), strict=True):
            with col:
                st.markdown(f"**Run `{rid}`**")
                if st.button("Open", key=f"cmp_open_{rid}", icon=":material/open_in_new:"):
                    nav.go("run", id=rid)
        st.markdown("#### Parameters that differ")
        if frames["params"].empty:
            st.caption("Same parameters.")
        else:
            st.table(frames["params"].set_index("parameter"))
        st.markdown("#### Metrics that differ")
        if frames["metrics"].empty:
            st.caption("Same metrics (or none logged).")
        else:
            st.table(frames["metrics"].set_index(["step", "metric"]))
        st.markdown("#### Steps that differ")
        if frames["steps"].empty:
            st.caption("Every step has the same status, code, parameters and inputs.")
        else:
            st.table(frames["steps"].set_index("step"))
