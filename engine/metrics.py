"""Reading the metrics a step reported (``components.metrics.log_metric`` writes them): one JSON
line per metric in the file named by ``DUCTWORK_METRICS_FILE``.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

__all__ = ["read_metrics"]


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
