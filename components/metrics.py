"""Metrics a step reports: ``log_metric(name, value, step=None)``, the one implementation that
the built-in components, user components and function components call.

A metric is one JSON line ``{"name", "value", "step", "ts"}`` appended to the file named by
``DUCTWORK_METRICS_FILE``, which the engine sets for every step and records with the step run
(``engine.metrics.read_metrics``). A command step in any language may append such lines itself.
Outside Ductwork (no file named) the metric is only printed.
"""

from __future__ import annotations

import json
import math
import os
import time
from contextvars import ContextVar

__all__ = ["METRICS_ENV", "current_metrics_file", "log_metric"]

METRICS_ENV = "DUCTWORK_METRICS_FILE"
#: Set by the engine while a function component runs in-process (threads share os.environ).
current_metrics_file: ContextVar[str | None] = ContextVar("ductwork_metrics_file", default=None)


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record metric ``name`` = ``value`` of the running step (at ``step``, e.g. an epoch)."""
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"metric '{name}' has the value {value!r}; expected a finite number")
    suffix = f" (step {step})" if step is not None else ""
    print(f"metric {name} = {number:.6g}{suffix}", flush=True)
    path = current_metrics_file.get() or os.environ.get(METRICS_ENV)
    if not path:
        return
    record = {"name": str(name), "value": number, "step": None if step is None else int(step), "ts": time.time()}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
