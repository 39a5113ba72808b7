"""The workspace's warm Ray (engine/workspace_ray.py) through the real CLI: runs share it,
it outlives them, it stops when asked or when idle, a dead driver or keeper is handled,
and a fully reused run never starts it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest
from test_cli_run import _processes_with, _wait_for, cli, engine_copy, spawn, statuses

from engine.workspace_ray import WorkspaceRay

pytestmark = pytest.mark.ray


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _run(home: Path, *args: str) -> dict:
    done = cli(home, "run", *args, "--json")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(done.stdout)


def _nodes(data: dict) -> set[str]:
    return {s["node_id"] for s in data["steps"] if s["status"] == "completed"}


def test_runs_share_the_warm_ray_which_outlives_them_until_stopped(warm, tmp_path):
    home, wr = warm
    chain = str(engine_copy(tmp_path) / "chain.yml")
    first = _run(home, chain, "--warm")  # starts it
    assert set(statuses(first).values()) == {"completed"}
    status = json.loads(cli(home, "ray", "status", "--json").stdout)
    assert status["running"] and status["drivers"] == [] and status["auth_mode"]
    second = _run(home, chain, "--force")  # a plain run joins the running one
    assert set(statuses(second).values()) == {"completed"}
    assert _nodes(first) == _nodes(second) and len(_nodes(first)) == 1  # the same Ray node both times
    assert json.loads(cli(home, "ray", "status", "--json").stdout)["pid"] == status["pid"]

    wr.join()  # this test process registers as a run driver: stopping is refused
    try:
        refused = cli(home, "ray", "stop")
        assert refused.returncode == 2
        assert "in use by 1 run driver" in refused.stderr and "--force" in refused.stderr
    finally:
        wr.leave()
    assert _wait_for(lambda: _ready_workers(status["pid"]), 60)
    idle = _ready_workers(status["pid"])  # retitled `ray::IDLE`: not found by their command line
    stopped = cli(home, "ray", "stop")
    assert stopped.returncode == 0 and "stopped the warm Ray" in stopped.stderr + stopped.stdout
    assert _wait_for(lambda: _gone(status["pid"]), 30)
    assert _wait_for(lambda: not _processes_with(status["temp_dir"]), 30), "Ray processes outlived the keeper"
    assert _wait_for(lambda: all(_gone(pid) for pid in idle), 30), "idle workers outlived the keeper"
    assert not json.loads(cli(home, "ray", "status", "--json").stdout)["running"]
    third = _run(home, chain, "--force")  # nothing to join: an embedded Ray of its own, a new node
    assert _nodes(third).isdisjoint(_nodes(first))
    assert wr.head() is None


def test_it_stops_by_itself_after_the_idle_time(warm):
    home, wr = warm
    started = cli(home, "ray", "start", "--idle", "2s", "--json")
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    assert info["running"] and info["idle_s"] == 2
    assert _wait_for(lambda: wr.head() is None and _gone(info["pid"]), 60)
    assert "idle for 2 s: stopping" in (home / "ray" / "keeper.log").read_text()
    assert _wait_for(lambda: not _processes_with(info["temp_dir"]), 30)


def test_bad_options_are_refused_without_starting_anything(warm):
    home, wr = warm
    for args, message in ((["--idle", "soon"], "'soon' is not a duration"),
                          (["--idle", "0"], "more than 0 seconds"), (["--cpus", "0"], "at least 1")):
        done = cli(home, "ray", "start", *args)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert wr.head() is None
    nothing = cli(home, "ray", "stop")
    assert nothing.returncode == 0 and "no warm Ray was running" in nothing.stderr + nothing.stdout


def test_a_fully_reused_run_with_warm_starts_no_ray(warm, tmp_path):
    home, wr = warm
    chain = str(engine_copy(tmp_path) / "chain.yml")
    _run(home, chain, "--in-process")
    again = _run(home, chain, "--warm")
    assert set(statuses(again).values()) == {"reused"}
    assert wr.head() is None and not (home / "ray" / "head.json").exists()


def test_a_killed_driver_takes_its_steps_along_and_the_warm_ray_stays_usable(warm, tmp_path):
    home, wr = warm
    res = engine_copy(tmp_path)
    assert cli(home, "ray", "start").returncode == 0
    keeper = wr.head().pid
    proc = spawn(home, "run", str(res / "nap.yml"), "--set", "seconds=88.8")
    assert _wait_for(lambda: any((home / "logs").glob("*/nap.log")), 60), "the step never started"
    assert _wait_for(lambda: "started" in next((home / "logs").glob("*/nap.log")).read_text(), 30)
    assert wr.drivers() == [proc.pid]
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert _wait_for(lambda: not _processes_with("sleep 88.8"), 30), "the step's process outlived its driver"
    assert wr.drivers() == [] and wr.head().pid == keeper  # a dead driver does not keep it busy
    after = _run(home, str(res / "chain.yml"))
    assert set(statuses(after).values()) == {"completed"}
    assert wr.head().pid == keeper


def test_a_dead_keeper_is_not_joined(warm, tmp_path):
    home, wr = warm
    chain = str(engine_copy(tmp_path) / "chain.yml")
    assert cli(home, "ray", "start").returncode == 0
    head = wr.head()
    os.kill(head.pid, signal.SIGKILL)
    assert _wait_for(lambda: _gone(head.pid), 30)
    assert _wait_for(lambda: not _processes_with(head.temp_dir), 30), "Ray processes outlived a killed keeper"
    assert not json.loads(cli(home, "ray", "status", "--json").stdout)["running"]
    done = _run(home, chain)  # falls back to an embedded Ray of its own
    assert set(statuses(done).values()) == {"completed"}
    assert wr.head() is None


def _write_head(folder: Path, **changes) -> None:
    me = psutil.Process()
    head = {"address": "127.0.0.1:1", "pid": me.pid, "created": me.create_time(), "started_at": time.time(),
            "idle_s": 60.0, "num_cpus": 1, "temp_dir": "/tmp/none", "auth_mode": "token",
            "host": __import__("socket").gethostname(), **changes}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "head.json").write_text(json.dumps(head))


def test_a_head_record_is_trusted_only_for_a_live_keeper_on_this_machine(tmp_path):
    wr = WorkspaceRay(tmp_path / "ray")
    _write_head(wr.folder)
    assert wr.head().pid == os.getpid()  # a live process with the recorded start time
    _write_head(wr.folder, host="another-machine")  # a workspace on shared storage
    assert wr.head() is None and wr.head_path.exists()  # not ours to judge or remove
    wr.head_path.write_text("{not json")
    assert wr.head() is None
    _write_head(wr.folder, created=psutil.Process().create_time() - 1000)  # the pid was reused
    assert wr.head() is None and not wr.head_path.exists()  # a dead keeper's record is removed
    (wr.drivers_dir).mkdir(parents=True)
    (wr.drivers_dir / "999999999").write_text("")  # no such process
    (wr.drivers_dir / str(os.getpid())).write_text("")
    assert wr.drivers() == [os.getpid()] and not (wr.drivers_dir / "999999999").exists()


def _ready_workers(keeper_pid: int) -> set[int]:
    """Pids of the idle Ray workers of the warm node (children of its raylet titled ray::IDLE)."""
    idle: set[int] = set()
    for raylet in (c for c in psutil.Process(keeper_pid).children() if c.name() == "raylet"):
        for worker in raylet.children():
            try:
                if worker.cmdline()[:1] == ["ray::IDLE"]:
                    idle.add(worker.pid)
            except psutil.Error:
                continue
    return idle


def test_between_runs_idle_workers_stay_started_and_the_next_run_uses_one(warm, tmp_path):
    home, wr = warm
    pipeline = tmp_path / "worker.yml"  # its step writes the pid of the Ray worker that ran it
    pipeline.write_text(
        "type: pipeline\nname: which_worker\njobs:\n  probe:\n    type: command\n"
        "    command: echo $PPID > ${{outputs.out}}/worker.txt\n"
        "    outputs:\n      out: {type: uri_folder}\n")
    first = _run(home, str(pipeline), "--warm")
    head = wr.head()
    first_worker = int((Path(first["steps"][0]["outputs"]["out"]) / "worker.txt").read_text())
    target = min(head.num_cpus, 8)
    # the CLI leaves the warm Ray by exiting, without a disconnect: Ray still ends the job's workers
    assert _wait_for(lambda: _gone(first_worker), 30), "the run's worker outlived its driver"
    # and the keeper starts new idle ones, up to one per CPU
    assert _wait_for(lambda: len(_ready_workers(head.pid)) == target, 60), _ready_workers(head.pid)
    ready = _ready_workers(head.pid)
    time.sleep(3)  # and no more than that, however long nothing runs
    assert len(_ready_workers(head.pid)) == target
    second = _run(home, str(pipeline), "--force")
    worker = int((Path(second["steps"][0]["outputs"]["out"]) / "worker.txt").read_text())
    assert worker in ready, f"the step ran in worker {worker}, not in one of the idle ones {sorted(ready)}"
