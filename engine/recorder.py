"""Writes a run's records from a background thread, so the scheduling loop never waits on
the run store (a batch's statements cost tens of milliseconds; a dependent chain of steps
would pay it once per flush, in series)."""

from __future__ import annotations

import queue
import threading

from engine.records import StoreBatch
from engine.runstore import RunStore

__all__ = ["Recorder"]


class Recorder:
    """Applies batches in order on one writer thread; ``drain`` waits until all are written."""

    def __init__(self, store: RunStore):
        self.store = store
        self._queue: queue.Queue[StoreBatch | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def submit(self, batch: StoreBatch) -> None:
        """Queue ``batch`` (returns at once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="ductwork-recorder", daemon=True)
            self._thread.start()
        self._queue.put(batch)

    @property
    def busy(self) -> bool:
        """Whether a batch handed over is not written yet."""
        return self._queue.unfinished_tasks > 0

    def drain(self) -> None:
        """Wait until every queued batch is applied; re-raise a writer failure."""
        if self._thread is not None:
            self._queue.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _work(self) -> None:
        while True:
            batch = self._queue.get()
            try:
                if batch is None:
                    return
                if self._error is None:
                    self.store.apply(batch)
            except BaseException as exc:  # noqa: BLE001 - reported by drain()
                self._error = exc
            finally:
                self._queue.task_done()
