"""The workspace's warm Ray (``engine.workspace_ray``): what ``ductwork ray start|stop|status``,
``ductwork ui`` and the app's Compute page call."""

from __future__ import annotations

import os
import re
from typing import Any

from app.services.workspace import Workspace
from app.standby import STANDBY_ENV
from components.errors import DuctworkError
from engine.workspace_ray import DEFAULT_IDLE_S, WorkspaceRay

__all__ = ["DEFAULT_IDLE_S", "STANDBY_MODULE", "WARM_ENV", "standby_module", "parse_duration", "parse_switch", "warm_by_default", "warm_ray", "warm_ray_status", "start_warm_ray", "stop_warm_ray",
           "stop_warm_ray_if_idle"]

_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600}
WARM_ENV = "DUCTWORK_WARM"
STANDBY_MODULE = "app.standby"  #: the warm Ray's standby driver, which takes the next `ductwork run`


def standby_module() -> str | None:
    """The module a warm Ray started now keeps as its standby driver (app/standby.py); ``None``
    when ``DUCTWORK_STANDBY`` says no (``0``/``false``): runs then join the warm Ray themselves."""
    value = os.environ.get(STANDBY_ENV)
    return None if value is not None and not parse_switch(value, STANDBY_ENV) else STANDBY_MODULE
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def parse_switch(text: str, what: str) -> bool:
    """``true/yes/on/1`` → True, ``false/no/off/0`` → False; anything else raises DuctworkError."""
    value = str(text).strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise DuctworkError(f"{what} is '{text}', which is neither true nor false; write true or false (or 1 / 0)")


def warm_by_default(ws: Workspace) -> tuple[bool, str]:
    """Whether a run that does not say (no ``--warm``/``--no-warm``) starts the workspace's warm
    Ray when none is up, and why: ``DUCTWORK_WARM``, else no when ``CI`` is set (a CI job leaves
    nothing behind), else the workspace's ``warm`` setting, else yes — as build tools keep their
    daemon (Gradle, Bazel). Either way a run joins a warm Ray that is already up."""
    if (env := os.environ.get(WARM_ENV)) is not None:
        return parse_switch(env, WARM_ENV), WARM_ENV
    ci = os.environ.get("CI", "").strip().lower()
    if ci and ci not in _FALSE:
        return False, "CI is set"
    if (setting := ws.settings().get("warm")) is not None:
        return parse_switch(setting, "the workspace setting 'warm'"), "the workspace setting 'warm'"
    return True, "the default"


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
    return WorkspaceRay(ws.ray_dir, standby=standby_module())


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
