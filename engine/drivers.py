"""Run drivers' liveness: one small file per live driver, a heartbeat, and one rule for
telling a live driver from a dead one.

``<folder>/<run_id>.json`` holds the driver's host, pid and process start time. It is written
(atomically) before the run is recorded and removed when the run ends; while the run lasts a
thread touches it every :data:`BEAT_S` seconds, so its modification time is the driver's last
sign of life. A driver killed with SIGKILL leaves its file behind: the next workspace open
finds the process gone and records the run ``interrupted`` at that last heartbeat.

The same rule (:func:`driver_alive`) judges a run record's ``host``/``driver_pid`` (``gc``) and
a driver file (the open hook, leftovers): the pid must run on this host and be the process
that started before the run did — a pid reused by a later process is not the driver.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from engine.processes import process_started

__all__ = ["BEAT_S", "DriverFile", "DriverInfo", "driver_alive", "read_driver_file"]

BEAT_S = 1.0  #: how often a live driver touches its file
START_SLACK_S = 1.0  #: a driver process may have started this long after what its record says


def driver_alive(host: str | None, pid: int | None, started_by: float | None) -> bool | None:
    """Whether the driver ``pid`` on ``host`` still runs: ``None`` when that cannot be told
    here (another host, no pid); else whether a process ``pid`` runs that started no later
    than ``started_by`` (+ slack)."""
    if host != socket.gethostname() or pid is None or pid <= 0:
        return None
    started = process_started(pid)
    return started is not None and (started_by is None or started <= started_by + START_SLACK_S)


@dataclass(frozen=True)
class DriverInfo:
    """What a driver file says, and when it was last touched (its heartbeat)."""

    run_id: str
    host: str | None
    pid: int | None
    created: float | None
    heartbeat: float

    @property
    def alive(self) -> bool | None:
        return driver_alive(self.host, self.pid, self.created)


def read_driver_file(path: Path) -> DriverInfo | None:
    """The driver file at ``path``; ``None`` when it is gone or unreadable."""
    try:
        heartbeat = path.stat().st_mtime
        info = json.loads(path.read_text())
        pid = int(info["pid"]) if info.get("pid") is not None else None
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return DriverInfo(path.stem, info.get("host"), pid, info.get("created"), heartbeat)


class DriverFile:
    """This process's driver file for one run, with its heartbeat thread (a context manager)."""

    def __init__(self, folder: Path, run_id: str, pid: int | None = None):
        self.path = folder / f"{run_id}.json"
        self.pid = pid or os.getpid()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def write(self) -> DriverFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"pid": self.pid, "host": socket.gethostname(),
                                   "created": process_started(self.pid)}))
        os.replace(tmp, self.path)
        return self

    def __enter__(self) -> DriverFile:
        self.write()
        self._thread = threading.Thread(target=self._beat, name="ductwork-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _beat(self) -> None:
        while not self._stop.wait(BEAT_S):
            with contextlib.suppress(OSError):
                os.utime(self.path)
