"""Page registry for cross-page links: the router registers its pages, views navigate
by name (``go("run", id=...)``) without importing each other."""

from __future__ import annotations

from typing import Any

import streamlit as st

__all__ = ["register_pages", "go", "page", "leave_designer_for_run"]

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
    """Open the run page of a run just started from the designer."""
    go("run", id=run_id)
