"""Workspace settings (``<home>/settings.json``): where the artifact store is, which Ray cluster
runs join, and the name reuse records on a shared store give this workspace.

Each has an override that wins over the file: ``--store`` / ``DUCTWORK_STORE``, ``--address`` /
``RAY_ADDRESS``. The file is written whole (a temp file, then ``os.replace``).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass

from app.services.runs import open_store
from app.services.warm_ray import WARM_ENV, parse_switch, warm_by_default
from app.services.workspace import Workspace
from components.errors import DuctworkError
from components.fields import did_you_mean

__all__ = ["SETTINGS", "Setting", "set_setting", "unset_setting", "show_settings"]


@dataclass(frozen=True)
class Setting:
    name: str
    help: str
    override: str  #: what wins over the file


SETTINGS = {s.name: s for s in (
    Setting("store", "the artifact store: s3://bucket/prefix or a shared folder (default: this workspace's "
            "artifacts/ folder)", "--store / DUCTWORK_STORE"),
    Setting("address", "the Ray cluster runs join, e.g. 10.0.0.5:6379 (default: a local Ray)", "--address / RAY_ADDRESS"),
    Setting("name", "how reuse records on a shared store name this workspace (default: host:folder)", ""),
    Setting("warm", "whether runs start the workspace's warm Ray, kept between runs until 15 idle minutes "
            "(true, the default), or each run without one starts a Ray of its own (false)",
            "--warm / --no-warm / DUCTWORK_WARM / CI"),
)}


def _known(name: str) -> Setting:
    if name not in SETTINGS:
        raise DuctworkError(f"'{name}' is not a workspace setting.{did_you_mean(name, SETTINGS)} "
                            f"The settings are: {', '.join(SETTINGS)}")
    return SETTINGS[name]


def _write(ws: Workspace, values: dict[str, str]) -> None:
    tmp = ws.settings_path.with_name(f".settings-{uuid.uuid4().hex}")
    try:
        tmp.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, ws.settings_path)
    finally:
        tmp.unlink(missing_ok=True)


def set_setting(ws: Workspace, name: str, value: str) -> dict[str, str]:
    """Set one setting; a store URL is checked (reachable, writable) before it is kept."""
    _known(name)
    value = value.strip()
    if not value:
        raise DuctworkError(f"the value of '{name}' is empty; to go back to the default use `ductwork settings "
                            f"unset {name}`")
    values = ws.settings()
    if name == "store":
        open_store(value, ws.name)
    if name == "warm":
        value = "true" if parse_switch(value, "the value of 'warm'") else "false"
    values[name] = value
    _write(ws, values)
    return values


def unset_setting(ws: Workspace, name: str) -> dict[str, str]:
    _known(name)
    values = ws.settings()
    values.pop(name, None)
    _write(ws, values)
    return values


def show_settings(ws: Workspace) -> list[dict[str, str | None]]:
    """Every setting: its value in the file, what is in effect, and where that comes from."""
    saved = ws.settings()
    warm, why = warm_by_default(ws)
    effective = {"store": ws.store_url or f"{ws.artifacts_dir} (local)", "address": ws.address or "local Ray",
                 "name": ws.name, "warm": "true" if warm else "false"}
    rows = []
    for setting in SETTINGS.values():
        env = {"store": os.environ.get("DUCTWORK_STORE"), "address": os.environ.get("RAY_ADDRESS"),
               "warm": os.environ.get(WARM_ENV) if why == WARM_ENV else "CI" if why == "CI is set" else None
               }.get(setting.name)
        source = "environment" if env else "settings file" if setting.name in saved else "default"
        rows.append({"name": setting.name, "value": saved.get(setting.name), "effective": effective[setting.name],
                     "source": source, "help": setting.help})
    return rows
