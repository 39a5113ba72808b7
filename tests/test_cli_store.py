"""``ductwork verify`` and ``ductwork gc``, through the CLI in this process (in-process executor)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from app.cli import cli
from app.cli.common import run_cli
from app.services.runs import artifact_store, run_store
from app.services.store import collect_garbage, describe_bytes, parse_age
from app.services.workspace import open_workspace
from engine.records import OutputRef, RunRecord, StepRunRecord, StoreBatch

RES = Path(__file__).parent / "resources"


def dw(capsys, home: Path, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = run_cli(cli, ["--home", str(home), *args])
    return rc, capsys.readouterr().out


def run_chain(capsys, tmp_path: Path) -> tuple[Path, Path, dict]:
    res, home = tmp_path / "engine", tmp_path / "ws"
    if not res.exists():
        shutil.copytree(RES / "engine", res)
    rc, out = dw(capsys, home, "run", str(res / "chain.yml"), "--in-process", "--json")
    assert rc == 0, out
    return res, home, json.loads(out)


def step(data: dict, name: str) -> dict:
    return next(s for s in data["steps"] if s["name"] == name)


def orphan(home: Path, text: str = "left over") -> tuple[str, int]:
    """An artifact that no record names (as a step of a failed run leaves it)."""
    ws = open_workspace(home)
    try:
        store = artifact_store(ws)
        area = store.new_step_area("gone", "job") / "out"
        area.mkdir()
        (area / "x.txt").write_text(text)
        info = store.commit(area)
        shutil.rmtree(store.scratch_of("gone"))
        return info.digest, info.size
    finally:
        ws.close()


def test_verify_evicts_a_corrupt_artifact_and_the_next_run_reruns_that_step_only_saying_why(tmp_path, capsys):
    res, home, first = run_chain(capsys, tmp_path)
    model = Path(step(first, "train")["outputs"]["model"])
    digest = model.name
    target = model / "model.txt"
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[0] ^= 0x20  # one byte flipped: the size is unchanged, so only a re-hash can tell
    target.write_bytes(bytes(data))

    rc, out = dw(capsys, home, "verify", "--json")
    assert rc == 1, out
    report = json.loads(out)
    assert report["ok"] is False and report["missing"] == []
    [bad] = report["corrupt"]
    assert bad["expected"] == digest and bad["actual"] not in (None, digest)
    assert {"run": first["id"], "job": "train", "output": "model"} in bad["uses"]
    assert bad["evicted_records"] == [step(first, "train")["signature"]]
    assert not model.exists()

    rc, out = dw(capsys, home, "verify")
    assert rc == 0 and "all sound" in out, out

    rc, out = dw(capsys, home, "run", str(res / "chain.yml"), "--in-process", "--json")
    assert rc == 0, out
    rerun = json.loads(out)
    assert {s["name"]: s["status"] for s in rerun["steps"]} == {
        "prep": "reused", "train": "completed", "evaluate": "reused"}  # same bytes again: evaluate is reused
    assert step(rerun, "train")["reason"] == (
        f"cached output corrupt (model): digest {bad['actual']} ≠ {digest} (found by ductwork verify)")
    assert Path(step(rerun, "train")["outputs"]["model"]).name == digest


def test_verify_of_one_run_names_job_run_and_output_and_exits_1(tmp_path, capsys):
    _, home, first = run_chain(capsys, tmp_path)
    score = Path(step(first, "evaluate")["outputs"]["score"])
    shutil.rmtree(score.parent if score.is_file() else score)
    rc, out = dw(capsys, home, "verify", "--run", first["id"][-6:])
    assert rc == 1
    assert f"missing: job 'evaluate' run {first['id']} output 'score': expected " in out
    assert "not in the store" in out and "checked 3 artifacts" in out
    rc, out = dw(capsys, home, "verify", "--run", "nope")
    assert rc == 2


def test_gc_dry_run_deletes_nothing_and_gc_frees_only_the_unreferenced_artifact(tmp_path, capsys):
    res, home, first = run_chain(capsys, tmp_path)
    digest, size = orphan(home)
    artifacts = home / "artifacts"
    before = sorted(os.listdir(artifacts))
    assert digest in before and len(before) == 4

    rc, out = dw(capsys, home, "gc", "--dry-run", "--json")
    assert rc == 0
    report = json.loads(out)
    assert report["dry_run"] and report["freed"]["artifacts"] == 1 and report["freed"]["digests"] == [digest]
    assert report["freed"]["artifact_bytes"] == size and report["kept"]["artifacts"] == 3
    assert sorted(os.listdir(artifacts)) == before

    rc, out = dw(capsys, home, "gc")
    assert rc == 0 and out.startswith(f"freed 1 artifact ({describe_bytes(size)})"), out
    assert sorted(os.listdir(artifacts)) == sorted(set(before) - {digest})
    rc, out = dw(capsys, home, "run", str(res / "chain.yml"), "--in-process", "--json")
    assert {s["status"] for s in json.loads(out)["steps"]} == {"reused"}
    rc, out = dw(capsys, home, "gc", "--json")
    assert json.loads(out)["freed"]["artifacts"] == 0


def test_gc_older_than_drops_stale_reuse_records_first_and_the_rerun_says_why(tmp_path, capsys):
    res, home, first = run_chain(capsys, tmp_path)
    ws = open_workspace(home)
    try:
        kept = collect_garbage(ws, older_than_s=parse_age("30d"), now=time.time() + 29 * 86400)
        assert kept.dropped_records == 0 and not kept.freed_artifacts
        report = collect_garbage(ws, older_than_s=parse_age("30d"), now=time.time() + 31 * 86400)
        assert report.dropped_records == 3 and len(report.freed_artifacts) == 3
    finally:
        ws.close()
    assert os.listdir(home / "artifacts") == []
    rc, out = dw(capsys, home, "run", str(res / "chain.yml"), "--in-process", "--json")
    assert step(json.loads(out), "prep")["reason"] == "cached output removed by ductwork gc (unused for longer than 30d)"
    rc, _ = dw(capsys, home, "gc", "--older-than", "soon")
    assert rc == 2


def test_what_a_running_run_holds_survives_gc_until_its_driver_is_gone(tmp_path, capsys):
    home = tmp_path / "ws"
    digest, _ = orphan(home)
    ws = open_workspace(home)
    try:
        store, artifacts = run_store(ws), artifact_store(ws)
        scratch = artifacts.new_step_area("r-live", "train")
        (scratch / "partial.txt").write_text("half")
        run = RunRecord("r-live", "p", status="running", started_at=time.time(), host=socket.gethostname(),
                        driver_pid=os.getpid())
        held = StepRunRecord("r-live", "prep", status="completed", outputs={"out": OutputRef(digest, 9)})
        store.apply(StoreBatch(runs=[run], step_runs=[held]))

        report = collect_garbage(ws)
        assert report.live_runs == ("r-live",) and not report.freed_artifacts and not report.freed_scratch
        assert artifacts.exists(digest) and scratch.exists()

        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        store.apply(StoreBatch(runs=[RunRecord("r-live", "p", status="running", started_at=run.started_at,
                                               host=run.host, driver_pid=dead.pid)]))
        report = collect_garbage(ws)
        assert report.live_runs == () and list(report.freed_artifacts) == [digest]
        assert report.freed_scratch == {str(artifacts.scratch_of("r-live")): 4}
        assert not artifacts.exists(digest) and not artifacts.scratch_of("r-live").exists()
    finally:
        ws.close()
