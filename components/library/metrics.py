"""Metric logging for the built-in components' scripts (the fallback of ``engine.metrics``).

A step's process appends one JSON line ``{"name", "value", "step"}`` per metric to the
file named by ``DUCTWORK_METRICS_FILE``; the engine sets that variable and records the
lines with the step run. Outside Ductwork (the variable unset) the metric is printed
only. The scripts prefer ``engine.metrics.log_metric`` and import this one when the
engine is not importable, so the file format has a single definition per side.
"""

from __future__ import annotations

import json
import math
import os

__all__ = ["METRICS_FILE_ENV", "log_metric"]

METRICS_FILE_ENV = "DUCTWORK_METRICS_FILE"


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record metric ``name`` = ``value`` (at ``step``, e.g. an epoch, when given)."""
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"metric '{name}' has the value {value!r}; expected a finite number")
    suffix = f" (step {step})" if step is not None else ""
    print(f"metric {name} = {number:.6g}{suffix}", flush=True)
    path = os.environ.get(METRICS_FILE_ENV)
    if not path:
        return
    line = json.dumps({"name": str(name), "value": number, "step": None if step is None else int(step)})
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
