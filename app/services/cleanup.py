"""Leftovers: what dead runs and killed drivers left on disk, found and removed.

A run removes its own scratch when it ends, and an embedded Ray removes its temp folder when
it shuts down; a driver killed with SIGKILL (or a machine that lost power) does neither.
:func:`find_leftovers` lists what is left; :func:`remove_leftovers` removes it. The workspace
open hook :func:`clean_on_open` does both for the cheap part on every open (one listing of
``tmp/`` and one of the system temp folder: ≈ 0.1 ms when there is nothing to do), and
``ductwork doctor`` reports and repairs all of it.

What counts as a leftover (the ``kind`` of a :class:`Leftover`):

- ``scratch of dead run`` / ``empty run folder``: ``<home>/tmp/<run_id>/`` whose run has no
  live driver — its driver file ``tmp/drivers/<run_id>.json`` is gone, or names a process
  that has died (``engine.drivers.driver_alive``, as ``mark_interrupted_runs`` decides) — and
  that was not changed for :data:`MIN_AGE_S` seconds (a run that is just starting writes
  its driver file first, but the age keeps a listing taken at that moment from racing it);
- ``evicted artifact``: ``<home>/tmp/.evicted-*``, an artifact renamed out of the way whose
  removal a crash interrupted;
- ``ray temp folder``: ``/tmp/ductwork-ray-<pid>`` (an embedded Ray) or
  ``/tmp/ductwork-ray-ws-<pid>`` (a warm Ray's) owned by this user whose process is gone
  (or is a later process that reused the pid) and that no running process names in its
  command line (Ray's own processes carry it there);
- ``partial artifact copy``: ``<home>/artifacts/.staging-*``, a copy from another file
  system that a crash interrupted, older than :data:`STAGING_AGE_S` (only
  :func:`find_leftovers` looks: listing ``artifacts/`` is not cheap).

Not leftovers — records, kept on purpose: ``tmp/drivers/*.json`` of live drivers (a dead
one's is ``mark_interrupted_runs``'s to remove, after it marks the run interrupted),
``tmp/submitted/<run_id>.yml`` (the pipeline an app run was started from: its ``source``,
which ``runs clone`` reads), and ``logs/<run_id>/`` (a run's step and driver logs).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from app.services.workspace import Workspace
from engine.drivers import read_driver_file
from engine.processes import process_alive, process_started
from engine.ray_watchdog import RAY_TEMP_PREFIXES, RAY_TEMP_ROOT

__all__ = ["KINDS", "Leftover", "MIN_AGE_S", "STAGING_AGE_S", "clean_on_open", "find_leftovers",
           "remove_leftovers"]

MIN_AGE_S = 5.0  #: a run folder, evicted artifact or Ray temp folder changed more recently is left alone
STAGING_AGE_S = 3600.0  #: a partial artifact copy younger than this may still be being copied
_PID_SLACK_S = 0.5  #: a process started this long after its Ray folder last changed is a later one
_RECORDS = ("drivers", "submitted")  #: folders under tmp/ that are records, not run scratch
_EVICTED = ".evicted-"  #: engine.artifacts: evicted artifacts under tmp/
_STAGING = ".staging-"  #: engine.artifacts: partial copies under artifacts/

SCRATCH = "scratch of dead run"
EMPTY_RUN = "empty run folder"
EVICTED = "evicted artifact"
RAY_TEMP = "ray temp folder"
STAGING = "partial artifact copy"
KINDS = (SCRATCH, EMPTY_RUN, EVICTED, RAY_TEMP, STAGING)  #: every ``Leftover.kind``, in report order


@dataclass(frozen=True)
class Leftover:
    """One thing left behind: where it is, what it is (one of :data:`KINDS`), its size in bytes
    (files under it, 0 for an empty folder) and a short ``detail`` for people (e.g. the run id
    or the dead pid)."""

    path: Path
    kind: str
    size: int
    detail: str = ""


def find_leftovers(ws: Workspace, now: float | None = None) -> list[Leftover]:
    """Everything dead runs and killed drivers left behind in workspace ``ws`` and in the
    system temp folder (see the module's note for what counts), in :data:`KINDS` order, then by
    path. Reads only; never fails on a folder that vanishes meanwhile. ``now`` (tests): the
    time ages are measured from."""
    now = time.time() if now is None else now
    found = _tmp_leftovers(ws, now) + _ray_leftovers(now) + _staging_leftovers(ws, now)
    return sorted(found, key=lambda item: (KINDS.index(item.kind), str(item.path)))


def remove_leftovers(ws: Workspace, items: list[Leftover] | None = None, now: float | None = None) -> list[Leftover]:
    """Remove leftovers and return those removed. ``items=None``: every current one; else only
    those of ``items`` that are still leftovers now (each is checked again, so a list kept
    for a while never removes what became live meanwhile, e.g. a reused pid's Ray folder).
    ``now`` (tests): the time ages are measured from."""
    current = find_leftovers(ws, now)
    if items is not None:
        wanted = {item.path for item in items}
        current = [item for item in current if item.path in wanted]
    return [item for item in current if _remove(item.path)]


def clean_on_open(ws: Workspace) -> None:
    """Workspace open hook: remove the leftovers that are cheap to find (not partial artifact
    copies). Costs two directory listings when there is nothing to do; never fails the open."""
    now = time.time()
    with contextlib.suppress(OSError):
        for item in _tmp_leftovers(ws, now) + _ray_leftovers(now):
            _remove(item.path)


# ---------------------------------------------------------------------- finding
def _tmp_leftovers(ws: Workspace, now: float) -> list[Leftover]:
    try:
        with os.scandir(ws.tmp_dir) as it:
            entries = [e for e in it if e.name not in _RECORDS and _is_dir(e)]
    except FileNotFoundError:
        return []
    if not entries:
        return []
    found: list[Leftover] = []
    for entry in entries:
        if not _older(entry.path, now, MIN_AGE_S):
            continue
        if entry.name.startswith(_EVICTED):
            found.append(_leftover(entry.path, EVICTED))
        elif not entry.name.startswith(".") and not _driver_live(ws.tmp_dir / "drivers" / f"{entry.name}.json"):
            empty = _is_empty(entry.path)
            found.append(_leftover(entry.path, EMPTY_RUN if empty else SCRATCH, f"run {entry.name}"))
    return found


def _ray_leftovers(now: float) -> list[Leftover]:
    uid = os.getuid()
    candidates: list[tuple[str, int]] = []
    try:
        with os.scandir(RAY_TEMP_ROOT) as it:
            for entry in it:
                pid = _ray_temp_pid(entry.name)
                if pid is not None and _is_dir(entry) and entry.stat(follow_symlinks=False).st_uid == uid:
                    candidates.append((entry.path, pid))
    except OSError:
        return []
    dead = [(path, pid) for path, pid in candidates if _owner_gone(path, pid, now)]
    if not dead:
        return []
    named = _paths_in_command_lines([path for path, _ in dead])
    return [_leftover(path, RAY_TEMP, f"its process {pid} is gone") for path, pid in dead if path not in named]


def _staging_leftovers(ws: Workspace, now: float) -> list[Leftover]:
    try:
        with os.scandir(ws.artifacts_dir) as it:
            paths = [e.path for e in it if e.name.startswith(_STAGING)]
    except FileNotFoundError:
        return []
    return [_leftover(p, STAGING) for p in paths if _older(p, now, STAGING_AGE_S)]


def _ray_temp_pid(name: str) -> int | None:
    for prefix in RAY_TEMP_PREFIXES:
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            return int(name[len(prefix):])
    return None


def _owner_gone(path: str, pid: int, now: float) -> bool:
    """The process that made Ray temp folder ``path`` is gone: ``pid`` is dead, or it is a later
    process (started after the folder last changed, so it cannot have made it)."""
    if not _older(path, now, MIN_AGE_S):
        return False
    if not process_alive(pid):
        return True
    started = process_started(pid)
    return started is not None and started > _changed(path) + _PID_SLACK_S


def _driver_live(path: Path) -> bool:
    """Whether driver file ``path`` names a driver that may still run (engine/drivers.py's rule; one
    that cannot be told here, on another host, counts as live); a missing file names none."""
    info = read_driver_file(path)
    return info is not None and info.alive is not False


def _paths_in_command_lines(paths: list[str]) -> set[str]:
    """Those of ``paths`` that some running process names in its command line."""
    named: set[str] = set()
    with contextlib.suppress(OSError):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    line = fh.read().decode(errors="replace")
            except OSError:
                continue
            named.update(p for p in paths if p in line)
    return named


# ---------------------------------------------------------------------- small helpers
def _leftover(path: str, kind: str, detail: str = "") -> Leftover:
    from engine.hashing import tree_size  # imports blake3 (≈ 3 ms): only when something was found

    return Leftover(Path(path), kind, tree_size(path) or 0, detail)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _is_empty(path: str) -> bool:
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except OSError:
        return False


def _changed(path: str) -> float:
    return os.stat(path, follow_symlinks=False).st_mtime  # a folder's changes when an entry comes or goes


def _older(path: str, now: float, age: float) -> bool:
    try:
        return _changed(path) < now - age
    except OSError:
        return False


def _remove(path: Path) -> bool:
    """Remove a leftover folder; ``False`` when nothing was there or it could not be removed."""
    if not path.exists():
        return False
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():  # a step may leave a read-only folder: make the folders writable, once more
        for folder, _dirs, _files in os.walk(path):
            with contextlib.suppress(OSError):
                os.chmod(folder, 0o700)
        shutil.rmtree(path, ignore_errors=True)
    return not path.exists()
