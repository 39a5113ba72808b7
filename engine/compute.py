"""Compute targets as the engine sees them, and the Ray resource request each one becomes.

A ``ComputeSpec`` is a plain value; only the Ray executor turns a ``ResourceRequest``
into ``.options(...)``. The compute target is never part of a step's signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.spec import Resources

__all__ = ["ComputeSpec", "ResourceRequest", "DEFAULT_COMPUTE", "resource_request"]


@dataclass(frozen=True)
class ComputeSpec:
    """A named resource shape: CPUs, GPUs, memory in bytes, custom Ray resources, hourly price."""

    name: str
    cpus: float | None = 1
    gpus: float | None = 0
    memory: int | None = None
    custom: Mapping[str, float] = field(default_factory=dict)
    price_per_hour: float = 0.0


#: The target used when neither the job, the component, the pipeline nor the workspace names one.
DEFAULT_COMPUTE = ComputeSpec(name="local", cpus=1, gpus=0)


@dataclass(frozen=True)
class ResourceRequest:
    """What one step asks of the cluster: ``num_cpus``, ``num_gpus``, ``memory`` (bytes), custom."""

    cpus: float = 1.0
    gpus: float = 0.0
    memory: int | None = None
    custom: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form, as recorded with every step run."""
        out: dict[str, Any] = {"cpus": self.cpus, "gpus": self.gpus}
        if self.memory:
            out["memory"] = self.memory
        if self.custom:
            out["custom"] = dict(self.custom)
        return out

    def describe(self) -> str:
        """Short human form: ``2 CPU, 1 GPU, 8.0 GiB, highmem=1``."""
        parts = [f"{_num(self.cpus)} CPU"]
        if self.gpus:
            parts.append(f"{_num(self.gpus)} GPU")
        if self.memory:
            parts.append(f"{self.memory / 2**30:.1f} GiB")
        parts += [f"{k}={_num(v)}" for k, v in sorted(self.custom.items())]
        return ", ".join(parts)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def resource_request(compute: ComputeSpec, inline: Resources | None = None) -> ResourceRequest:
    """The request of a step on ``compute``; a component's inline ``resources`` override field by field."""
    cpus = compute.cpus if compute.cpus is not None else 1.0
    gpus = compute.gpus or 0.0
    memory = compute.memory
    custom = dict(compute.custom)
    if inline is not None:
        if inline.cpus is not None:
            cpus = inline.cpus
        if inline.gpus is not None:
            gpus = inline.gpus
        if inline.memory is not None:
            memory = inline.memory
        custom.update(inline.custom)
    return ResourceRequest(cpus=float(cpus), gpus=float(gpus), memory=memory, custom=custom)
