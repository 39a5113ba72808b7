"""Compute targets in the registry: add, update, get, list, remove."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from components.errors import DuctworkError
from registry.errors import ConflictError, NotFoundError, did_you_mean
from registry.models import ComputeTarget, ComputeTargetBase, ComputeTargetPublic, PipelineRecord

__all__ = ["DEFAULT_COMPUTE", "ComputeStore", "check_compute_target", "compute_names_in_spec"]

#: Present in every workspace; cannot be removed.
DEFAULT_COMPUTE = ComputeTargetBase(
    name="local", cpus=1, gpus=0, description="This machine (default): 1 CPU per step, no GPU."
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")
_RESERVED = {"CPU", "GPU", "memory", "object_store_memory", "cpus", "gpus"}


def check_compute_target(target: ComputeTargetBase) -> None:
    """Every problem with a target's fields, raised once as a DuctworkError."""
    problems: list[str] = []
    if not _NAME.match(target.name or ""):
        problems.append(
            f"name '{target.name}' is not a valid compute target name: use letters, digits, '-', '_' or '.', "
            "starting with a letter or digit (e.g. gpu-a100)"
        )
    for field in ("cpus", "gpus", "price_per_hour"):
        value = getattr(target, field)
        if value is None or value < 0:
            problems.append(f"{field} {value!r} must be a number ≥ 0")
    if target.memory is not None and target.memory <= 0:
        problems.append(f"memory {target.memory!r} must be a positive size such as 8GB")
    for key, value in (target.resources or {}).items():
        if key in _RESERVED:
            problems.append(f"custom resource '{key}' is reserved: use --cpus, --gpus or --memory instead")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            problems.append(f"custom resource '{key}' amount {value!r} must be a number ≥ 0 (e.g. highmem=1)")
    if problems:
        head = f"compute target '{target.name}' is invalid: "
        raise DuctworkError(head + "; ".join(problems) + ".")


def compute_names_in_spec(spec: dict[str, Any]) -> set[str]:
    """Compute target names a stored pipeline spec mentions (job ``compute``, ``settings.default_compute``)."""
    names: set[str] = set()
    default = (spec.get("settings") or {}).get("default_compute")
    if default:
        names.add(str(default))
    for job in (spec.get("jobs") or {}).values():
        if isinstance(job, dict) and job.get("compute"):
            names.add(str(job["compute"]))
    return {n.removeprefix("azureml:") for n in names}


class ComputeStore:
    """Compute-target operations; mixed into :class:`registry.Registry` (needs ``self.engine``)."""

    engine: Engine

    def ensure_default_compute(self) -> None:
        """Add ``local`` if it is missing (every workspace has it).

        Processes opening a new workspace at once race here: the one whose insert loses finds
        the row the winner added, and goes on.
        """
        with Session(self.engine) as session:
            if session.get(ComputeTarget, DEFAULT_COMPUTE.name) is not None:
                return
            session.add(ComputeTarget.model_validate(DEFAULT_COMPUTE.model_dump()))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                if session.get(ComputeTarget, DEFAULT_COMPUTE.name) is None:
                    raise

    def add_compute(self, target: ComputeTargetBase) -> ComputeTargetPublic:
        """Add a new target; an existing name is refused (use :meth:`update_compute`)."""
        check_compute_target(target)
        with Session(self.engine) as session:
            if session.get(ComputeTarget, target.name) is not None:
                raise ConflictError(
                    f"compute target '{target.name}' already exists. "
                    f"Change it with 'ductwork compute update {target.name} ...' or pick another name."
                )
            record = ComputeTarget.model_validate(target.model_dump())
            session.add(record)
            session.commit()
            session.refresh(record)
            return ComputeTargetPublic.model_validate(record)

    def update_compute(self, name: str, **changes: Any) -> ComputeTargetPublic:
        """Change some fields of an existing target (``cpus``, ``gpus``, ``memory``, ``resources``,
        ``price_per_hour``, ``description``); fields not given are kept."""
        allowed = set(ComputeTargetBase.model_fields) - {"name"}
        unknown = set(changes) - allowed
        if unknown:
            raise DuctworkError(f"cannot change {sorted(unknown)} of a compute target; changeable: {sorted(allowed)}")
        with Session(self.engine) as session:
            record = self._compute_record(session, name)
            merged = ComputeTargetBase.model_validate({**record.model_dump(), **changes})
            check_compute_target(merged)
            for key, value in changes.items():
                setattr(record, key, dict(value) if key == "resources" else value)
            session.add(record)
            session.commit()
            session.refresh(record)
            return ComputeTargetPublic.model_validate(record)

    def get_compute(self, name: str) -> ComputeTargetPublic:
        """One target by name; unknown names raise NotFoundError with a suggestion."""
        with Session(self.engine) as session:
            return ComputeTargetPublic.model_validate(self._compute_record(session, name))

    def list_compute(self) -> list[ComputeTargetPublic]:
        """Every target, ``local`` first, then by name."""
        with Session(self.engine) as session:
            records = session.exec(select(ComputeTarget)).all()
            targets = [ComputeTargetPublic.model_validate(r) for r in records]
        return sorted(targets, key=lambda t: (t.name != DEFAULT_COMPUTE.name, t.name))

    def compute_names(self) -> list[str]:
        """Names of every target."""
        return [t.name for t in self.list_compute()]

    def compute_users(self, name: str) -> list[str]:
        """``name:version`` of every registered pipeline that names this target."""
        with Session(self.engine) as session:
            rows = session.exec(select(PipelineRecord.name, PipelineRecord.version, PipelineRecord.spec)).all()
        return [f"{n}:{v}" for n, v, spec in rows if name in compute_names_in_spec(spec or {})]

    def remove_compute(self, name: str, force: bool = False) -> list[str]:
        """Remove a target. Refused for ``local``, and for a target that registered pipelines name
        unless ``force``; returns those pipelines (they fail validation until it is added back)."""
        if name == DEFAULT_COMPUTE.name:
            raise ConflictError(f"compute target '{name}' is the workspace default and cannot be removed.")
        with Session(self.engine) as session:
            record = self._compute_record(session, name)
            users = self.compute_users(name)
            if users and not force:
                shown = ", ".join(users[:10]) + (f" and {len(users) - 10} more" if len(users) > 10 else "")
                raise ConflictError(
                    f"compute target '{name}' is used by {len(users)} registered pipeline version(s): {shown}. "
                    f"Remove it anyway with 'ductwork compute remove {name} --force' (those pipelines will "
                    "then fail validation until a target of that name exists again)."
                )
            session.delete(record)
            session.commit()
        return users

    def _compute_record(self, session: Session, name: str) -> ComputeTarget:
        record = session.get(ComputeTarget, name)
        if record is None:
            known = list(session.exec(select(ComputeTarget.name)).all())
            raise NotFoundError(
                f"compute target '{name}' not found.{did_you_mean(name, known)} "
                f"Known targets: {', '.join(sorted(known)) or 'none'}."
            )
        return record
