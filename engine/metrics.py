"""Metrics a step reports: ``log_metric(name, value, step=None)`` appends to the JSONL file
named by ``DUCTWORK_METRICS_FILE`` (set for every step); the engine records them with the run.

A command step in any language may append ``{"name": ..., "value": ..., "step": ...}``
lines to that file itself.
"""

from __future__ import annotations

import json
import math
import os
import time
from contextvars import ContextVar
from typing import Any

__all__ = ["METRICS_ENV", "log_metric", "read_metrics"]

METRICS_ENV = "DUCTWORK_METRICS_FILE"
#: Set by the engine while a function component runs in-process (threads share os.environ).
current_metrics_file: ContextVar[str | None] = ContextVar("ductwork_metrics_file", default=None)


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record one metric value of the running step (no-op outside a Ductwork step)."""
    path = current_metrics_file.get() or os.environ.get(METRICS_ENV)
    if not path:
        return
    record = {"name": str(name), "value": float(value), "step": None if step is None else int(step),
              "ts": time.time()}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def read_metrics(path: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The metrics in a JSONL file, and a note per line that could not be read."""
    found: list[dict[str, Any]] = []
    notes: list[str] = []
    if not os.path.exists(path):
        return found, notes
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                value = float(data["value"])
                if math.isnan(value) or math.isinf(value):
                    raise ValueError("not a finite number")
                step = data.get("step")
                found.append({"name": str(data["name"]), "value": value,
                              "step": None if step is None else int(step), "ts": float(data.get("ts") or 0)})
            except (ValueError, KeyError, TypeError) as exc:
                notes.append(f"metrics line {number} ignored ({exc}): {line.strip()[:200]}")
    return found, notes
