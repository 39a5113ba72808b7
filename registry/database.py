"""The registry's engine: any SQLAlchemy URL; SQLite files get WAL and a busy timeout.

WAL lets the Streamlit app read while a CLI writes; the busy timeout makes a second
writer wait for the first instead of failing with "database is locked".
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel, create_engine

from components.errors import DuctworkError

__all__ = ["BUSY_TIMEOUT_S", "sqlite_url", "make_engine", "create_tables"]

#: How long a SQLite writer waits for another one before giving up.
BUSY_TIMEOUT_S = 30.0


def sqlite_url(path: str | Path) -> str:
    """``sqlite:///<absolute path>``."""
    return f"sqlite:///{Path(path).resolve()}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for a SQLite file, its folder is created and WAL is enabled."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError
        raise DuctworkError(
            f"registry URL '{url}' is not a SQLAlchemy URL ({exc}). "
            "Expected e.g. sqlite:////path/registry.db or postgresql://user@host/db (DUCTWORK_DB_URL)."
        ) from None
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url, **kwargs)
    except Exception as exc:  # unknown dialect, missing driver
        raise DuctworkError(
            f"cannot open registry URL '{url}': {exc}. Install the database driver or fix DUCTWORK_DB_URL."
        ) from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def create_tables(engine: Engine) -> None:
    """Create every registry table that does not exist yet (idempotent)."""
    from registry.models import (
        ComponentRecord,
        ComputeTarget,
        EnvironmentRecord,
        PipelineRecord,
        TemplateRecord,
    )

    models = (ComponentRecord, PipelineRecord, ComputeTarget, TemplateRecord, EnvironmentRecord)
    tables = [model.__table__ for model in models]
    # Another process (the app and a CLI opening a new workspace together) may create the same
    # tables at the same moment; SQLite commits each CREATE on its own, so the two interleave
    # table by table. Each pass skips what exists, so a few passes always finish.
    for attempt in range(20):
        try:
            SQLModel.metadata.create_all(engine, tables=tables)
            return
        except OperationalError:
            if attempt == 19:
                raise
            time.sleep(0.01 * (attempt + 1))
