"""Pipelines in the registry: automatically versioned (1, 2, 3 …), with a canvas layout.

The stored spec is ``components.serialize.pipeline_to_dict`` of a pipeline whose jobs
refer to registered components by ``name:version``. Its digest covers the spec
without name and version; the layout is not part of it. Registering content identical
to the latest version is a no-op that returns that version (and, when a layout is
given, updates that version's layout: canvas positions are not content).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import blake3
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from components.digest import canonical_json
from components.errors import DuctworkError
from components.pipeline_loader import pipeline_from_dict
from components.serialize import pipeline_to_dict
from components.spec import ComponentRef, PipelineSpec
from registry.errors import NotFoundError, did_you_mean
from registry.models import PipelinePublic, PipelineRecord, utcnow
from registry.versions import next_version, search_filter, select_versions, version_key

__all__ = ["PipelineStore", "PipelineRegistration", "pipeline_digest"]


@dataclass(frozen=True)
class PipelineRegistration:
    """What :meth:`PipelineStore.register_pipeline` did; ``created`` False: identical to the latest version."""

    pipeline: PipelinePublic
    created: bool
    warnings: tuple[str, ...] = ()  #: set by the service layer: the loader's and validator's warnings

    @property
    def message(self) -> str:
        ref = self.pipeline.ref
        return f"registered pipeline '{ref}'" if self.created else f"pipeline '{ref}' is unchanged (already registered)"


def pipeline_digest(data: dict[str, Any]) -> str:
    """Digest of a stored pipeline mapping, ignoring its name and version."""
    content = {k: v for k, v in data.items() if k not in ("name", "version")}
    return blake3.blake3(canonical_json(content).encode("utf-8")).hexdigest()


def _newest_first(records: list) -> list:
    return sorted(records, key=lambda r: version_key(r.version), reverse=True)


def _with_version(data: dict[str, Any], version: str) -> dict[str, Any]:
    """``data`` with ``version`` placed right after ``name`` (the order export writes)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        out[key] = value
        if key == "name":
            out["version"] = version
    return out


class PipelineStore:
    """Pipeline operations; mixed into :class:`registry.Registry`."""

    engine: Engine

    def register_pipeline(
        self,
        spec: PipelineSpec,
        *,
        layout: dict[str, Any] | None = None,
        forked_from: str | None = None,
        cloned_from_run: str | None = None,
    ) -> PipelineRegistration:
        """Store ``spec`` as the next version of ``spec.name`` unless it equals the latest version.

        Every job must refer to a registered component (``ComponentRef`` with a version): the
        service layer registers file and inline components first.
        """
        unpinned = [
            f"'{name}'"
            for name, job in spec.jobs.items()
            if not isinstance(job.component, ComponentRef) or job.component.version is None
        ]
        if unpinned:
            raise DuctworkError(
                f"pipeline '{spec.name}': job(s) {', '.join(unpinned)} do not refer to a registered "
                "component version; register the pipeline through app.services.pipelines.register_pipeline"
            )
        data = pipeline_to_dict(replace(spec, version=None))
        digest = pipeline_digest(data)
        for _attempt in range(3):
            with Session(self.engine) as session:
                records = list(session.exec(select(PipelineRecord).where(PipelineRecord.name == spec.name)).all())
                latest = _newest_first(records)[0] if records else None
                if latest is not None and latest.digest == digest:
                    if layout is not None and dict(latest.layout) != layout:
                        latest.layout = dict(layout)
                        latest.updated_at = utcnow()
                        session.add(latest)
                        session.commit()
                        session.refresh(latest)
                    return PipelineRegistration(PipelinePublic.model_validate(latest), created=False)
                version = next_version(r.version for r in records)
                record = PipelineRecord(
                    name=spec.name,
                    version=version,
                    display_name=spec.display_name,
                    description=spec.description,
                    digest=digest,
                    spec=_with_version(data, version),
                    layout=dict(layout or {}),
                    forked_from=forked_from,
                    cloned_from_run=cloned_from_run,
                )
                session.add(record)
                try:
                    session.commit()
                except IntegrityError:  # another process took this version number: look again
                    session.rollback()
                    continue
                session.refresh(record)
                return PipelineRegistration(PipelinePublic.model_validate(record), created=True)
        raise DuctworkError(f"could not register pipeline '{spec.name}': other writers kept taking its next version")

    def get_pipeline(self, name: str, version: str | None = None) -> PipelinePublic:
        """A registered version (``None`` → latest); unknown names/versions raise NotFoundError."""
        with Session(self.engine) as session:
            records = list(session.exec(select(PipelineRecord).where(PipelineRecord.name == name)).all())
            if not records:
                names = session.exec(select(PipelineRecord.name).distinct()).all()
                hint = "" if names else " No pipelines are registered yet: 'ductwork pipeline register FILE'."
                raise NotFoundError(f"pipeline '{name}' not found.{did_you_mean(name, names)}{hint}")
            if version is None:
                return PipelinePublic.model_validate(_newest_first(records)[0])
            for record in records:
                if record.version == str(version):
                    return PipelinePublic.model_validate(record)
            versions = [r.version for r in _newest_first(records)]
            raise NotFoundError(
                f"pipeline '{name}' has no version '{version}'. Registered versions: {', '.join(versions)}."
            )

    def pipeline_spec(self, name: str, version: str | None = None) -> PipelineSpec:
        """A registered pipeline as a spec (jobs refer to registered components by ``name:version``)."""
        return self.load_pipeline_record(self.get_pipeline(name, version))

    def load_pipeline_record(self, record: PipelinePublic) -> PipelineSpec:
        """The spec stored in ``record``; problems found later name it as ``name:version``."""
        return pipeline_from_dict(dict(record.spec), Path.cwd(), record.ref)

    def list_pipelines(self, search: str | None = None, all_versions: bool = False) -> list[PipelinePublic]:
        """Pipelines by name (latest version of each unless ``all_versions``), optionally filtered by
        ``search`` in name, display name or description (case-insensitive)."""
        with Session(self.engine) as session:
            records = [PipelinePublic.model_validate(r) for r in session.exec(select(PipelineRecord)).all()]
        return search_filter(select_versions(records, _newest_first, all_versions), search)

    def set_pipeline_layout(self, name: str, version: str, layout: dict[str, Any]) -> PipelinePublic:
        """Replace the canvas layout of one pipeline version (its spec never changes)."""
        with Session(self.engine) as session:
            record = session.exec(
                select(PipelineRecord).where(PipelineRecord.name == name, PipelineRecord.version == str(version))
            ).first()
            if record is None:
                self.get_pipeline(name, version)  # raises the helpful NotFoundError
                raise NotFoundError(f"pipeline '{name}:{version}' not found.")
            record.layout = dict(layout)
            record.updated_at = utcnow()
            session.add(record)
            session.commit()
            session.refresh(record)
            return PipelinePublic.model_validate(record)
