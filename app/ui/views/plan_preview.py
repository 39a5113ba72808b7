"""The designer's plan preview: what a run of the pipeline on the canvas would reuse and
run and why, each step's estimated duration (from its component version's history) and
whether this machine can place it — computed on request (it hashes code and inputs),
without running anything or starting Ray. The same service as ``ductwork run --plan``."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from engine.costs import format_hours

__all__ = ["plan_frame", "render_plan_table", "TOGGLE_KEY"]

TOGGLE_KEY = "designer_plan_preview"
COLUMNS = ["step", "action", "why", "compute", "resources", "estimate", "placeable"]


def plan_frame(preview: Any) -> pd.DataFrame:
    """One row per step of a ``PlanPreview``: action and why, compute, estimate, placement."""
    rows = []
    for row in preview.rows():
        placeable = {True: "yes", None: "not known before the run"}.get(row["placeable"], row["placement"])
        rows.append({"step": row["name"], "action": row["action"], "why": row["reason"], "compute": row["compute"],
                     "resources": row["resources"],
                     "estimate": format_hours(row["estimate_s"]) if row["estimate_s"] is not None else "—",
                     "placeable": placeable})
    return pd.DataFrame(rows, columns=COLUMNS)


def render_plan_table(preview: Any) -> None:
    """The plan table of a ``PlanPreview`` with its totals and placement warnings (under the
    canvas when the designer's Preview toggle is on)."""
    st.dataframe(plan_frame(preview), hide_index=True, width="stretch", key="designer_plan_table")
    forecast = preview.forecast
    st.caption(f"{forecast.describe()} · placement judged on {forecast.where}")
    blocked = forecast.unplaceable()
    if blocked:
        st.warning(f"{', '.join(blocked)} cannot be placed on {forecast.where}: choose a smaller compute target "
                   "in the inspector, or run on a cluster that offers it.", icon=":material/warning:")
