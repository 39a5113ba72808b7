"""The designer canvas: Ductwork's own Streamlit Components v2 component, ``ductwork.canvas``.

The browser side is a TypeScript package on React Flow 12 (``app/ui/canvas_frontend/``),
built with Vite to ``canvas_frontend/dist/`` (committed, shipped as package data, so
installing Ductwork needs no Node). What it is sent and what it sends back is
docs/canvas-protocol.md: Python draws a *model* (``data=``), the browser reports *events*
in the state value ``events``. This module is the only place that knows Streamlit's
component machinery; pages call :func:`draw_canvas` and :func:`read_events`.

Read the events *before* drawing: a page applies them, then draws the model that results
(with its ``ack``), so the browser drops what Python has applied::

    applied = apply_events(state, read_events(KEY))
    draw_canvas(build_model(state), key=KEY)
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.components.v2.manifest_scanner import ComponentConfig, ComponentManifest
from streamlit.runtime import Runtime

__all__ = ["draw_canvas", "read_events", "COMPONENT_NAME", "FRONTEND_DIR", "DIST_DIR"]

#: ``<project>.<component>``, as Streamlit names components declared by a package.
COMPONENT_NAME = "ductwork.canvas"
FRONTEND_DIR = Path(__file__).resolve().with_name("canvas_frontend")
DIST_DIR = FRONTEND_DIR / "dist"
_JS = "canvas.js"
_CSS = "canvas.css"
#: The state value the browser sets (``setStateValue("events", ...)``).
_EVENTS = "events"

_renderer: Any = None


def _version() -> str:
    try:
        return importlib.metadata.version("ductwork")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _on_events_change() -> None:
    """Nothing to do: the page reads the events with :func:`read_events` on the rerun."""


def _register_asset_dir(runtime: Runtime) -> None:
    """Tell ``runtime`` that ``ductwork.canvas`` serves its files from ``canvas_frontend/dist``.

    Streamlit finds a component's ``asset_dir`` by scanning installed distributions for a
    ``[tool.streamlit.component]`` table in their pyproject.toml. That scan does not find
    ours in an editable install (the distribution's files do not include pyproject.toml),
    so we hand the runtime the manifest it would have read, with the frontend folder as
    the package root. It is per runtime: ``AppTest`` makes a new runtime per test, so this
    is checked on every draw (a dict lookup once registered).
    """
    manager = runtime.bidi_component_registry
    if manager.get_component_asset_root(COMPONENT_NAME) is not None:
        return
    manifest = ComponentManifest(
        name=COMPONENT_NAME.split(".")[0],
        version=_version(),
        components=[ComponentConfig(name=COMPONENT_NAME.split(".")[1], asset_dir=DIST_DIR.name)],
    )
    manager.register_from_manifest(manifest, package_root=FRONTEND_DIR)


def _canvas_renderer() -> Any:
    """The mount callable of ``ductwork.canvas``, made once per process.

    ``st.components.v2.component`` resolves ``js=``/``css=`` against the asset dir at once,
    so the asset dir is registered first. The callable re-registers the definition on a
    later runtime by itself (``_ensure_component_on_active_runtime``), provided that
    runtime knows the asset dir too (:func:`_register_asset_dir`, on every draw).
    ``isolate_styles=False``: no shadow root, so React Flow's stylesheet (bundled into
    canvas.css) applies to the nodes and edges it draws; our own rules are scoped under
    ``.dw-host``.
    """
    global _renderer
    if _renderer is None:
        _renderer = st.components.v2.component(COMPONENT_NAME, js=_JS, css=_CSS, isolate_styles=False)
    return _renderer


def draw_canvas(model: dict, *, key: str, height: int = 620) -> None:
    """Mount the canvas under ``key``, or draw ``model`` into the one mounted there.

    ``model`` is the protocol's model (docs/canvas-protocol.md). The component keeps its
    identity (and the browser its local state: a drag, the unacknowledged events) across
    reruns for the same ``key``; a new ``model["mount"]`` tells it another design was loaded.
    Outside a running Streamlit app (bare ``python``), nothing is drawn.
    """
    if not Runtime.exists():
        return
    if not (DIST_DIR / _JS).is_file() or not (DIST_DIR / _CSS).is_file():
        st.error(
            f"The designer canvas is not built: '{DIST_DIR / _JS}' is missing. "
            "Build it with `make canvas` (needs Node 20 and npm)."
        )
        return
    _register_asset_dir(Runtime.instance())
    _canvas_renderer()(
        key=key,
        data=model,
        default={_EVENTS: None},
        width="stretch",
        height=height,
        on_events_change=_on_events_change,
    )


def _clean_event(raw: Any) -> dict | None:
    if not isinstance(raw, Mapping):
        return None
    seq, kind = raw.get("seq"), raw.get("type")
    if isinstance(seq, bool) or not isinstance(seq, int) or not isinstance(kind, str) or not kind:
        return None
    return {str(k): v for k, v in raw.items()}


def read_events(key: str) -> dict | None:
    """The latest ``{"client": str, "events": [...]}`` the browser sent for ``key``, or None.

    None before the browser has sent anything, and for anything that is not that shape;
    malformed events (no integer ``seq`` or no ``type``) are left out. Never raises.
    """
    try:
        state = st.session_state[key] if key in st.session_state else None
        value = state.get(_EVENTS) if isinstance(state, Mapping) else getattr(state, _EVENTS, None)
    except Exception:  # no session (bare python), or a value that is not the component's state
        return None
    if not isinstance(value, Mapping):
        return None
    client, events = value.get("client"), value.get("events")
    if not isinstance(client, str) or not client or not isinstance(events, list):
        return None
    return {"client": client, "events": [e for e in map(_clean_event, events) if e is not None]}
