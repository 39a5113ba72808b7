"""Stored outputs you can trust: ``verify`` and ``gc`` over a workspace's artifact store.

- :func:`verify_artifacts` re-hashes artifacts (all of them, or the outputs of one run's
  steps); a corrupt or missing one is evicted together with every reuse record that names
  it, and the reason is kept in the run store, so the step's next run says why it reran
  ("cached output corrupt (model): digest … ≠ … (found by ductwork verify)").
- :func:`collect_garbage` deletes the artifacts that no kept record references. Kept: every
  reuse record (with ``older_than``, only those created or last reused within that age; the
  older ones are dropped first), and everything a live run holds: the outputs of its steps,
  its scratch areas under ``tmp/``, and anything stored since it started (its records are
  written a moment after its outputs). Scratch areas of runs that ended, and evicted
  artifacts a crash left in ``tmp/``, are freed too.

A run is live when it is recorded ``running`` and its driver may still run: on this host,
its pid must be a process started no later than the run (``mark_interrupted_runs`` marks
the others on the next open); on another host it is taken as live.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.services.runs import artifact_store, get_run, run_store
from app.services.workspace import Workspace
from components.errors import DuctworkError
from engine.drivers import START_SLACK_S, driver_alive
from engine.hashing import tree_size
from engine.manifests import ReuseManifests
from engine.records import ReuseRecord, RunRecord, RunStatus
from engine.runstore import RunFilter

__all__ = [
    "ArtifactUse",
    "BadArtifact",
    "VerifyReport",
    "GcReport",
    "verify_artifacts",
    "collect_garbage",
    "parse_age",
    "describe_bytes",
    "live_runs",
    "with_manifest_records",
]

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """``"30d"`` → seconds; units s, m, h, d, w. Anything else raises ``DuctworkError``."""
    match = _AGE.match(text)
    if not match:
        raise DuctworkError(f"age '{text}' is not a number with a unit; use e.g. 30d, 12h, 90m or 2w "
                            "(units: s, m, h, d, w)")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def describe_bytes(size: int) -> str:
    """``1536`` → ``"1.5 KiB"``; ``12`` → ``"12 bytes"``."""
    value, unit = float(size), ""
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}" if unit else f"{size} byte{'s' * (size != 1)}"


@dataclass(frozen=True)
class ArtifactUse:
    """Who an artifact is: output ``output`` of job ``job`` in run ``run_id``."""

    run_id: str
    job: str
    output: str

    def to_dict(self) -> dict[str, str]:
        return {"run": self.run_id, "job": self.job, "output": self.output}


@dataclass(frozen=True)
class BadArtifact:
    """An artifact whose content no longer hashes to its digest (``actual``; ``None``: missing)."""

    expected: str
    actual: str | None
    uses: tuple[ArtifactUse, ...]
    evicted_records: tuple[str, ...]  #: signatures of the reuse records evicted with it

    @property
    def problem(self) -> str:
        return "missing" if self.actual is None else "corrupt"

    def to_dict(self) -> dict[str, object]:
        return {"problem": self.problem, "expected": self.expected, "actual": self.actual,
                "uses": [u.to_dict() for u in self.uses], "evicted_records": list(self.evicted_records)}

    def lines(self) -> list[str]:
        found = f"found {self.actual}" if self.actual else "not in the store"
        if not self.uses:
            return [f"{self.problem}: artifact {self.expected} (no record names it): {found}"]
        return [f"{self.problem}: job '{u.job}' run {u.run_id} output '{u.output}': expected {self.expected}, {found}"
                for u in self.uses]


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` checked and what it evicted."""

    checked: int
    checked_bytes: int
    bad: tuple[BadArtifact, ...]
    run_id: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.bad

    def to_dict(self) -> dict[str, object]:
        return {"run": self.run_id, "checked": self.checked, "bytes": self.checked_bytes, "ok": self.ok,
                "seconds": round(self.seconds, 3),
                "corrupt": [b.to_dict() for b in self.bad if b.actual is not None],
                "missing": [b.to_dict() for b in self.bad if b.actual is None],
                "evicted_records": sorted({s for b in self.bad for s in b.evicted_records})}


def verify_artifacts(ws: Workspace, run_id: str | None = None) -> VerifyReport:
    """Re-hash every stored artifact (or the outputs of run ``run_id``'s steps); evict the
    corrupt and missing ones with the reuse records that name them."""
    started = time.perf_counter()
    store, artifacts = run_store(ws), artifact_store(ws)
    manifests = ReuseManifests.beside(artifacts)
    uses: dict[str, list[ArtifactUse]] = {}
    with store.reading():
        records = store.reuse_records()
        rows = store.artifact_records() if run_id is None else []
    records = with_manifest_records(records, manifests)
    if run_id is not None:
        details = get_run(ws, run_id)
        run_id = details.run.id
        for step in details.steps:
            for name, ref in step.outputs.items():
                uses.setdefault(ref.digest, []).append(ArtifactUse(run_id, step.job, name))
    else:
        for digest in artifacts.stored():
            uses.setdefault(digest, [])
        for rec in records:
            for name, ref in rec.outputs.items():
                uses.setdefault(ref.digest, []).append(ArtifactUse(rec.run_id, rec.job, name))
        for row in rows:  # the first commit of an artifact no reuse record names (a failed run's)
            if row.digest in uses and not uses[row.digest]:
                uses[row.digest].append(ArtifactUse(row.run_id, row.job, row.output))
    checked_bytes = 0
    actual: dict[str, str | None] = {}
    for digest in uses:
        actual[digest] = artifacts.rehash(digest)
        checked_bytes += artifacts.size_of(digest) or 0
    bad_digests = {d for d, a in actual.items() if a != d}
    reasons: dict[str, str] = {}
    evicted_by_digest: dict[str, list[str]] = {d: [] for d in bad_digests}
    for rec in records:
        why = [f"cached output missing ({name})" if actual[ref.digest] is None else
               f"cached output corrupt ({name}): digest {actual[ref.digest]} ≠ {ref.digest}"
               for name, ref in rec.outputs.items() if ref.digest in bad_digests]
        if why:
            reasons[rec.signature] = "; ".join(why) + " (found by ductwork verify)"
            for ref in rec.outputs.values():
                if ref.digest in bad_digests:
                    evicted_by_digest[ref.digest].append(rec.signature)
    manifests.delete(reasons)  # before the records: a manifest must not bring an evicted record back
    store.evict_reuse(reasons, time.time())
    for digest in sorted(bad_digests):
        artifacts.evict(digest)
    store.delete_artifact_records(bad_digests)
    bad = tuple(BadArtifact(d, actual[d], tuple(uses[d]), tuple(evicted_by_digest[d])) for d in sorted(bad_digests))
    return VerifyReport(len(uses), checked_bytes, bad, run_id, time.perf_counter() - started)


def with_manifest_records(records: list[ReuseRecord], manifests: ReuseManifests) -> list[ReuseRecord]:
    """The run store's reuse records and those only a reuse manifest keeps (a crash between
    the two, a rebuilt run store): both keep their artifacts and both are evicted alike."""
    known = {r.signature for r in records}
    return records + [r for _path, r in manifests.records() if r is not None and r.signature not in known]


# --------------------------------------------------------------------------------- gc
def _is_live(run: RunRecord) -> bool:
    if run.status != RunStatus.RUNNING:
        return False
    alive = driver_alive(run.host, run.driver_pid, run.started_at or 0.0)
    return alive is not False  # another machine's driver (or an unknown one): assume it still runs


def live_runs(ws: Workspace) -> list[RunRecord]:
    """The runs recorded ``running`` whose driver may still run (see the module docstring)."""
    store = run_store(ws)
    running = RunFilter(status=RunStatus.RUNNING)
    return [r for r in store.list_runs(running, limit=max(store.count_runs(running), 1)) if _is_live(r)]


@dataclass(frozen=True)
class GcReport:
    """What ``gc`` freed (or, with ``dry_run``, would free) and what it kept."""

    dry_run: bool
    freed_artifacts: dict[str, int]  #: digest → bytes
    freed_scratch: dict[str, int]  #: path → bytes
    dropped_records: int  #: reuse records older than ``older_than``
    kept_artifacts: int
    kept_bytes: int
    kept_records: int
    live_runs: tuple[str, ...]
    older_than_s: float | None = None
    #: an object store (engine/objectstore.py): the blobs no stored tree names any more, digest → bytes
    freed_blobs: dict[str, int] = field(default_factory=dict)

    @property
    def freed_bytes(self) -> int:
        return sum(self.freed_artifacts.values()) + sum(self.freed_scratch.values())

    def to_dict(self) -> dict[str, object]:
        return {"dry_run": self.dry_run, "older_than_s": self.older_than_s,
                "freed": {"artifacts": len(self.freed_artifacts), "artifact_bytes": sum(self.freed_artifacts.values()),
                          "scratch": len(self.freed_scratch), "scratch_bytes": sum(self.freed_scratch.values()),
                          "bytes": self.freed_bytes, "digests": sorted(self.freed_artifacts),
                          "scratch_paths": sorted(self.freed_scratch), "blobs": len(self.freed_blobs),
                          "blob_bytes": sum(self.freed_blobs.values())},
                "dropped_records": self.dropped_records,
                "kept": {"artifacts": self.kept_artifacts, "bytes": self.kept_bytes, "records": self.kept_records,
                         "live_runs": list(self.live_runs)}}

    def summary(self) -> str:
        verb = "would free" if self.dry_run else "freed"
        parts = [f"{verb} {len(self.freed_artifacts)} artifact{'s' * (len(self.freed_artifacts) != 1)} "
                 f"({describe_bytes(sum(self.freed_artifacts.values()))})"]
        if self.freed_scratch:
            parts.append(f"{len(self.freed_scratch)} scratch folder{'s' * (len(self.freed_scratch) != 1)} "
                         f"({describe_bytes(sum(self.freed_scratch.values()))})")
        if self.freed_blobs:
            parts.append(f"{len(self.freed_blobs)} blob{'s' * (len(self.freed_blobs) != 1)} no artifact names "
                         f"({describe_bytes(sum(self.freed_blobs.values()))})")
        text = " and ".join(parts) + (f": {describe_bytes(self.freed_bytes)} in all" if len(parts) > 1 else "")
        if self.older_than_s is not None:
            text += (f"; {'would drop' if self.dry_run else 'dropped'} {self.dropped_records} reuse record"
                     f"{'s' * (self.dropped_records != 1)} unused for longer than {_age(self.older_than_s)}")
        text += (f"; kept {self.kept_artifacts} artifact{'s' * (self.kept_artifacts != 1)} "
                 f"({describe_bytes(self.kept_bytes)}) for {self.kept_records} reuse record"
                 f"{'s' * (self.kept_records != 1)}")
        if self.live_runs:
            text += f" and {len(self.live_runs)} running run{'s' * (len(self.live_runs) != 1)}"
        return text


def _age(seconds: float) -> str:
    for unit in ("w", "d", "h", "m"):
        if seconds >= _SECONDS[unit] and seconds % _SECONDS[unit] == 0:
            return f"{seconds / _SECONDS[unit]:g}{unit}"
    return f"{seconds:g}s"


#: a blob younger than this is kept by ``gc`` on an object store: another workspace's task may be
#: uploading the output it belongs to, whose tree is written only after its last blob
BLOB_GRACE_S = 3600.0


def collect_garbage(ws: Workspace, dry_run: bool = False, older_than_s: float | None = None,
                    now: float | None = None) -> GcReport:
    """Delete the artifacts no kept record references and the scratch of runs that ended."""
    now = time.time() if now is None else now
    store, artifacts = run_store(ws), artifact_store(ws)
    manifests = ReuseManifests.beside(artifacts)
    live = live_runs(ws)
    live_ids = {r.id for r in live}
    with store.reading():
        records = store.reuse_records()
        last = store.last_reused() if older_than_s is not None else {}
        held = [s for r in live for s in store.step_runs(r.id)]
        scratch_runs = {name: store.get_run(name) for name in _scratch_entries(ws) if name not in live_ids}
    records = with_manifest_records(records, manifests)
    dropped = {} if older_than_s is None else {
        r.signature: f"cached output removed by ductwork gc (unused for longer than {_age(older_than_s)})"
        for r in records if max(r.created_at, last.get(r.signature, 0.0)) < now - older_than_s}
    kept = [r for r in records if r.signature not in dropped]
    referenced = {ref.digest for r in kept for ref in r.outputs.values()}
    referenced |= {ref.digest for s in held for ref in s.outputs.values()}
    since = min(((r.started_at or now) - START_SLACK_S for r in live), default=None)
    if getattr(artifacts, "remote", False):  # a shared store: other workspaces' runs are not listed here
        since = min(since if since is not None else now, now - BLOB_GRACE_S)
    stored = artifacts.stored()
    freed = {d: size for d, size in stored.items() if d not in referenced
             and (since is None or artifacts.changed_at(d) < since)}
    scratch = {str(artifacts.scratch_of(rid)): tree_size(artifacts.scratch_of(rid)) or 0
               for rid, run in scratch_runs.items() if run is not None and not _is_live(run)}
    scratch |= {str(p): tree_size(p) or 0 for p in artifacts.leftovers()}
    if not dry_run:
        manifests.delete(dropped)  # before the records (as verify)
        store.evict_reuse(dropped, now)
        for digest in freed:
            artifacts.evict(digest)
        store.delete_artifact_records(freed)
        for path in scratch:
            artifacts.discard(Path(path))
    freed_blobs: dict[str, int] = {}
    collect_blobs = getattr(artifacts, "collect_blobs", None)
    if collect_blobs is not None:  # an object store: the blobs no tree names any more, past a grace period
        freed_blobs = collect_blobs(min(now - BLOB_GRACE_S, since or now), dry_run, gone=set(freed))
    kept_digests = set(stored) - set(freed)
    return GcReport(dry_run, freed, scratch, len(dropped), len(kept_digests), sum(stored[d] for d in kept_digests),
                    len(kept), tuple(sorted(live_ids)), older_than_s, freed_blobs)


def _scratch_entries(ws: Workspace) -> list[str]:
    """Names of the folders under ``tmp/``; those named by a recorded run are its scratch (the
    driver files and submitted pipelines beside them are named by none)."""
    if not ws.tmp_dir.is_dir():
        return []
    with os.scandir(ws.tmp_dir) as it:
        return sorted(e.name for e in it if e.is_dir() and not e.name.startswith("."))
