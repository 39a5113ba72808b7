"""The workspace: one folder holding the registry, the run store, artifacts, snapshots and logs.

``open_workspace()`` runs on every CLI call and every app rerun, so it is cheap when the
workspace exists and imports nothing heavy (no Ray, Streamlit or pandas)::

    <home>/registry.db     SQLite registry (unless DUCTWORK_DB_URL / db_url names another)
    <home>/runs.duckdb     run store
    <home>/artifacts/      committed outputs, content-addressed
    <home>/snapshots/      code snapshots of registered components
    <home>/tmp/            step scratch and output folders before commit
    <home>/logs/           step logs

Open hooks: other modules add to :data:`ON_OPEN_HOOKS` to run code on every open —
e.g. the engine marks runs whose driver died as ``interrupted``, the library seeds
built-in components. An entry is a callable taking the :class:`Workspace`, or a
``"package.module:function"`` string imported only when a workspace is opened (so a
module need not be imported beforehand for its hook to run). Hooks must be cheap and
idempotent: they run on every open; ``ws.created`` tells them the workspace is new.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from components.errors import DuctworkError

if TYPE_CHECKING:
    from registry import Registry

__all__ = ["Workspace", "open_workspace", "resolve_home", "resolve_db_url", "ON_OPEN_HOOKS", "OpenHook"]

HOME_ENV = "DUCTWORK_HOME"
DB_URL_ENV = "DUCTWORK_DB_URL"
DEFAULT_HOME = ".ductwork"

OpenHook = Callable[["Workspace"], None] | str
#: Run, in order, on every :func:`open_workspace` (callables or ``"module:function"`` strings).
ON_OPEN_HOOKS: list[OpenHook] = ["app.services.runs:mark_interrupted_runs",  # runs whose driver died
                                  "app.services.seed:seed_on_open"]  # built-in library (first start)


@dataclass
class Workspace:
    """An opened workspace: its folder, its registry and the paths of everything else in it."""

    home: Path
    registry: Registry
    db_url: str
    created: bool = False  #: True when this open created the workspace
    runs_db: Path = field(init=False)
    artifacts_dir: Path = field(init=False)
    snapshots_dir: Path = field(init=False)
    tmp_dir: Path = field(init=False)
    logs_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.runs_db = self.home / "runs.duckdb"
        self.artifacts_dir = self.home / "artifacts"
        self.snapshots_dir = self.home / "snapshots"
        self.tmp_dir = self.home / "tmp"
        self.logs_dir = self.home / "logs"


def resolve_home(home: str | Path | None = None) -> Path:
    """The workspace folder: ``home`` → ``$DUCTWORK_HOME`` → ``./.ductwork``, made absolute."""
    chosen = home if home not in (None, "") else os.environ.get(HOME_ENV) or DEFAULT_HOME
    return Path(chosen).expanduser().resolve()


def resolve_db_url(home: Path, db_url: str | None = None) -> str:
    """The registry URL: ``db_url`` → ``$DUCTWORK_DB_URL`` → ``sqlite:///<home>/registry.db``."""
    from_env = os.environ.get(DB_URL_ENV)
    if db_url:
        return db_url
    if from_env:
        return from_env
    return f"sqlite:///{home / 'registry.db'}"


def _run_hook(hook: OpenHook, ws: Workspace) -> None:
    if isinstance(hook, str):
        module_name, _, attr = hook.partition(":")
        hook = getattr(importlib.import_module(module_name), attr)
    hook(ws)


def open_workspace(home: str | Path | None = None, db_url: str | None = None) -> Workspace:
    """Open the workspace (creating its folders, registry tables and the ``local`` compute
    target on first use), then run :data:`ON_OPEN_HOOKS`."""
    from registry import Registry

    path = resolve_home(home)
    if path.exists() and not path.is_dir():
        raise DuctworkError(
            f"workspace '{path}' is a file, not a folder. Choose another with --home DIR or DUCTWORK_HOME."
        )
    marker = path / "snapshots"
    created = not marker.is_dir()
    try:
        for sub in ("artifacts", "snapshots", "tmp", "logs"):
            (path / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DuctworkError(
            f"cannot create workspace '{path}': {exc.strerror}. Choose a writable folder with --home DIR."
        ) from None
    url = resolve_db_url(path, db_url)
    registry = Registry(url, snapshots_dir=path / "snapshots")
    registry.ensure_default_compute()
    ws = Workspace(home=path, registry=registry, db_url=url, created=created)
    for hook in list(ON_OPEN_HOOKS):
        _run_hook(hook, ws)
    return ws
