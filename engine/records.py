"""The records a run leaves behind: runs, step runs, reuse records, artifacts, metrics.

Plain values shared by the scheduler, both run stores and the service layer. Times are
seconds since the epoch (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "RunStatus",
    "StepStatus",
    "RUN_STATUSES",
    "STEP_STATUSES",
    "STEP_DONE",
    "STEP_FINAL",
    "RunRecord",
    "StepRunRecord",
    "OutputRef",
    "ReuseRecord",
    "ArtifactRecord",
    "MetricRecord",
    "LEASE_EXPIRES_S",
    "Lease",
    "LeaseAnswer",
    "StoreBatch",
]

class RunStatus(StrEnum):
    """How a run stands (a ``str``: records, JSON and SQL keep the plain text)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  #: its driver died without ending it (found later)


class StepStatus(StrEnum):
    """How a step run stands (a ``str``, as ``RunStatus``)."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    REUSED = "reused"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


RUN_STATUSES = tuple(s.value for s in RunStatus)
STEP_STATUSES = tuple(s.value for s in StepStatus)
#: a step in one of these has its outputs: its downstream steps may start
STEP_DONE = frozenset({StepStatus.COMPLETED, StepStatus.REUSED})
#: a step in one of these will not change again in its run
STEP_FINAL = STEP_DONE | {StepStatus.FAILED, StepStatus.CANCELLED, StepStatus.SKIPPED}


@dataclass
class RunRecord:
    """One execution of one pipeline version with parameter values."""

    id: str
    pipeline: str
    version: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    status: str = "running"
    started_at: float | None = None
    ended_at: float | None = None
    host: str = ""
    driver_pid: int | None = None
    error: str | None = None
    force: bool = False
    source: str | None = None  #: the pipeline file or registry reference it was started from


@dataclass(frozen=True)
class OutputRef:
    """A committed output as a step run sees it: artifact digest, size, and the file inside
    the artifact folder for a ``uri_file`` output."""

    digest: str
    size: int
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "size": self.size, "file": self.file}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputRef:
        return cls(data["digest"], int(data["size"]), data.get("file"))


@dataclass
class StepRunRecord:
    """One job in one run."""

    run_id: str
    job: str
    component: str = ""
    status: str = "pending"
    signature: str | None = None
    ingredients: dict[str, Any] | None = None
    reused_from: str | None = None
    compute: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    node_id: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    error: str | None = None
    log_path: str | None = None
    reason: str | None = None
    outputs: dict[str, OutputRef] = field(default_factory=dict)
    attempts: int = 0
    duration_s: float | None = None  #: time the step itself ran (0 for a reused step: see ``saved_s``)
    position: int = 0  #: the step's place in the pipeline's topological order
    price_per_hour: float = 0.0  #: the hourly price of its compute target in this run (0: none set)
    saved_s: float | None = None  #: a reused step: how long the step run it reused took
    saved_price_per_hour: float | None = None  #: a reused step: the hourly price that step run paid


@dataclass(frozen=True)
class ReuseRecord:
    """A committed, reusable result: written only after every output is in the artifact store."""

    signature: str
    run_id: str
    job: str
    outputs: dict[str, OutputRef]
    duration_s: float = 0.0
    created_at: float = 0.0
    price_per_hour: float = 0.0  #: the hourly price of the compute it ran on (what reusing it saves paying)
    workspace: str = ""  #: the workspace whose run made it (a shared store's records come from many)


@dataclass(frozen=True)
class ArtifactRecord:
    digest: str
    size: int
    run_id: str
    job: str
    output: str
    created_at: float = 0.0


@dataclass(frozen=True)
class MetricRecord:
    run_id: str
    job: str
    name: str
    value: float
    step: int | None = None
    ts: float = 0.0


#: a lease not renewed for this long is another driver's to take (engine/leases.py)
LEASE_EXPIRES_S = 60.0


@dataclass(frozen=True)
class Lease:
    """A run driver's claim to execute one signature now, so that another run that needs the
    same step waits for its result instead of executing it too (engine/leases.py)."""

    signature: str
    run_id: str
    job: str
    host: str
    pid: int
    taken_at: float
    heartbeat_at: float


@dataclass(frozen=True)
class LeaseAnswer:
    """What asking for a signature's lease found: ``taken`` (``holder``: the gone holder it was
    taken over from, if any), held by the live ``holder``, or already done (``reuse``)."""

    signature: str
    taken: bool
    holder: Lease | None = None
    reuse: ReuseRecord | None = None


@dataclass
class StoreBatch:
    """Writes applied in one short transaction: upserts of runs and step runs, new reuse
    records, artifacts, metrics and input-digest memos, evictions of reuse records, and lease
    heartbeats and releases (a step's release goes with its reuse record, atomically)."""

    runs: list[RunRecord] = field(default_factory=list)
    step_runs: list[StepRunRecord] = field(default_factory=list)
    reuse: list[ReuseRecord] = field(default_factory=list)
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    metrics: list[MetricRecord] = field(default_factory=list)
    memo: dict[str, tuple[str, int]] = field(default_factory=dict)
    evict: list[str] = field(default_factory=list)
    lease_beats: dict[str, float] = field(default_factory=dict)  #: run id → heartbeat time of all its leases
    lease_releases: list[tuple[str, str]] = field(default_factory=list)  #: (signature, run id) leases given up
    #: leases claimed without waiting for the answer (a step fed by an output of its own run):
    #: taken unless another live holder has it, in the transaction of the upstream's reuse record
    lease_claims: list[Lease] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any((self.runs, self.step_runs, self.reuse, self.artifacts, self.metrics, self.memo, self.evict,
                    self.lease_beats, self.lease_releases, self.lease_claims))
