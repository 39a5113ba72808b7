"""Registry tables (SQLModel) and the plain "Public" models handed to callers.

Following SQLModel's Base / Table / Public split: ``*Base`` holds the fields people
see, ``*Record``/``ComputeTarget`` are the tables, ``*Public`` are detached copies
returned by :class:`registry.Registry` (never a live session object).

JSON columns are ``MutableDict``s so in-place edits are tracked; datetimes are stored
and returned as timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, UniqueConstraint
from sqlalchemy.ext.mutable import MutableDict
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

__all__ = [
    "utcnow",
    "ComponentRecord",
    "ComponentPublic",
    "PipelineRecord",
    "PipelinePublic",
    "ComputeTargetBase",
    "ComputeTarget",
    "ComputeTargetPublic",
    "TemplateRecord",
    "TemplatePublic",
    "EnvironmentBase",
    "EnvironmentRecord",
    "EnvironmentPublic",
]


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A DateTime that stores UTC and always returns aware UTC datetimes (SQLite drops tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} refused: use timezone-aware UTC (registry.models.utcnow)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json() -> Any:
    return Field(default_factory=dict, sa_type=MutableDict.as_mutable(JSON))


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- components ---------------------------------------------------------------------------


class ComponentBase(SQLModel):
    name: str = Field(index=True)
    version: str
    kind: str = "command"
    display_name: str = ""
    description: str = ""
    digest: str  #: ``components.digest.spec_digest``: canonical spec (all but version) plus its code
    code_digest: str | None = None  #: digest of the snapshotted code (names ``snapshots/<code_digest>``)
    source: str | None = None  #: the file it was registered from, for people
    spec: dict[str, Any] = _json()  #: canonical spec (``components.serialize.component_to_dict``)
    created_at: datetime = _created()


class ComponentRecord(ComponentBase, table=True):
    """One registered component version. Immutable once written."""

    __tablename__ = "components"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_component_name_version"),)
    id: int | None = Field(default=None, primary_key=True)


class ComponentPublic(ComponentBase):
    """A registered component version as callers see it."""

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


# --- pipelines ----------------------------------------------------------------------------


class PipelineBase(SQLModel):
    name: str = Field(index=True)
    version: str
    display_name: str = ""
    description: str = ""
    digest: str  #: digest of the canonical spec (layout excluded)
    spec: dict[str, Any] = _json()  #: canonical spec; jobs refer to registered ``name:version``
    layout: dict[str, Any] = _json()  #: canvas: ``{"nodes": {job: {"x": .., "y": ..}}, ...}``
    forked_from: str | None = None  #: ``name:version`` of the pipeline this one was forked from
    cloned_from_run: str | None = None  #: id of the run this one was cloned from
    created_at: datetime = _created()
    updated_at: datetime = _created()  #: last layout change


class PipelineRecord(PipelineBase, table=True):
    """One registered pipeline version. Its spec never changes; its layout may."""

    __tablename__ = "pipelines"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_pipeline_name_version"),)
    id: int | None = Field(default=None, primary_key=True)


class PipelinePublic(PipelineBase):
    """A registered pipeline version as callers see it."""

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


# --- compute targets ----------------------------------------------------------------------


class ComputeTargetBase(SQLModel):
    """A named resource shape; also what ``compute add`` takes."""

    name: str = Field(primary_key=True)
    cpus: float = 1.0
    gpus: float = 0.0
    memory: int | None = Field(default=None, sa_type=BigInteger)  #: bytes
    resources: dict[str, float] = _json()  #: custom Ray resources, e.g. ``{"highmem": 1}``
    price_per_hour: float = 0.0
    description: str = ""


class ComputeTarget(ComputeTargetBase, table=True):
    __tablename__ = "compute_targets"
    created_at: datetime = _created()


class ComputeTargetPublic(ComputeTargetBase):
    created_at: datetime


# --- templates ----------------------------------------------------------------------------


class TemplateBase(SQLModel):
    name: str = Field(primary_key=True)
    display_name: str = ""
    description: str = ""
    spec: dict[str, Any] = _json()  #: a pipeline spec (YAML-shaped dict) to start from
    layout: dict[str, Any] = _json()
    tags: dict[str, Any] = _json()
    builtin: bool = False


class TemplateRecord(TemplateBase, table=True):
    __tablename__ = "templates"
    created_at: datetime = _created()


class TemplatePublic(TemplateBase):
    created_at: datetime


# --- environments -------------------------------------------------------------------------


class EnvironmentBase(SQLModel):
    """A registered environment: a conda file or a pip requirements list, immutable per version.

    ``content`` is the file as given (shown to people); ``spec`` what is built from it
    (``{"pip": [...]}`` or ``{"conda": {...}}``) and ``content_hash`` the digest of that, so
    comments and blank lines in a requirements file are not a new environment.
    """

    name: str = Field(index=True)
    version: str
    kind: str  #: "pip" or "conda"
    content_hash: str  #: ``registry.environments.content_hash`` of ``spec``
    content: str = ""  #: the file's text as registered
    spec: dict[str, Any] = _json()
    description: str = ""
    source: str | None = None  #: the file it was registered from, for people
    created_at: datetime = _created()


class EnvironmentRecord(EnvironmentBase, table=True):
    """One registered environment version. Immutable once written."""

    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_environment_name_version"),)
    id: int | None = Field(default=None, primary_key=True)


class EnvironmentPublic(EnvironmentBase):
    """A registered environment version as callers see it."""

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def pip(self) -> list[str]:
        return list(self.spec.get("pip") or [])

    @property
    def conda(self) -> dict[str, Any] | None:
        return self.spec.get("conda")
