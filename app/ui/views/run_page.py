"""Being written: waits for app.services.runs."""

from __future__ import annotations

import streamlit as st


def render() -> None:
    st.info("Runs are not available yet.")
