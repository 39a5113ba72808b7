"""Where Ductwork's local Rays keep their files, and a watchdog that ends an embedded Ray whose
driver died.

An embedded Ray (``engine.executors.RayExecutor`` without an address) lives in its driver:
``ray.init(address="local")`` starts the node's processes as the driver's children, and
``ray.shutdown()`` stops them. A driver killed with SIGKILL runs no shutdown. Ray's GCS and
raylet end with it (Ray starts them with PR_SET_PDEATHSIG), but the raylet's children do not:
its workers end within ≈ 3 s, and its dashboard and runtime-env agents only after ≈ 60 s
(they try to report the raylet's death to the GCS that died with it, with a 60 s timeout);
the temp folder stays for good.

:class:`RayWatchdog` is a small process (this file run by the interpreter: no Ray, no
package imports) started with the embedded Ray, in its own session so that a Ctrl-C or a
signal to the driver's process group does not reach it. Every process of that Ray carries
the watchdog's token in its environment (:meth:`RayWatchdog.marking` puts it there while
``ray.init`` starts the node; the raylet hands its environment on to its agents, workers and
their subprocesses) or holds a file in its temp folder open, so the watchdog finds them by
those — never by name, and never one that another Ray, the warm Ray included, started. It waits on a pipe from the driver:

- ``q`` (the driver shut Ray down itself): it exits;
- end of file (the driver died), or its parent is no longer the driver (checked every
  :data:`POLL_S`), or ``k`` (the driver gives up on a Ray it was starting): it kills every
  process that carries its token, again until none is left, removes the temp folder, exits.

Measured here (2 cores), ``ductwork run`` killed with SIGKILL in a step: without the watchdog
the last process of its Ray (an agent) ended 62 s later and the temp folder stayed; with it,
see tests/test_leftovers.py and the commit message.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

__all__ = ["RAY_TEMP_ROOT", "EMBEDDED_PREFIX", "WARM_PREFIX", "RAY_TEMP_PREFIXES", "MARK", "POLL_S",
           "RayWatchdog", "embedded_temp_dir", "marked_processes"]

RAY_TEMP_ROOT = "/tmp"  #: short: Ray's Unix socket paths under it are limited to 107 bytes
EMBEDDED_PREFIX = "ductwork-ray-"  #: ``/tmp/ductwork-ray-<driver pid>``: an embedded Ray's temp folder
WARM_PREFIX = "ductwork-ray-ws-"  #: ``/tmp/ductwork-ray-ws-<keeper pid>``: the warm Ray's (engine.workspace_ray)
RAY_TEMP_PREFIXES = (WARM_PREFIX, EMBEDDED_PREFIX)  #: longest first: a warm folder is not an embedded one
MARK = "DUCTWORK_RAY_SESSION"  #: the environment variable that carries a watchdog's token
POLL_S = 0.5  #: how often the watchdog checks that its parent is still the driver
SWEEP_S = 10.0  #: how long it goes on killing processes that carry its token
_QUIT, _KILL = b"q", b"k"


def embedded_temp_dir(pid: int) -> str:
    """The temp folder of the embedded Ray of driver ``pid``."""
    return f"{RAY_TEMP_ROOT}/{EMBEDDED_PREFIX}{pid}"


class RayWatchdog:
    """The driver's handle on its embedded Ray's watchdog process."""

    def __init__(self, proc: subprocess.Popen[bytes], token: str, temp_dir: str):
        self.proc = proc
        self.token = token
        self.temp_dir = temp_dir

    @classmethod
    def start(cls, temp_dir: str) -> RayWatchdog:
        """Start a watchdog for the Ray about to be started with ``temp_dir`` by this process."""
        token = secrets.token_hex(8)
        proc = subprocess.Popen([sys.executable, "-I", os.path.abspath(__file__), token, temp_dir, str(os.getpid())],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True, env=_unmarked_env())
        return cls(proc, token, temp_dir)

    @contextlib.contextmanager
    def marking(self) -> Iterator[None]:
        """While inside, processes this one starts carry the token (wrap ``ray.init`` in it)."""
        before = os.environ.get(MARK)
        os.environ[MARK] = self.token
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(MARK, None)
            else:
                os.environ[MARK] = before

    def release(self) -> None:
        """Ray was shut down: the watchdog exits without touching anything."""
        self._tell(_QUIT, wait=2.0)

    def sweep(self) -> None:
        """Kill what was started of this Ray and remove its temp folder now; returns when done."""
        self._tell(_KILL, wait=SWEEP_S + 5.0)

    def _tell(self, what: bytes, wait: float) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.write(what)
            self.proc.stdin.flush()
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(wait)


def _unmarked_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != MARK}


def marked_processes(token: str, temp_dir: str) -> list[int]:
    """Pids of the running processes (of this user) of one Ray: those whose environment carries
    ``token``, and those holding a file under ``temp_dir`` open. Ray's agents rename themselves
    with ``setproctitle``, which may overwrite what ``/proc/<pid>/environ`` shows, but they
    keep their log files in the temp folder open."""
    needle = f"{MARK}={token}\0".encode()
    inside = temp_dir.rstrip("/") + "/"
    me, found = os.getpid(), []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != me and (_carries(name, needle) or _holds(name, inside)):
            found.append(int(name))
    return found


def _carries(pid: str, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return needle in fh.read()
    except OSError:  # gone meanwhile, or another user's
        return False


def _holds(pid: str, inside: str) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(inside):
                return True
        except OSError:
            continue
    return False


def _kill_marked(token: str, temp_dir: str) -> None:
    deadline = time.monotonic() + SWEEP_S
    while time.monotonic() < deadline:
        pids = marked_processes(token, temp_dir)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)  # a worker may have started a child meanwhile: look again


def watch(token: str, temp_dir: str, driver: int) -> int:
    """The watchdog process's loop (see the module's note)."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    stdin = sys.stdin.buffer
    while True:
        readable, _, _ = select.select([stdin], [], [], POLL_S)
        if readable:
            what = os.read(stdin.fileno(), 1)
            if what == _QUIT:
                return 0
            break  # end of file (the driver died) or _KILL
        if os.getppid() != driver:
            break
    _kill_marked(token, temp_dir)
    shutil.rmtree(temp_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(watch(sys.argv[1], sys.argv[2], int(sys.argv[3])))
