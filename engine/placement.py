"""Whether a step's resource request can be placed on a node, and what this machine offers
as a local Ray node — worked out without starting Ray.

``ray_needs`` and ``fits`` are the one test of "this node can run this request", used by
the Ray executor against the live cluster's nodes (``check_feasible``) and by the plan
against ``local_offer()``: what an embedded (or the workspace's warm) Ray on this machine
would advertise — its CPUs (as the executor passes them), its GPUs, and its memory as Ray
counts it (the memory available now, less the object store).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import psutil

from engine.compute import ResourceRequest

__all__ = ["EMBEDDED_OBJECT_STORE_MEMORY", "ray_needs", "fits", "shortfall", "local_offer", "describe_offer"]

#: the object store of the embedded and the warm Ray (engine.executors, engine.workspace_ray)
EMBEDDED_OBJECT_STORE_MEMORY = 256 * 2**20
_CGROUP = Path("/sys/fs/cgroup")


def ray_needs(request: ResourceRequest) -> dict[str, float]:
    """The request in Ray's resource names (``CPU``, ``GPU``, ``memory``, custom), zeros dropped."""
    need = {"CPU": request.cpus, "GPU": request.gpus}
    if request.memory:
        need["memory"] = float(request.memory)
    need.update({k: float(v) for k, v in request.custom.items()})
    return {k: v for k, v in need.items() if v}


def fits(request: ResourceRequest, offer: Mapping[str, float]) -> bool:
    """Whether one node offering ``offer`` (Ray resource names) can ever run ``request``."""
    return all(offer.get(k, 0) >= v for k, v in ray_needs(request).items())


def _amount(key: str, value: float) -> str:
    return f"{value / 2**30:.1f} GiB memory" if key == "memory" else f"{value:g} {key}"


def shortfall(request: ResourceRequest, offer: Mapping[str, float]) -> list[str]:
    """What ``request`` asks beyond ``offer``: ``["1 GPU (offers 0)", …]``; empty when it fits."""
    return [f"{_amount(k, v)} (offers {_amount(k, offer.get(k, 0)).split(' ', 1)[0]})"
            for k, v in ray_needs(request).items() if offer.get(k, 0) < v]


def describe_offer(offer: Mapping[str, float]) -> str:
    """``2 CPU, 0 GPU, 22.9 GiB memory``, custom resources after."""
    main = [_amount(k, offer.get(k, 0)) for k in ("CPU", "GPU", "memory")]
    return ", ".join(main + [_amount(k, v) for k, v in sorted(offer.items()) if k not in ("CPU", "GPU", "memory")])


def _gpus() -> int:
    """GPUs Ray would detect: those ``CUDA_VISIBLE_DEVICES`` names, else the NVIDIA driver's."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    try:
        return sum(1 for _ in Path("/proc/driver/nvidia/gpus").iterdir())
    except OSError:
        return 0


def _available_memory() -> int:
    """Memory available now, within this process's cgroup limit if it has one (as Ray counts it)."""
    available = psutil.virtual_memory().available
    try:
        limit, used = (_CGROUP / "memory.max").read_text().strip(), (_CGROUP / "memory.current").read_text()
    except OSError:
        return available
    if limit.isdigit():
        available = min(available, int(limit) - int(used))
    return available


def local_offer(num_cpus: int | None = None,
                object_store_memory: int = EMBEDDED_OBJECT_STORE_MEMORY) -> dict[str, float]:
    """What a local Ray started on this machine would offer: ``num_cpus`` (default: every
    CPU, as the embedded Ray gets), the GPUs Ray would detect, and the memory available now
    less the object store."""
    return {"CPU": float(num_cpus or os.cpu_count() or 1), "GPU": float(_gpus()),
            "memory": float(max(0, _available_memory() - object_store_memory))}
