"""Every signal ends a run truthfully (issue 10, part 1): SIGTERM, SIGHUP and SIGINT at any
moment record the run and its unfinished steps ``cancelled`` and stop the step's processes; a
driver killed with SIGKILL is found ``interrupted`` at its last heartbeat; a committed output is
recorded at once, so a rerun after the driver's death reuses it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from tests.test_cli_run import _processes_with, _wait_for, cli, engine_copy, spawn, statuses


def _runs(home: Path) -> list[dict]:
    return json.loads(cli(home, "runs", "list", "--json").stdout)


def _detail(home: Path, run_id: str) -> dict:
    return json.loads(cli(home, "runs", "show", run_id, "--json").stdout)


def _nap_started(home: Path) -> bool:
    logs = list((home / "logs").glob("*/nap.log"))
    return bool(logs) and "started" in logs[0].read_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_mid_step_records_the_run_and_its_steps_cancelled(tmp_path, sig):
    res, home = engine_copy(tmp_path), tmp_path / "ws"
    # found by its command line afterwards: two digits per signal, so that one variant's sleep is
    # never a prefix of another's (71.1 of SIGHUP was one of 71.15 of SIGTERM), and this process's
    # own digits, so that another session's run of this test is not taken for this one's
    seconds = f"71.{int(sig):02d}{os.getpid() % 10000:04d}"
    proc = spawn(home, "run", str(res / "nap.yml"), "--in-process", "--set", f"seconds={seconds}")
    assert _wait_for(lambda: _nap_started(home), 60), "the step never started"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    run = _runs(home)[0]
    assert run["status"] == "cancelled", run
    detail = _detail(home, run["id"])
    assert statuses(detail) == {"nap": "cancelled", "after": "cancelled"}
    assert signal.Signals(sig).name in {s["name"]: s["reason"] for s in detail["steps"]}["nap"]
    assert _wait_for(lambda: not _processes_with(f"sleep {seconds}"), 10), "the step's process outlived the run"


@pytest.mark.ray
def test_sigterm_on_ray_is_not_taken_for_a_completed_run(tmp_path):
    """ray.init replaces the driver's SIGTERM handler with sys.exit: the run was recorded
    ``completed`` with its step ``running`` for ever."""
    res, home = engine_copy(tmp_path), tmp_path / "ws"
    proc = spawn(home, "run", str(res / "nap.yml"), "--set", "seconds=72.5")
    assert _wait_for(lambda: _nap_started(home), 90), "the step never started"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    run = _runs(home)[0]
    assert run["status"] == "cancelled"
    assert statuses(_detail(home, run["id"])) == {"nap": "cancelled", "after": "cancelled"}
    assert _wait_for(lambda: not _processes_with("sleep 72.5"), 10)
    assert _wait_for(lambda: not _processes_with(f"ductwork-ray-{proc.pid}"), 20)


@pytest.mark.ray
def test_sigterm_while_ray_starts_cancels_the_run_already_recorded(tmp_path):
    res, home = engine_copy(tmp_path), tmp_path / "ws"
    proc = spawn(home, "run", str(res / "nap.yml"), "--set", "seconds=73.5")
    temp = Path(f"/tmp/ductwork-ray-{proc.pid}")
    assert _wait_for(temp.exists, 60), "Ray never started"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    run = _runs(home)[0]
    assert run["status"] == "cancelled"
    assert set(statuses(_detail(home, run["id"])).values()) == {"cancelled"}
    assert _wait_for(lambda: not _processes_with(f"ductwork-ray-{proc.pid}"), 20)


def test_a_stop_before_the_pipeline_is_loaded_says_no_run_was_started(tmp_path):
    res, home = engine_copy(tmp_path), tmp_path / "ws"
    assert cli(home, "init").returncode == 0
    proc = spawn(home, "run", str(res / "nap.yml"), "--in-process")
    time.sleep(0.3)  # still importing: no run exists yet
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (130, -signal.SIGTERM), out + err  # -15: the signal came before Python's handlers
    assert "Traceback" not in out + err
    for run in _runs(home):  # whatever was recorded is not left running
        assert run["status"] == "cancelled"


def test_sigkill_leaves_a_run_interrupted_at_its_last_heartbeat_and_its_committed_output_reused(tmp_path):
    res, home = engine_copy(tmp_path), tmp_path / "ws"
    pipeline = res / "two.yml"
    pipeline.write_text("""
type: pipeline
name: engine_two
jobs:
  first:
    type: command
    command: echo one > ${{outputs.out}}/one.txt
    outputs: {out: {type: uri_folder}}
  second:
    type: command
    command: cat ${{inputs.dep}}/one.txt; echo started; sleep 74.5; echo two > ${{outputs.out}}/two.txt
    inputs: {dep: '${{parent.jobs.first.outputs.out}}'}
    outputs: {out: {type: uri_folder}}
""")
    proc = spawn(home, "run", str(pipeline), "--in-process")

    def second_started() -> bool:
        logs = list((home / "logs").glob("*/second.log"))
        return bool(logs) and "started" in logs[0].read_text()

    assert _wait_for(second_started, 60)
    time.sleep(2.5)  # a few heartbeats
    proc.kill()
    killed_at = time.time()
    proc.communicate(timeout=30)
    run = _runs(home)[0]
    assert run["status"] == "interrupted", run
    from engine.duckdb_store import DuckDBRunStore

    ended = DuckDBRunStore(home / "runs.duckdb").get_run(run["id"]).ended_at
    assert killed_at - 2.5 <= ended <= killed_at + 0.1, (ended, killed_at)  # heartbeats are 1 s apart
    detail = _detail(home, run["id"])
    assert statuses(detail) == {"first": "completed", "second": "cancelled"}
    assert _wait_for(lambda: not _processes_with("sleep 74.5"), 10)
    pipeline.write_text(pipeline.read_text().replace("sleep 74.5", "sleep 0"))
    again = json.loads(cli(home, "run", str(pipeline), "--in-process", "--json").stdout)
    assert statuses(again) == {"first": "reused", "second": "completed"}


def test_a_step_committed_just_before_its_driver_died_is_recorded_completed_from_its_manifest(ws):
    """The commit writes the reuse manifest at once; the run store's record follows at the
    next flush. A driver killed in between leaves the manifest, and the next open records
    the step ``completed`` from it (and its reuse record), not ``cancelled``."""
    from app.services.runs import artifact_store, drivers_dir, mark_interrupted_runs, run_store
    from engine.drivers import DriverFile
    from engine.manifests import ReuseManifests
    from engine.records import OutputRef, ReuseRecord, RunRecord, StepRunRecord, StoreBatch

    dead = psutil.Popen(["true"])
    dead.wait()
    started = time.time() - 5
    store = run_store(ws)
    store.apply(StoreBatch(
        runs=[RunRecord(id="r1", pipeline="p", status="running", started_at=started, host=_host(),
                        driver_pid=dead.pid)],
        step_runs=[StepRunRecord(run_id="r1", job="done", component="c:1", status="running", signature="s" * 64,
                                 started_at=started),
                   StepRunRecord(run_id="r1", job="busy", component="c:1", status="running", signature="t" * 64,
                                 started_at=started)]))
    made = ReuseRecord("s" * 64, "r1", "done", {"out": OutputRef("d" * 64, 3)}, 1.5, started + 1.5)
    ReuseManifests.beside(artifact_store(ws)).put(made)
    DriverFile(drivers_dir(ws), "r1", pid=dead.pid).write()
    assert mark_interrupted_runs(ws) == ["r1"]
    steps = {s.job: s for s in store.step_runs("r1")}
    assert steps["done"].status == "completed" and steps["done"].outputs == made.outputs
    assert steps["busy"].status == "cancelled" and steps["busy"].reason == "driver died"
    assert store.get_run("r1").status == "interrupted"
    assert store.find_reuse(["s" * 64])["s" * 64].run_id == "r1"


def _host() -> str:
    import socket

    return socket.gethostname()


def test_a_stop_signal_a_library_handler_swallowed_is_raised_when_our_handlers_come_back():
    """Ray's SIGTERM handler (sys.exit) run inside a finaliser loses its SystemExit ("Exception
    ignored in: <function _releaseLock>"): the driver went on as if nothing had arrived."""
    from engine import signals

    with signals.stop_on_signals():
        signal.signal(signal.SIGTERM, lambda signum, frame: None)  # a library's handler that loses it
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        with pytest.raises(signals.Stopped) as stopped:
            signals.reassert()
        assert stopped.value.name == "SIGTERM"
        signals.reassert()  # counted once: no second raise
        with pytest.raises(signals.Stopped):  # ours handle it again, and are counted as having seen it
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
        signals.reassert()
