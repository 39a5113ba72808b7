"""Environments in the registry: a conda file or a pip requirements list, versioned like components.

An environment is what a step's Python is built from. Components name one the way Azure ML
does (``environment: azureml:NAME:VERSION`` or ``azureml://registries/…/environments/NAME/…``)
and a run resolves that reference to the registered environment of that name
(``app.services.environments``). What is built — and so what the step signature sees — is
the environment's kind and content, never its name: ``content_hash`` is the digest of the
parsed content (requirements without comments and blank lines, the conda file as data), so
re-registering the same packages is a no-op and a requirements file with a new comment is
the same environment.

An explicit version is immutable in full, as a component's: registering other content or
another description under it is refused, naming a free version. Without a version, the
content of the latest version is kept when it is the same (a no-op), else the next integer
version is registered. Parsing is here (pure, no I/O) so the CLI, the app and tests refuse
the same files with the same words before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import blake3
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from components.digest import canonical_json
from components.errors import DuctworkError, ValidationError
from components.fields import plain
from components.yamlio import load_yaml_text
from registry.errors import ConflictError, NotFoundError, did_you_mean
from registry.models import EnvironmentPublic, EnvironmentRecord
from registry.versions import next_version, search_filter, select_versions, version_key

__all__ = [
    "ENVIRONMENT_KINDS",
    "EnvironmentStore",
    "EnvironmentRegistration",
    "EnvironmentContent",
    "check_environment_name",
    "parse_requirements",
    "parse_conda_file",
    "content_hash",
]

#: What an environment can be built from.
ENVIRONMENT_KINDS = ("pip", "conda")

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
#: requirement-file options that name another file relative to this one: it is not registered with it
_NESTED_FILE_OPTIONS = ("-r", "--requirement", "-c", "--constraint")


@dataclass(frozen=True)
class EnvironmentContent:
    """A parsed environment file: its kind, what is built from it, and its text as given."""

    kind: str
    spec: Mapping[str, Any]  #: ``{"pip": [...]}`` or ``{"conda": {...}}``
    text: str

    @property
    def content_hash(self) -> str:
        return content_hash(self.kind, self.spec)


def content_hash(kind: str, spec: Mapping[str, Any]) -> str:
    """The digest (blake3, hex) of what an environment builds: its kind and parsed content."""
    return blake3.blake3(canonical_json({"kind": kind, "spec": dict(spec)}).encode()).hexdigest()


def check_environment_name(name: str) -> None:
    """Refuse a name a reference could not spell (``azureml:NAME:1``)."""
    if not name or not name[0].isalnum() or not set(name) <= _NAME_CHARS or len(name) > 255:
        raise DuctworkError(
            f"environment name '{name}' is not valid: use letters, digits, '-', '_' or '.', starting with a "
            "letter or digit (e.g. AzureML-sklearn-1.5), as components name it in "
            "'environment: azureml:NAME:VERSION'")


def parse_requirements(text: str, source: str) -> EnvironmentContent:
    """A pip requirements file → the list Ray installs: one requirement or option per line, comments
    and blank lines left out. ``-r``/``-c`` lines (another file) are refused: only this file is registered."""
    packages: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        option = line.split(None, 1)[0].split("=", 1)[0]
        if option in _NESTED_FILE_OPTIONS:
            raise DuctworkError(
                f"requirements file '{source}' line {number} ('{line}') names another file; only this "
                "file is registered, so list those packages in it instead")
        packages.append(line)
    if not packages:
        raise DuctworkError(f"requirements file '{source}' lists no packages; add one requirement per line, "
                            "e.g. 'pandas<2'")
    return EnvironmentContent("pip", {"pip": packages}, text)


def parse_conda_file(text: str, source: str) -> EnvironmentContent:
    """A conda environment file → its content as data, refused unless it is a mapping whose
    ``dependencies`` is a list of package strings and ``{pip: [...]}`` entries."""
    try:
        data = load_yaml_text(text, source)
    except ValidationError as err:
        first = err.problems[0] if err.problems else None
        if first is not None and "top level" in first.message:
            raise DuctworkError(f"conda file '{source}' is not a mapping; expected 'name:', 'channels:' and "
                                "'dependencies:' at its top level") from None
        detail = first.message.removeprefix("malformed YAML: ") if first is not None else str(err)
        raise DuctworkError(f"conda file '{source}' is not valid YAML: {detail}") from None
    conda = plain(data)
    deps = conda.get("dependencies")
    if not isinstance(deps, list) or not deps:
        raise DuctworkError(f"conda file '{source}' has no 'dependencies' list; expected e.g. "
                            "dependencies: [python=3.11, pip, {pip: [pandas<2]}]")
    for dep in deps:
        pip = dep.get("pip") if isinstance(dep, dict) else None
        if isinstance(dep, str) and dep.strip():
            continue
        if isinstance(dep, dict) and set(dep) == {"pip"} and isinstance(pip, list) \
                and all(isinstance(p, str) and p.strip() for p in pip):
            continue
        raise DuctworkError(f"conda file '{source}' dependency {dep!r} is neither a package ('numpy=1.26') "
                            "nor a list of pip packages ({pip: [pandas<2]})")
    return EnvironmentContent("conda", {"conda": conda}, text)


@dataclass(frozen=True)
class EnvironmentRegistration:
    """What :meth:`EnvironmentStore.add_environment` did: ``created`` False means that content was
    already registered under that name (a no-op)."""

    environment: EnvironmentPublic
    created: bool
    warnings: tuple[str, ...] = ()  #: what the service found the environment would do at run time

    @property
    def message(self) -> str:
        ref = self.environment.ref
        if self.created:
            env = self.environment
            return f"registered environment '{ref}' ({env.kind}, {env.content_hash[:12]})"
        return f"environment '{ref}' is already registered with this content (unchanged)"


def newest_first(records: list) -> list:
    """Records of one name, newest version first (numeric parts compare as numbers)."""
    return sorted(records, key=lambda r: (version_key(r.version), r.created_at), reverse=True)


class EnvironmentStore:
    """Environment operations; mixed into :class:`registry.Registry` (needs ``self.engine``)."""

    engine: Engine

    def add_environment(self, name: str, content: EnvironmentContent, *, version: str | None = None,
                        description: str = "", source: str | None = None) -> EnvironmentRegistration:
        """Register ``content`` as ``name`` (``version`` ``None``: the latest when its content is the same,
        else the next integer version). Same name, version and content is a no-op; other content
        under an existing explicit version is refused."""
        check_environment_name(name)
        if version is not None and (not str(version).strip() or any(c in str(version) for c in ":@/ ")):
            raise DuctworkError(f"environment version '{version}' is not valid: use e.g. 1, 2 or 1.5.0 "
                                "(no ':', '@', '/' or spaces)")
        digest = content.content_hash
        for _attempt in range(2):  # a second pass when another process registered the same version just now
            existing = self._environment_records(name)
            if version is None:
                latest = newest_first(existing)[:1]
                if latest and latest[0].content_hash == digest:
                    return EnvironmentRegistration(latest[0], created=False)
                chosen = next_version(r.version for r in existing)
            else:
                chosen = str(version)
                same = [r for r in existing if r.version == chosen]
                if same:
                    kept = self._environment_same_or_refuse(same[0], digest, description, existing)
                    return EnvironmentRegistration(kept, created=False)
            record = EnvironmentRecord(name=name, version=chosen, kind=content.kind, content_hash=digest,
                                       content=content.text, spec=dict(content.spec), description=description,
                                       source=source)
            with Session(self.engine) as session:
                session.add(record)
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    continue
                session.refresh(record)
                return EnvironmentRegistration(EnvironmentPublic.model_validate(record), created=True)
        raise ConflictError(f"environment '{name}' is being registered by another process; "
                            "run the command again")

    def get_environment(self, name: str, version: str | None = None) -> EnvironmentPublic:
        """A registered version (``None`` → latest); unknown names/versions raise NotFoundError."""
        records = self._environment_records(name)
        if not records:
            names = self.environment_names()
            known = f" Registered environments: {', '.join(names)}." if names else ""
            raise NotFoundError(
                f"environment '{name}' not found.{did_you_mean(name, names)}{known} Register it with "
                f"'ductwork environment add {name} --pip requirements.txt' (or --conda conda.yml)")
        ordered = newest_first(records)
        if version is None:
            return ordered[0]
        for record in ordered:
            if record.version == str(version):
                return record
        versions = [r.version for r in ordered]
        raise NotFoundError(f"environment '{name}' has no version '{version}'."
                            f"{did_you_mean(str(version), versions)} "
                            f"Registered versions: {', '.join(versions)}.")

    def find_environment(self, name: str, version: str | None = None) -> tuple[EnvironmentPublic | None, str]:
        """The environment a reference to ``name`` (at ``version``) runs in, and a note when it is not
        what was asked for: ``version`` when registered, else the latest. ``(None, "")`` for an
        unknown name."""
        ordered = newest_first(self._environment_records(name))
        if not ordered:
            return None, ""
        if version is None:
            return ordered[0], ""
        for record in ordered:
            if record.version == str(version):
                return record, ""
        known = ", ".join(r.version for r in ordered)
        return ordered[0], (f"environment '{name}' has no version '{version}' registered here; its latest "
                            f"version '{ordered[0].version}' is used (registered: {known})")

    def list_environments(self, search: str | None = None,
                          all_versions: bool = False) -> list[EnvironmentPublic]:
        """Environments by name (the latest version of each unless ``all_versions``), optionally only
        those whose name or description contains ``search``."""
        with Session(self.engine) as session:
            rows = session.exec(select(EnvironmentRecord)).all()
            records = [EnvironmentPublic.model_validate(r) for r in rows]
        return search_filter(select_versions(records, newest_first, all_versions), search)

    def environment_versions(self, name: str) -> list[str]:
        """Registered versions of ``name``, newest first (empty when unknown)."""
        return [r.version for r in newest_first(self._environment_records(name))]

    def environment_names(self) -> list[str]:
        """Every registered environment name, sorted."""
        with Session(self.engine) as session:
            return sorted(session.exec(select(EnvironmentRecord.name).distinct()).all())

    # -- helpers ---------------------------------------------------------------------------

    def _environment_records(self, name: str) -> list[EnvironmentPublic]:
        with Session(self.engine) as session:
            rows = session.exec(select(EnvironmentRecord).where(EnvironmentRecord.name == name)).all()
            return [EnvironmentPublic.model_validate(r) for r in rows]

    def _environment_same_or_refuse(self, existing: EnvironmentPublic, digest: str, description: str,
                        records: list[EnvironmentPublic]) -> EnvironmentPublic:
        if existing.content_hash == digest and existing.description == description:
            return existing
        what = (f"other content (content hash {existing.content_hash[:12]}… ≠ {digest[:12]}…)"
                if existing.content_hash != digest else f"another description ({existing.description!r})")
        free = next_version(r.version for r in records)
        raise ConflictError(
            f"environment '{existing.ref}' is already registered with {what}. A registered version never "
            f"changes: register it as a new version, e.g. --version {free}, or leave --version out to get "
            "the next one")
