"""Reuse manifests beside the artifacts, a damaged run store as a clear error, and ``ductwork doctor``:
real DuckDB files, real ``ductwork`` runs (in-process executor, in this process)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from app.cli import cli
from app.cli.common import run_cli
from app.services.runs import artifact_store, run_store
from app.services.workspace import open_workspace
from engine.duckdb_store import DuckDBRunStore, StoreDamagedError
from engine.manifests import FORMAT, ReuseManifests
from engine.records import OutputRef, ReuseRecord

RES = Path(__file__).parent / "resources"
HINT = "run `ductwork doctor --repair` to move it aside and rebuild reuse from the artifacts' manifests"


def dw(capsys, home: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = run_cli(cli, ["--home", str(home), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def run_chain(capsys, tmp_path: Path, *extra: str) -> tuple[Path, dict]:
    res, home = tmp_path / "engine", tmp_path / "ws"
    if not res.exists():
        shutil.copytree(RES / "engine", res)
    rc, out, err = dw(capsys, home, "run", str(res / "chain.yml"), "--in-process", "--json", *extra)
    assert rc == 0, out + err
    return home, json.loads(out)


def steps(data: dict) -> dict[str, dict]:
    return {s["name"]: s for s in data["steps"]}


def manifests_of(home: Path) -> ReuseManifests:
    return ReuseManifests(home / "reuse")


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "zero":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(data[:5000])
    else:
        path.write_bytes(os.urandom(len(data)))


def test_a_manifest_per_reuse_record_is_written_beside_the_artifacts(tmp_path, capsys):
    home, first = run_chain(capsys, tmp_path)
    manifests = manifests_of(home)
    for name, st in steps(first).items():
        data = json.loads(manifests.path(st["signature"]).read_text())
        assert data["format"] == FORMAT and data["signature"] == st["signature"]
        assert data["run_id"] == first["id"] and data["job"] == name
        assert set(data["outputs"]) == set(st["outputs"])
        for ref in data["outputs"].values():
            assert (home / "artifacts" / ref["digest"]).exists()
    records = DuckDBRunStore(home / "runs.duckdb").find_reuse(s["signature"] for s in first["steps"])
    assert {s: manifests.get(s) for s in records} == records


def test_a_deleted_run_store_loses_no_reuse_and_the_records_are_put_back(tmp_path, capsys):
    home, first = run_chain(capsys, tmp_path)
    (home / "runs.duckdb").unlink()
    _, again = run_chain(capsys, tmp_path)
    for st in again["steps"]:
        assert st["status"] == "reused", st
        assert st["reason"] == f"reused from run {first['id']}"
    signatures = [s["signature"] for s in first["steps"]]
    assert set(DuckDBRunStore(home / "runs.duckdb").find_reuse(signatures)) == set(signatures)


def test_a_crash_between_manifest_and_record_is_reused_next_time(tmp_path, capsys):
    home, first = run_chain(capsys, tmp_path)
    train = steps(first)["train"]["signature"]
    store = DuckDBRunStore(home / "runs.duckdb")
    con = duckdb.connect(str(home / "runs.duckdb"))  # as if the driver died after the manifest, before its record
    con.execute("DELETE FROM reuse WHERE signature = ?", [train])
    con.close()
    rc, out, _ = dw(capsys, home, "doctor", "--json")
    assert rc == 1
    assert [f["kind"] for f in json.loads(out)["findings"]] == ["record-missing"]
    _, again = run_chain(capsys, tmp_path)
    assert all(st["status"] == "reused" for st in again["steps"]), again
    assert train in store.find_reuse([train])
    rc, out, _ = dw(capsys, home, "doctor")
    assert rc == 0 and "healthy" in out, out


@pytest.mark.parametrize("how", ["zero", "truncated", "random"])
def test_a_damaged_run_store_is_a_clear_error_and_doctor_repairs_it(tmp_path, capsys, how):
    home, first = run_chain(capsys, tmp_path)
    db = home / "runs.duckdb"
    damage(db, how)
    res = tmp_path / "engine"
    for args in (["runs", "list"], ["run", str(res / "chain.yml"), "--in-process"], ["runs", "show", first["id"]],
                 ["verify"], ["gc"]):
        rc, out, err = dw(capsys, home, *args)
        assert rc == 2, (args, out, err)
        assert f"the run store '{db}' is damaged" in err and HINT in err, (args, err)
        assert "Traceback" not in out + err
    rc, out, _ = dw(capsys, home, "doctor", "--json")
    assert rc == 1
    report = json.loads(out)
    assert report["healthy"] is False
    assert [f["kind"] for f in report["findings"] if f["problem"]] == ["store-damaged"]

    rc, out, _ = dw(capsys, home, "doctor", "--repair")
    assert rc == 0, out
    assert "moved aside" in out
    [aside] = home.glob("runs.duckdb.damaged-*")
    assert aside.is_file() and not db.samefile(aside)  # kept, never deleted
    rc, out, _ = dw(capsys, home, "doctor")
    assert rc == 0 and "healthy" in out, out
    _, again = run_chain(capsys, tmp_path)
    assert [st["status"] for st in again["steps"]] == ["reused"] * 3, again


def test_damaged_store_opens_as_store_damaged_error(tmp_path):
    db = tmp_path / "runs.duckdb"
    db.write_bytes(b"not a database at all")
    with pytest.raises(StoreDamagedError) as info:
        DuckDBRunStore(db).count_runs()
    assert str(db) in str(info.value) and HINT in str(info.value)


def test_an_evicted_record_is_not_revived_from_its_manifest(tmp_path, capsys):
    home, first = run_chain(capsys, tmp_path)
    train = steps(first)["train"]
    model = Path(train["outputs"]["model"])
    for f in model.rglob("*"):
        f.chmod(0o644)
    (model / "model.txt").write_text("changed bytes, same size?" * 3)  # corrupt: verify evicts it
    rc, _, _ = dw(capsys, home, "verify")
    assert rc == 1
    assert manifests_of(home).get(train["signature"]) is None
    (home / "runs.duckdb").unlink()  # nothing left but the manifests: train must rerun
    _, again = run_chain(capsys, tmp_path)
    assert steps(again)["prep"]["status"] == "reused"
    assert steps(again)["train"]["status"] == "completed"


def test_the_planner_evicts_a_manifest_whose_artifact_is_gone(tmp_path, capsys):
    home, first = run_chain(capsys, tmp_path)
    train = steps(first)["train"]
    (home / "runs.duckdb").unlink()
    shutil.rmtree(Path(train["outputs"]["model"]))
    _, again = run_chain(capsys, tmp_path)
    assert steps(again)["train"]["status"] == "completed"
    assert "cached output missing" in steps(again)["train"]["reason"]
    fresh = manifests_of(home).get(train["signature"])
    assert fresh is not None and fresh.run_id == again["id"]


def test_doctor_finds_and_repairs_manifest_disagreements(tmp_path, capsys):
    home, first = run_chain(capsys, tmp_path)
    by = steps(first)
    manifests = manifests_of(home)
    manifests.path(by["prep"]["signature"]).unlink()  # record without a manifest
    gone = ReuseRecord("f" * 64, "r-old", "ghost", {"out": OutputRef("0" * 32, 3)}, 1.0, 1.0)
    manifests.put(gone)  # a manifest naming an artifact that is gone
    bad = manifests.path("e" * 64)
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("{not json")
    rc, out, _ = dw(capsys, home, "doctor", "--json")
    assert rc == 1
    kinds = sorted(f["kind"] for f in json.loads(out)["findings"] if f["problem"])
    assert kinds == ["manifest-artifacts-missing", "manifest-missing", "manifest-unreadable"]
    rc, out, _ = dw(capsys, home, "doctor", "--repair", "--json")
    assert rc == 0 and json.loads(out)["healthy"] is True
    assert manifests.get(by["prep"]["signature"]) is not None
    assert not manifests.path(gone.signature).exists() and not bad.exists()
    rc, out, _ = dw(capsys, home, "doctor")
    assert rc == 0 and "healthy" in out


def test_gc_keeps_the_artifacts_of_a_manifest_without_record(tmp_path, capsys):
    home, first = run_chain(capsys, tmp_path)
    (home / "runs.duckdb").unlink()
    rc, out, _ = dw(capsys, home, "gc", "--json")
    assert rc == 0, out
    assert json.loads(out)["freed"]["artifacts"] == 0
    ws = open_workspace(home)
    try:
        assert len(artifact_store(ws).stored()) == 3
        assert run_store(ws).count_runs() == 0
    finally:
        ws.close()


def _runs_page() -> None:
    from app.ui.main import _guarded
    from app.ui.views import runs_page

    _guarded(runs_page.render)()


def test_the_runs_page_shows_a_damaged_store_as_an_error(tmp_path, capsys, monkeypatch):
    from streamlit.testing.v1 import AppTest

    home, _ = run_chain(capsys, tmp_path)
    damage(home / "runs.duckdb", "truncated")
    monkeypatch.setenv("DUCTWORK_HOME", str(home))
    at = AppTest.from_function(_runs_page, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert any("is damaged" in e.value and HINT in e.value for e in at.error), [e.value for e in at.error]


def test_doctor_works_when_an_open_hook_meets_the_damaged_store(tmp_path, capsys):
    import socket
    import subprocess
    import sys

    home, _ = run_chain(capsys, tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    drivers = home / "tmp" / "drivers"
    drivers.mkdir(parents=True, exist_ok=True)  # a driver that died: the open hook opens the run store
    (drivers / "20260101-000000-dead00.json").write_text(
        json.dumps({"pid": proc.pid, "host": socket.gethostname(), "created": 1.0}))
    damage(home / "runs.duckdb", "random")
    rc, _, err = dw(capsys, home, "runs", "list")
    assert rc == 2 and HINT in err and "Traceback" not in err
    rc, out, _ = dw(capsys, home, "doctor", "--json")
    assert rc == 1 and json.loads(out)["findings"][0]["kind"] == "store-damaged"
    rc, out, _ = dw(capsys, home, "doctor", "--repair")
    assert rc == 0, out
    rc, out, err = dw(capsys, home, "runs", "list")
    assert rc == 0, err
