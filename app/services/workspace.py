"""The workspace: one folder holding the registry, the run store, artifacts, snapshots and logs.

``open_workspace()`` runs on every CLI call and every app rerun, so it is cheap when the
workspace exists and imports nothing heavy (no Ray, Streamlit or pandas)::

    <home>/registry.db     SQLite registry (unless DUCTWORK_DB_URL / db_url names another)
    <home>/runs.duckdb     run store
    <home>/artifacts/      committed outputs, content-addressed
    <home>/snapshots/      code snapshots of registered components
    <home>/tmp/            step scratch and output folders before commit
    <home>/logs/           step logs
    <home>/cache/yaml/     large pipeline files, parsed, by the digest of their bytes (components.yamlio)
    <home>/settings.json   workspace settings (``ductwork settings``): store, address, name

Open hooks: other modules add to :data:`ON_OPEN_HOOKS` to run code on every open —
e.g. the engine marks runs whose driver died as ``interrupted``, the library seeds
built-in components. An entry is a callable taking the :class:`Workspace`, or a
``"package.module:function"`` string imported only when a workspace is opened (so a
module need not be imported beforehand for its hook to run). Hooks must be cheap and
idempotent: they run on every open; ``ws.created`` tells them the workspace is new.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from components.errors import DuctworkError

if TYPE_CHECKING:
    from components.yamlio import ParsedCache
    from registry import Registry

__all__ = ["Workspace", "ComputeTargetRow", "store_uri", "open_workspace", "resolve_home", "resolve_db_url", "ON_OPEN_HOOKS",
           "OpenHook"]

HOME_ENV = "DUCTWORK_HOME"
STORE_ENV = "DUCTWORK_STORE"
SETTINGS_FILE = "settings.json"
DB_URL_ENV = "DUCTWORK_DB_URL"
DEFAULT_HOME = ".ductwork"

OpenHook = Callable[["Workspace"], None] | str
#: Run, in order, on every :func:`open_workspace` (callables or ``"module:function"`` strings).
ON_OPEN_HOOKS: list[OpenHook] = ["app.services.runs:mark_interrupted_runs",  # runs whose driver died
                                  "app.services.seed:seed_on_open",  # built-in library (first start)
                                  "app.services.cleanup:clean_on_open"]  # what dead runs left behind


class ComputeTargetRow(NamedTuple):
    """What a run and a validation need of a compute target (no description, no timestamps)."""

    name: str
    cpus: float
    gpus: float
    memory: int | None
    resources: dict[str, float]
    price_per_hour: float


@dataclass
class Workspace:
    """An opened workspace: its folder, its registry and the paths of everything else in it.

    The registry (SQLModel + SQLAlchemy, ≈ 1 s to import on a loaded 2-core machine) is built
    on first use of :attr:`registry`, so commands that never need it — a ``ductwork run`` of
    a pipeline file whose components are files, ``runs list`` — never import it.
    """

    home: Path
    db_url: str
    created: bool = False  #: True when this open created the workspace
    runs_db: Path = field(init=False)
    artifacts_dir: Path = field(init=False)
    snapshots_dir: Path = field(init=False)
    tmp_dir: Path = field(init=False)
    logs_dir: Path = field(init=False)
    ray_dir: Path = field(init=False)  #: the warm Ray's files (engine.workspace_ray)
    _registry: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.runs_db = self.home / "runs.duckdb"
        self.artifacts_dir = self.home / "artifacts"
        self.snapshots_dir = self.home / "snapshots"
        self.tmp_dir = self.home / "tmp"
        self.logs_dir = self.home / "logs"
        self.ray_dir = self.home / "ray"

    @property
    def parsed_cache(self) -> ParsedCache:
        """Where large YAML files read in this workspace are kept parsed (a rerun of a 1,000-job
        pipeline file does not parse it again; ``components.yamlio.ParsedCache``)."""
        from components.yamlio import ParsedCache

        return ParsedCache(self.home / "cache" / "yaml")

    @property
    def settings_path(self) -> Path:
        return self.home / SETTINGS_FILE

    def settings(self) -> dict[str, str]:
        """The workspace's settings (``ductwork settings``); none when the file does not exist."""
        try:
            data = json.loads(self.settings_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise DuctworkError(f"the workspace settings {self.settings_path} cannot be read ({exc}); fix the "
                                "JSON, or delete the file and set them again with `ductwork settings set`") from None
        if not isinstance(data, dict):
            raise DuctworkError(f"the workspace settings {self.settings_path} must be a JSON object of names "
                                "and values; delete the file and set them again with `ductwork settings set`")
        return {str(k): str(v) for k, v in data.items() if v is not None}

    @property
    def store_url(self) -> str | None:
        """Where the artifact store is: ``--store`` / ``DUCTWORK_STORE``, else the ``store`` setting,
        else ``None`` (the workspace's own ``artifacts/`` folder, the embedded default). A plain
        folder path names a shared folder (``file://``)."""
        value = os.environ.get(STORE_ENV) or self.settings().get("store") or None
        return store_uri(value) if value else None

    @property
    def address(self) -> str | None:
        """The Ray cluster runs join: ``RAY_ADDRESS``, else the ``address`` setting (``None``: local)."""
        return os.environ.get("RAY_ADDRESS") or self.settings().get("address") or None

    @property
    def name(self) -> str:
        """How reuse records on a shared store name this workspace: the ``name`` setting, else host:folder."""
        return self.settings().get("name") or f"{socket.gethostname()}:{self.home}"

    @property
    def registry(self) -> Registry:
        """The workspace's registry, opened (tables and the ``local`` target ensured) on first use."""
        if self._registry is None:
            from registry import Registry

            registry = Registry(self.db_url, snapshots_dir=self.snapshots_dir)
            registry.ensure_default_compute()
            self._registry = registry
        return self._registry

    def close(self) -> None:
        """Release the registry's connections, if it was opened."""
        if self._registry is not None:
            self._registry.close()

    def compute_targets(self) -> dict[str, ComputeTargetRow]:
        """Every compute target by name — the one read that runs and validation use.

        For the default SQLite registry this is one ``SELECT`` through the standard library's
        ``sqlite3`` (milliseconds, no SQLAlchemy import); for any other registry URL, or a
        registry file without its tables yet, it goes through :attr:`registry`.
        """
        rows = _read_sqlite_compute(self.db_url)
        if rows is None:
            rows = [ComputeTargetRow(t.name, t.cpus, t.gpus, t.memory, dict(t.resources or {}), t.price_per_hour)
                    for t in self.registry.list_compute()]
        return {row.name: row for row in rows}

    def compute_names(self) -> list[str]:
        """Names of every compute target (``local`` first)."""
        return list(self.compute_targets())


def store_uri(value: str) -> str:
    """A store setting as a URL: a folder path (``~`` allowed) becomes its ``file://`` URL."""
    return value if "://" in value else Path(value).expanduser().absolute().as_uri()


_COMPUTE_TABLE = "compute_targets"  # registry.models.ComputeTarget.__tablename__ (tested to agree)


def _read_sqlite_compute(db_url: str) -> list[ComputeTargetRow] | None:
    """Compute targets read straight from a SQLite registry file; ``None`` when that is not possible
    (another database, an in-memory or URI database, no file or table yet, no ``local`` target)."""
    prefix = "sqlite:///"
    path = db_url[len(prefix):] if db_url.startswith(prefix) else ""
    if not path or "?" in path or path == ":memory:" or path.startswith("file:") or not os.path.isfile(path):
        return None
    try:
        con = sqlite3.connect(path, timeout=30.0)
        try:
            found = con.execute(f"SELECT name, cpus, gpus, memory, resources, price_per_hour FROM {_COMPUTE_TABLE}"
                                ).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    rows = [ComputeTargetRow(name, float(cpus), float(gpus), memory, json.loads(resources) if resources else {},
                             float(price or 0.0))
            for name, cpus, gpus, memory, resources, price in found]
    if not any(row.name == "local" for row in rows):
        return None  # the registry adds it on first use
    return sorted(rows, key=lambda r: (r.name != "local", r.name))


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
    """Open the workspace (creating its folders, and on first use its registry tables and the
    ``local`` compute target), then run :data:`ON_OPEN_HOOKS`. An existing workspace's registry
    is opened lazily, on first use of ``ws.registry``."""
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
    ws = Workspace(home=path, db_url=url, created=created)
    if created:
        ws.registry  # noqa: B018 - a new workspace gets its tables and ``local`` now (and a bad URL fails now)
    for hook in list(ON_OPEN_HOOKS):
        _run_hook(hook, ws)
    return ws
