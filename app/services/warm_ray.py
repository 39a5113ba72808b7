"""The workspace's warm Ray (``engine.workspace_ray``): what ``ductwork ray start|stop|status``,
``ductwork ui`` and the app's Compute page call."""

from __future__ import annotations

import re
from typing import Any

from app.services.workspace import Workspace
from components.errors import DuctworkError
from engine.workspace_ray import DEFAULT_IDLE_S, WorkspaceRay

__all__ = ["DEFAULT_IDLE_S", "parse_duration", "warm_ray", "warm_ray_status", "start_warm_ray", "stop_warm_ray",
           "stop_warm_ray_if_idle"]

_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600}


def parse_duration(text: str | float) -> float:
    """``"15m"`` → 900, ``"1h"`` → 3600, ``"90"``/``"90s"`` → 90; anything else raises DuctworkError."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h)?\s*", str(text).lower())
        if match is None:
            raise DuctworkError(f"'{text}' is not a duration; write e.g. 90s, 15m or 1h")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or ""]
    if seconds <= 0:
        raise DuctworkError(f"the idle time must be more than 0 seconds, not '{text}'")
    return seconds


def warm_ray(ws: Workspace) -> WorkspaceRay:
    return WorkspaceRay(ws.ray_dir)


def warm_ray_status(ws: Workspace) -> dict[str, Any]:
    """``{"running": False, ...}`` or the running warm Ray: address, pid, CPUs, idle limit, drivers."""
    return warm_ray(ws).status()


def start_warm_ray(ws: Workspace, idle: str | float = DEFAULT_IDLE_S, cpus: int | None = None) -> dict[str, Any]:
    """Start the warm Ray (or find the running one) and return its status."""
    if cpus is not None and cpus < 1:
        raise DuctworkError(f"--cpus must be at least 1, not {cpus}")
    warm_ray(ws).start(idle_s=parse_duration(idle), num_cpus=cpus)
    return warm_ray_status(ws)


def stop_warm_ray(ws: Workspace, force: bool = False) -> bool:
    """Stop the warm Ray; ``False`` when none was running. Refused while runs use it unless ``force``."""
    return warm_ray(ws).stop(force=force)


def stop_warm_ray_if_idle(ws: Workspace) -> bool:
    """Stop the warm Ray if no run uses it (when the app stops); ``True`` if it was stopped."""
    wr = warm_ray(ws)
    if wr.head() is None or wr.drivers():
        return False
    try:
        return wr.stop()
    except DuctworkError:  # a run joined in the meantime: it stops by itself when idle
        return False
