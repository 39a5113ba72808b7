"""Nothing is left behind: a killed driver's embedded Ray ends at once (its watchdog), and what dead
runs left on disk is found and removed (app/services/cleanup.py) on the next open."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from app.services.cleanup import EMPTY_RUN, EVICTED, RAY_TEMP, SCRATCH, find_leftovers, remove_leftovers
from app.services.workspace import open_workspace
from engine.processes import process_started
from engine.ray_watchdog import embedded_temp_dir
from tests.test_cli_run import _wait_for, engine_copy

ENTRY = "from app.cli import main; main()"


def _aged(*paths: Path, seconds: float = 60.0) -> None:
    then = time.time() - seconds
    for path in paths:
        os.utime(path, (then, then))


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def ws(tmp_path, monkeypatch):
    monkeypatch.setenv("DUCTWORK_SEED", "0")
    workspace = open_workspace(tmp_path / "ws")
    yield workspace
    workspace.close()


def test_dead_runs_scratch_evicted_artifacts_and_dead_rays_folders_are_leftovers_live_ones_are_not(ws, tmp_path):
    tmp = ws.tmp_dir
    dead = tmp / "run-dead" / "train-1234"
    dead.mkdir(parents=True)
    (dead / "half.bin").write_bytes(b"x" * 10)
    empty = tmp / "run-empty"
    empty.mkdir()
    evicted = tmp / ".evicted-abc"
    evicted.mkdir()
    live = tmp / "run-live" / "prep-1"
    live.mkdir(parents=True)
    drivers = tmp / "drivers"
    drivers.mkdir(exist_ok=True)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "created": process_started(os.getpid())}
    (drivers / "run-live.json").write_text(json.dumps(me))
    (drivers / "run-dead.json").write_text(json.dumps({**me, "pid": _dead_pid()}))
    (tmp / "submitted").mkdir()
    (tmp / "submitted" / "run-dead.yml").write_text("kept: it is the run's source\n")
    ray_dead = Path(embedded_temp_dir(_dead_pid()))
    sleeper = subprocess.Popen(["sleep", "60"])  # a live process, started before its Ray folder
    ray_live = Path(embedded_temp_dir(sleeper.pid))
    for folder in (ray_dead, ray_live):
        folder.mkdir(exist_ok=True)
    try:
        mine = {tmp / "run-dead", empty, evicted, ray_dead}
        assert not mine & {i.path for i in find_leftovers(ws)}  # all changed a moment ago: a run may be starting
        later = time.time() + 60
        found = {item.path: item for item in find_leftovers(ws, now=later)}
        assert found[tmp / "run-dead"].kind == SCRATCH and found[tmp / "run-dead"].size == 10
        assert found[empty].kind == EMPTY_RUN and found[evicted].kind == EVICTED
        assert found[ray_dead].kind == RAY_TEMP
        # a live driver's run, a live process's Ray folder and the records stay
        assert not {tmp / "run-live", ray_live, tmp / "submitted", drivers} & set(found)
        removed = remove_leftovers(ws, now=later)
        assert mine <= {item.path for item in removed}
        assert not any(p.exists() for p in found)
        assert (tmp / "run-live").is_dir() and ray_live.is_dir()
        assert (tmp / "submitted" / "run-dead.yml").is_file()
    finally:
        sleeper.kill()
        sleeper.wait()
        shutil.rmtree(ray_dead, ignore_errors=True)
        shutil.rmtree(ray_live, ignore_errors=True)


def test_remove_leftovers_removes_only_what_is_still_a_leftover(ws):
    old = ws.tmp_dir / "run-old"
    old.mkdir()
    later = time.time() + 60
    items = find_leftovers(ws, now=later)
    assert [i.path for i in items] == [old]
    drivers = ws.tmp_dir / "drivers"
    drivers.mkdir(exist_ok=True)  # the run came back to life meanwhile (a live driver owns the folder now)
    (drivers / "run-old.json").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                                       "created": process_started(os.getpid())}))
    assert remove_leftovers(ws, items, now=later) == [] and old.is_dir()


def _processes_of(temp_dir: str, pids: set[int]) -> list[psutil.Process]:
    """Processes of one Ray: those seen while it ran (by pid: Ray's agents rename themselves) and
    any whose command line names its temp folder."""
    found = []
    for proc in psutil.process_iter(["cmdline", "pid"]):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        if proc.info["pid"] in pids or temp_dir in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


@pytest.mark.ray
def test_a_driver_killed_with_sigkill_leaves_no_ray_process_and_the_next_open_removes_its_scratch(tmp_path):
    res, home = engine_copy(tmp_path), tmp_path / "ws"
    proc = subprocess.Popen([sys.executable, "-c", ENTRY, "--home", str(home), "run", str(res / "nap.yml"),
                             "--set", "seconds=44.4"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    temp_dir = embedded_temp_dir(proc.pid)
    seen: set[int] = set()
    try:
        log = lambda: next((home / "logs").glob("*/nap.log"), None)  # noqa: E731
        assert _wait_for(lambda: log() is not None and "started" in log().read_text(), 90), "the step never started"
        seen = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
        assert any("Agent" in psutil.Process(p).name() for p in seen if psutil.pid_exists(p))
        run_id = log().parent.name
        assert (home / "tmp" / run_id).is_dir()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert _wait_for(lambda: not _processes_of(temp_dir, seen), 10), _processes_of(temp_dir, seen)
        assert _wait_for(lambda: not os.path.exists(temp_dir), 5)
        # the next open, 5 s after the scratch last changed, removes the dead run's scratch folder
        _aged(home / "tmp" / run_id)
        shown = subprocess.run([sys.executable, "-c", ENTRY, "--home", str(home), "runs", "show", run_id, "--json"],
                               capture_output=True, text=True, timeout=120)
        assert json.loads(shown.stdout)["status"] == "interrupted"
        assert not (home / "tmp" / run_id).exists()
    finally:
        for left in _processes_of(temp_dir, seen):
            left.kill()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.ray
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_embedded_ray_starts_leaves_no_temp_folder_and_no_process(tmp_path, sig):
    res, home = engine_copy(tmp_path), tmp_path / "ws"
    proc = subprocess.Popen([sys.executable, "-c", ENTRY, "--home", str(home), "run", str(res / "nap.yml"),
                             "--set", "seconds=33.3"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    temp_dir = embedded_temp_dir(proc.pid)
    seen: set[int] = set()
    try:
        assert _wait_for(lambda: os.path.exists(temp_dir), 60), "Ray never started"
        time.sleep(1.0)  # ray.init takes ≈ 4 s: it is starting the node's processes now
        seen = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 130, out
        assert not os.path.exists(temp_dir)
        assert _wait_for(lambda: not _processes_of(temp_dir, seen), 10), _processes_of(temp_dir, seen)
    finally:
        if proc.poll() is None:
            proc.kill()
        for left in _processes_of(temp_dir, seen):
            left.kill()
        shutil.rmtree(temp_dir, ignore_errors=True)
