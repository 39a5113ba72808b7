"""``ductwork doctor``: check a workspace's run store, artifacts and reuse manifests, and repair them.

Checks, each a :class:`Finding` with what to do:

- the run store opens and answers a query (a damaged file is moved aside by ``repair`` —
  renamed ``runs.duckdb.damaged-<timestamp>``, never deleted — and a new one is made, its
  reuse and artifact records restored from the manifests);
- reuse manifests: unreadable ones, and ones naming artifacts that are gone (``repair``
  removes them, with the run store's record of the same signature);
- reuse records against manifests: a record without a manifest (``repair`` writes it) and a
  manifest without a record (a crash between the two, or a rebuilt store: reuse still works;
  ``repair`` puts the record back);
- leftovers: what ``app.services.cleanup`` lists (scratch of dead runs, Ray temp folders).

Leftovers are notices (``ductwork gc`` frees them); they do not make the workspace unhealthy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from app.services.cleanup import find_leftovers, remove_leftovers
from app.services.runs import artifact_store, run_store
from app.services.store import describe_bytes
from app.services.workspace import Workspace, open_workspace, resolve_db_url, resolve_home
from engine.artifacts import LocalArtifactStore
from engine.duckdb_store import DuckDBRunStore, StoreBusyError, StoreDamagedError
from engine.manifests import ReuseManifests
from engine.records import ArtifactRecord, ReuseRecord, StoreBatch

__all__ = ["Finding", "DoctorReport", "check_workspace", "open_for_doctor"]


def open_for_doctor(home: str | Path | None) -> Workspace:
    """The workspace, opened even when an open hook fails on a damaged run store (the doctor is
    what repairs it): then without the hooks."""
    try:
        return open_workspace(home)
    except StoreDamagedError:
        path = resolve_home(home)
        return Workspace(home=path, db_url=resolve_db_url(path))


@dataclass
class Finding:
    """One thing found: ``problem`` (unhealthy) or a notice; ``repaired`` once ``repair`` fixed it."""

    kind: str
    subject: str
    detail: str
    fix: str
    problem: bool = True
    repaired: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "subject": self.subject, "detail": self.detail, "fix": self.fix,
                "problem": self.problem, "repaired": self.repaired}


@dataclass
class DoctorReport:
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    repair: bool = False

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.problem]

    @property
    def healthy(self) -> bool:
        """No problem left: none found, or (with ``repair``) every one repaired."""
        return all(f.repaired for f in self.problems)

    def to_dict(self) -> dict[str, object]:
        return {"healthy": self.healthy, "repair": self.repair, "counts": self.counts,
                "findings": [f.to_dict() for f in self.findings]}


def check_workspace(ws: Workspace, repair: bool = False) -> DoctorReport:
    """Check (and with ``repair``, repair) the workspace; see the module docstring."""
    report = DoctorReport(repair=repair)
    store, artifacts = run_store(ws), artifact_store(ws)
    manifests = ReuseManifests.beside(artifacts)
    records = _check_store(ws, store, report, repair)
    kept = _check_manifests(manifests, artifacts, store, records, report, repair)
    _check_records(records, kept, manifests, artifacts, store, report, repair)
    _check_leftovers(ws, manifests, report, repair)
    report.counts.update(artifacts=len(artifacts.stored()), manifests=len(kept), records=len(records or {}))
    return report


def _check_store(ws: Workspace, store: DuckDBRunStore, report: DoctorReport,
                 repair: bool) -> dict[str, ReuseRecord] | None:
    """The run store's reuse records; ``None`` when it cannot be read (damaged and not repaired, or busy)."""
    try:
        with store.reading():
            report.counts["runs"] = store.count_runs()
            return {r.signature: r for r in store.reuse_records()}
    except StoreBusyError as exc:
        report.findings.append(Finding("store-busy", str(store.path), str(exc), "close the program holding it, "
                                       "then run `ductwork doctor` again"))
        return None
    except StoreDamagedError as exc:
        finding = Finding("store-damaged", str(store.path), exc.cause,
                          "run `ductwork doctor --repair`: it moves the file aside and rebuilds reuse from "
                          "the manifests (history is lost)")
        report.findings.append(finding)
        if not repair:
            return None
        aside = _move_aside(store.path)
        finding.repaired = True
        finding.fix = f"moved aside to '{aside}'; a new run store was made"
        report.counts["runs"] = DuckDBRunStore(ws.runs_db).count_runs()
        return {}


def _move_aside(path: Path) -> Path:
    """Rename a damaged run store (and its write-ahead log) out of the way; never delete it."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    path.rename(aside)
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        wal.rename(aside.with_name(aside.name + ".wal"))
    return aside


def _gone(record: ReuseRecord, artifacts: LocalArtifactStore) -> list[str]:
    """The outputs of ``record`` that are gone (absent, or not of their recorded size)."""
    return [name for name, ref in record.outputs.items() if not artifacts.exists(ref.digest, ref.size)]


def _check_manifests(manifests: ReuseManifests, artifacts: LocalArtifactStore, store: DuckDBRunStore,
                     records: dict[str, ReuseRecord] | None, report: DoctorReport,
                     repair: bool) -> dict[str, ReuseRecord]:
    """The sound manifests by signature; unreadable ones and ones naming gone artifacts are found
    (and with ``repair`` removed, with the run store's record of a gone one)."""
    kept: dict[str, ReuseRecord] = {}
    gone: dict[str, str] = {}
    for path, record in manifests.records():
        if record is None:
            report.findings.append(Finding("manifest-unreadable", str(path), "not a reuse manifest of this format",
                                           "`ductwork doctor --repair` removes it", repaired=repair))
            if repair:
                path.unlink(missing_ok=True)
            continue
        missing = _gone(record, artifacts)
        if missing:
            gone[record.signature] = f"cached output missing ({', '.join(missing)}) (found by ductwork doctor)"
            report.findings.append(Finding(
                "manifest-artifacts-missing", record.signature,
                f"job '{record.job}' run {record.run_id}: outputs {', '.join(missing)} are gone",
                "removed" if repair else "`ductwork doctor --repair` removes it (the step reruns on its next run)",
                repaired=repair))
        else:
            kept[record.signature] = record
    if repair and gone:
        manifests.delete(gone)
        if records is not None:
            store.evict_reuse({s: why for s, why in gone.items() if s in records}, time.time())
            for s in gone:
                records.pop(s, None)
    return kept


def _check_records(records: dict[str, ReuseRecord] | None, kept: dict[str, ReuseRecord],
                   manifests: ReuseManifests, artifacts: LocalArtifactStore, store: DuckDBRunStore,
                   report: DoctorReport, repair: bool) -> None:
    """Reuse records without a manifest and manifests without a record (repair: write what is missing)."""
    if records is None:
        return
    unwritten = [r for s, r in records.items() if s not in kept and not _gone(r, artifacts)]
    for rec in unwritten:
        report.findings.append(Finding("manifest-missing", rec.signature,
                                       f"job '{rec.job}' run {rec.run_id}: reuse record without a manifest "
                                       "(reuse would be lost with the run store)",
                                       "written" if repair else "`ductwork doctor --repair` writes it",
                                       repaired=repair))
        if repair:
            manifests.put(rec)
    unrecorded = [r for s, r in kept.items() if s not in records]
    for rec in unrecorded:
        report.findings.append(Finding("record-missing", rec.signature,
                                       f"job '{rec.job}' run {rec.run_id}: manifest without a reuse record "
                                       "(reuse still works; the run store was rebuilt or a run stopped between "
                                       "the two)",
                                       "record put back" if repair else "`ductwork doctor --repair` puts it back",
                                       repaired=repair))
    if repair and unrecorded:
        store.apply(StoreBatch(reuse=unrecorded, artifacts=[
            ArtifactRecord(ref.digest, ref.size, rec.run_id, rec.job, name, rec.created_at)
            for rec in unrecorded for name, ref in rec.outputs.items()]))
        records.update((r.signature, r) for r in unrecorded)


def _check_leftovers(ws: Workspace, manifests: ReuseManifests, report: DoctorReport, repair: bool) -> None:
    """Notices: temp manifests a crash left, and what ``app.services.cleanup`` lists (scratch of
    dead runs, Ray temp folders, empty tmp/<run> folders); ``repair`` removes them."""
    for path in manifests.leftovers():
        report.findings.append(Finding("leftover", str(path), "a manifest's temp file left by a crash",
                                       "removed" if repair else "`ductwork doctor --repair` removes it",
                                       problem=False, repaired=repair))
        if repair:
            path.unlink(missing_ok=True)
    found = find_leftovers(ws)
    removed = {item.path for item in remove_leftovers(ws, found)} if repair and found else set()
    for item in found:
        done = item.path in removed
        report.findings.append(Finding(
            "leftover", str(item.path), f"{item.kind}{f' ({item.detail})' if item.detail else ''}, "
            f"{describe_bytes(item.size)}", "removed" if done else "`ductwork doctor --repair` removes it",
            problem=False, repaired=done))
