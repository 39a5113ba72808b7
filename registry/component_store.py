"""Components in the registry: immutable by name + version + content digest.

Registering stores the canonical spec (``components.serialize.component_to_dict``)
with ``code`` relative to the code folder, and copies that folder to
``<snapshots>/<code digest>/``; loading a registered component puts ``code`` at the
snapshot, so later edits of the user's folder never change a registered component.

An explicit version is immutable in full: registering other content under it, even
another description, is refused. An automatic version (``auto-<component digest>``,
``components.digest.automatic_version``) names what the component computes, so a spec
that differs from the registered one only in what is not behaviour — display name,
descriptions, tags, compute, resources, ``is_deterministic`` — gets
the same version; registering it updates those fields of that version in place (and says
which), since refusing would leave no way to fix a description of an unversioned
component, and a new version for it would break reuse of every step that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from components.digest import AUTO_VERSION_PREFIX, component_digest, spec_digest
from components.errors import DuctworkError
from components.loader import component_from_dict
from components.serialize import component_to_dict
from components.spec import ComponentSpec
from registry.errors import ConflictError, NotFoundError, did_you_mean
from registry.models import ComponentPublic, ComponentRecord
from registry.snapshots import snapshot_component
from registry.versions import next_version, search_filter, select_versions, version_key

__all__ = ["ComponentStore", "ComponentRegistration", "AUTO_PREFIX", "newest_first"]

#: Versions the loader gives components that declare none (``auto-<digest prefix>``).
AUTO_PREFIX = AUTO_VERSION_PREFIX


@dataclass(frozen=True)
class ComponentRegistration:
    """What :meth:`ComponentStore.register_component` did: ``created`` False means identical content
    was already registered under that name and version (a no-op)."""

    component: ComponentPublic
    created: bool
    warnings: tuple[str, ...] = ()  #: the loader's warnings about the registered file
    #: fields of an automatic version updated in place (same behaviour, other metadata)
    updated: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        ref = self.component.ref
        if self.created:
            return f"registered component '{ref}'"
        if self.updated:
            return (f"component '{ref}' is already registered with the same behaviour; "
                    f"updated its {', '.join(self.updated)}")
        return f"component '{ref}' is already registered (unchanged)"


def _order_key(record: ComponentRecord | ComponentPublic) -> tuple:
    """Explicit versions outrank automatic ones; explicit ones by number, automatic ones by age."""
    auto = record.version.startswith(AUTO_PREFIX)
    return (not auto, () if auto else version_key(record.version), record.created_at)


def newest_first(records: list) -> list:
    """Records of one name, newest version first."""
    return sorted(records, key=_order_key, reverse=True)


class ComponentStore:
    """Component operations; mixed into :class:`registry.Registry`."""

    engine: Engine
    snapshots_dir: Path | None

    def register_component(self, spec: ComponentSpec) -> ComponentRegistration:
        """Register ``spec`` (with its code snapshotted). Same name + version with the same content is a
        no-op; with different content it is refused, naming both digests and a free version."""
        if spec.version is None:
            raise DuctworkError(f"component '{spec.name}' has no version; load it with components.loader first")
        digest = spec_digest(spec)
        existing = self._find_component(spec.name, spec.version)
        if existing is not None:
            return replace(self._same_or_refuse(existing, spec, digest), warnings=spec.warnings)
        folder_digest, stored = self._stored(spec)
        record = ComponentRecord(
            name=spec.name,
            version=str(spec.version),
            kind=spec.kind,
            display_name=spec.display_name,
            description=spec.description,
            digest=digest,
            code_digest=folder_digest,
            source=str(spec.source) if spec.source else None,
            spec=stored,
        )
        with Session(self.engine) as session:
            session.add(record)
            try:
                session.commit()
            except IntegrityError:  # another process registered the same name:version just now
                session.rollback()
                existing = self._find_component(spec.name, spec.version)
                if existing is None:
                    raise
                return replace(self._same_or_refuse(existing, spec, digest), warnings=spec.warnings)
            session.refresh(record)
            return ComponentRegistration(ComponentPublic.model_validate(record), created=True, warnings=spec.warnings)

    def get_component(self, name: str, version: str | None = None) -> ComponentPublic:
        """A registered version (``None`` → latest); unknown names/versions raise NotFoundError."""
        with Session(self.engine) as session:
            records = session.exec(select(ComponentRecord).where(ComponentRecord.name == name)).all()
            if not records:
                names = session.exec(select(ComponentRecord.name).distinct()).all()
                raise NotFoundError(f"component '{name}' not found.{did_you_mean(name, names)}" + _hint(names))
            if version is None:
                return ComponentPublic.model_validate(newest_first(list(records))[0])
            for record in records:
                if record.version == str(version):
                    return ComponentPublic.model_validate(record)
            versions = [r.version for r in newest_first(list(records))]
            raise NotFoundError(
                f"component '{name}' has no version '{version}'.{did_you_mean(str(version), versions)} "
                f"Registered versions: {', '.join(versions)}."
            )

    def component_spec(self, name: str, version: str | None = None) -> ComponentSpec:
        """A registered component as a spec, its ``code`` pointing at the snapshot."""
        return self.load_component_record(self.get_component(name, version))

    def load_component_record(self, record: ComponentPublic) -> ComponentSpec:
        """The spec stored in ``record``, with ``code`` at its snapshot."""
        base = self._snapshot_path(record.code_digest) if record.code_digest else Path.cwd()
        if record.code_digest and not base.is_dir():
            raise DuctworkError(
                f"the code snapshot of component '{record.ref}' is missing ('{base}'). "
                "The workspace folder was moved or pruned; register the component again under a new version."
            )
        return component_from_dict(record.spec, base, None)

    def list_components(self, search: str | None = None, all_versions: bool = False) -> list[ComponentPublic]:
        """Components by name (latest version of each unless ``all_versions``), optionally only those
        whose name, display name or description contains ``search`` (case-insensitive)."""
        with Session(self.engine) as session:
            records = [ComponentPublic.model_validate(r) for r in session.exec(select(ComponentRecord)).all()]
        return search_filter(select_versions(records, newest_first, all_versions), search)

    def component_versions(self, name: str) -> list[str]:
        """Registered versions of ``name``, newest first (empty when unknown)."""
        with Session(self.engine) as session:
            records = session.exec(select(ComponentRecord).where(ComponentRecord.name == name)).all()
            return [r.version for r in newest_first(list(records))]

    def component_names(self) -> list[str]:
        """Every registered component name, sorted."""
        with Session(self.engine) as session:
            return sorted(session.exec(select(ComponentRecord.name).distinct()).all())

    # -- helpers ---------------------------------------------------------------------------

    def _find_component(self, name: str, version: str) -> ComponentPublic | None:
        with Session(self.engine) as session:
            record = session.exec(
                select(ComponentRecord).where(ComponentRecord.name == name, ComponentRecord.version == str(version))
            ).first()
            return ComponentPublic.model_validate(record) if record is not None else None

    def component_conflict(self, spec: ComponentSpec) -> str | None:
        """Why registering ``spec`` would be refused (same name and version, other content), or ``None``."""
        existing = self._find_component(spec.name, str(spec.version)) if spec.version is not None else None
        return self._conflict(existing, spec, spec_digest(spec)) if existing is not None else None

    def _same_behaviour(self, existing: ComponentPublic, spec: ComponentSpec) -> bool:
        """Whether an automatic version ``existing`` computes what ``spec`` does."""
        return (existing.version.startswith(AUTO_PREFIX)
                and component_digest(self.load_component_record(existing)) == component_digest(spec))

    def _conflict(self, existing: ComponentPublic, spec: ComponentSpec, digest: str) -> str | None:
        if existing.digest == digest or self._same_behaviour(existing, spec):
            return None
        if existing.version.startswith(AUTO_PREFIX):  # only if two digests share their first 12 hex digits
            suggestion = "add an explicit 'version:'"
        else:
            suggestion = f"e.g. version: {next_version(self.component_versions(existing.name))}"
        return (
            f"component '{existing.ref}' is already registered with different content "
            f"(digest {existing.digest[:12]}… ≠ {digest[:12]}…). Register it as a new version, {suggestion}"
        )

    def _same_or_refuse(self, existing: ComponentPublic, spec: ComponentSpec, digest: str) -> ComponentRegistration:
        if existing.digest == digest:
            return ComponentRegistration(existing, created=False)
        if not self._same_behaviour(existing, spec):
            raise ConflictError(self._conflict(existing, spec, digest) or "")
        return self._update_metadata(existing, spec, digest)

    def _update_metadata(self, existing: ComponentPublic, spec: ComponentSpec, digest: str) -> ComponentRegistration:
        """Give automatic version ``existing`` the metadata of ``spec``, which computes the same."""
        _folder_digest, stored = self._stored(spec)
        updated = tuple(_METADATA_WORDS.get(key, key) for key in sorted(set(existing.spec) | set(stored))
                        if key not in ("code", "version") and existing.spec.get(key) != stored.get(key))
        with Session(self.engine) as session:
            record = session.exec(select(ComponentRecord).where(
                ComponentRecord.name == existing.name, ComponentRecord.version == existing.version)).one()
            record.display_name, record.description = spec.display_name, spec.description
            record.digest, record.spec = digest, stored
            session.add(record)
            session.commit()
            session.refresh(record)
            return ComponentRegistration(ComponentPublic.model_validate(record), created=False,
                                         updated=updated or ("metadata",))

    def _stored(self, spec: ComponentSpec) -> tuple[str | None, dict]:
        """(code digest, the spec as stored: ``code`` relative to its snapshot) of ``spec``."""
        folder_digest, snapshot = self._snapshot(spec)
        if snapshot is None:
            return None, component_to_dict(spec)
        return folder_digest, component_to_dict(replace(spec, code=snapshot), relative_to=snapshot)

    def _snapshot_path(self, folder_digest: str) -> Path:
        if self.snapshots_dir is None:
            raise DuctworkError("this registry has no snapshots folder; open it through open_workspace()")
        return self.snapshots_dir / folder_digest

    def _snapshot(self, spec: ComponentSpec) -> tuple[str | None, Path | None]:
        """Copy the code a component needs (``registry.snapshots.snapshot_component``)."""
        if spec.code is None:
            return None, None
        if self.snapshots_dir is None:
            raise DuctworkError("this registry has no snapshots folder; open it through open_workspace()")
        return snapshot_component(spec, self.snapshots_dir)


#: how a field of the stored spec is named in "updated its …"
_METADATA_WORDS = {"display_name": "display name", "inputs": "input descriptions", "outputs": "output descriptions",
                   "is_deterministic": "is_deterministic setting"}


def _hint(names: list[str]) -> str:
    if not names:
        return " No components are registered yet: 'ductwork component register PATH'."
    return ""
