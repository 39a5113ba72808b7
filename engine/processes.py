"""Small process checks shared by the step runtime, the warm Ray and the run drivers' records
(psutil is imported only when a start time is asked for)."""

from __future__ import annotations

import os

__all__ = ["process_alive", "process_started"]


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (dead, not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): the signal test above is all there is


def process_started(pid: int) -> float | None:
    """When ``pid`` started (epoch seconds, as psutil gives it), or ``None`` if there is no such
    process (or it may not be inspected). With the pid it tells a process from a later one
    that reused the pid."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return None
