"""``Registry``: components, pipelines, compute targets, templates and environments over one engine."""

from __future__ import annotations

from pathlib import Path

from registry.component_store import ComponentStore
from registry.compute_targets import ComputeStore
from registry.database import create_tables, make_engine
from registry.environments import EnvironmentStore
from registry.pipeline_store import PipelineStore
from registry.templates import TemplateStore

__all__ = ["Registry"]


class Registry(ComponentStore, PipelineStore, ComputeStore, TemplateStore, EnvironmentStore):
    """The registry of one workspace: components, pipelines, compute targets, templates, environments.

    ``url`` is any SQLAlchemy URL (SQLite file by default, with WAL and a busy timeout).
    ``snapshots_dir`` is where registered components' code folders are copied.
    Tables are created on first use; every method opens and closes its own session and
    returns detached "Public" models or spec values, never a session object.
    """

    def __init__(self, url: str, snapshots_dir: Path | str | None = None):
        self.url = url
        self.engine = make_engine(url)
        self.snapshots_dir = Path(snapshots_dir) if snapshots_dir is not None else None
        create_tables(self.engine)

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Registry({self.url!r})"
