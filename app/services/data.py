"""The workspace's known data: what a data input can be bound to besides a typed path.

Two sources: the external data recent runs read (from the run records: every step input bound
to a path, most recent first, each path once, only paths that still exist), and the sample data
the built-in templates ship (each template's data inputs, and the data files in them). The
designer's inspector offers them for a folder or file input.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from app.services.runs import run_store
from app.services.workspace import Workspace
from components.library.catalog import LIBRARY_DIR, list_templates
from components.spec import DATA_TYPES

__all__ = ["KnownData", "known_data", "recent_data", "sample_data", "data_type_of", "fits"]

#: Data types that are folders on disk; any of them takes any folder (as an output of one feeds another).
FOLDER_TYPES: frozenset[str] = frozenset(DATA_TYPES) - {"uri_file"}
#: Files inside a sample folder offered to a ``uri_file`` input.
_DATA_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt")
_RUNS_SCANNED = 200


@dataclass(frozen=True)
class KnownData:
    """A file or folder a data input may be bound to: ``path`` (absolute), ``label`` (for people),
    ``source`` (``sample``: shipped with the built-in templates; ``recent``: read by a recent run)
    and ``data_type`` (``uri_file`` for a file; ``mltable`` for a folder with an ``MLTable`` file;
    else ``uri_folder``)."""

    path: str
    label: str
    source: Literal["sample", "recent"]
    data_type: str


def data_type_of(path: str | os.PathLike[str]) -> str | None:
    """``uri_file``, ``mltable`` or ``uri_folder`` for what is at ``path``; ``None`` when nothing is."""
    p = Path(path)
    if p.is_file():
        return "uri_file"
    if p.is_dir():
        return "mltable" if (p / "MLTable").is_file() else "uri_folder"
    return None


def fits(data_type: str, input_type: str) -> bool:
    """Whether data of ``data_type`` may be bound to an input of ``input_type``: a file to a
    ``uri_file`` input, any folder to a folder input (``uri_folder``, ``mltable`` …)."""
    if input_type == "uri_file":
        return data_type == "uri_file"
    return input_type in FOLDER_TYPES and data_type in FOLDER_TYPES


def known_data(ws: Workspace, data_type: str, limit: int = 20) -> list[KnownData]:
    """What an input of ``data_type`` may be bound to: at most ``limit`` recent paths (most recent
    first), then every built-in sample that fits and is not listed already. A parameter type
    (``string`` …) has none."""
    if data_type not in DATA_TYPES:
        return []
    recent = recent_data(ws, data_type, limit)
    seen = {k.path for k in recent}
    return recent + [s for s in sample_data(data_type) if s.path not in seen]


def recent_data(ws: Workspace, data_type: str, limit: int = 20) -> list[KnownData]:
    """External data the workspace's last runs read, most recent first, each path once, only
    what still exists and fits ``data_type`` (one read of the run store)."""
    store = run_store(ws)
    with store.reading():
        runs = store.list_runs(limit=_RUNS_SCANNED)
        steps = store.step_runs_of([r.id for r in runs])
    samples = {s.path: s for s in sample_data(data_type)}
    found: dict[str, KnownData] = {}
    for run in runs:  # newest first
        for step in steps.get(run.id, []):
            for name, source in ((step.ingredients or {}).get("input_sources") or {}).items():
                kind, _, path = str(source).partition(":")
                if kind != "path" or not path or path in found or not os.path.isabs(path):
                    continue
                actual = data_type_of(path)
                if actual is None or not fits(actual, data_type):
                    continue
                when = dt.datetime.fromtimestamp(run.started_at).strftime("%Y-%m-%d %H:%M") if run.started_at else ""
                sample = " (sample)" if path in samples else ""
                found[path] = KnownData(
                    path, f"{Path(path).name}{sample} · {step.job}.{name} of run {run.id} ({run.pipeline}"
                    f"{', ' + when if when else ''})", "recent", actual)
                if len(found) >= limit:
                    return list(found.values())
    return list(found.values())


def sample_data(data_type: str) -> list[KnownData]:
    """The sample data the built-in templates ship that fits ``data_type``: each template's data
    inputs and, for a file input, the data files inside them."""
    found: dict[str, KnownData] = {}
    for template in list_templates():
        try:
            spec = yaml.safe_load(template.pipeline_file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        for name, value in (spec.get("inputs") or {}).items():
            if not isinstance(value, dict) or value.get("type") not in DATA_TYPES or not value.get("path"):
                continue
            base = (template.folder / str(value["path"])).resolve()
            entries = [base]
            if base.is_dir():
                entries += sorted(p for p in base.iterdir() if p.is_file() and p.suffix.lower() in _DATA_SUFFIXES)
            for entry in entries:
                actual = data_type_of(entry)
                if actual is None or not fits(actual, data_type) or str(entry) in found:
                    continue
                where = entry.relative_to(LIBRARY_DIR) if entry.is_relative_to(LIBRARY_DIR) else entry
                found[str(entry)] = KnownData(str(entry), f"Sample: {where} ({template.title}, input '{name}')",
                                              "sample", actual)
    return list(found.values())
