"""``ductwork run`` and ``ductwork runs`` through the real entry point, in subprocesses."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from engine.costs import format_hours, format_money

RES = Path(__file__).parent / "resources"
ENTRY = "from app.cli import main; main()"


def cli(home: Path, *args: str, timeout: float = 240, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ENTRY, "--home", str(home), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def spawn(home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", ENTRY, "--home", str(home), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def engine_copy(tmp_path: Path) -> Path:
    target = tmp_path / "engine"
    shutil.copytree(RES / "engine", target)
    return target


def statuses(data: dict) -> dict[str, str]:
    return {s["name"]: s["status"] for s in data["steps"]}


def test_a_failing_script_exits_1_with_job_and_log_lines_and_the_rerun_executes_only_what_is_left(tmp_path):
    res, home = engine_copy(tmp_path), tmp_path / "ws"
    train = res / "src" / "train" / "train.py"
    good = train.read_text()
    train.write_text("import sys\nfor i in range(30):\n    print('line', i)\nsys.exit(3)\n")
    failed = cli(home, "run", str(res / "chain.yml"), "--in-process")
    assert failed.returncode == 1, failed.stderr
    assert "step failed: job 'train' (component 'engine_train:1'), exit code 3" in failed.stdout
    assert "line 29" in failed.stdout and "line 9" not in failed.stdout  # the last 20 lines
    shown = json.loads(cli(home, "runs", "list", "--json").stdout)
    run_id = shown[0]["id"]
    assert shown[0]["status"] == "failed"
    detail = json.loads(cli(home, "runs", "show", run_id[-6:], "--json").stdout)
    assert statuses(detail) == {"prep": "completed", "train": "failed", "evaluate": "skipped"}
    logs = cli(home, "runs", "logs", run_id, "train", "--tail", "2")
    assert logs.returncode == 0 and logs.stdout.splitlines() == ["line 28", "line 29"]
    missing = cli(home, "runs", "logs", run_id, "nope")
    assert missing.returncode == 2 and "has no job 'nope'" in missing.stderr
    train.write_text(good)
    rerun = cli(home, "run", str(res / "chain.yml"), "--in-process", "--json")
    assert rerun.returncode == 0, rerun.stderr
    data = json.loads(rerun.stdout)
    assert statuses(data) == {"prep": "reused", "train": "completed", "evaluate": "completed"}
    assert set(data) >= {"id", "pipeline", "version", "status", "started_at", "ended_at", "steps"}
    step = data["steps"][2]
    assert set(step) >= {"name", "status", "reused", "signature", "compute", "node_id", "duration_s", "outputs",
                         "reason"}
    assert Path(step["outputs"]["score"]).read_text() == str(len("HELLO\n|lr=0.1"))


def test_set_overrides_an_input_and_bad_values_are_refused(tmp_path):
    res, home = engine_copy(tmp_path), tmp_path / "ws"
    assert cli(home, "run", str(res / "chain.yml"), "--in-process").returncode == 0
    again = cli(home, "run", str(res / "chain.yml"), "--in-process", "--set", "lr=0.2", "--json")
    data = json.loads(again.stdout)
    reasons = {s["name"]: s["reason"] for s in data["steps"]}
    assert reasons["train"] == "parameter lr 0.1 → 0.2" and data["steps"][0]["reused"] is True
    bad = cli(home, "run", str(res / "chain.yml"), "--set", "learning_rate=1")
    assert bad.returncode == 2 and "has no input 'learning_rate'" in bad.stderr
    plan = cli(home, "run", str(res / "chain.yml"), "--plan", "--json", "--set", "lr=0.3")
    actions = {s["name"]: (s["action"], s["reason"]) for s in json.loads(plan.stdout)["steps"]}
    assert actions == {"prep": ("reuse", actions["prep"][1]), "train": ("run", "parameter lr 0.2 → 0.3"),
                       "evaluate": ("wait", "waits for train")}


def test_runs_say_what_they_spent_and_what_reuse_saved_and_json_carries_costs_log_tails_and_estimates(tmp_path):
    res, home = engine_copy(tmp_path), tmp_path / "ws"
    assert cli(home, "compute", "update", "local", "--price", "36").returncode == 0
    first = json.loads(cli(home, "run", str(res / "chain.yml"), "--in-process", "--json").stdout)
    ran = first["steps"]
    assert first["spent"] == {
        "seconds": math.fsum(s["duration_s"] for s in ran),
        "cost": math.fsum(s["duration_s"] * 36 / 3600 for s in ran),
        "by_compute": {"local": {"seconds": math.fsum(s["duration_s"] for s in ran),
                                 "cost": math.fsum(s["duration_s"] * 36 / 3600 for s in ran)}}}
    assert first["saved"] == {"seconds": 0.0, "cost": 0.0}
    assert [s["cost"] for s in ran] == [s["duration_s"] * 36 / 3600 for s in ran]

    again = cli(home, "run", str(res / "chain.yml"), "--in-process", "--set", "lr=0.2")
    assert again.returncode == 0, again.stderr
    prep = next(s for s in ran if s["name"] == "prep")
    saved = f"reuse saved {format_hours(prep['duration_s'])} and {format_money(prep['cost'])}; spent "
    assert saved in again.stdout and " on local" in again.stdout
    listed = json.loads(cli(home, "runs", "list", "--json").stdout)
    shown = json.loads(cli(home, "runs", "show", listed[0]["id"], "--json").stdout)
    assert shown["saved"] == listed[0]["saved"] == {"seconds": prep["duration_s"], "cost": prep["cost"]}
    assert shown["spent"] == listed[0]["spent"] and listed[1]["spent"] == first["spent"]
    assert [s["cost"] for s in shown["steps"] if s["name"] == "prep"] == [prep["cost"]]
    assert "reuse saved" in cli(home, "runs", "show", listed[0]["id"]).stdout

    plan = json.loads(cli(home, "run", str(res / "chain.yml"), "--plan", "--json", "--set", "lr=0.3").stdout)
    steps = {s["name"]: s for s in plan["steps"]}
    assert steps["prep"]["estimate_s"] == prep["duration_s"] and steps["prep"]["history"] == 1
    assert steps["train"]["history"] == 2 and steps["train"]["placeable"] is True
    assert steps["train"]["placement"] == "fits this machine" and plan["placement"] == "this machine"
    table = cli(home, "run", str(res / "chain.yml"), "--plan", "--set", "lr=0.3")
    assert "estimate" in table.stdout and "placeable" in table.stdout and "to run 2 step(s)" in table.stdout

    (res / "src" / "train" / "train.py").write_text("import sys\nfor i in range(30):\n    print('line', i)\n"
                                                    "sys.exit(3)\n")
    failed = cli(home, "run", str(res / "chain.yml"), "--in-process", "--json", "--set", "lr=0.4")
    assert failed.returncode == 1
    train = next(s for s in json.loads(failed.stdout)["steps"] if s["name"] == "train")
    assert train["log_tail"] == [f"line {i}" for i in range(10, 30)] and train["error"] == "exit code 3"
    again = json.loads(cli(home, "runs", "show", json.loads(failed.stdout)["id"], "--json").stdout)
    assert next(s for s in again["steps"] if s["name"] == "train")["log_tail"] == train["log_tail"]
    assert all("log_tail" not in s for s in again["steps"] if s["status"] != "failed")


@pytest.mark.ray
def test_azure_pipeline_runs_on_ray_then_reuses_everything_without_importing_ray(tmp_path):
    src = tmp_path / "iris"
    shutil.copytree(RES / "azure" / "iris_train_score_eval", src)
    home = tmp_path / "ws"
    first = cli(home, "run", str(src / "pipeline.yml"), "--json")
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    data = json.loads(first.stdout)
    assert data["status"] == "completed" and set(statuses(data).values()) == {"completed"}
    assert all(len(s["node_id"]) > 20 for s in data["steps"])  # Ray node ids
    probe = ("import sys\nfrom app.cli import main\ntry:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
             "assert 'ray' not in sys.modules, 'ray was imported'\nsys.exit(code)\n")
    second = subprocess.run([sys.executable, "-c", probe, "--home", str(home), "run", str(src / "pipeline.yml"),
                             "--json"], capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr[-2000:]
    again = json.loads(second.stdout)
    assert set(statuses(again).values()) == {"reused"}
    assert all(s["reason"] == f"reused from run {data['id']}" for s in again["steps"])
    # editing one script reruns exactly that step and the steps downstream of it
    score = next((src / "score").rglob("*.py"))
    text = score.read_text()
    assert 'df.to_csv(out / "predictions.csv", index=False)' in text
    score.write_text(text.replace('df.to_csv(out / "predictions.csv", index=False)',
                                  'df.to_csv(out / "predictions.csv", index=False)\n    (out / "note.txt").write_text("v2")'))
    third = json.loads(cli(home, "run", str(src / "pipeline.yml"), "--in-process", "--json").stdout)
    assert statuses(third) == {"prep_job": "reused", "train_job": "reused", "score_job": "completed",
                               "eval_job": "completed"}
    assert {s["name"]: s["reason"] for s in third["steps"]}["score_job"] == f"code changed: {score.name}"


def _ray_processes(pid: int) -> list[psutil.Process]:
    marker = f"ductwork-ray-{pid}"
    return [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]


def _processes_with(text: str) -> list[psutil.Process]:
    """The processes whose command line holds ``text``."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if text in " ".join(p.info["cmdline"] or []):
                found.append(p)
        except psutil.Error:
            continue
    return found


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.ray
def test_ctrl_c_cancels_the_run_and_leaves_no_ray_process(tmp_path):
    res, home = engine_copy(tmp_path), tmp_path / "ws"
    proc = spawn(home, "run", str(res / "nap.yml"), "--set", "seconds=77.7")
    assert _wait_for(lambda: any((home / "logs").glob("*/nap.log")), 60), "the step never started"
    assert _wait_for(lambda: "started" in next((home / "logs").glob("*/nap.log")).read_text(), 30)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    runs = json.loads(cli(home, "runs", "list", "--json").stdout)
    assert runs[0]["status"] == "cancelled"
    detail = json.loads(cli(home, "runs", "show", runs[0]["id"], "--json").stdout)
    assert statuses(detail) == {"nap": "cancelled", "after": "cancelled"}
    assert _wait_for(lambda: not _ray_processes(proc.pid), 15), _ray_processes(proc.pid)
    assert _wait_for(lambda: not [p for p in psutil.process_iter(["cmdline"])
                                  if "sleep 77.7" in " ".join(p.info["cmdline"] or [])], 10)


def test_a_run_whose_driver_died_is_marked_interrupted_on_the_next_open(tmp_path):
    res, home = engine_copy(tmp_path), tmp_path / "ws"
    proc = spawn(home, "run", str(res / "nap.yml"), "--in-process", "--set", "seconds=66.6")
    assert _wait_for(lambda: any((home / "logs").glob("*/nap.log")), 60)
    proc.kill()
    proc.communicate(timeout=30)
    runs = json.loads(cli(home, "runs", "list", "--json").stdout)
    assert runs[0]["status"] == "interrupted"
    detail = json.loads(cli(home, "runs", "show", runs[0]["id"], "--json").stdout)
    assert statuses(detail)["nap"] == "cancelled"
    # the step's process died with its driver
    assert _wait_for(lambda: not [p for p in psutil.process_iter(["cmdline"])
                                  if "sleep 66.6" in " ".join(p.info["cmdline"] or [])], 10)


def test_two_processes_share_one_workspace_without_lock_errors_or_lost_records(tmp_path):
    from engine.duckdb_store import DuckDBRunStore
    from engine.records import RunRecord, StoreBatch

    res, home = engine_copy(tmp_path), tmp_path / "ws"
    assert cli(home, "init").returncode == 0
    proc = spawn(home, "run", str(res / "chain.yml"), "--in-process", "--json")
    store = DuckDBRunStore(home / "runs.duckdb")
    written = 0
    while proc.poll() is None or written < 20:
        store.apply(StoreBatch(runs=[RunRecord(id=f"other-{written:04d}", pipeline="other", status="completed",
                                               started_at=time.time())]))
        store.list_runs(limit=5)
        written += 1
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "lock" not in err.lower()
    assert json.loads(out)["status"] == "completed"
    assert store.count_runs() == written + 1
    second = cli(home, "run", str(res / "chain.yml"), "--in-process", "--json")
    assert set(statuses(json.loads(second.stdout)).values()) == {"reused"}
    assert os.path.exists(home / "runs.duckdb")


def test_background_runs_survive_their_starter_and_can_be_cancelled(tmp_path):
    from app.services.runs import cancel_run, get_run, start_run_background, step_log
    from app.services.workspace import open_workspace

    res = engine_copy(tmp_path)
    ws = open_workspace(tmp_path / "ws")
    try:
        run_id = start_run_background(ws, str(res / "chain.yml"), {"lr": 0.3}, executor="in-process")
        assert _wait_for(lambda: _status(ws, run_id) == "completed", 90), _status(ws, run_id)
        details = get_run(ws, run_id)
        assert details.run.params["lr"] == 0.3 and [s.status for s in details.steps] == ["completed"] * 3
        assert "trained with lr 0.3" in step_log(ws, run_id, "train")
        napping = start_run_background(ws, str(res / "nap.yml"), {"seconds": 55.5}, executor="in-process")
        assert _wait_for(lambda: _status(ws, napping) == "running" and
                         get_run(ws, napping).step("nap").status == "running", 60)
        assert cancel_run(ws, napping)
        assert _wait_for(lambda: _status(ws, napping) == "cancelled", 30), _status(ws, napping)
    finally:
        ws.registry.close()


def _status(ws, run_id: str) -> str | None:
    from app.services.runs import get_run
    from components.errors import DuctworkError

    try:
        return get_run(ws, run_id).run.status
    except DuctworkError:
        return None
