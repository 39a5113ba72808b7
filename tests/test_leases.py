"""A step two runs need at once runs once: leases in both run stores (one contract), the
driver's ``StepLeases``, the scheduler waiting for another run, the plan saying so, and two
real ``ductwork run`` processes of one pipeline in one workspace."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console
from test_engine_support import Harness, command, single_job, statuses, step

from app.cli.run import RunDisplay
from components.spec import InputSpec, JobOutput, JobSpec, OutputSpec, PipelineSpec
from engine.duckdb_store import DuckDBRunStore
from engine.graph import compile_pipeline
from engine.inputs import bind_pipeline_inputs
from engine.leases import StepLeases, lease_gone
from engine.plan import plan_run
from engine.records import Lease, OutputRef, ReuseRecord, RunRecord, StepRunRecord, StoreBatch
from engine.runstore import InMemoryRunStore
from engine.scheduler import RunEvent

HOST = socket.gethostname()
ENTRY = "from app.cli import main; main()"


@pytest.fixture(params=["memory", "duckdb"])
def store(request, tmp_path):
    return InMemoryRunStore() if request.param == "memory" else DuckDBRunStore(tmp_path / "runs.duckdb")


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def lease(sig: str, run_id: str, job: str = "train", pid: int | None = None, host: str = HOST,
          at: float | None = None) -> Lease:
    at = time.time() if at is None else at
    return Lease(sig, run_id, job, host, os.getpid() if pid is None else pid, at, at)


def gone_after(expires_s: float = 60.0):
    return lambda held: lease_gone(held, HOST, time.time(), expires_s)


# ----------------------------------------------------------------------------- the store contract
def test_a_free_lease_is_taken_and_a_second_run_is_told_who_holds_it(store):
    mine = lease("s1", "r1")
    [first] = store.take_leases([mine], gone_after())
    assert first.taken and first.holder is None and first.reuse is None
    [second] = store.take_leases([lease("s1", "r2", job="fit")], gone_after())
    assert not second.taken and second.holder == mine
    assert store.leases(["s1", "s2"]) == {"s1": mine}
    [again] = store.take_leases([lease("s1", "r1")], gone_after())  # the holder asking again keeps it
    assert again.taken


def test_a_lease_held_by_a_dead_pid_on_this_host_is_taken_over_at_once(store):
    dead = lease("s1", "r1", pid=dead_pid())
    store.take_leases([dead], gone_after())
    [answer] = store.take_leases([lease("s1", "r2")], gone_after())
    assert answer.taken and answer.holder == dead
    assert store.leases(["s1"])["s1"].run_id == "r2"


def test_another_hosts_lease_counts_until_its_heartbeat_is_too_old(store):
    far = lease("s1", "r1", host="elsewhere", pid=1)
    store.take_leases([far], gone_after())
    [held] = store.take_leases([lease("s1", "r2")], gone_after())
    assert not held.taken and held.holder == far  # pid 1 is not looked for on another host
    stale = lease("s2", "r1", host="elsewhere", pid=1, at=time.time() - 120)
    store.take_leases([stale], gone_after())
    [taken] = store.take_leases([lease("s2", "r2")], gone_after(expires_s=60))
    assert taken.taken and taken.holder == stale


def test_heartbeats_renew_every_lease_of_a_run_and_releases_free_them(store):
    old = time.time() - 50
    store.take_leases([lease("s1", "r1", at=old), lease("s2", "r1", job="b", at=old),
                       lease("s3", "r9", at=old)], gone_after())
    store.apply(StoreBatch(lease_beats={"r1": old + 40}))
    beats = {s: held.heartbeat_at for s, held in store.leases(["s1", "s2", "s3"]).items()}
    assert beats == {"s1": old + 40, "s2": old + 40, "s3": old}
    store.apply(StoreBatch(lease_releases=[("s1", "r1"), ("s3", "r1")]))  # s3 is r9's: not released
    assert set(store.leases(["s1", "s2", "s3"])) == {"s2", "s3"}
    [answer] = store.take_leases([lease("s1", "r2")], gone_after())
    assert answer.taken and answer.holder is None


def test_a_signature_with_a_reuse_record_is_done_unless_that_record_is_known_broken(store):
    record = ReuseRecord("s1", "r1", "train", {"model": OutputRef("d" * 64, 3)}, 2.5, 9.0)
    store.apply(StoreBatch(reuse=[record], lease_releases=[("s1", "r1")]))
    [done] = store.take_leases([lease("s1", "r2")], gone_after())
    assert not done.taken and done.reuse == record
    assert store.leases(["s1"]) == {}
    [taken] = store.take_leases([lease("s1", "r2")], gone_after(), ignore_reuse={"s1"})
    assert taken.taken


def test_a_batch_given_with_the_request_is_written_first_in_the_same_transaction(store):
    record = ReuseRecord("s1", "r1", "train", {"model": OutputRef("d" * 64, 3)}, 2.5, 9.0)
    [done, taken] = store.take_leases([lease("s1", "r2"), lease("s2", "r2", job="b")], gone_after(),
                                      batch=StoreBatch(reuse=[record], memo={"k": ("d", 1)}))
    assert done.reuse == record and taken.taken
    assert store.get_memo(["k"]) == {"k": ("d", 1)}
    assert store.take_leases([], gone_after(), batch=StoreBatch(memo={"j": ("e", 2)})) == []
    assert store.get_memo(["j"]) == {"j": ("e", 2)}


def test_two_steps_of_one_run_with_one_signature_get_one_lease(store):
    first, second = store.take_leases([lease("s1", "r1", job="a"), lease("s1", "r1", job="b")], gone_after())
    assert first.taken and not second.taken and second.holder.job == "a"


def test_a_claim_in_a_batch_takes_a_free_or_expired_lease_and_never_a_live_holders(store):
    claimed = lease("s1", "r1", job="b")
    store.apply(StoreBatch(lease_claims=[claimed]))
    [answer] = store.take_leases([lease("s1", "r2", job="b")], gone_after())
    assert not answer.taken and answer.holder == claimed  # a waiter finds the claim
    mine = lease("s2", "r2")
    store.take_leases([mine], gone_after())
    store.apply(StoreBatch(lease_claims=[lease("s2", "r1")]))
    assert store.leases(["s2"])["s2"] == mine  # a live holder keeps its lease
    stale = lease("s3", "r3", host="elsewhere", pid=1, at=time.time() - 600)
    store.take_leases([stale], gone_after(1e9))
    store.apply(StoreBatch(lease_claims=[lease("s3", "r1")]))
    assert store.leases(["s3"])["s3"].run_id == "r1"  # an expired one is taken


def test_one_take_at_a_time_across_threads_on_one_duckdb_file(tmp_path):
    db = tmp_path / "runs.duckdb"
    answers = []

    def take(i: int) -> None:
        answers.extend(DuckDBRunStore(db).take_leases([lease("s1", f"r{i}")], gone_after()))

    threads = [threading.Thread(target=take, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(a.taken for a in answers) == 1 and len(answers) == 4


# ----------------------------------------------------------------------------- StepLeases
def test_step_leases_report_changes_only_poll_when_due_and_beat_all_held_leases():
    store = InMemoryRunStore()
    other = lease("s2", "r9", job="fit")
    store.take_leases([other], gone_after())
    leases = StepLeases(store, "r1", heartbeat_s=0.0, poll_s=60.0)
    leases.ask("a", "s1")
    leases.ask("b", "s2")
    answers = leases.settle()
    assert answers["a"].taken and answers["b"].holder == other
    assert leases.held == {"a": "s1"} and leases.waiting == {"b"}
    assert leases.settle() == {}  # the next poll is not due
    batch = StoreBatch()
    leases.beat(batch)
    assert set(batch.lease_beats) == {"r1"}
    leases.release("a", batch)
    leases.release("a", batch)  # released once
    assert batch.lease_releases == [("s1", "r1")]
    leases.release_all(batch)
    assert leases.waiting == set() and leases.held == {}


# ----------------------------------------------------------------------------- the scheduler
def slow_pipeline(tmp_path: Path, seconds: float = 1.0, **kw):
    counter = tmp_path / "executions.txt"
    slow = command("slow", f"echo x >> {counter}; sleep {seconds}; echo x > ${{{{outputs.o}}}}/f", None,
                   outputs={"o": OutputSpec("o")}, **kw)
    return single_job(slow), counter


def test_two_runs_needing_one_step_at_once_execute_it_once_and_the_other_reuses_it(tmp_path):
    spec, counter = slow_pipeline(tmp_path)
    h = Harness(tmp_path)
    results, reasons = [], []

    def on_event(event) -> None:
        if event.step is not None and event.step.reason:
            reasons.append(event.step.reason)

    threads = [threading.Thread(target=lambda: results.append(h.run(spec, on_event=on_event))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.read_text() == "x\n"
    assert all(r.ok for r in results)
    done = {step(r, "only").status: r for r in results}
    assert set(done) == {"completed", "reused"}
    reused = step(done["reused"], "only")
    first = done["completed"].run.id
    assert reused.reused_from == first and reused.reason == f"reused from run {first}"
    assert f"waits for run {first} (job only)" in reasons
    assert h.store.leases([reused.signature]) == {}  # released when it committed


def test_two_runs_of_one_chain_at_once_execute_each_step_once(tmp_path):
    """The second step is fed by the first's new output: its lease is claimed in the batch of the
    first step's reuse record, so the waiting run finds it there once it reuses the first step."""
    counter = tmp_path / "executions.txt"
    first = command("first", f"echo first >> {counter}; sleep 1; echo x > ${{{{outputs.o}}}}/f", None,
                    outputs={"o": OutputSpec("o")})
    second = command("second", f"echo second >> {counter}; sleep 1; cp ${{{{inputs.i}}}}/f ${{{{outputs.o}}}}/f",
                     None, inputs={"i": InputSpec("i", "uri_folder")}, outputs={"o": OutputSpec("o")})
    spec = PipelineSpec(name="chain", jobs={
        "a": JobSpec("a", first, {}), "b": JobSpec("b", second, {"i": JobOutput("a", "o")})})
    h = Harness(tmp_path, store=DuckDBRunStore(tmp_path / "runs.duckdb"))
    h.store.list_runs()  # its schema made before the threads share it
    results = []
    threads = [threading.Thread(target=lambda: results.append(h.run(spec))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(counter.read_text().split()) == ["first", "second"]
    assert all(r.ok for r in results)
    assert sorted(step(r, "b").status for r in results) == ["completed", "reused"]


def test_a_lease_held_by_a_dead_driver_is_taken_over_and_said_so(tmp_path):
    spec, counter = slow_pipeline(tmp_path, seconds=0)
    h = Harness(tmp_path)
    graph = compile_pipeline(spec)
    signature = plan_run(graph, bind_pipeline_inputs(spec, None), h.store, h.artifacts).steps["only"].signature
    h.store.take_leases([lease(signature, "gone-run", job="only", pid=dead_pid())], gone_after())
    started = time.monotonic()
    result = h.run(spec)
    assert time.monotonic() - started < 5 and result.ok and counter.read_text() == "x\n"
    assert step(result, "only").reason == "first run; took over from run gone-run (job only), whose driver is gone"
    assert h.store.leases([signature]) == {}


def test_the_plan_says_a_step_waits_for_the_live_run_that_holds_its_lease(tmp_path):
    spec, _ = slow_pipeline(tmp_path)
    h = Harness(tmp_path)
    graph, values = compile_pipeline(spec), bind_pipeline_inputs(spec, None)
    signature = plan_run(graph, values, h.store, h.artifacts).steps["only"].signature
    h.store.take_leases([lease(signature, "busy-run", job="only")], gone_after())  # this live process
    planned = plan_run(graph, values, h.store, h.artifacts).steps["only"]
    assert (planned.action, planned.reason) == ("run", "waits for run busy-run (job only)")
    assert plan_run(graph, values, h.store, h.artifacts, force=True).steps["only"].reason == "forced (--force)"


def test_forced_and_non_deterministic_steps_take_no_lease(tmp_path):
    spec, counter = slow_pipeline(tmp_path, seconds=0, is_deterministic=False)
    h = Harness(tmp_path)
    graph = compile_pipeline(spec)
    signature = plan_run(graph, bind_pipeline_inputs(spec, None), h.store, h.artifacts).steps["only"].signature
    h.store.take_leases([lease(signature, "busy-run", job="only")], gone_after())
    result = h.run(spec)
    assert result.ok and statuses(result) == {"only": "completed"} and counter.read_text() == "x\n"
    steady, _ = slow_pipeline(tmp_path, seconds=0)
    steady_sig = plan_run(compile_pipeline(steady), bind_pipeline_inputs(steady, None), h.store,
                          h.artifacts).steps["only"].signature
    h.store.take_leases([lease(steady_sig, "busy-run", job="only")], gone_after())
    forced = h.run(steady, force=True)
    assert forced.ok and counter.read_text() == "x\nx\n"
    held = h.store.leases([signature, steady_sig])
    assert {s: held[s].run_id for s in held} == {signature: "busy-run", steady_sig: "busy-run"}


def test_the_live_table_shows_a_step_waiting_for_another_run():
    display = RunDisplay(Console(record=True, width=160))
    run = RunRecord(id="r2", pipeline="p")
    display.on_event(RunEvent("step", run, StepRunRecord("r2", "train", reason="waits for run r1 (job train)")))
    display.on_event(RunEvent("step", run, StepRunRecord("r2", "evaluate", reason="waits for train")))
    display.console.print(display.render())
    rows = {line.split()[1]: line for line in display.console.export_text().splitlines() if line.startswith("│ ")}
    assert "waiting" in rows["train"] and "waits for run r1 (job train)" in rows["train"]
    assert "pending" in rows["evaluate"]


# ----------------------------------------------------------------------------- two real CLI runs
PIPELINE = """\
type: pipeline
name: shared_step
jobs:
  slow:
    type: command
    command: echo x >> {counter}; sleep 6; echo x > ${{{{outputs.o}}}}/f
    outputs:
      o: {{type: uri_folder}}
"""


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ENTRY, "--home", str(home), *args], capture_output=True, text=True,
                          timeout=120)


def spawn(home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", ENTRY, "--home", str(home), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_ductwork_runs_of_one_pipeline_at_once_execute_the_shared_step_once(tmp_path):
    home, counter = tmp_path / "ws", tmp_path / "executions.txt"
    pipeline = tmp_path / "shared.yml"
    pipeline.write_text(PIPELINE.format(counter=counter))
    assert cli(home, "run", str(pipeline), "--plan").returncode == 0  # makes the workspace
    procs = [spawn(home, "run", str(pipeline), "--in-process", "--json") for _ in range(2)]
    deadline = time.monotonic() + 60
    while not counter.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    plan = json.loads(cli(home, "run", str(pipeline), "--plan", "--json").stdout)
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert counter.read_text() == "x\n"
    runs = [json.loads(out) for out, _ in outs]
    by_status = {r["steps"][0]["status"]: r for r in runs}
    assert set(by_status) == {"completed", "reused"}, runs
    first = by_status["completed"]["id"]
    assert by_status["reused"]["steps"][0]["reason"] == f"reused from run {first}"
    assert plan["steps"][0]["reason"] == f"waits for run {first} (job slow)"
