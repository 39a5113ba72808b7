"""What every page shares: the workspace (one per server process), error display that
never shows a traceback, and the status colours used on every page."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from components.errors import DuctworkError, ValidationError

if TYPE_CHECKING:
    from app.services.workspace import Workspace

__all__ = [
    "STATUS_COLORS",
    "STATUS_ICONS",
    "workspace",
    "errors_shown_here",
    "show_error",
    "status_badge",
    "format_duration",
]

log = logging.getLogger("ductwork.ui")

#: One palette for step and run status, on every page (graph, tables, badges).
STATUS_COLORS: dict[str, str] = {
    "pending": "#98a2b3",
    "queued": "#98a2b3",
    "running": "#2e90fa",
    "completed": "#12b76a",
    "succeeded": "#12b76a",
    "reused": "#7a5af8",
    "failed": "#f04438",
    "skipped": "#d0d5dd",
    "cancelled": "#f79009",
    "interrupted": "#f79009",
}
STATUS_ICONS: dict[str, str] = {
    "pending": "○",
    "queued": "○",
    "running": "◔",
    "completed": "●",
    "succeeded": "●",
    "reused": "↺",
    "failed": "✕",
    "skipped": "–",
    "cancelled": "■",
    "interrupted": "■",
}


@st.cache_resource(show_spinner=False)
def _open(home: str) -> Workspace:
    from app.services.workspace import open_workspace

    return open_workspace(home)


def workspace() -> Workspace:
    """The workspace named by ``DUCTWORK_HOME`` (``./.ductwork`` otherwise), opened once per server."""
    from app.services.workspace import resolve_home

    return _open(str(resolve_home(os.environ.get("DUCTWORK_HOME") or None)))


def show_error(exc: BaseException, container: Any = None) -> None:
    """Show an error where it happened: a person's message as is, anything else briefly."""
    target = container if container is not None else st
    if isinstance(exc, ValidationError):
        target.error(str(exc))
    elif isinstance(exc, DuctworkError):
        target.error(str(exc))
    else:
        log.exception("unexpected error in the app")
        target.error(
            f"Something went wrong: {type(exc).__name__}: {exc}. "
            "The details are in the server log; please report this if it persists."
        )


@contextmanager
def errors_shown_here(container: Any = None) -> Iterator[None]:
    """Run a block; an error is shown in place (``st.error``) instead of a traceback."""
    try:
        yield
    except ScriptControlException:
        raise
    except Exception as exc:  # noqa: BLE001 - every error is shown, none is swallowed silently
        show_error(exc, container)


def status_badge(status: str) -> str:
    """Markdown for a coloured status label, e.g. ``:green-badge[completed]``-like HTML-free text."""
    colour = {
        "completed": "green",
        "succeeded": "green",
        "reused": "violet",
        "running": "blue",
        "failed": "red",
        "cancelled": "orange",
        "interrupted": "orange",
    }.get(status, "gray")
    return f":{colour}-badge[{STATUS_ICONS.get(status, '')} {status}]"


def format_duration(seconds: float | None) -> str:
    """``1.2 s``, ``3 min 4 s``, ``2 h 5 min``; ``—`` when unknown."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
