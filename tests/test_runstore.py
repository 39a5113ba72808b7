"""One contract, two run stores: in-memory and DuckDB behave the same."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.duckdb_store import DuckDBRunStore
from engine.records import (
    ArtifactRecord,
    MetricRecord,
    OutputRef,
    ReuseRecord,
    RunRecord,
    StepRunRecord,
    StoreBatch,
)
from engine.runstore import InMemoryRunStore, RunFilter


@pytest.fixture(params=["memory", "duckdb"])
def store(request, tmp_path):
    return InMemoryRunStore() if request.param == "memory" else DuckDBRunStore(tmp_path / "runs.duckdb")


def run(i: int, pipeline: str = "p", status: str = "completed") -> RunRecord:
    return RunRecord(id=f"r{i:03d}", pipeline=pipeline, version="1", params={"lr": i / 10}, status=status,
                     started_at=1000.0 + i, ended_at=1001.0 + i, host="h", driver_pid=42)


def step(run_id: str, job: str, sig: str | None, started: float, position: int = 0, **kw) -> StepRunRecord:
    return StepRunRecord(run_id=run_id, job=job, component="train:1", status=kw.pop("status", "completed"),
                         signature=sig, ingredients={"component": "train", "parameters": {"lr": 0.1}} if sig else None,
                         started_at=started, position=position,
                         outputs={"model": OutputRef("d" * 64, 12, None)}, resources={"cpus": 1.0}, **kw)


def test_runs_round_trip_and_upsert(store):
    store.apply(StoreBatch(runs=[run(1, status="running")]))
    store.apply(StoreBatch(runs=[run(1, status="completed")]))
    got = store.get_run("r001")
    assert got == run(1)
    assert store.get_run("nope") is None


def test_step_runs_round_trip_in_position_order(store):
    store.apply(StoreBatch(runs=[run(1)], step_runs=[
        step("r001", "b", "s2", 5.0, position=1, node_id="n1", exit_code=0, log_path="/l", reason="first run"),
        step("r001", "a", "s1", 4.0, position=0)]))
    steps = store.step_runs("r001")
    assert [s.job for s in steps] == ["a", "b"]
    assert steps[1] == step("r001", "b", "s2", 5.0, position=1, node_id="n1", exit_code=0, log_path="/l",
                            reason="first run")


def test_reuse_records_found_by_signature_and_evicted(store):
    rec = ReuseRecord("sig1", "r001", "train", {"model": OutputRef("a" * 64, 3, "model")}, 2.5, 9.0)
    store.apply(StoreBatch(reuse=[rec]))
    assert store.find_reuse(["sig1", "other"]) == {"sig1": rec}
    assert store.find_reuse([]) == {}
    store.apply(StoreBatch(evict=["sig1"]))
    assert store.find_reuse(["sig1"]) == {}


def test_reads_in_one_reading_block_share_one_connection_closed_after(store, monkeypatch):
    rec = ReuseRecord("sig1", "r001", "train", {"model": OutputRef("a" * 64, 3, "model")}, 2.5, 9.0)
    store.apply(StoreBatch(runs=[run(1)], step_runs=[step("r001", "train", "sig1", 4.0)], reuse=[rec]))
    opened = []
    if isinstance(store, DuckDBRunStore):
        connect = store._connect
        monkeypatch.setattr(store, "_connect", lambda deadline: opened.append(1) or connect(deadline))
    with store.reading():
        latest = store.latest_step_runs("p", ["train"])
        assert store.find_reuse([latest["train"].signature]) == {"sig1": rec}
    assert len(opened) == (1 if isinstance(store, DuckDBRunStore) else 0)
    store.apply(StoreBatch(evict=["sig1"]))  # the block's connection is closed: writes go on as usual
    assert store.find_reuse(["sig1"]) == {}


def test_latest_step_runs_per_job_and_per_component(store):
    store.apply(StoreBatch(runs=[run(1), run(2), run(3, pipeline="other")], step_runs=[
        step("r001", "train", "old", 10.0), step("r002", "train", "new", 20.0),
        step("r002", "prep", None, 21.0, status="skipped"), step("r003", "train", "elsewhere", 30.0)]))
    latest = store.latest_step_runs("p", ["train", "prep", "missing"])
    assert set(latest) == {"train"} and latest["train"].signature == "new"
    by_comp = store.latest_component_runs(["train", "nothing"])
    assert set(by_comp) == {"train"} and by_comp["train"].signature == "elsewhere"


def test_cost_fields_round_trip_and_step_runs_of_several_runs_come_in_one_call(store):
    priced = step("r001", "train", "s1", 4.0, duration_s=12.5, price_per_hour=3.6)
    reused = step("r002", "train", "s1", 5.0, status="reused", duration_s=0.0, saved_s=12.5,
                  saved_price_per_hour=3.6)
    rec = ReuseRecord("s1", "r001", "train", {}, 12.5, 9.0, price_per_hour=3.6)
    store.apply(StoreBatch(runs=[run(1), run(2)], step_runs=[priced, reused,
                                                             step("r001", "prep", None, 3.0, position=-1)],
                           reuse=[rec]))
    assert store.find_reuse(["s1"]) == {"s1": rec}
    got = store.step_runs_of(["r002", "r001", "r009"])
    assert got == {"r002": [reused], "r001": [step("r001", "prep", None, 3.0, position=-1), priced], "r009": []}
    assert store.step_runs_of([]) == {}


def test_recent_durations_of_completed_step_runs_per_component_version_newest_first(store):
    steps = [step("r001", f"j{i}", "s", float(i), duration_s=float(i)) for i in range(6)]
    steps += [replace(step("r001", "other", "s", 9.0, duration_s=99.0), component="train:2"),
              step("r001", "bad", "s", 10.0, duration_s=50.0, status="failed"),
              step("r001", "odd", "s", 11.0, duration_s=None)]
    store.apply(StoreBatch(runs=[run(1)], step_runs=steps))
    assert store.recent_durations(["train:1", "train:2", "none:1"], limit=4) == \
        {"train:1": [5.0, 4.0, 3.0, 2.0], "train:2": [99.0]}
    assert store.recent_durations([]) == {}


def test_list_filter_count_and_prefix(store):
    store.apply(StoreBatch(runs=[run(i, pipeline="p" if i % 2 else "q", status="failed" if i == 3 else "completed")
                                 for i in range(1, 8)]))
    assert [r.id for r in store.list_runs(limit=3)] == ["r007", "r006", "r005"]
    assert [r.id for r in store.list_runs(limit=2, offset=2)] == ["r005", "r004"]
    assert [r.id for r in store.list_runs(RunFilter(pipeline="p"))] == ["r007", "r005", "r003", "r001"]
    assert [r.id for r in store.list_runs(RunFilter(status="failed"))] == ["r003"]
    assert store.count_runs(RunFilter(since=1003.0, until=1006.0)) == 3
    assert store.count_runs() == 7
    assert store.resolve_run_id("r00") == [f"r00{i}" for i in range(1, 8)]
    assert store.resolve_run_id("x") == []
    assert store.resolve_run_id("07") == ["r007"]


def test_metrics_artifacts_and_memo(store):
    store.apply(StoreBatch(runs=[run(1)], metrics=[MetricRecord("r001", "train", "loss", 0.5, 0, 1.0),
                                                   MetricRecord("r001", "train", "loss", 0.25, 1, 2.0)],
                           artifacts=[ArtifactRecord("a" * 64, 3, "r001", "train", "model", 1.0)],
                           memo={"file:/d:1:2:3": ("b" * 64, 10)}))
    store.apply(StoreBatch(artifacts=[ArtifactRecord("a" * 64, 3, "r002", "train", "model", 2.0)]))
    assert [m.value for m in store.metrics("r001")] == [0.5, 0.25]
    assert store.get_memo(["file:/d:1:2:3", "nope"]) == {"file:/d:1:2:3": ("b" * 64, 10)}



def test_reuse_records_last_reuse_evictions_with_reasons_and_artifact_rows(store):
    out = {"model": OutputRef("a" * 64, 3)}
    store.apply(StoreBatch(runs=[run(1), run(2)],
                           step_runs=[step("r001", "train", "s1", 10.0), step("r002", "train", "s1", 20.0, status="reused"),
                                      step("r002", "prep", "s2", 30.0, status="reused")],
                           reuse=[ReuseRecord("s1", "r001", "train", out, 1.0, 5.0), ReuseRecord("s2", "r001", "prep", out)],
                           artifacts=[ArtifactRecord("a" * 64, 3, "r001", "train", "model", 1.0),
                                      ArtifactRecord("b" * 64, 4, "r001", "prep", "clean", 2.0)]))
    assert sorted(r.signature for r in store.reuse_records()) == ["s1", "s2"]
    assert store.last_reused() == {"s1": 20.0, "s2": 30.0}
    store.evict_reuse({"s1": "cached output corrupt (model)"}, 50.0)
    assert [r.signature for r in store.reuse_records()] == ["s2"]
    assert store.eviction_reasons(["s1", "s2", "s3"]) == {"s1": "cached output corrupt (model)"}
    store.apply(StoreBatch(reuse=[ReuseRecord("s1", "r003", "train", out)]))  # committed again: no longer evicted
    assert store.eviction_reasons(["s1"]) == {}
    store.evict_reuse({"s2": "cached output removed by ductwork gc"}, 60.0)
    assert store.eviction_reasons(["s2"]) == {"s2": "cached output removed by ductwork gc"}
    store.apply(StoreBatch(runs=[run(3)], step_runs=[step("r003", "prep", "s2", 70.0, status="failed")]))
    assert store.eviction_reasons(["s2"]) == {}  # a step run since then explains the miss
    assert sorted(a.digest for a in store.artifact_records()) == ["a" * 64, "b" * 64]
    store.delete_artifact_records(["a" * 64])
    assert [(a.digest, a.job, a.output) for a in store.artifact_records()] == [("b" * 64, "prep", "clean")]

def test_duckdb_store_is_fast_for_ten_thousand_runs(tmp_path):
    import time

    store = DuckDBRunStore(tmp_path / "runs.duckdb")
    store.apply(StoreBatch(runs=[run(i, pipeline=f"p{i % 7}") for i in range(10_000)]))
    started = time.perf_counter()
    page = store.list_runs(RunFilter(pipeline="p3"), limit=50)
    total = store.count_runs(RunFilter(pipeline="p3"))
    elapsed = time.perf_counter() - started
    assert len(page) == 50 and total == len([i for i in range(10_000) if i % 7 == 3])
    assert elapsed < 1.0, f"listing took {elapsed:.2f} s"


# ------------------------------------------------------------------ the file, attached per transaction
def test_between_transactions_another_process_opens_the_file_and_both_see_each_others_writes(tmp_path):
    """The store attaches its file to the process's DuckDB for a transaction and detaches it
    after: the file's lock is free between transactions, as with a connection closed."""
    import subprocess
    import sys

    path = tmp_path / "runs.duckdb"
    mine = DuckDBRunStore(path)
    mine.apply(StoreBatch(runs=[run(1)]))
    with mine.reading():
        assert mine.get_run("r001") == run(1)
    other = ("import sys; from engine.duckdb_store import DuckDBRunStore; from engine.records import StoreBatch, "
             "RunRecord; s = DuckDBRunStore(sys.argv[1], retry_for_s=0.5); "
             "s.apply(StoreBatch(runs=[RunRecord(id='r002', pipeline='p', version='1', params={}, status='failed', "
             "started_at=1.0)])); print(s.get_run('r001').status)")
    done = subprocess.run([sys.executable, "-c", other, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]  # no lock held here: it did not wait 0.5 s and give up
    assert done.stdout.strip() == "completed"
    assert mine.get_run("r002").status == "failed"


def test_two_spellings_of_one_file_share_its_attachment(tmp_path):
    """A store opened through a link and one through the real path, in one process, at once:
    DuckDB refuses to attach one file twice, so they must share it (not wait for each other)."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    real = DuckDBRunStore(tmp_path / "real" / "runs.duckdb", retry_for_s=0.5)
    linked = DuckDBRunStore(tmp_path / "link" / "runs.duckdb", retry_for_s=0.5)
    real.apply(StoreBatch(runs=[run(1)]))
    with real.reading():
        assert real.get_run("r001") == run(1)  # the block holds the file…
        linked.apply(StoreBatch(runs=[run(2)]))  # …and a write through the link goes on beside it
    assert [r.id for r in real.list_runs(RunFilter())] == ["r002", "r001"]


def test_threads_writing_and_reading_one_store_at_once_lose_nothing(tmp_path):
    import threading

    store = DuckDBRunStore(tmp_path / "runs.duckdb")
    store.apply(StoreBatch(runs=[run(0)]))
    errors: list[BaseException] = []

    def write(first: int) -> None:
        try:
            for i in range(first, first + 25):
                store.apply(StoreBatch(runs=[run(i)], step_runs=[step(f"r{i:03d}", "a", f"s{i}", 1.0)]))
                assert store.get_run(f"r{i:03d}") == run(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(first,)) for first in (1, 101, 201)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(store.list_runs(RunFilter(), limit=1000)) == 76
