"""Page registry for cross-page links: the router registers its pages, views navigate
by name (``go("run", id=...)``) without importing each other."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

__all__ = ["register_pages", "go", "page", "leave_designer_for_run", "follow_run_just_started"]

_LEFT_FOR_RUN = "_nav_left_designer_for_run"
#: How long after a run starts a stray designer rerun is sent on to the run page. 4 s was
#: not enough on a loaded 2-core machine (a clean-clone suite run stayed on the designer after
#: Run); the cost of a longer window: a user who clicks Designer within it is sent to the run
#: page once more (the second click stays, as the marker is used up).
_FOLLOW_S = 15.0

_PAGES: dict[str, Any] = {}


def register_pages(pages: dict[str, Any]) -> None:
    """Called by the router with ``{name: st.Page}``."""
    _PAGES.update(pages)


def page(name: str) -> Any:
    """The ``st.Page`` registered under ``name`` (for ``st.page_link``)."""
    return _PAGES[name]


def go(name: str, **query: Any) -> None:
    """Switch to page ``name`` with ``query`` as its URL query parameters."""
    st.switch_page(_PAGES[name], query_params={k: str(v) for k, v in query.items() if v is not None} or None)


def leave_designer_for_run(run_id: str) -> None:
    """Open the run page of a run just started from the designer.

    The canvas (a custom component in an iframe) may still deliver a message after the page
    switch; Streamlit then reruns the *designer* (the page the message came from), which
    would drop the user back on it. The designer calls :func:`follow_run_just_started` first
    thing, so such a late rerun goes on to the run page instead of drawing the designer.
    """
    st.session_state[_LEFT_FOR_RUN] = (run_id, time.monotonic())
    go("run", id=run_id)


def follow_run_just_started() -> None:
    """If the designer left for a run page moments ago, go back there (see above)."""
    left = st.session_state.get(_LEFT_FOR_RUN)
    if left and time.monotonic() - left[1] < _FOLLOW_S:
        go("run", id=left[0])
    st.session_state.pop(_LEFT_FOR_RUN, None)
