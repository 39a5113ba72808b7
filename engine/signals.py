"""The signals that stop a run, handled one way wherever they come.

SIGINT, SIGTERM and SIGHUP raise :class:`Stopped` (a ``KeyboardInterrupt``) in the main
thread, so Ctrl-C, ``kill``, a closed terminal and the app's Cancel button all take the path
that records the run ``cancelled`` and stops its steps. Ray's ``ray.init`` replaces the
SIGTERM handler, at its very start, with one that calls ``sys.exit`` (and ``ray.shutdown``
never restores it); :func:`reassert` puts ours back once Ray has started, and a
``SystemExit`` while it starts is taken as the stop it was. Ray's handler can also be lost
altogether: when it runs inside a finaliser (``logging._releaseLock``, seen under load), Python
prints "Exception ignored" and the ``SystemExit`` is gone — the driver went on running. So
every stop signal is also counted through the interpreter's wakeup file descriptor (written
by its C-level handler whatever Python handler runs), and :func:`reassert` raises
:class:`Stopped` for one that no handler of ours saw. While a stopped run is being
recorded, :func:`deferred` keeps a second signal from cutting the records short.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["STOP_SIGNALS", "Stopped", "deferred", "last_stop", "reassert", "stop_on_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived: ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(f"{signal.Signals(signum).name} received")
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


_last: list[int] = []  #: the last stop signal received (for code that must re-raise one a library swallowed)
_seen: collections.Counter[int] = collections.Counter()  #: stop signals our handlers saw, by number
_arrived: collections.Counter[int] = collections.Counter()  #: stop signals the wakeup fd counted
_wakeup: list[int] = []  #: the read end of the wakeup pipe while :func:`stop_on_signals` holds it


def _raise(signum: int, frame: Any) -> None:
    _last[:] = [signum]
    _seen[signum] += 1
    raise Stopped(signum)


def _drain() -> None:
    """Count the signals the interpreter wrote to the wakeup pipe since the last drain."""
    if not _wakeup:
        return
    while True:
        try:
            data = os.read(_wakeup[0], 512)
        except (BlockingIOError, OSError):
            return
        if not data:
            return
        _arrived.update(b for b in data if b in STOP_SIGNALS)


def last_stop() -> Stopped:
    """A :class:`Stopped` for the last stop signal received (SIGINT when none was)."""
    return Stopped(_last[0] if _last else signal.SIGINT)


def _in_main() -> bool:
    return threading.current_thread() is threading.main_thread()


def reassert() -> None:
    """Handle the stop signals again (after a library replaced a handler); main thread only.
    A stop signal that arrived meanwhile and that no handler of ours saw (a library's handler
    took it, or its ``SystemExit`` was swallowed) raises :class:`Stopped` now."""
    if not _in_main():
        return
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise)
    _drain()
    for signum in STOP_SIGNALS:
        if _arrived[signum] > _seen[signum]:
            _seen[signum] = _arrived[signum]
            _last[:] = [signum]
            raise Stopped(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block (in the main thread), a stop signal raises :class:`Stopped`; the
    previous handlers come back afterwards. Outside the main thread it does nothing."""
    if not _in_main():
        yield
        return
    previous = {sig: signal.signal(sig, _raise) for sig in STOP_SIGNALS}
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    try:
        old_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except ValueError:  # not the main interpreter's main thread after all
        old_fd = None
    outer = list(_wakeup)
    _drain()  # what the outer block's pipe holds is counted before this block's pipe replaces it
    _wakeup[:] = [read]
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if old_fd is not None:
            signal.set_wakeup_fd(old_fd)
        _drain()
        _wakeup[:] = outer
        os.close(read)
        os.close(write)


@contextlib.contextmanager
def deferred() -> Iterator[list[int]]:
    """Within the block a stop signal is only noted (the list yielded holds them); the
    handlers that were in force come back afterwards."""
    noted: list[int] = []
    if not _in_main():
        yield noted
        return
    def note(signum: int, frame: Any) -> None:
        _seen[signum] += 1
        noted.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in STOP_SIGNALS}
    try:
        yield noted
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
