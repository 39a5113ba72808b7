"""Compute targets: the functions the CLI's ``compute`` commands and the app's Compute page call.

A bad field value is a :class:`ComputeInputError`: a list of :class:`FieldProblem`, each naming
its field by its service name (``memory``, ``resources`` …), so that each front end names the
field as its user knows it: the CLI by its option (:data:`CLI_OPTIONS`, what ``str()`` of the
error says), the Compute page by the form's label (``error.phrase(labels)``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.services.workspace import Workspace
from components.errors import DuctworkError
from components.fields import parse_memory
from registry import ComputeTargetBase, ComputeTargetPublic
from registry.units import format_memory

__all__ = [
    "CLI_OPTIONS",
    "COMPUTE_FIELDS",
    "ComputeInputError",
    "FieldProblem",
    "check_compute_fields",
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


#: The fields of a compute target a person gives, by their service names.
COMPUTE_FIELDS = ("name", "cpus", "gpus", "memory", "resources", "price_per_hour", "description")
#: How the CLI names each field (``ductwork compute add NAME --cpus … --resource …``).
CLI_OPTIONS: Mapping[str, str] = {
    "name": "name", "cpus": "--cpus", "gpus": "--gpus", "memory": "--memory", "resources": "--resource",
    "price_per_hour": "--price", "description": "--description",
}
_TOKEN = re.compile(r"\{(\w+)\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")
_RESERVED = {"CPU", "GPU", "memory", "object_store_memory", "cpus", "gpus"}


@dataclass(frozen=True)
class FieldProblem:
    """One bad field value. ``text`` names the field as ``{field}``, the offending value as
    ``{value}`` and any other field as ``{<its name>}`` (e.g. ``{cpus}``)."""

    field: str
    text: str
    value: str = ""

    def phrase(self, names: Mapping[str, str]) -> str:
        """The problem with each field called by ``names`` (a field not in it by its own name)."""
        def word(match: re.Match[str]) -> str:
            key = match.group(1)
            if key == "value":
                return self.value
            key = self.field if key == "field" else key
            return names.get(key, key.replace("_", " "))

        return _TOKEN.sub(word, self.text)


class ComputeInputError(DuctworkError):
    """Every bad field value of one compute target; ``str()`` is the CLI's phrasing."""

    def __init__(self, target: str | None, problems: Iterable[FieldProblem]):
        self.target = target
        self.problems = tuple(problems)
        super().__init__(self.phrase(CLI_OPTIONS))

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields with a problem, each once, in order."""
        return tuple(dict.fromkeys(p.field for p in self.problems))

    def phrase(self, names: Mapping[str, str]) -> str:
        """The whole message with every field called by ``names`` (e.g. a form's labels)."""
        head = f"compute target '{self.target}' is invalid: " if self.target else ""
        return head + "; ".join(p.phrase(names) for p in self.problems) + "."


def _memory_problem(value: Any) -> FieldProblem:
    return FieldProblem("memory", "{field} '{value}' is not a size (write bytes or a number with a unit "
                        "such as 8GB, 512MB, 2Gi or 512Mi)", str(value))


def check_compute_fields(
    name: str | None = None,
    *,
    cpus: float | None = None,
    gpus: float | None = None,
    memory: str | int | None = None,
    resources: Mapping[str, float] | None = None,
    price_per_hour: float | None = None,
) -> list[FieldProblem]:
    """Every problem with the given fields (``None``: not given, not checked), none raised."""
    problems: list[FieldProblem] = []
    if name is not None and not _NAME.match(name):
        problems.append(
            FieldProblem("name", "{field} is empty: give the compute target a name, e.g. 'gpu-large'") if not name
            else FieldProblem("name", "{field} '{value}' is not a valid compute target name: use letters, digits, "
                              "'-', '_' or '.', starting with a letter or digit (e.g. gpu-a100)", name))
    for field, value in (("cpus", cpus), ("gpus", gpus), ("price_per_hour", price_per_hour)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            problems.append(FieldProblem(field, "{field} {value} must be a number ≥ 0", repr(value)))
    if memory is not None and memory != "":
        try:
            if parse_memory(memory) <= 0:
                problems.append(FieldProblem("memory", "{field} '{value}' must be a positive size such as 8GB",
                                             str(memory)))
        except ValueError:
            problems.append(_memory_problem(memory))
    for key, amount in (resources or {}).items():
        if key in _RESERVED:
            problems.append(FieldProblem("resources", "{field}: '{value}' is reserved: use {cpus}, {gpus} or "
                                         "{memory} instead", key))
        elif isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
            problems.append(FieldProblem("resources", "{field}: '{value}' must be a number ≥ 0 (e.g. highmem=1)",
                                         f"{key}={amount}"))
    return problems


def parse_memory_option(value: str | int | None) -> int | None:
    """``"8GB"`` → 8·10⁹ bytes, ``"512MiB"`` → 2²⁹, ``None``/``""`` → ``None``; a bad size is a
    :class:`ComputeInputError` on ``memory``."""
    if value is None or value == "":
        return None
    try:
        return parse_memory(value)
    except ValueError:
        raise ComputeInputError(None, [_memory_problem(value)]) from None


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
    """Add a compute target; an existing name is refused (see :func:`update_compute`); bad
    field values are one :class:`ComputeInputError` naming every problem."""
    problems = check_compute_fields(name, cpus=cpus, gpus=gpus, memory=memory, resources=resources,
                                    price_per_hour=price_per_hour)
    if problems:
        raise ComputeInputError(name, problems)
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
    problems = check_compute_fields(**{k: v for k, v in changes.items()
                                       if k in ("cpus", "gpus", "memory", "resources", "price_per_hour")})
    if problems:
        raise ComputeInputError(name, problems)
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
