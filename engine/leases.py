"""A step two runs need at once runs once: before a reusable step starts, its driver takes the
signature's lease in the run store; a driver that finds it held by another live run waits,
polling, until that run's reuse record appears (then reuses it) or the lease is released
without one or its holder is gone (then takes it and runs the step).

A holder is gone when its heartbeat is older than ``EXPIRES_S`` (any host: another machine's
process cannot be seen from here, and it also covers a pid reused on this host) or, on this
host, when its process is no longer alive (taken over at once). A driver beats for all its
leases in one write every ``HEARTBEAT_S``, in the batch of its periodic flush, and releases a
step's lease in the same batch as the step's reuse record, so that a waiter never finds the
lease released before the record is there.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from engine.processes import process_alive
from engine.records import LEASE_EXPIRES_S, Lease, LeaseAnswer, StoreBatch
from engine.runstore import RunStore

__all__ = ["EXPIRES_S", "HEARTBEAT_S", "POLL_S", "WAITS_FOR_RUN", "StepLeases", "lease_gone", "live_holders", "took_over_reason",
           "waits_reason"]

HEARTBEAT_S = 5.0  #: how often a driver renews its leases
EXPIRES_S = LEASE_EXPIRES_S  #: a lease not renewed for this long is another's to take
POLL_S = 0.5  #: how often a waiting driver asks again (one short transaction for all it waits on)
WAITS_FOR_RUN = "waits for run "  #: how the reason of a step waiting for another run's lease begins


def lease_gone(lease: Lease, host: str, now: float, expires_s: float = EXPIRES_S) -> bool:
    """Whether ``lease``'s holder can no longer finish its step, seen from ``host`` at ``now``."""
    if now - lease.heartbeat_at > expires_s:
        return True
    return lease.host == host and not process_alive(lease.pid)


def waits_reason(holder: Lease) -> str:
    return f"{WAITS_FOR_RUN}{holder.run_id} (job {holder.job})"


def took_over_reason(holder: Lease) -> str:
    return f"took over from run {holder.run_id} (job {holder.job}), whose driver is gone"


def live_holders(store: RunStore, signatures: Iterable[str], expires_s: float = EXPIRES_S) -> dict[str, Lease]:
    """The leases on ``signatures`` whose holders are alive: what a plan shows as "waits for run X"."""
    wanted = list(dict.fromkeys(signatures))
    if not wanted:
        return {}
    host, now = socket.gethostname(), time.time()
    return {s: lease for s, lease in store.leases(wanted).items() if not lease_gone(lease, host, now, expires_s)}


def _holder_key(lease: Lease | None) -> tuple[str, str] | None:
    return (lease.run_id, lease.job) if lease is not None else None


@dataclass
class _Wait:
    signature: str
    ignore_reuse: bool = False
    holder: Lease | None = None


class StepLeases:
    """The leases of one run driver: the steps that ask for one, wait for another run, or hold one.

    ``ask`` queues a step; ``settle`` answers every queued step (and, every ``poll_s``, every
    waiting one) in one transaction and returns the answers that change something for the
    scheduler; ``release``, ``release_all`` and ``beat`` add their writes to the driver's batch.
    """

    def __init__(self, store: RunStore, run_id: str, host: str | None = None, pid: int | None = None,
                 expires_s: float = EXPIRES_S, heartbeat_s: float = HEARTBEAT_S, poll_s: float = POLL_S):
        self.store, self.run_id = store, run_id
        self.host, self.pid = host or socket.gethostname(), pid or os.getpid()
        self.expires_s, self.heartbeat_s, self.poll_s = expires_s, heartbeat_s, poll_s
        self.held: dict[str, str] = {}  #: job → signature of the leases this run holds
        self._asked: dict[str, _Wait] = {}
        self._waiting: dict[str, _Wait] = {}
        self._polled = 0.0
        self._beaten = time.monotonic()

    @property
    def waiting(self) -> set[str]:
        """The steps asked for or waiting for another run."""
        return set(self._asked) | set(self._waiting)

    def ask(self, job: str, signature: str, ignore_reuse: bool = False) -> None:
        """Queue ``job``'s request for the lease on ``signature``. ``ignore_reuse``: its reuse
        record is known to be broken (being evicted), so only a holder makes it wait."""
        self._asked[job] = _Wait(signature, ignore_reuse)

    def forget(self, job: str) -> None:
        """``job`` no longer wants a lease (the run stopped it)."""
        self._asked.pop(job, None)
        self._waiting.pop(job, None)

    def settle(self, writes: Callable[[], StoreBatch] | None = None) -> dict[str, LeaseAnswer]:
        """Ask the store about the queued steps, and the waiting ones when a poll is due. Returns
        per job: taken, reusable (``reuse``), or newly held by ``holder``; a step still waiting
        for the same holder is left out. ``writes``: called only when the store is asked, gives
        the driver's pending records, written in the same transaction (in a chain, the upstream
        step's records and the next step's lease then cost one connection, not two)."""
        now = time.monotonic()
        asking = dict(self._asked)
        if self._waiting and now - self._polled >= self.poll_s:
            asking.update((job, w) for job, w in self._waiting.items() if job not in asking)
            self._polled = now
        if not asking:
            return {}
        at = time.time()
        wanted = [Lease(w.signature, self.run_id, job, self.host, self.pid, at, at) for job, w in asking.items()]
        ignore = {w.signature for w in asking.values() if w.ignore_reuse}
        answers = self.store.take_leases(wanted, lambda lease: lease_gone(lease, self.host, time.time(),
                                                                          self.expires_s), ignore,
                                         writes() if writes is not None else None)
        changed: dict[str, LeaseAnswer] = {}
        for (job, wait), answer in zip(asking.items(), answers, strict=True):
            self._asked.pop(job, None)
            if answer.taken or answer.reuse is not None:
                self._waiting.pop(job, None)
                if answer.taken:
                    self.held[job] = wait.signature
                changed[job] = answer
            elif _holder_key(wait.holder) != _holder_key(answer.holder):
                self._waiting[job] = _Wait(wait.signature, wait.ignore_reuse, answer.holder)
                changed[job] = answer
            else:
                self._waiting[job] = wait
        return changed

    def claim(self, job: str, signature: str, batch: StoreBatch) -> None:
        """Take ``job``'s lease without waiting for the store: for a step fed by an output this run
        has just committed. The claim rides in ``batch`` with that upstream's reuse record, so no
        other run can reach this signature through that record without finding the lease; only a
        run that made the same input bytes on its own could still run the step at the same time
        (wasted work, never a wrong result: outputs are stored by content). Saves a synchronous
        transaction (≈ 40-100 ms) before every step of a chain."""
        at = time.time()
        batch.lease_claims.append(Lease(signature, self.run_id, job, self.host, self.pid, at, at))
        self.held[job] = signature

    def release(self, job: str, batch: StoreBatch) -> None:
        """Give up ``job``'s lease (its step committed or failed), in ``batch``."""
        signature = self.held.pop(job, None)
        if signature is not None:
            batch.lease_releases.append((signature, self.run_id))

    def release_all(self, batch: StoreBatch) -> None:
        """The run ends (completed, failed or cancelled): give up every lease it still holds."""
        for job in list(self.held):
            self.release(job, batch)
        self._asked.clear()
        self._waiting.clear()

    def beat(self, batch: StoreBatch) -> None:
        """Renew all this run's leases in ``batch`` if ``heartbeat_s`` has passed since the last time."""
        now = time.monotonic()
        if self.held and now - self._beaten >= self.heartbeat_s:
            batch.lease_beats[self.run_id] = time.time()
            self._beaten = now
