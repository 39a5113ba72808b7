"""The signals that stop a run, handled one way wherever they come.

SIGINT, SIGTERM and SIGHUP raise :class:`Stopped` (a ``KeyboardInterrupt``) in the main
thread, so Ctrl-C, ``kill``, a closed terminal and the app's Cancel button all take the path
that records the run ``cancelled`` and stops its steps. Ray's ``ray.init`` replaces the
SIGTERM handler, at its very start, with one that calls ``sys.exit`` (and ``ray.shutdown``
never restores it); :func:`reassert` puts ours back once Ray has started, and a
``SystemExit`` while it starts is taken as the stop it was. While a stopped run
is being recorded, :func:`deferred` keeps a second signal from cutting the records short.
"""

from __future__ import annotations

import contextlib
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


def _raise(signum: int, frame: Any) -> None:
    _last[:] = [signum]
    raise Stopped(signum)


def last_stop() -> Stopped:
    """A :class:`Stopped` for the last stop signal received (SIGINT when none was)."""
    return Stopped(_last[0] if _last else signal.SIGINT)


def _in_main() -> bool:
    return threading.current_thread() is threading.main_thread()


def reassert() -> None:
    """Handle the stop signals again (after a library replaced a handler); main thread only."""
    if _in_main():
        for sig in STOP_SIGNALS:
            signal.signal(sig, _raise)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block (in the main thread), a stop signal raises :class:`Stopped`; the
    previous handlers come back afterwards. Outside the main thread it does nothing."""
    if not _in_main():
        yield
        return
    previous = {sig: signal.signal(sig, _raise) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def deferred() -> Iterator[list[int]]:
    """Within the block a stop signal is only noted (the list yielded holds them); the
    handlers that were in force come back afterwards."""
    noted: list[int] = []
    if not _in_main():
        yield noted
        return
    previous = {sig: signal.signal(sig, lambda signum, frame: noted.append(signum)) for sig in STOP_SIGNALS}
    try:
        yield noted
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
