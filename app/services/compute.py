"""Compute targets: the functions the CLI's ``compute`` commands and the app's Compute page call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.services.workspace import Workspace
from components.errors import DuctworkError
from components.fields import parse_memory
from registry import ComputeTargetBase, ComputeTargetPublic
from registry.units import format_memory

__all__ = [
    "add_compute",
    "update_compute",
    "list_compute",
    "get_compute",
    "remove_compute",
    "compute_names",
    "parse_memory_option",
    "parse_resource_options",
    "compute_to_dict",
]


def parse_memory_option(value: str | int | None) -> int | None:
    """``"8GB"`` → 8·10⁹ bytes, ``"512MiB"`` → 2²⁹, ``None``/``""`` → ``None``; bad sizes raise DuctworkError."""
    if value is None or value == "":
        return None
    try:
        return parse_memory(value)
    except ValueError as exc:
        raise DuctworkError(f"{exc}. Example: --memory 8GB (or 512MiB, 2G).") from None


def parse_resource_options(items: Iterable[str]) -> dict[str, float]:
    """``["highmem=1", "tpu=0.5"]`` → ``{"highmem": 1.0, "tpu": 0.5}``; a bare name means 1."""
    resources: dict[str, float] = {}
    for item in items:
        name, sep, amount = item.partition("=")
        name = name.strip()
        if not name:
            raise DuctworkError(f"custom resource '{item}' has no name. Write NAME=AMOUNT, e.g. --resource highmem=1.")
        try:
            resources[name] = float(amount) if sep else 1.0
        except ValueError:
            raise DuctworkError(
                f"custom resource '{name}' amount '{amount}' is not a number. Write NAME=AMOUNT, e.g. highmem=1."
            ) from None
    return resources


def _target(name: str, **fields: Any) -> ComputeTargetBase:
    from pydantic import ValidationError as PydanticError

    try:
        return ComputeTargetBase(name=name, **fields)
    except PydanticError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise DuctworkError(f"compute target '{name}' is invalid: {details}.") from None


def add_compute(
    ws: Workspace,
    name: str,
    *,
    cpus: float = 1.0,
    gpus: float = 0.0,
    memory: str | int | None = None,
    resources: Mapping[str, float] | None = None,
    price_per_hour: float = 0.0,
    description: str = "",
) -> ComputeTargetPublic:
    """Add a compute target; an existing name is refused (see :func:`update_compute`)."""
    target = _target(
        name,
        cpus=cpus,
        gpus=gpus,
        memory=parse_memory_option(memory),
        resources=dict(resources or {}),
        price_per_hour=price_per_hour,
        description=description,
    )
    return ws.registry.add_compute(target)


def update_compute(ws: Workspace, name: str, **changes: Any) -> ComputeTargetPublic:
    """Change the given fields of a target (``memory`` accepts "8GB"); ``None`` values are left as they are."""
    changes = {k: v for k, v in changes.items() if v is not None}
    if "memory" in changes:
        changes["memory"] = parse_memory_option(changes["memory"])
    if not changes:
        raise DuctworkError(
            f"nothing to change for compute target '{name}'. Give at least one of --cpus, --gpus, "
            "--memory, --resource, --price, --description."
        )
    return ws.registry.update_compute(name, **changes)


def list_compute(ws: Workspace) -> list[ComputeTargetPublic]:
    """Every compute target of the workspace, ``local`` first."""
    return ws.registry.list_compute()


def get_compute(ws: Workspace, name: str) -> ComputeTargetPublic:
    """One compute target by name (``azureml:`` prefix accepted)."""
    return ws.registry.get_compute(name.removeprefix("azureml:"))


def compute_names(ws: Workspace) -> list[str]:
    """The names pipelines may use in ``compute:`` and ``settings.default_compute``."""
    return ws.compute_names()


def remove_compute(ws: Workspace, name: str, force: bool = False) -> list[str]:
    """Remove a target; returns the registered pipelines that still name it (only with ``force``)."""
    return ws.registry.remove_compute(name, force=force)


def compute_to_dict(target: ComputeTargetPublic) -> dict[str, Any]:
    """JSON-ready form (memory in bytes plus a readable ``memory_text``)."""
    data = target.model_dump(mode="json")
    data["memory_text"] = format_memory(target.memory)
    return data
