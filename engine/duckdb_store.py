"""The DuckDB run store: one short transaction per opening of the file, retried while another
process holds it.

DuckDB allows one writing process at a time and any open connection blocks the others,
so every method opens the file, does its work in one transaction and closes it. Opening is
an ``ATTACH`` to one in-memory DuckDB kept by the process (``_Attachments``) and closing a
``DETACH``, which releases the file's lock as closing a connection does: ≈ 1 ms each, where a
new connection (a new DuckDB instance: its catalog of built-in functions made again) costs
≈ 20 ms to open and ≈ 4 ms to close here. The driver batches its writes (``StoreBatch``),
and ``reading()`` lets reads done back to back share one opening and transaction, closed as
soon as the block ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from components.errors import DuctworkError
from engine import signals
from engine.records import (
    LEASE_EXPIRES_S,
    ArtifactRecord,
    Lease,
    LeaseAnswer,
    MetricRecord,
    OutputRef,
    ReuseRecord,
    RunRecord,
    StepRunRecord,
    StoreBatch,
)
from engine.runstore import RunFilter, answer_lease

__all__ = ["DuckDBRunStore", "StoreBusyError", "StoreDamagedError", "prepare"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id VARCHAR PRIMARY KEY, pipeline VARCHAR, version VARCHAR, params JSON, status VARCHAR,
    started_at DOUBLE, ended_at DOUBLE, host VARCHAR, driver_pid INTEGER, error VARCHAR,
    force BOOLEAN, source VARCHAR);
CREATE TABLE IF NOT EXISTS step_runs (
    run_id VARCHAR, job VARCHAR, component VARCHAR, status VARCHAR, signature VARCHAR,
    ingredients JSON, reused_from VARCHAR, compute VARCHAR, resources JSON, node_id VARCHAR,
    started_at DOUBLE, ended_at DOUBLE, exit_code INTEGER, error VARCHAR, log_path VARCHAR,
    reason VARCHAR, outputs JSON, attempts INTEGER, duration_s DOUBLE, position INTEGER,
    PRIMARY KEY (run_id, job));
CREATE TABLE IF NOT EXISTS reuse (
    signature VARCHAR PRIMARY KEY, run_id VARCHAR, job VARCHAR, outputs JSON,
    duration_s DOUBLE, created_at DOUBLE);
CREATE TABLE IF NOT EXISTS artifacts (
    digest VARCHAR PRIMARY KEY, size BIGINT, run_id VARCHAR, job VARCHAR, output VARCHAR,
    created_at DOUBLE);
CREATE TABLE IF NOT EXISTS metrics (
    run_id VARCHAR, job VARCHAR, name VARCHAR, value DOUBLE, step BIGINT, ts DOUBLE);
CREATE TABLE IF NOT EXISTS input_memo (key VARCHAR PRIMARY KEY, digest VARCHAR, size BIGINT);
CREATE TABLE IF NOT EXISTS leases (
    signature VARCHAR PRIMARY KEY, run_id VARCHAR, job VARCHAR, host VARCHAR, pid BIGINT,
    taken_at DOUBLE, heartbeat_at DOUBLE);
CREATE TABLE IF NOT EXISTS evictions (signature VARCHAR PRIMARY KEY, reason VARCHAR, evicted_at DOUBLE);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);
CREATE INDEX IF NOT EXISTS runs_pipeline ON runs (pipeline);
CREATE INDEX IF NOT EXISTS step_runs_job ON step_runs (job);
CREATE INDEX IF NOT EXISTS metrics_run ON metrics (run_id);
-- columns added after files were made: what a step spent and what reuse saved
ALTER TABLE step_runs ADD COLUMN IF NOT EXISTS price_per_hour DOUBLE;
ALTER TABLE step_runs ADD COLUMN IF NOT EXISTS saved_s DOUBLE;
ALTER TABLE step_runs ADD COLUMN IF NOT EXISTS saved_price_per_hour DOUBLE;
ALTER TABLE reuse ADD COLUMN IF NOT EXISTS price_per_hour DOUBLE;
ALTER TABLE reuse ADD COLUMN IF NOT EXISTS workspace VARCHAR;
"""

_V, _D, _I, _J = "VARCHAR", "DOUBLE", "BIGINT", "JSON"
RUN_TYPES = {"id": _V, "pipeline": _V, "version": _V, "params": _J, "status": _V, "started_at": _D,
             "ended_at": _D, "host": _V, "driver_pid": _I, "error": _V, "force": "BOOLEAN", "source": _V}
STEP_TYPES = {"run_id": _V, "job": _V, "component": _V, "status": _V, "signature": _V, "ingredients": _J,
              "reused_from": _V, "compute": _V, "resources": _J, "node_id": _V, "started_at": _D,
              "ended_at": _D, "exit_code": _I, "error": _V, "log_path": _V, "reason": _V, "outputs": _J,
              "attempts": _I, "duration_s": _D, "position": _I, "price_per_hour": _D, "saved_s": _D,
              "saved_price_per_hour": _D}
LEASE_TYPES = {"signature": _V, "run_id": _V, "job": _V, "host": _V, "pid": _I, "taken_at": _D,
               "heartbeat_at": _D}
REUSE_TYPES = {"signature": _V, "run_id": _V, "job": _V, "outputs": _J, "duration_s": _D, "created_at": _D,
               "price_per_hour": _D, "workspace": _V}
_LEASES_OF = (f"SELECT {', '.join(LEASE_TYPES)} FROM leases "
              "WHERE signature IN (SELECT unnest(?::VARCHAR[]))")
_REUSE = f"SELECT {', '.join(REUSE_TYPES)} FROM reuse"
RUN_COLS = tuple(RUN_TYPES)
STEP_COLS = tuple(STEP_TYPES)
_CHUNK = 400
T = TypeVar("T")
_BUSY_MARKERS = ("could not set lock", "unique file handle conflict", "conflicting lock", "conflict", "lock on file", "database is locked",
                 # every write is INSERT OR REPLACE / OR IGNORE, so a duplicate key is another thread's
                 # transaction inserting the same key at the same time (DuckDB says so at the insert)
                 "duplicate key")


_CLIENT: Any = None
#: what the store uses of DuckDB's client
_CLIENT_NAMES = ("connect", "Error", "IOException", "ResourceInUseException", "TransactionException",
                 "ConstraintException")


def _client() -> Any:
    """DuckDB's client: its C extension ``_duckdb`` alone, which the ``duckdb`` package re-exports
    (its docstring says so) and which holds all that the store uses — connections, ``execute``,
    ``fetchall`` and the exception classes. Importing the package also builds its pure-Python
    relational API (``duckdb._relation`` and the arrow sources, ≈ 0.05–0.1 s here, ≈ 70 % of
    the import), which the store never calls; a fully reused ``ductwork run`` pays DuckDB's
    import on every call. The package is used when it is already imported, or when the
    extension is not there under that name or lacks one of those names (another DuckDB)."""
    global _CLIENT
    if _CLIENT is None:
        import sys

        client = sys.modules.get("duckdb")
        if client is None:
            try:
                import _duckdb as client
            except ImportError:
                client = None
            if client is None or not all(hasattr(client, name) for name in _CLIENT_NAMES):
                import duckdb as client
        _CLIENT = client
    return _CLIENT


class _Attachments:
    """The process's in-memory DuckDB, to which each run store file is attached while one of
    its transactions runs (counted per file: the recorder thread's write and the loop's read
    may overlap) and detached when the last ends, so that other processes can open it.

    One instance for the process, not one per thread: two DuckDB instances of one process
    attaching the same file would not lock each other out (POSIX locks are per process) and
    could both write it. A forked child makes its own (DuckDB's threads do not survive a fork).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._base: Any = None
        self._pid = 0
        self._attached: dict[str, tuple[str, int]] = {}  #: file → (alias, transactions using it)
        self._made = 0

    def prepare(self) -> None:
        """Make the in-memory instance now (≈ 20 ms): a process that waits for work (the warm
        Ray's standby driver, app/standby.py) does it before the work comes."""
        with self._lock:
            self._instance()

    def _instance(self) -> Any:
        if self._base is None or self._pid != os.getpid():
            self._base, self._pid, self._attached = _client().connect(":memory:"), os.getpid(), {}
        return self._base

    def open(self, path: str) -> Any:
        """A connection (a cursor of the instance) whose default database is ``path``'s file.
        Raises what DuckDB raises for a file it cannot open (locked, damaged). Two spellings of
        one file (a link, a relative path) share its attachment: DuckDB refuses a second one."""
        path = os.path.realpath(path)
        with self._lock:
            self._instance()
            alias, users = self._attached.get(path, ("", 0))
            if not users:
                self._made += 1
                alias = f"runstore_{self._made}"  # never one a failed DETACH may have left
                quoted = path.replace("'", "''")
                self._base.execute(f"ATTACH '{quoted}' AS \"{alias}\"")
            self._attached[path] = (alias, users + 1)
        try:
            cursor = self._base.cursor()
            cursor.execute(f'USE "{alias}"')
        except BaseException:
            self.release(path)
            raise
        return _Attached(self, path, cursor)

    def release(self, path: str) -> None:
        with self._lock:
            alias, users = self._attached.get(path, ("", 0))
            if users > 1:
                self._attached[path] = (alias, users - 1)
            elif users == 1:
                del self._attached[path]
                if self._pid == os.getpid():
                    self._base.execute(f'DETACH "{alias}"')


class _Attached:
    """One transaction's connection: DuckDB's cursor, whose ``close`` also lets go of the file."""

    def __init__(self, owner: _Attachments, path: str, cursor: Any):
        self._owner, self._path, self._cursor = owner, path, cursor

    def execute(self, *args: Any) -> Any:
        return self._cursor.execute(*args)

    def close(self) -> None:
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            try:
                cursor.close()
            finally:
                self._owner.release(self._path)


_ATTACHMENTS = _Attachments()
prepare = _ATTACHMENTS.prepare


class StoreBusyError(DuctworkError):
    """The run store stayed locked by another process for longer than the retry budget."""


class StoreDamagedError(DuctworkError):
    """The run store's file is not a readable DuckDB database (zero length, truncated, corrupt)."""

    def __init__(self, path: Path, cause: str):
        self.path, self.cause = path, cause
        super().__init__(f"the run store '{path}' is damaged ({cause}): run `ductwork doctor --repair` to move it "
                         "aside and rebuild reuse from the artifacts' manifests")


#: what DuckDB says of a file that is not a (whole) database: zero length or foreign bytes,
#: truncated, or a block whose checksum does not match
_DAMAGED_MARKERS = ("not a valid duckdb database", "could not read enough bytes", "corrupt database",
                    "does not match stored checksum", "database file is corrupt")


def _is_damaged(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _DAMAGED_MARKERS)


def _damage(exc: BaseException) -> str:
    """DuckDB's words for a damaged file, without its path (the message names it once)."""
    text = str(exc).splitlines()[0]
    if "not a valid duckdb database" in text.lower():
        return "not a DuckDB database file: empty, foreign bytes or a damaged header"
    if "could not read enough bytes" in text.lower():
        return "truncated:" + text.rpartition(":")[2]
    return text.removeprefix("IO Error: ")


def _is_busy(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _BUSY_MARKERS)


def _outputs_json(outputs: dict[str, OutputRef]) -> str:
    return json.dumps({k: v.to_dict() for k, v in outputs.items()})


def _outputs_from(text: str | None) -> dict[str, OutputRef]:
    return {k: OutputRef.from_dict(v) for k, v in (json.loads(text) if text else {}).items()}


def _run_row(r: RunRecord) -> tuple[Any, ...]:
    return (r.id, r.pipeline, r.version, json.dumps(r.params, default=str), r.status, r.started_at,
            r.ended_at, r.host, r.driver_pid, r.error, r.force, r.source)


def _step_row(s: StepRunRecord) -> tuple[Any, ...]:
    return (s.run_id, s.job, s.component, s.status, s.signature,
            json.dumps(s.ingredients, default=str) if s.ingredients is not None else None,
            s.reused_from, s.compute, json.dumps(s.resources), s.node_id, s.started_at, s.ended_at,
            s.exit_code, s.error, s.log_path, s.reason, _outputs_json(s.outputs), s.attempts,
            s.duration_s, s.position, s.price_per_hour, s.saved_s, s.saved_price_per_hour)


def _reuse_from(r: Sequence[Any]) -> ReuseRecord:
    return ReuseRecord(r[0], r[1], r[2], _outputs_from(r[3]), r[4] or 0.0, r[5] or 0.0, r[6] or 0.0, r[7] or "")


def _run_from(row: Sequence[Any]) -> RunRecord:
    d = dict(zip(RUN_COLS, row, strict=True))
    d["params"] = json.loads(d["params"]) if d["params"] else {}
    return RunRecord(**d)


def _step_from(row: Sequence[Any]) -> StepRunRecord:
    d = dict(zip(STEP_COLS, row, strict=True))
    d["ingredients"] = json.loads(d["ingredients"]) if d["ingredients"] else None
    d["resources"] = json.loads(d["resources"]) if d["resources"] else {}
    d["outputs"] = _outputs_from(d["outputs"])
    d["price_per_hour"] = d["price_per_hour"] or 0.0  # NULL in rows written before the column existed
    return StepRunRecord(**d)


class DuckDBRunStore:
    """Runs recorded in one DuckDB file; safe to share between processes (app, CLI runs)."""

    def __init__(self, path: str | os.PathLike[str], retry_for_s: float = 60.0):
        self.path = Path(path)
        self.retry_for_s = retry_for_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._schema_ready = False  # the tables are ensured in the first transaction (no extra connection)
        self._held = threading.local()  # the connection of a ``reading()`` block, per thread

    def _connect(self, deadline: float):
        """A new connection, retried with backoff while another process holds the file."""
        duckdb = _client()

        delay = 0.01
        while True:
            try:
                return _ATTACHMENTS.open(str(self.path))
            except (duckdb.IOException, duckdb.ResourceInUseException) as exc:  # the latter: another thread
                self._raise_if_damaged(exc)
                delay = self._back_off(exc, deadline, delay)
            except duckdb.Error as exc:
                self._raise_if_damaged(exc)
                raise

    def _raise_if_damaged(self, exc: BaseException) -> None:
        if _is_damaged(exc):
            raise StoreDamagedError(self.path, _damage(exc)) from None

    def _back_off(self, exc: Exception, deadline: float, delay: float) -> float:
        """After a lock error: re-raise what is not one, give up past ``deadline``, else sleep
        (jittered) and return the next, doubled delay."""
        if not _is_busy(exc):
            raise exc
        if time.monotonic() > deadline:
            raise self._busy(exc) from exc
        time.sleep(delay * (1 + random.random()))
        return min(delay * 2, 0.5)

    def _run(self, work: Callable[[Any], T]) -> T:
        """Run ``work(con)`` in one transaction on a fresh connection, closed at once;
        retried with backoff while another process holds the file. Inside ``reading()``
        (same thread), ``work`` runs on that block's connection and transaction."""
        duckdb = _client()

        held = getattr(self._held, "con", None)
        if held is None and getattr(self._held, "block", False):  # the first read of a ``reading()`` block
            held = self._held.con = self._begin_reading()
        if held is not None:
            return work(held)
        deadline = time.monotonic() + self.retry_for_s
        delay = 0.01
        while True:
            con = self._connect(deadline)
            try:
                self._begin(con)
                result = work(con)
                con.execute("COMMIT")
                self._schema_ready = True
                return result
            except (duckdb.IOException, duckdb.TransactionException, duckdb.ConstraintException) as exc:
                self._abandon(con, exc)
                delay = self._back_off(exc, deadline, delay)
            except BaseException as exc:
                self._abandon(con, exc)
                raise
            finally:
                con.close()

    def _begin(self, con) -> None:
        con.execute("BEGIN TRANSACTION")
        if not self._schema_ready:
            con.execute(SCHEMA)

    def _abandon(self, con, exc: BaseException) -> None:
        """Roll back after ``exc``; raise what it means instead when it is a damaged file (a
        corrupt block is found when a query reads it) or a stop signal DuckDB swallowed."""
        duckdb = _client()

        _rollback(con)
        if isinstance(exc, duckdb.Error):
            self._raise_if_damaged(exc)
        _raise_if_interrupted(exc)

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Reads done back to back in this block (this thread) share one connection and one
        transaction, closed as soon as the block ends: one opening of the file instead of one
        per read. Only for reads that follow each other — never hold it across other work.
        The connection is opened by the block's first read: a block that reads nothing (a
        fully reused plan, whose records were all read before) costs nothing."""

        if getattr(self._held, "block", False):  # nested: the outer block's connection
            yield
            return
        con = None
        self._held.block, self._held.con = True, None
        try:
            try:
                yield
            finally:
                con, self._held.con, self._held.block = self._held.con, None, False
            if con is not None:
                con.execute("COMMIT")
                self._schema_ready = True
        except BaseException as exc:
            if con is not None:
                self._abandon(con, exc)
            raise
        finally:
            if con is not None:
                con.close()

    def _begin_reading(self):
        """A connection in an open transaction, the schema ensured; retried while another
        connection (another thread's, e.g. the run's writer) creates the same tables."""
        duckdb = _client()

        deadline = time.monotonic() + self.retry_for_s
        delay = 0.01
        while True:
            con = self._connect(deadline)
            try:
                self._begin(con)
                return con
            except (duckdb.IOException, duckdb.TransactionException) as exc:
                self._abandon(con, exc)
                con.close()
                delay = self._back_off(exc, deadline, delay)
            except BaseException as exc:
                self._abandon(con, exc)
                con.close()
                raise

    def _busy(self, exc: Exception) -> StoreBusyError:
        return StoreBusyError(
            f"run store '{self.path}' stayed locked by another process for {self.retry_for_s:.0f} s "
            f"({exc}); close the program holding it and retry")

    def apply(self, batch: StoreBatch) -> None:
        if not batch:
            return

        def work(con) -> None:
            runs = {r.id: r for r in batch.runs}
            steps = {(s.run_id, s.job): s for s in batch.step_runs}
            _upsert(con, "runs", RUN_TYPES, [_run_row(r) for r in runs.values()])
            _upsert(con, "step_runs", STEP_TYPES, [_step_row(s) for s in steps.values()])
            if batch.evict:
                con.execute("DELETE FROM reuse WHERE signature IN (SELECT unnest(?))", [batch.evict])
            reuse = {r.signature: r for r in batch.reuse}
            _upsert(con, "reuse", REUSE_TYPES,
                    [(r.signature, r.run_id, r.job, _outputs_json(r.outputs), r.duration_s, r.created_at,
                      r.price_per_hour, r.workspace) for r in reuse.values()])
            _insert(con, "artifacts", {"digest": _V, "size": _I, "run_id": _V, "job": _V, "output": _V,
                                      "created_at": _D},
                    [(a.digest, a.size, a.run_id, a.job, a.output, a.created_at)
                     for a in {a.digest: a for a in batch.artifacts}.values()],
                    or_ignore=True)
            _insert(con, "metrics", {"run_id": _V, "job": _V, "name": _V, "value": _D, "step": _I, "ts": _D},
                    [(m.run_id, m.job, m.name, m.value, m.step, m.ts) for m in batch.metrics])
            _upsert(con, "input_memo", {"key": _V, "digest": _V, "size": _I},
                    [(k, d, s) for k, (d, s) in batch.memo.items()])
            if batch.lease_claims:  # taken unless held by another whose heartbeat is recent (before the
                # releases: a step that claimed its lease may have committed within the same batch)
                claims = {lease.signature: lease for lease in batch.lease_claims}
                con.execute("DELETE FROM leases WHERE signature IN (SELECT unnest(?::VARCHAR[])) AND heartbeat_at < ?",
                            [list(claims), min(c.taken_at for c in claims.values()) - LEASE_EXPIRES_S])
                _insert(con, "leases", LEASE_TYPES, [tuple(dataclasses.astuple(c)) for c in claims.values()],
                        or_ignore=True)
            if batch.lease_releases:
                signatures, run_ids = (list(c) for c in zip(*batch.lease_releases, strict=True))
                con.execute("DELETE FROM leases USING (SELECT unnest(?::VARCHAR[]) AS s, unnest(?::VARCHAR[]) AS r) "
                            "x WHERE leases.signature = x.s AND leases.run_id = x.r", [signatures, run_ids])
            for run_id, at in batch.lease_beats.items():
                con.execute("UPDATE leases SET heartbeat_at = ? WHERE run_id = ?", [at, run_id])

        self._run(work)

    def find_reuse(self, signatures: Iterable[str]) -> dict[str, ReuseRecord]:
        keys = list(dict.fromkeys(signatures))
        if not keys:
            return {}
        rows = self._run(lambda con: con.execute(
            f"{_REUSE} WHERE signature IN (SELECT unnest(?))", [keys]).fetchall())
        return {r[0]: _reuse_from(r) for r in rows}

    # Both "latest" queries pick the winning (run_id, job) keys from the small columns first and
    # only then read the winners' full rows: ranking whole rows read every step run's ingredients
    # and outputs (JSON) of the pipeline's history, so a plan slowed with each run kept
    # (a 1,000-step chain with 14 runs: ≈ 110 → 15 ms here).
    def latest_step_runs(self, pipeline: str, jobs: Iterable[str]) -> dict[str, StepRunRecord]:
        keys = list(jobs)
        if not keys:
            return {}
        cols = ", ".join(f"s.{c}" for c in STEP_COLS)
        rows = self._run(lambda con: con.execute(
            f"SELECT {cols} FROM step_runs s JOIN (SELECT s.run_id, s.job FROM step_runs s JOIN runs r ON "
            "r.id = s.run_id WHERE r.pipeline = ? AND s.job IN (SELECT unnest(?)) AND s.signature IS NOT NULL "
            "AND s.ingredients IS NOT NULL QUALIFY row_number() OVER (PARTITION BY s.job "
            "ORDER BY s.started_at DESC NULLS LAST, r.started_at DESC) = 1) w "
            "ON s.run_id = w.run_id AND s.job = w.job", [pipeline, keys]).fetchall())
        return {row[1]: _step_from(row) for row in rows}

    def latest_component_runs(self, components: Iterable[str]) -> dict[str, StepRunRecord]:
        keys = list(components)
        if not keys:
            return {}
        cols = ", ".join(f"s.{c}" for c in STEP_COLS)
        rows = self._run(lambda con: con.execute(
            f"SELECT {cols}, w.cname FROM step_runs s JOIN (SELECT run_id, job, split_part(component, ':', 1) "
            "AS cname FROM step_runs WHERE split_part(component, ':', 1) IN (SELECT unnest(?)) AND signature IS "
            "NOT NULL AND ingredients IS NOT NULL QUALIFY row_number() OVER (PARTITION BY cname "
            "ORDER BY started_at DESC NULLS LAST) = 1) w ON s.run_id = w.run_id AND s.job = w.job",
            [keys]).fetchall())
        return {row[-1]: _step_from(row[:-1]) for row in rows}

    def get_memo(self, keys: Iterable[str]) -> dict[str, tuple[str, int]]:
        wanted = list(keys)
        if not wanted:
            return {}
        rows = self._run(lambda con: con.execute(
            "SELECT key, digest, size FROM input_memo WHERE key IN (SELECT unnest(?))", [wanted]).fetchall())
        return {k: (d, int(s)) for k, d, s in rows}

    def take_leases(self, leases: Sequence[Lease], gone: Callable[[Lease], bool],
                    ignore_reuse: Collection[str] = (), batch: StoreBatch | None = None) -> list[LeaseAnswer]:
        """One transaction, so two drivers never both take a lease: DuckDB lets one process
        write at a time, and a write conflict between threads rolls back and is retried."""
        if not leases:
            if batch:
                self.apply(batch)
            return []
        keys = list(dict.fromkeys(w.signature for w in leases))

        def work(con) -> list[LeaseAnswer]:
            outer, self._held.con = getattr(self._held, "con", None), con  # apply, find_reuse: in this transaction
            try:
                if batch:
                    self.apply(batch)  # first: the leases and records read below include its writes
                held = {row[0]: Lease(*row) for row in con.execute(_LEASES_OF, [keys]).fetchall()}
                done = self.find_reuse(k for k in keys if k not in ignore_reuse)
            finally:
                self._held.con = outer
            answers: list[LeaseAnswer] = []
            for wanted in leases:
                answer = answer_lease(wanted, held.get(wanted.signature), done.get(wanted.signature), gone)
                if answer.taken:
                    held[wanted.signature] = wanted
                answers.append(answer)
            taken = {a.signature: held[a.signature] for a in answers if a.taken}
            _upsert(con, "leases", LEASE_TYPES, [tuple(dataclasses.astuple(lease)) for lease in taken.values()])
            return answers

        return self._run(work)

    def leases(self, signatures: Iterable[str]) -> dict[str, Lease]:
        keys = list(dict.fromkeys(signatures))
        if not keys:
            return {}
        rows = self._run(lambda con: con.execute(_LEASES_OF, [keys]).fetchall())
        return {row[0]: Lease(*row) for row in rows}

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._run(lambda con: con.execute(
            f"SELECT {', '.join(RUN_COLS)} FROM runs WHERE id = ?", [run_id]).fetchall())
        return _run_from(rows[0]) if rows else None

    def step_runs(self, run_id: str) -> list[StepRunRecord]:
        rows = self._run(lambda con: con.execute(
            f"SELECT {', '.join(STEP_COLS)} FROM step_runs WHERE run_id = ? ORDER BY position, job",
            [run_id]).fetchall())
        return [_step_from(r) for r in rows]

    def step_runs_of(self, run_ids: Iterable[str]) -> dict[str, list[StepRunRecord]]:
        keys = list(dict.fromkeys(run_ids))
        if not keys:
            return {}
        rows = self._run(lambda con: con.execute(
            f"SELECT {', '.join(STEP_COLS)} FROM step_runs WHERE run_id IN (SELECT unnest(?::VARCHAR[])) "
            "ORDER BY run_id, position, job", [keys]).fetchall())
        found: dict[str, list[StepRunRecord]] = {k: [] for k in keys}
        for row in rows:
            found[row[0]].append(_step_from(row))
        return found

    def recent_durations(self, components: Iterable[str], limit: int = 10) -> dict[str, list[float]]:
        keys = list(dict.fromkeys(components))
        if not keys:
            return {}
        rows = self._run(lambda con: con.execute(
            "SELECT component, list(duration_s ORDER BY started_at DESC) FROM (SELECT component, duration_s, "
            "started_at FROM step_runs WHERE component IN (SELECT unnest(?::VARCHAR[])) AND status = 'completed' "
            "AND duration_s IS NOT NULL QUALIFY row_number() OVER (PARTITION BY component "
            "ORDER BY started_at DESC NULLS LAST) <= ?) GROUP BY component", [keys, limit]).fetchall())
        return {component: [float(d) for d in durations] for component, durations in rows}

    def metrics(self, run_id: str) -> list[MetricRecord]:
        rows = self._run(lambda con: con.execute(
            "SELECT run_id, job, name, value, step, ts FROM metrics WHERE run_id = ? ORDER BY ts, job, name",
            [run_id]).fetchall())
        return [MetricRecord(*r) for r in rows]

    def list_runs(self, filter: RunFilter = RunFilter(), limit: int = 50, offset: int = 0) -> list[RunRecord]:
        where, args = _where(filter)
        rows = self._run(lambda con: con.execute(
            f"SELECT {', '.join(RUN_COLS)} FROM runs {where} ORDER BY started_at DESC NULLS LAST, id DESC "
            "LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall())
        return [_run_from(r) for r in rows]

    def count_runs(self, filter: RunFilter = RunFilter()) -> int:
        where, args = _where(filter)
        return int(self._run(lambda con: con.execute(f"SELECT count(*) FROM runs {where}", args).fetchone()[0]))

    def resolve_run_id(self, prefix: str) -> list[str]:
        rows = self._run(lambda con: con.execute(
            "SELECT id FROM runs WHERE starts_with(id, ?) OR ends_with(id, ?) ORDER BY id", [prefix, prefix]).fetchall())
        return [r[0] for r in rows]

    def reuse_records(self) -> list[ReuseRecord]:
        rows = self._run(lambda con: con.execute(f"{_REUSE} ORDER BY created_at, signature").fetchall())
        return [_reuse_from(r) for r in rows]

    def last_reused(self) -> dict[str, float]:
        rows = self._run(lambda con: con.execute(
            "SELECT signature, max(started_at) FROM step_runs WHERE status = 'reused' AND signature IS NOT NULL "
            "GROUP BY signature").fetchall())
        return {signature: float(at or 0.0) for signature, at in rows}

    def evict_reuse(self, reasons: Mapping[str, str], at: float) -> None:
        if not reasons:
            return

        def work(con) -> None:
            con.execute("DELETE FROM reuse WHERE signature IN (SELECT unnest(?::VARCHAR[]))", [list(reasons)])
            _upsert(con, "evictions", {"signature": _V, "reason": _V, "evicted_at": _D},
                    [(signature, reason, at) for signature, reason in reasons.items()])

        self._run(work)

    def eviction_reasons(self, signatures: Iterable[str]) -> dict[str, str]:
        keys = list(dict.fromkeys(signatures))
        if not keys:
            return {}
        rows = self._run(lambda con: con.execute(
            "SELECT e.signature, e.reason FROM evictions e WHERE e.signature IN (SELECT unnest(?::VARCHAR[])) "
            "AND NOT EXISTS (SELECT 1 FROM reuse r WHERE r.signature = e.signature) "
            "AND NOT EXISTS (SELECT 1 FROM step_runs s WHERE s.signature = e.signature AND s.started_at > e.evicted_at)",
            [keys]).fetchall())
        return dict(rows)

    def artifact_records(self) -> list[ArtifactRecord]:
        rows = self._run(lambda con: con.execute(
            "SELECT digest, size, run_id, job, output, created_at FROM artifacts ORDER BY created_at").fetchall())
        return [ArtifactRecord(r[0], int(r[1] or 0), r[2], r[3], r[4], r[5] or 0.0) for r in rows]

    def delete_artifact_records(self, digests: Iterable[str]) -> None:
        keys = list(dict.fromkeys(digests))
        if keys:
            self._run(lambda con: con.execute(
                "DELETE FROM artifacts WHERE digest IN (SELECT unnest(?::VARCHAR[]))", [keys]))


def _where(f: RunFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for clause, value in (("pipeline = ?", f.pipeline), ("status = ?", f.status),
                          ("started_at >= ?", f.since), ("started_at < ?", f.until)):
        if value is not None:
            clauses.append(clause)
            args.append(value)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args


def _insert(con, table: str, cols: dict[str, str], rows: list[tuple[Any, ...]], or_ignore: bool = False) -> None:
    _values(con, f"INSERT {'OR IGNORE ' if or_ignore else ''}INTO {table}", cols, rows)


def _upsert(con, table: str, cols: dict[str, str], rows: list[tuple[Any, ...]]) -> None:
    _values(con, f"INSERT OR REPLACE INTO {table}", cols, rows)


def _values(con, head: str, cols: dict[str, str], rows: list[tuple[Any, ...]]) -> None:
    """One statement for all rows, one list parameter per column (``unnest``): binding rows
    one by one, or as one big VALUES list, costs ≈ 1 ms a row in DuckDB's Python client."""
    if not rows:
        return
    columns = [list(column) for column in zip(*rows, strict=True)]
    select = ", ".join(f"unnest(?::{sql_type}[])" for sql_type in cols.values())
    con.execute(f"{head} ({', '.join(cols)}) SELECT {select}", columns)


def _raise_if_interrupted(exc: BaseException) -> None:
    """DuckDB's client turns a signal that arrives during a query into ``RuntimeError('Query
    interrupted')``, swallowing the handler's exception; the run must still see its stop."""
    if isinstance(exc, RuntimeError) and str(exc).strip().lower() == "query interrupted":
        raise signals.last_stop() from None


def _rollback(con) -> None:
    try:
        con.execute("ROLLBACK")
    except Exception:  # noqa: BLE001 - nothing to roll back, or the connection is gone
        pass
