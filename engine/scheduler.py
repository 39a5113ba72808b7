"""The one scheduling loop: it owns the ready set, asks the planner about each step whose
inputs are committed, submits the rest to an executor, commits outputs, records everything
(batched), skips what depends on a failure, enforces timeouts and handles cancellation.

Executors only submit, wait and cancel. The executor is created only when something has
to run, so a fully reused run never imports or starts Ray.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.errors import DuctworkError
from engine import signals
from engine.artifacts import NODE_ROOT, ArtifactInfo, ArtifactStore, LocalArtifactStore
from engine.command import render_command
from engine.fingerprint import ComponentFingerprints
from engine.graph import PipelineGraph, StepNode
from engine.handoff import UPSTREAM_FAILED, WITHDRAWN, Handoff
from engine.inputs import ExternalDigests, PipelineValues
from engine.leases import POLL_S, StepLeases, took_over_reason, waits_reason
from engine.plan import REUSE, RUN, Decision, Planner, RunPlan
from engine.recorder import Recorder
from engine.records import (
    STEP_DONE,
    STEP_FINAL,
    ArtifactRecord,
    MetricRecord,
    OutputRef,
    ReuseRecord,
    RunRecord,
    RunStatus,
    StepRunRecord,
    StepStatus,
    StoreBatch,
)
from engine.runstore import RunStore

if TYPE_CHECKING:  # executors and the task runtime are imported once something has to run
    from engine.executors import Executor
    from engine.runtime import StepOutcome, StepTask

__all__ = ["RunEvent", "RunResult", "execute_run", "new_run_id"]

#: errors starting so are not retried by Ductwork (Ray retries a crashed worker; an output the step
#: did not write or that could not be committed fails it, as when the driver committed outputs)
NOT_RETRIED = ("worker crashed", "cancelled", UPSTREAM_FAILED, "output '", "could not commit")
WITHDRAWN_WAIT_S = 5.0  #: how long a run's end waits for its withdrawn tasks to end (see withdraw)
FLUSH_GROWTH = 4  #: a run's timed flushes come at most every 4 × flush_interval (1 s by default)
_AHEAD = "\0ahead:"  #: the digest of an output not committed yet, while a step is submitted ahead of it


def new_run_id() -> str:
    """Sortable, readable and unique: ``20250101-120000-1a2b3c``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


@dataclass(frozen=True)
class RunEvent:
    """A change the live display shows: ``kind`` is ``planned``, ``step`` or ``finished``."""

    kind: str
    run: RunRecord
    step: StepRunRecord | None = None


@dataclass
class RunResult:
    """How a run ended, with every step run (in topological order)."""

    run: RunRecord
    steps: list[StepRunRecord]
    saved_s: float = 0.0
    error: str | None = None  #: why the run failed before any step could start

    @property
    def ok(self) -> bool:
        return self.run.status == "completed"

    def count(self, status: str) -> int:
        return sum(1 for s in self.steps if s.status == status)


@dataclass
class _Attempt:
    job: str
    task: StepTask
    area: Path
    decision: Decision | None  #: ``None`` while submitted ahead: decided once its upstreams committed
    started_at: float | None = None
    log_path: str | None = None  #: a store-backed run: the driver's copy of the log the node uploads
    handoff: Handoff | None = None  #: the task commits its outputs itself (engine/handoff.py)
    waiting: str = ""  #: submitted ahead: the step's reason before, shown again if it is withdrawn
    withdrawn_started: bool = False  #: withdrawn once its upstreams had ended: it may have started


class _Discarder:
    """Removes spent scratch areas on a background thread. Creating and removing folders costs
    ≈ 1 ms each on some file systems; ``rmdir``/``unlink`` release the GIL, so the scheduling
    loop goes on meanwhile. ``close`` waits until every queued area is gone (at run end), then
    removes the run's scratch folder once it is empty (a step still running keeps it)."""

    def __init__(self, artifacts: ArtifactStore, run_id: str):
        self.artifacts = artifacts
        self.run_id = run_id
        self._queue: queue.SimpleQueue[Path | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def put(self, area: Path) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="ductwork-discarder", daemon=True)
            self._thread.start()
        self._queue.put(area)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        with contextlib.suppress(OSError):  # gone already, or not empty
            os.rmdir(self.artifacts.scratch_of(self.run_id))

    def _work(self) -> None:
        while (area := self._queue.get()) is not None:
            with contextlib.suppress(OSError):
                self.artifacts.discard(area)


@dataclass
class _Driver:
    graph: PipelineGraph
    values: PipelineValues
    store: RunStore
    artifacts: ArtifactStore
    logs_dir: Path
    executor_factory: Callable[[], Executor]
    force: bool
    run: RunRecord
    on_event: Callable[[RunEvent], None] | None
    flush_interval: float
    planner: Planner = field(init=False)
    states: dict[str, StepRunRecord] = field(default_factory=dict)
    running: dict[Any, _Attempt] = field(default_factory=dict)
    to_decide: collections.deque[str] = field(default_factory=collections.deque)
    fresh: set[str] = field(default_factory=set)
    decided: set[str] = field(default_factory=set)
    saved_s: float = 0.0
    stopped_by: str | None = None
    executor: Executor | None = None
    batch: StoreBatch = field(default_factory=StoreBatch)
    changed: dict[str, None] = field(default_factory=dict)
    last_flush: float = 0.0
    #: the interval of the next timed flush: doubled after each flush (the plan's included: the
    #: first timed one comes 2 × ``flush_interval`` after it) up to ``FLUSH_GROWTH`` times it. Each
    #: batch costs the writer ≈ 20–30 ms of CPU whatever it holds (its statements and the checkpoint
    #: at DETACH, bench/README.md (l); a new connection added ≈ 20 ms more before): a 200-step chain
    #: of no-op steps wrote 6 in 1.2 s with fixed intervals (bench/README.md (k))
    interval: float = 0.0
    recorder: Recorder = field(init=False)
    discarder: _Discarder = field(init=False)
    evictions_taken: tuple[int, int] = (0, 0)  #: how much of planner.evicted / corrupt was taken
    prepared: dict[str, Path] = field(default_factory=dict)  #: scratch areas made ahead (``prepare_ahead``)
    leases: StepLeases = field(init=False)
    leased: dict[str, Decision] = field(default_factory=dict)  #: RUN decisions waiting for their lease
    #: a store-backed run (engine/objectstore.py): tasks get virtual paths and upload their outputs
    remote: bool = field(init=False)
    local: bool = field(init=False)  #: a local artifact store: tasks commit their outputs (engine/handoff.py)
    workspace: str = field(init=False)  #: who the reuse records say made them (a shared store's readers)
    logs_pulled_at: float = 0.0
    #: steps submitted ahead of their running upstreams (engine/handoff.py), by job: their handle
    ahead: dict[str, Any] = field(default_factory=dict)
    withdrawn: dict[Any, _Attempt] = field(default_factory=dict)  #: taken back, until their tasks end
    handles: dict[str, Any] = field(default_factory=dict)  #: the running attempt's handle of each job
    timed: bool = field(init=False)  #: some step has a timeout (the loop looks for them only then)

    def __post_init__(self) -> None:
        self.remote = bool(getattr(self.artifacts, "remote", False))
        self.local = isinstance(self.artifacts, LocalArtifactStore)
        self.workspace = str(getattr(self.artifacts, "workspace", "") or "")
        self.recorder = Recorder(self.store)
        self.discarder = _Discarder(self.artifacts, self.run.id)
        self.leases = StepLeases(self.store, self.run.id, self.run.host, self.run.driver_pid)
        self.timed = any(node.job.timeout for node in self.graph.steps.values())

    # ------------------------------------------------------------------ recording
    def emit(self, step: StepRunRecord | None = None, kind: str = "step") -> None:
        if step is not None:
            self.changed[step.job] = None
        if self.on_event is not None:
            self.on_event(RunEvent(kind, self.run, step))

    def flush(self, force: bool = False, wait: bool | None = None) -> None:
        """Hand the pending records to the writer thread. ``force``: even within the flush
        interval; ``wait`` (default: ``force``): until they are written."""
        now = time.monotonic()
        if not force and (now - self.last_flush < (self.interval or self.flush_interval) or self.recorder.busy):
            return  # while the writer is still at the last batch, the next one grows instead
        self.interval = min((self.interval or self.flush_interval) * 2, self.flush_interval * FLUSH_GROWTH)
        batch = self.pending()
        if batch:
            self.recorder.submit(batch)
        if force if wait is None else wait:
            self.recorder.drain()

    def pending(self) -> StoreBatch:
        """Every record not yet handed to the writer (and a lease heartbeat when one is due)."""
        self.leases.beat(self.batch)
        self.batch.step_runs.extend(copy.copy(self.states[name]) for name in self.changed)
        self.changed.clear()
        batch, self.batch = self.batch, StoreBatch()
        self.last_flush = time.monotonic()
        return batch

    def pending_after_drain(self) -> StoreBatch:
        """``pending()`` once the writer has written everything before it: it may be written
        by another connection (a lease request's) and keep the records in order."""
        self.recorder.drain()
        return self.pending()

    # ------------------------------------------------------------------ decisions
    def outputs_of(self, job: str) -> dict[str, OutputRef]:
        return self.states[job].outputs

    def apply_decision(self, decision: Decision, fresh_inputs: bool = False) -> None:
        if decision.job in self.decided:
            return
        self.decided.add(decision.job)
        st = self.states[decision.job]
        st.reason = decision.reason
        if decision.ingredients is not None:
            st.signature = decision.ingredients.signature
            st.ingredients = decision.ingredients.to_dict()
        if decision.action == REUSE and decision.reuse is not None:
            now = time.time()
            st.status, st.reused_from, st.outputs = "reused", decision.reuse.run_id, dict(decision.reuse.outputs)
            st.started_at = st.ended_at = now
            st.duration_s = 0.0
            st.saved_s, st.saved_price_per_hour = decision.reuse.duration_s, decision.reuse.price_per_hour
            self.saved_s += decision.reuse.duration_s
            self.emit(st)
            self.step_done(decision.job)
        elif decision.action == RUN:
            self.emit(st)
            reusable = decision.signature and self.planner.forced_reason(self.graph.steps[decision.job]) is None
            if reusable and fresh_inputs:  # fed by this run's new output: no other run can be on it yet
                self.leases.claim(decision.job, decision.signature, self.batch)
                self.launch(decision)
            elif reusable:
                self.leased[decision.job] = decision  # a reusable step: launched once its lease is taken
                self.leases.ask(decision.job, decision.signature)
            else:
                self.launch(decision)

    def settle_leases(self) -> None:
        """Launch the steps whose lease was taken, reuse those another run has just finished, and
        show the others as waiting for the run that holds their lease (engine/leases.py)."""
        for job in [j for j in self.leased if self.states[j].status != "pending"]:  # the run stopped them
            del self.leased[job]
            self.leases.forget(job)
        for job, answer in self.leases.settle(self.pending_after_drain).items():
            decision, st = self.leased[job], self.states[job]
            if answer.taken:
                del self.leased[job]
                st.reason = decision.reason + (f"; {took_over_reason(answer.holder)}" if answer.holder else "")
                self.launch(decision)
            elif answer.reuse is not None and decision.ingredients is not None:
                found = self.planner.check_reuse(self.graph.steps[job], decision.ingredients, answer.reuse)
                self.take_evictions()
                if found.action == REUSE:
                    del self.leased[job]
                    self.decided.discard(job)  # decided anew, with the record the other run committed
                    self.apply_decision(found)
                else:  # that record is broken (and evicted): run it, once no other run holds it
                    self.leased[job] = found
                    self.leases.ask(job, decision.ingredients.signature, ignore_reuse=True)
            elif answer.holder is not None:
                st.reason = waits_reason(answer.holder)
                self.emit(st)

    def decide_ready(self, job: str) -> None:
        if job in self.decided or self.states[job].status != "pending":
            return
        node = self.graph.steps[job]
        bound = self.planner.step_inputs(node, self.outputs_of)
        ing = self.planner.ingredients(node, bound)
        fresh = any(d in self.fresh for d in bound.digests.values() if d)
        decision = self.planner.decide(node, ing, fresh_inputs=fresh)
        self.take_evictions()
        self.apply_decision(decision, fresh_inputs=fresh)

    def decide_all_ready(self) -> None:
        while self.to_decide:
            self.decide_ready(self.to_decide.popleft())

    def take_evictions(self) -> None:
        """Queue the deletion of reuse records the planner found broken, and remove corrupt
        artifacts now, so that the step's rerun commits its output in their place."""
        evicted, corrupt = self.planner.evicted, self.planner.corrupt
        self.batch.evict.extend(evicted[self.evictions_taken[0]:])
        for digest in corrupt[self.evictions_taken[1]:]:
            self.artifacts.evict(digest)
        self.evictions_taken = (len(evicted), len(corrupt))

    def step_done(self, job: str) -> None:
        """A step completed or was reused: queue every downstream step whose inputs are all committed
        (one submitted ahead is decided and shown running at once: its task is starting)."""
        for down in self.graph.downstream.get(job, ()):
            if self.states[down].status != "pending":
                continue
            if all(self.states[u].status in STEP_DONE for u in self.graph.steps[down].upstream):
                if down in self.ahead:
                    self.activate(down)
                else:
                    self.to_decide.append(down)

    def step_failed(self, job: str, status: str = "failed") -> None:
        for down in self.graph.descendants(job):
            st = self.states[down]
            if st.status == "pending":
                st.status, st.reason = "skipped", f"upstream {job} {status}"
                self.emit(st)
        if status == "failed" and not self.graph.pipeline.settings.continue_on_step_failure:
            self.stop(f"run stopped after {job} failed (continue_on_step_failure: false)")

    def stop(self, reason: str, status: str = "skipped") -> None:
        self.stopped_by = self.stopped_by or reason
        self.to_decide.clear()
        for job in list(self.ahead):  # not started: they never will
            self.withdraw(job)
        for st in self.states.values():
            if st.status == "pending":
                st.status, st.reason = status, reason
                self.emit(st)

    # ------------------------------------------------------------------ execution
    def make_area(self, node: StepNode) -> Path:
        """A fresh scratch area for one attempt of ``node``, with its empty output folders."""
        area = self.artifacts.new_step_area(self.run.id, node.name)
        if self.remote:  # a virtual area: the task makes it on its node (engine/storetask.py)
            return area
        for name in node.component.outputs:
            os.mkdir(_output_dir(area, name))  # one call a folder (``mkdir(parents=True)`` tried first, in vain)
        return area

    def prepare_ahead(self, job: str) -> None:
        """While ``job`` runs, make the scratch areas of the steps that wait for nothing else:
        those folders (≈ 0.6 ms) then leave the critical path of a chain. An area made for a
        step that ends up reused or skipped is removed with the run's other leftovers."""
        for down in self.graph.downstream.get(job, ()):
            if down in self.prepared or self.states[down].status != "pending":
                continue
            if all(u == job or self.states[u].status in STEP_DONE for u in self.graph.steps[down].upstream):
                with contextlib.suppress(OSError):  # launch makes it then (and says what is wrong)
                    self.prepared[down] = self.make_area(self.graph.steps[down])

    def prepare_while_writing(self) -> None:
        """While the plan's records are written (no step starts before they are: a driver killed
        then leaves every step recorded), make the scratch areas of the pending steps, in their
        order, for as long as the writer is busy: those folders (3 a step, ≈ 0.3 ms of system CPU
        each here) then leave the start of the run, where a chain submitted ahead made them all
        in one burst while its first steps ran. An area made for a step that ends up reused or
        skipped is removed with the run's other leftovers."""
        if self.remote:
            return
        for job, st in self.states.items():
            if not self.recorder.busy:
                return
            if st.status == "pending" and job not in self.prepared:
                try:
                    self.prepared[job] = self.make_area(self.graph.steps[job])
                except OSError:  # launch makes it then (and says what is wrong)
                    return

    def build_task(self, node: StepNode, area: Path, attempt: int, bound: Any = None) -> StepTask:
        from engine.runtime import StepTask

        comp = node.component
        bound = bound or self.planner.step_inputs(node, self.outputs_of)
        out_dirs: dict[str, str] = {}
        out_paths: dict[str, str] = {}
        for name, ospec in comp.outputs.items():
            folder = _output_dir(area, name)
            out_dirs[name] = folder
            out_paths[name] = f"{folder}/{name}" if ospec.type == "uri_file" else folder
        log_path = str(self.logs_dir / self.run.id / f"{node.name}.log")
        code_dir = str(comp.code) if comp.code else None
        store: dict[str, Any] = {}
        if self.remote:  # nothing assumes the node shares this disk: it fetches from the store
            bound, code_dir, store = self.store_inputs(node, bound, area)
            log_path = str(Path(NODE_ROOT) / "logs" / self.run.id / f"{node.name}.log")
        common = dict(run_id=self.run.id, job=node.name, area=str(area), log_path=log_path,
                      code_dir=code_dir, output_dirs=out_dirs, **store,
                      env={k: str(v) for k, v in node.job.environment_variables.items()}, attempt=attempt,
                      capture_fds=self.executor.capture_fds if self.executor else False,
                      mark_start=bool(node.job.timeout), driver_pid=os.getpid(), driver_host=self.run.host)
        if comp.kind == "function":
            if comp.function is None:
                raise DuctworkError(f"job '{node.name}': function component '{comp.ref}' names no function")
            args: dict[str, Any] = dict(bound.parameters)
            args.update({k: v for k, v in bound.paths.items() if v is not None})
            args.update(out_paths)
            return StepTask(kind="function", module=comp.function.module, qualname=comp.function.qualname,
                            code_digest=self.planner.fingerprints.of(comp).digest, arguments=args, **common)
        values: dict[str, Any] = {k: v for k, v in bound.parameters.items() if v is not None}
        values.update({k: v for k, v in bound.paths.items() if v is not None})
        command = render_command(comp.command or "", values, out_paths, set(bound.paths), node.name, comp.ref)
        return StepTask(kind="command", command=command.script, values=command.values, display=command.display,
                        **common)

    def store_inputs(self, node: StepNode, bound: Any, area: Path) -> tuple[Any, str | None, dict[str, Any]]:
        """For a store-backed run: the step's inputs as links in its (virtual) scratch area, its code
        as a tree in the store, and what the task needs to fetch them. An external file or folder
        of this machine is uploaded first (once: a stored tree of its digest is not sent again)."""
        try:
            return self._store_inputs(node, bound, area)
        except DuctworkError:
            raise
        except Exception as exc:  # noqa: BLE001 - the store failed under an upload
            raise DuctworkError(f"could not put its inputs or code into the store {self.artifacts.url}: "
                                f"{type(exc).__name__}: {exc}") from None

    def _store_inputs(self, node: StepNode, bound: Any, area: Path) -> tuple[Any, str | None, dict[str, Any]]:
        store = self.artifacts
        fetch: list[tuple[str, str]] = []
        paths = dict(bound.paths)
        for name, path in bound.paths.items():
            digest = bound.digests.get(name)
            if path is None or digest is None:
                continue
            link = area / "inputs" / name
            if bound.sources.get(name, "").startswith("job:"):
                inside = path[len(str(store.path(digest))):]  # "/<file>" for a uri_file output
                paths[name] = str(link) + inside
            else:
                store.upload_input(path, digest)
                if not os.path.isdir(path):
                    link = link / os.path.basename(path.rstrip("/"))
                paths[name] = str(link)
            fetch.append((digest, str(link)))
        code_dir = None
        comp = node.component
        if comp.code:
            from components.codefiles import code_files

            code = store.put_code(comp.code, [rel for rel, _ in code_files(comp.code)])
            code_dir = str(store.path(code))
            fetch.append((code, ""))
        file_outputs = tuple(n for n, o in comp.outputs.items() if o.type == "uri_file")
        return (dataclasses.replace(bound, paths=paths), code_dir,
                dict(store=store.url, store_env=dict(store.env), fetch=tuple(fetch), file_outputs=file_outputs))

    def handoff(self, node: StepNode, links: tuple[tuple[int, str, str, str], ...] = (),
                arguments: tuple[tuple[int, str, str, str, str], ...] = ()) -> Handoff | None:
        """A local store's task commits its outputs itself (engine/handoff.py); a store-backed one
        uploads them (engine/storetask.py)."""
        if not self.local:
            return None
        files = tuple(n for n, o in node.component.outputs.items() if o.type == "uri_file")
        return Handoff(str(self.artifacts.artifacts_dir), str(self.artifacts.tmp_dir), files, links, arguments)

    def launch(self, decision: Decision) -> None:
        node, st = self.graph.steps[decision.job], self.states[decision.job]
        if self.executor is None:
            self.start_executor()
        area = self.prepared.pop(node.name, None) or self.make_area(node)
        st.attempts += 1
        try:
            task = self.build_task(node, area, st.attempts)
            handoff = self.handoff(node)
            handle = self.executor.submit(task, node.request, node.job.retries, node.runtime_env, handoff)
        except DuctworkError as exc:
            self.artifacts.discard(area)
            self.fail(node.name, str(exc), None)
            return
        attempt = _Attempt(node.name, task, area, decision, handoff=handoff)
        if self.remote:  # the node's clock: from submission (its area is not on this disk)
            attempt.started_at = time.time()
            attempt.log_path = str(self.logs_dir / self.run.id / f"{node.name}.log")
        self.running[handle] = attempt
        self.handles[node.name] = handle
        st.status, st.log_path = "running", attempt.log_path or task.log_path
        st.started_at = st.started_at or time.time()
        self.emit(st)
        self.prepare_ahead(node.name)
        self.submit_ahead(node.name)

    # ------------------------------------------------------------------ submitted ahead
    def submit_ahead(self, job: str) -> None:
        """Submit the steps downstream of ``job`` (just submitted) with their running upstreams'
        tasks as Ray dependencies: each starts as soon as those end, not after a round trip
        through this driver (engine/handoff.py), and a chain is submitted whole, as raw Ray would.

        Whether such a step may really run is known once its upstreams have committed
        (:meth:`activate`): a forced or non-deterministic one always; a reusable one when an
        input is an output created in this run (no earlier run can have seen it: no lookup, its
        lease claimed at once). One whose upstream made an output that existed already may be
        reused (early cutoff): it is withdrawn, cancelled if it started, and decided as usual."""
        if not (self.local and self.executor is not None and self.executor.chains) or self.stopped_by:
            return
        todo = [job]
        while todo:
            for down in self.graph.downstream.get(todo.pop(), ()):
                if down in self.decided or self.states[down].status != "pending":
                    continue
                node = self.graph.steps[down]
                after = tuple(u for u in node.upstream if self.states[u].status not in STEP_DONE)
                if after and all(u in self.handles for u in after) and self.launch_ahead(node, after):
                    todo.append(down)

    def launch_ahead(self, node: StepNode, after: tuple[str, ...]) -> bool:
        st = self.states[node.name]
        try:
            area = self.prepared.pop(node.name, None) or self.make_area(node)
        except OSError:
            return False  # launched the usual way later (which says what is wrong)
        try:
            bound, (links, arguments) = self.bound_ahead(node, area, after)
            task = self.build_task(node, area, st.attempts + 1, bound)
            handoff = self.handoff(node, links, arguments)
            handle = self.executor.submit(task, node.request, node.job.retries, node.runtime_env, handoff,
                                          tuple(self.handles[u] for u in after))
        except DuctworkError:  # decided and launched the usual way once its upstreams are done
            self.artifacts.discard(area)
            return False
        st.attempts += 1
        self.decided.add(node.name)
        self.ahead[node.name] = handle
        self.running[handle] = _Attempt(node.name, task, area, None, handoff=handoff,
                                        waiting=st.reason)
        self.handles[node.name] = handle
        st.reason = f"submitted to start when {', '.join(after)} {'ends' if len(after) == 1 else 'end'}"
        self.emit(st)
        return True

    def bound_ahead(self, node: StepNode, area: Path, after: tuple[str, ...]) -> tuple[Any, tuple]:
        """The inputs of a step submitted ahead: an output of a running upstream is a link in the
        step's scratch area (``inputs/<name>``) that its task makes from that upstream's outcome."""
        pending: dict[str, tuple[str, str]] = {}

        def outputs_of(job: str) -> dict[str, OutputRef]:
            if job not in after:
                return self.outputs_of(job)
            refs = {}
            for name, ospec in self.graph.steps[job].component.outputs.items():
                digest = f"{_AHEAD}{len(pending)}"
                pending[digest] = (job, name)
                refs[name] = OutputRef(digest, 0, name if ospec.type == "uri_file" else None)
            return refs

        bound = self.planner.step_inputs(node, outputs_of)
        paths, links, arguments = dict(bound.paths), [], []
        function = node.component.kind == "function"
        for name, digest in bound.digests.items():
            if digest in pending:
                job, output = pending[digest]
                inside = paths[name][len(str(self.artifacts.path(digest))):]  # "/<file>" or ""
                if function:  # the task passes the artifact's path itself (engine/handoff.py)
                    arguments.append((after.index(job), job, output, name, inside))
                    paths[name] = f"{area}/inputs/{name}{inside}"  # replaced by the task before the call
                    continue
                link = area / "inputs" / name
                paths[name] = str(link) + inside
                links.append((after.index(job), job, output, str(link)))
        return dataclasses.replace(bound, paths=paths), (tuple(links), tuple(arguments))

    def activate(self, job: str) -> None:
        """A step submitted ahead whose upstreams are all committed now: decided without a
        lookup (forced, not deterministic, or fed by a new output: its lease claimed in the
        batch of that output's record), its signature recorded, shown running; or withdrawn
        when its inputs all existed before this run (it may be reused)."""
        node, st = self.graph.steps[job], self.states[job]
        bound = self.planner.step_inputs(node, self.outputs_of)
        fresh = any(d in self.fresh for d in bound.digests.values() if d)
        reusable = self.planner.forced_reason(node) is None
        if reusable and not fresh:
            self.withdraw(job, started=True)
            self.to_decide.append(job)
            return
        handle = self.ahead.pop(job)
        attempt = self.running[handle]
        ing = self.planner.ingredients(node, bound)
        attempt.decision = decision = self.planner.decide(node, ing, fresh_inputs=fresh)
        if reusable:
            self.leases.claim(job, ing.signature, self.batch)
        st.reason, st.signature, st.ingredients = decision.reason, ing.signature, ing.to_dict()
        st.status, st.log_path = "running", attempt.task.log_path
        st.started_at = st.started_at or time.time()
        self.emit(st)

    def withdraw(self, job: str, started: bool = False) -> None:
        """Take back a step submitted ahead (an upstream failed or is tried again, the run stops,
        or it may be reused): its task is told not to start (``WITHDRAWN`` in its area; an
        upstream that failed or crashed stops it anyway) and, if it had started a command, its
        process group is killed. It is not cancelled through Ray: Ray 2.60's driver aborts
        ("Tried to complete task that was not pending", task_manager.cc) when a task it was
        asked to cancel replies after all, which a task already handed its upstream's result
        can. Its area (and, when it may have ``started``, the log of an attempt that does not
        count) is removed once its task has ended (:meth:`forget_withdrawn`), or when the run
        ends, never under a task known to run. The step is decided again later, or skipped."""
        from engine.runtime import kill_step_processes

        handle = self.ahead.pop(job)
        attempt = self.running.pop(handle)
        self.handles.pop(job, None)
        _tell_not_to_start(attempt)
        kill_step_processes(self.area_here(attempt.area))
        attempt.withdrawn_started = started
        self.withdrawn[handle] = attempt
        st = self.states[job]
        st.attempts -= 1
        st.reason = attempt.waiting
        self.decided.discard(job)
        self.emit(st)

    def forget_withdrawn(self, handle: Any) -> None:
        """A withdrawn task ended: its area goes, and the log of an attempt that may have started
        unless the step has run again since (its log is then that attempt's)."""
        attempt = self.withdrawn.pop(handle)
        self.discarder.put(attempt.area)
        if attempt.withdrawn_started and attempt.job not in self.handles \
                and self.states[attempt.job].status not in ("completed", "failed"):
            with contextlib.suppress(OSError):
                os.unlink(attempt.task.log_path)

    def settle_withdrawn(self, within: float = WITHDRAWN_WAIT_S) -> None:
        """At the run's end, give the withdrawn tasks a moment to end (they were told not to start,
        or their command was killed), so that their areas and logs are removed after them."""
        deadline = time.monotonic() + within
        while self.withdrawn and self.executor is not None and (left := deadline - time.monotonic()) > 0:
            for handle, _outcome in self.executor.wait(list(self.withdrawn), left):
                if handle in self.withdrawn:
                    self.forget_withdrawn(handle)

    def drop_ahead(self, job: str) -> None:
        """``job`` did not complete: withdraw every step submitted ahead of it."""
        if self.ahead:
            for down in self.graph.descendants(job) & self.ahead.keys():
                self.withdraw(down)

    def start_executor(self) -> None:
        pending = {n: self.graph.steps[n].request for n, st in self.states.items() if st.status == "pending"}
        executor = self.executor_factory()
        self.executor = executor
        executor.start(pending)

    def fail(self, job: str, error: str, outcome: StepOutcome | None) -> None:
        self.drop_ahead(job)
        st = self.states[job]
        st.status, st.error = "failed", error
        self.leases.release(job, self.batch)
        st.ended_at = (outcome.ended_at if outcome and outcome.ended_at else None) or time.time()
        if outcome is not None:
            st.exit_code, st.node_id = outcome.exit_code, outcome.node_id or st.node_id
        if st.started_at:
            st.duration_s = round(st.ended_at - st.started_at, 3)
        self.emit(st)
        self.step_failed(job)

    def commit(self, attempt: _Attempt, outcome: StepOutcome) -> None:
        node, st = self.graph.steps[attempt.job], self.states[attempt.job]
        outputs: dict[str, OutputRef] = {}
        now = time.time()
        for name, ospec in node.component.outputs.items():
            if self.remote or attempt.handoff is not None:  # the task committed it (engine/handoff.py,
                if name not in outcome.outputs:              # storetask.py: blobs, then its tree)
                    raise DuctworkError(f"output '{name}' was not committed to the store by the step's task")
                info = ArtifactInfo(*outcome.outputs[name])
            else:
                folder = Path(attempt.task.output_dirs[name])
                if ospec.type == "uri_file" and not (folder / name).exists():
                    raise DuctworkError(f"output '{name}' (uri_file) was not written: the step must create the "
                                        f"file at the path it was given as ${{{{outputs.{name}}}}}")
                info = self.artifacts.commit(folder, dispose=self.discarder.put)  # a duplicate: removed later
            # an output no step run can have seen yet: its downstream steps need no reuse lookup. An
            # artifact made again (deleted, evicted or repaired) is not new: its downstream steps may
            # still be reused (early cutoff)
            if info.created and info.digest not in self.planner.corrupt and info.digest not in self.planner.known_digests:
                self.fresh.add(info.digest)
            outputs[name] = OutputRef(info.digest, info.size, name if ospec.type == "uri_file" else None)
            self.batch.artifacts.append(ArtifactRecord(info.digest, info.size, self.run.id, node.name, name, now))
        st.outputs = outputs
        st.status, st.exit_code, st.node_id = "completed", outcome.exit_code, outcome.node_id
        st.started_at = outcome.started_at or st.started_at
        st.ended_at = outcome.ended_at or now
        st.duration_s = round(st.ended_at - (st.started_at or st.ended_at), 3)
        self.batch.metrics.extend(MetricRecord(self.run.id, node.name, m["name"], m["value"], m["step"],
                                               m.get("ts") or now) for m in outcome.metrics)
        if node.component.is_deterministic and st.signature:
            record = ReuseRecord(st.signature, self.run.id, node.name, outputs, st.duration_s or 0.0, now,
                                 st.price_per_hour, self.workspace)
            self.planner.manifests.put(record)  # after its artifacts, before its record (engine/manifests.py)
            self.batch.reuse.append(record)
        self.leases.release(node.name, self.batch)  # in the batch of its reuse record: never before it

    def area_here(self, area: Path) -> str:
        """Where an attempt's scratch area is on this machine: a store-backed task on this machine
        (in-process, or a local Ray's worker) keeps it in this machine's node cache, so its
        process group can be killed from here; one on another node is stopped by Ray."""
        text = str(area)
        if self.remote and text.startswith(NODE_ROOT):
            from engine.objectstore import node_cache_dir

            return str(node_cache_dir()) + text[len(NODE_ROOT):]
        return text

    def pull_logs(self, final: _Attempt | None = None) -> None:
        """A store-backed run: copy the logs its nodes upload into this workspace's logs, about
        once a second while steps run (``runs logs --follow`` reads them), and once at each end."""
        if final is not None:
            self.artifacts.pull_log(self.run.id, final.job, final.log_path)
            return
        now = time.time()
        if now - self.logs_pulled_at < 1.0:
            return
        self.logs_pulled_at = now
        for attempt in self.running.values():
            self.artifacts.pull_log(self.run.id, attempt.job, attempt.log_path)

    def on_outcome(self, handle: Any, outcome: StepOutcome) -> None:
        attempt = self.running.pop(handle)
        self.handles.pop(attempt.job, None)
        if attempt.log_path:
            self.pull_logs(attempt)
        st = self.states[attempt.job]
        node = self.graph.steps[attempt.job]
        if outcome.ok:
            try:
                self.commit(attempt, outcome)
            except (DuctworkError, OSError) as exc:
                self.artifacts.discard(attempt.area)
                self.fail(attempt.job, str(exc), outcome)
                return
            self.discarder.put(attempt.area)  # only empty folders are left: removed in the background
            self.emit(st)
            self.step_done(attempt.job)
            return
        from engine.runtime import kill_step_processes

        kill_step_processes(self.area_here(attempt.area))
        self.artifacts.discard(attempt.area)
        if not (outcome.error or "").startswith(NOT_RETRIED) and st.attempts <= node.job.retries and self.stopped_by is None:
            self.drop_ahead(attempt.job)  # they wait for this attempt's result: submitted again after the next
            st.reason = f"retry {st.attempts} of {node.job.retries} after: {outcome.error}"
            self.launch(attempt.decision)
            return
        self.fail(attempt.job, outcome.error or "failed", outcome)

    def check_timeouts(self) -> None:
        from engine.runtime import StepOutcome, kill_step_processes

        now = time.time()
        for handle, attempt in list(self.running.items()):
            timeout = self.graph.steps[attempt.job].job.timeout
            if not timeout:
                continue
            if attempt.started_at is None:
                try:
                    attempt.started_at = os.stat(attempt.area / "started").st_mtime
                except FileNotFoundError:
                    continue
            if now - attempt.started_at > timeout:
                self.executor.cancel(handle)
                kill_step_processes(self.area_here(attempt.area))
                del self.running[handle]
                self.artifacts.discard(attempt.area)
                if attempt.log_path:
                    self.pull_logs(attempt)
                self.fail(attempt.job, f"timed out after {timeout:g} s (limits.timeout); the step was cancelled",
                          StepOutcome(ok=False, ended_at=now))

    def cancel_all(self, reason: str) -> None:
        from engine.runtime import kill_step_processes

        for handle, attempt in list(self.withdrawn.items()):  # told not to start (see withdraw)
            kill_step_processes(self.area_here(attempt.area))
            self.forget_withdrawn(handle)
        for handle, attempt in list(self.running.items()):
            if attempt.job in self.ahead:  # not started: told not to (not through Ray: see withdraw);
                _tell_not_to_start(attempt)  # its upstream, cancelled below, stops it too
            elif self.executor is not None:
                self.executor.cancel(handle)
            kill_step_processes(self.area_here(attempt.area))
            self.artifacts.discard(attempt.area)
            if attempt.log_path:
                with contextlib.suppress(Exception):  # what the node uploaded before the stop
                    self.pull_logs(attempt)
            st = self.states[attempt.job]
            st.status, st.reason, st.ended_at = "cancelled", reason, time.time()
            if st.started_at:  # what it ran until cancelled is spent too
                st.duration_s = round(st.ended_at - st.started_at, 3)
            self.emit(st)
        self.running.clear()
        self.ahead.clear()  # stopped with the rest above
        self.handles.clear()
        self.stop(reason, status="cancelled")

    def record_plan(self, plan: RunPlan) -> None:
        """Every step run as the plan found it (``pending``, with its reason), all recorded from
        the start; a function that cannot be sent to a worker is refused before anything runs."""
        for position, (name, decision) in enumerate(plan.steps.items()):
            node = self.graph.steps[name]
            if node.component.kind == "function" and node.component.function is not None:
                qual = node.component.function.qualname
                if decision.action != REUSE and ("<lambda>" in qual or "<locals>" in qual):
                    from engine.executors import check_picklable
                    from engine.runtime import StepTask

                    check_picklable(StepTask(self.run.id, name, "function", "", "", qualname=qual,
                                             module=node.component.function.module))
            self.states[name] = StepRunRecord(
                run_id=self.run.id, job=name, component=node.component.ref, status="pending",
                compute=node.compute.name, resources=node.request.to_dict(), position=position,
                reason=decision.reason, price_per_hour=node.compute.price_per_hour or 0.0)
        self.changed = dict.fromkeys(self.states)

    def finish(self, error: str | None) -> None:
        """End the run: its status from its steps, its leases released, its records written (the
        end first, while the executor shuts down), its leftovers removed."""
        run = self.run
        self.settle_withdrawn()
        for st in self.states.values():  # whatever ended the run, no step is left pending or running
            if st.status not in STEP_FINAL:
                st.status, st.reason = StepStatus.CANCELLED, self.stopped_by or "the run ended before it ran"
                self.emit(st)
        statuses = {st.status for st in self.states.values()}
        if run.status != "cancelled":
            run.status = "failed" if error or statuses & {"failed", "skipped", "cancelled"} else "completed"
        run.ended_at = time.time()
        run.error = error or self.stopped_by
        self.leases.release_all(self.batch)
        self.batch.runs.append(run)
        try:
            self.flush(force=True, wait=False)  # the run's end is written while Ray shuts down
            if self.executor is not None:
                try:
                    self.executor.shutdown()
                except Exception:  # noqa: BLE001 - the run's record matters more
                    pass
        finally:
            try:
                self.flush(force=True)
            finally:
                self.recorder.close()
                for area in self.prepared.values():  # made ahead for steps that did not run
                    self.discarder.put(area)
                for handle in list(self.withdrawn):  # their tasks stopped with the run's Ray job
                    self.forget_withdrawn(handle)
                self.discarder.close()
        self.emit(kind="finished")

    def loop(self) -> None:
        while True:
            self.decide_all_ready()
            if self.leased:
                self.settle_leases()
                if self.to_decide:  # a step reused from another run: its downstream is ready
                    continue
            if not self.running and not self.leased:  # a withdrawn task is not waited for
                break
            wait = 0.2
            if self.timed and any(self.graph.steps[a.job].job.timeout for a in self.running.values()):
                wait = 0.05
            if not self.running:  # only waiting for steps that other runs are executing
                time.sleep(POLL_S)
            # a step submitted ahead cannot end before its upstreams (Ray hands it their results
            # through this driver): it is waited for once they are committed. Upstreams first.
            waiting = [h for h, a in self.running.items() if a.job not in self.ahead] if self.ahead else list(self.running)
            waiting += self.withdrawn
            outcomes = self.executor.wait(waiting, wait) if waiting else []
            if len(outcomes) > 1:
                outcomes.sort(key=lambda done: self.states[(self.running.get(done[0]) or self.withdrawn[done[0]]).job].position)
            for handle, outcome in outcomes:
                if handle in self.running:
                    self.on_outcome(handle, outcome)
                elif handle in self.withdrawn:
                    self.forget_withdrawn(handle)
            if self.timed:
                self.check_timeouts()
            if self.remote and self.running:
                self.pull_logs()
            # before the flush: a step fed by a just-committed output claims its lease in the
            # batch of that output's reuse record (StepLeases.claim)
            self.decide_all_ready()
            self.flush()


def execute_run(
    graph: PipelineGraph,
    values: PipelineValues,
    *,
    store: RunStore,
    artifacts: ArtifactStore,
    logs_dir: str | os.PathLike[str],
    executor_factory: Callable[[], Executor],
    force: bool = False,
    run_id: str | None = None,
    source: str | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    flush_interval: float = 0.25,
    verify: bool = False,
) -> RunResult:
    """Run a compiled pipeline: reuse what can be reused, execute the rest, record everything.

    ``verify``: re-hash every reused output; one whose content no longer matches its digest
    is a miss ("cached output corrupt …"), its record and artifact are evicted and the step reruns.

    The run is recorded before anything else is done. SIGINT, SIGTERM and SIGHUP (in the main
    thread, at any moment: planning, Ray's start, the run) cancel it: running steps are
    stopped, the run and every unfinished step are recorded ``cancelled`` and the executor is
    shut down (engine/signals.py).
    """
    now = time.time()
    run = RunRecord(id=run_id or new_run_id(), pipeline=graph.pipeline.name, version=graph.pipeline.version,
                    params=values.as_params(), status="running", started_at=now, host=socket.gethostname(),
                    driver_pid=os.getpid(), force=force, source=source)
    driver = _Driver(graph, values, store, artifacts, Path(logs_dir), executor_factory, force, run, on_event,
                     flush_interval)
    error: str | None = None
    with signals.stop_on_signals():
        try:
            # recorded from its first instant (in the transaction of the plan's reads, before them):
            # a driver killed from then on leaves a run that the next open marks interrupted
            error = _plan_and_run(driver, verify)
        except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP (engine/signals.py)
            driver.cancel_all(_cancel_reason(exc))
            run.status = RunStatus.CANCELLED
        except SystemExit as exc:  # a library's own SIGTERM handler (Ray's, while it starts)
            driver.cancel_all(f"run cancelled (the process was asked to exit: {exc.code})")
            run.status = RunStatus.CANCELLED
        except DuctworkError as exc:  # e.g. the store stopped answering while the run was planned
            driver.cancel_all(f"run stopped: {str(exc).splitlines()[0]}")
            run.status, error = RunStatus.FAILED, str(exc)
            raise
        except BaseException as exc:
            driver.cancel_all(f"run stopped by an internal error: {type(exc).__name__}: {exc}")
            run.status, error = RunStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}"
            raise
        finally:
            with signals.deferred():  # a second signal must not cut the records short
                driver.finish(error)
    return RunResult(run, [driver.states[n] for n in graph.steps if n in driver.states], driver.saved_s, error)


def _output_dir(area: str | os.PathLike[str], name: str) -> str:
    """The empty folder an attempt's output ``name`` is written into: ``<area>/out-<name>``, in the
    area itself (no ``outputs/`` folder between: each folder made costs ≈ 0.3 ms of system CPU
    here, bench/README.md (k)); the hyphen keeps it apart from the area's own entries (``code``,
    ``inputs``, ``pgid``, ``started``, ``metrics.jsonl``, the withdrawn marker), whatever the
    output's name."""
    return f"{os.fspath(area)}/out-{name}"


def _tell_not_to_start(attempt: _Attempt) -> None:
    """The marker a task submitted ahead looks for before it starts (engine/handoff.py)."""
    with contextlib.suppress(OSError):
        (attempt.area / WITHDRAWN).touch()


def _cancel_reason(exc: KeyboardInterrupt) -> str:
    return f"run cancelled ({exc.name})" if isinstance(exc, signals.Stopped) else "run cancelled"


def _plan_and_run(driver: _Driver, verify: bool) -> str | None:
    """Plan, record the plan, reuse what can be reused and execute the rest; the error that kept
    the executor from starting, if one did."""
    externals = ExternalDigests(driver.store)
    driver.planner = Planner(driver.graph, driver.values, driver.store, driver.artifacts, externals,
                             ComponentFingerprints(), driver.force, verify, first=StoreBatch(runs=[copy.copy(driver.run)]))
    plan = driver.planner.plan()
    driver.record_plan(plan)
    driver.batch.runs.append(driver.run)
    driver.batch.memo.update(externals.new_memo)
    driver.take_evictions()
    driver.emit(kind="planned")
    for decision in plan.steps.values():
        if decision.action == REUSE:
            driver.apply_decision(decision)
    pending_run = [d for d in plan.steps.values() if d.action == RUN]
    if not (driver.running or pending_run or any(st.status == "pending" for st in driver.states.values())):
        return None
    # the plan is written while Ray starts or is joined (the writer thread overlaps the two)
    driver.flush(force=True, wait=False)
    try:
        driver.start_executor()
    except DuctworkError as exc:
        driver.stop("not started: " + str(exc).splitlines()[0])
        return str(exc)
    finally:
        signals.reassert()  # ray.init installs its own SIGTERM handler
    driver.prepare_while_writing()
    driver.recorder.drain()
    for decision in pending_run:
        driver.apply_decision(decision)
    driver.loop()
    return None
