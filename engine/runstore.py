"""The run store interface and its in-memory implementation.

``DuckDBRunStore`` (engine/duckdb_store.py) is the real one; both pass the same contract
tests. Ray tasks never see a store: the driver records what they return.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.records import (
    LEASE_EXPIRES_S,
    ArtifactRecord,
    Lease,
    LeaseAnswer,
    MetricRecord,
    ReuseRecord,
    RunRecord,
    StepRunRecord,
    StoreBatch,
)

__all__ = ["RunFilter", "RunStore", "InMemoryRunStore", "answer_lease"]


def answer_lease(wanted: Lease, held: Lease | None, done: ReuseRecord | None,
                 gone: Callable[[Lease], bool]) -> LeaseAnswer:
    """The one rule both stores apply, inside one transaction, to a request for a lease: a
    signature that already has a reuse record is done; else the lease is taken if nobody holds
    it, if this very step holds it already, or if its holder is ``gone``; else it is held."""
    if done is not None:
        return LeaseAnswer(wanted.signature, False, reuse=done)
    if held is None or (held.run_id, held.job) == (wanted.run_id, wanted.job):
        return LeaseAnswer(wanted.signature, True)
    if gone(held):
        return LeaseAnswer(wanted.signature, True, holder=held)
    return LeaseAnswer(wanted.signature, False, holder=held)


@dataclass(frozen=True)
class RunFilter:
    """Which runs to list: by pipeline name, status and start time (epoch seconds)."""

    pipeline: str | None = None
    status: str | None = None
    since: float | None = None
    until: float | None = None

    def matches(self, run: RunRecord) -> bool:
        started = run.started_at or 0.0
        return (
            (self.pipeline is None or run.pipeline == self.pipeline)
            and (self.status is None or run.status == self.status)
            and (self.since is None or started >= self.since)
            and (self.until is None or started < self.until)
        )


class RunStore(Protocol):
    """Where runs, step runs, reuse records, artifacts, metrics and digest memos are kept."""

    def apply(self, batch: StoreBatch) -> None:
        """Apply every write of ``batch`` in one transaction."""
        ...

    def reading(self) -> contextlib.AbstractContextManager[None]:
        """A block whose reads, done back to back, may share one connection (closed when it ends)."""
        ...

    def find_reuse(self, signatures: Iterable[str]) -> dict[str, ReuseRecord]:
        """The reuse records of those signatures that have one."""
        ...

    def latest_step_runs(self, pipeline: str, jobs: Iterable[str]) -> dict[str, StepRunRecord]:
        """Per job, the most recent step run of ``pipeline`` that has a signature."""
        ...

    def latest_component_runs(self, components: Iterable[str]) -> dict[str, StepRunRecord]:
        """Per component name, the most recent step run with a signature (any pipeline)."""
        ...

    def get_memo(self, keys: Iterable[str]) -> dict[str, tuple[str, int]]:
        """Memoised (digest, size) of external inputs, by their stat key."""
        ...

    def take_leases(self, leases: Sequence[Lease], gone: Callable[[Lease], bool],
                    ignore_reuse: Collection[str] = (), batch: StoreBatch | None = None) -> list[LeaseAnswer]:
        """In one transaction, per lease wanted (in order): take it, or say who holds it, or give
        the reuse record that makes running it needless (``answer_lease``); a reuse record of a
        signature in ``ignore_reuse`` (known broken, being evicted) does not count. ``batch`` is
        applied first, in the same transaction."""
        ...

    def leases(self, signatures: Iterable[str]) -> dict[str, Lease]:
        """The leases held now on those signatures (live or not)."""
        ...

    def get_run(self, run_id: str) -> RunRecord | None:
        ...

    def step_runs(self, run_id: str) -> list[StepRunRecord]:
        ...

    def step_runs_of(self, run_ids: Iterable[str]) -> dict[str, list[StepRunRecord]]:
        """The step runs of several runs at once, by run id (each list in topological order)."""
        ...

    def recent_durations(self, components: Iterable[str], limit: int = 10) -> dict[str, list[float]]:
        """Per component reference (``name:version``), the durations of its last ``limit``
        completed step runs, newest first."""
        ...

    def metrics(self, run_id: str) -> list[MetricRecord]:
        ...

    def list_runs(self, filter: RunFilter = RunFilter(), limit: int = 50, offset: int = 0) -> list[RunRecord]:
        """Runs matching ``filter``, newest first."""
        ...

    def count_runs(self, filter: RunFilter = RunFilter()) -> int:
        ...

    def resolve_run_id(self, prefix: str) -> list[str]:
        """Run ids starting or ending with ``prefix`` (so people may type a short id)."""
        ...

    def reuse_records(self) -> list[ReuseRecord]:
        """Every reuse record (``ductwork verify`` and ``gc``)."""
        ...

    def last_reused(self) -> dict[str, float]:
        """Per signature, when a step run last reused its record (its start time)."""
        ...

    def evict_reuse(self, reasons: Mapping[str, str], at: float) -> None:
        """Delete these reuse records and keep why (signature → reason), in one transaction, so
        that the step's next run says why it was not reused."""
        ...

    def eviction_reasons(self, signatures: Iterable[str]) -> dict[str, str]:
        """Why the records of those signatures were evicted (``evict_reuse``), for those that have
        no record now and no step run started since (else that step run explains the miss)."""
        ...

    def artifact_records(self) -> list[ArtifactRecord]:
        """Every artifact row: which run, job and output first committed each digest."""
        ...

    def delete_artifact_records(self, digests: Iterable[str]) -> None:
        """Forget the artifact rows of digests no longer stored."""
        ...


class InMemoryRunStore:
    """A run store in dictionaries: for tests and for debugging runs that need no history."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, RunRecord] = {}
        self._steps: dict[tuple[str, str], StepRunRecord] = {}
        self._reuse: dict[str, ReuseRecord] = {}
        self._artifacts: dict[str, object] = {}
        self._metrics: list[MetricRecord] = []
        self._memo: dict[str, tuple[str, int]] = {}
        self._leases: dict[str, Lease] = {}
        self._evictions: dict[str, tuple[str, float]] = {}  #: signature → (reason, when)

    def apply(self, batch: StoreBatch) -> None:
        with self._lock:
            for run in batch.runs:
                self._runs[run.id] = copy.deepcopy(run)
            for step in batch.step_runs:
                self._steps[(step.run_id, step.job)] = copy.deepcopy(step)
            for signature in batch.evict:
                self._reuse.pop(signature, None)
            for rec in batch.reuse:
                self._reuse[rec.signature] = rec
            for art in batch.artifacts:
                self._artifacts.setdefault(art.digest, art)
            self._metrics.extend(batch.metrics)
            self._memo.update(batch.memo)
            for claim in batch.lease_claims:  # taken unless held by another whose heartbeat is recent (before the releases)
                held = self._leases.get(claim.signature)
                if held is None or held.heartbeat_at < claim.taken_at - LEASE_EXPIRES_S:
                    self._leases[claim.signature] = claim
            for signature, run_id in batch.lease_releases:
                if signature in self._leases and self._leases[signature].run_id == run_id:
                    del self._leases[signature]
            for signature, lease in list(self._leases.items()):
                if lease.run_id in batch.lease_beats:
                    self._leases[signature] = dataclasses.replace(lease, heartbeat_at=batch.lease_beats[lease.run_id])

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        yield  # nothing to share in memory

    def find_reuse(self, signatures: Iterable[str]) -> dict[str, ReuseRecord]:
        with self._lock:
            return {s: self._reuse[s] for s in signatures if s in self._reuse}

    def _latest(self, key_of, wanted: set[str]) -> dict[str, StepRunRecord]:
        best: dict[str, tuple[tuple[float, int], StepRunRecord]] = {}
        for step in self._steps.values():
            k = key_of(step)
            if k not in wanted or step.signature is None or step.ingredients is None:
                continue
            run = self._runs.get(step.run_id)
            rank = (step.started_at or 0.0, (run.started_at or 0.0) if run else 0.0)
            if k not in best or rank > best[k][0]:
                best[k] = (rank, step)
        return {k: copy.deepcopy(v[1]) for k, v in best.items()}

    def latest_step_runs(self, pipeline: str, jobs: Iterable[str]) -> dict[str, StepRunRecord]:
        with self._lock:
            runs = {rid for rid, run in self._runs.items() if run.pipeline == pipeline}
            wanted = set(jobs)
            return self._latest(lambda s: s.job if s.run_id in runs else None, wanted)

    def latest_component_runs(self, components: Iterable[str]) -> dict[str, StepRunRecord]:
        with self._lock:
            return self._latest(lambda s: s.component.split(":", 1)[0], set(components))

    def get_memo(self, keys: Iterable[str]) -> dict[str, tuple[str, int]]:
        with self._lock:
            return {k: self._memo[k] for k in keys if k in self._memo}

    def take_leases(self, leases: Sequence[Lease], gone: Callable[[Lease], bool],
                    ignore_reuse: Collection[str] = (), batch: StoreBatch | None = None) -> list[LeaseAnswer]:
        if batch:
            self.apply(batch)
        answers: list[LeaseAnswer] = []
        with self._lock:
            for wanted in leases:
                done = None if wanted.signature in ignore_reuse else self._reuse.get(wanted.signature)
                answer = answer_lease(wanted, self._leases.get(wanted.signature), done, gone)
                if answer.taken:
                    self._leases[wanted.signature] = wanted
                answers.append(answer)
        return answers

    def leases(self, signatures: Iterable[str]) -> dict[str, Lease]:
        with self._lock:
            return {s: self._leases[s] for s in signatures if s in self._leases}

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            run = self._runs.get(run_id)
            return copy.deepcopy(run) if run else None

    def step_runs(self, run_id: str) -> list[StepRunRecord]:
        with self._lock:
            found = [s for k, s in self._steps.items() if k[0] == run_id]
            return [copy.deepcopy(s) for s in sorted(found, key=lambda s: (s.position, s.job))]

    def step_runs_of(self, run_ids: Iterable[str]) -> dict[str, list[StepRunRecord]]:
        keys = list(dict.fromkeys(run_ids))
        with self._lock:
            found: dict[str, list[StepRunRecord]] = {k: [] for k in keys}
            for (run_id, _), step in self._steps.items():
                if run_id in found:
                    found[run_id].append(copy.deepcopy(step))
            for steps in found.values():
                steps.sort(key=lambda s: (s.position, s.job))
            return found

    def recent_durations(self, components: Iterable[str], limit: int = 10) -> dict[str, list[float]]:
        wanted = set(components)
        with self._lock:
            done = sorted((s for s in self._steps.values() if s.component in wanted and s.status == "completed"
                           and s.duration_s is not None), key=lambda s: s.started_at or 0.0, reverse=True)
        found: dict[str, list[float]] = {}
        for step in done:
            durations = found.setdefault(step.component, [])
            if len(durations) < limit:
                durations.append(step.duration_s)
        return found

    def metrics(self, run_id: str) -> list[MetricRecord]:
        with self._lock:
            return [m for m in self._metrics if m.run_id == run_id]

    def list_runs(self, filter: RunFilter = RunFilter(), limit: int = 50, offset: int = 0) -> list[RunRecord]:
        with self._lock:
            runs = sorted((r for r in self._runs.values() if filter.matches(r)),
                          key=lambda r: (r.started_at or 0.0, r.id), reverse=True)
            return [copy.deepcopy(r) for r in runs[offset:offset + limit]]

    def count_runs(self, filter: RunFilter = RunFilter()) -> int:
        with self._lock:
            return sum(1 for r in self._runs.values() if filter.matches(r))

    def resolve_run_id(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(rid for rid in self._runs if rid.startswith(prefix) or rid.endswith(prefix))

    def reuse_records(self) -> list[ReuseRecord]:
        with self._lock:
            return list(self._reuse.values())

    def last_reused(self) -> dict[str, float]:
        with self._lock:
            found: dict[str, float] = {}
            for step in self._steps.values():
                if step.status == "reused" and step.signature:
                    found[step.signature] = max(found.get(step.signature, 0.0), step.started_at or 0.0)
            return found

    def evict_reuse(self, reasons: Mapping[str, str], at: float) -> None:
        with self._lock:
            for signature, reason in reasons.items():
                self._reuse.pop(signature, None)
                self._evictions[signature] = (reason, at)

    def eviction_reasons(self, signatures: Iterable[str]) -> dict[str, str]:
        with self._lock:
            found = {s: self._evictions[s] for s in signatures if s in self._evictions and s not in self._reuse}
            for step in self._steps.values():
                if step.signature in found and (step.started_at or 0.0) > found[step.signature][1]:
                    del found[step.signature]
            return {s: reason for s, (reason, _) in found.items()}

    def artifact_records(self) -> list[ArtifactRecord]:
        with self._lock:
            return [a for a in self._artifacts.values() if isinstance(a, ArtifactRecord)]

    def delete_artifact_records(self, digests: Iterable[str]) -> None:
        with self._lock:
            for digest in digests:
                self._artifacts.pop(digest, None)
