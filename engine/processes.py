"""Small process checks shared by the step runtime, the warm Ray and the run drivers' records
(psutil is imported only when a start time is asked for), and the reaper that ends a
command step's process group when the process that started it dies.

The reaper (:func:`step_lifeline`): one small shell per worker process, started with the
worker's first command step, in its own session. It reads lines from a pipe whose only
lasting writer is the worker: ``+PGID`` when a step's process group starts (the step's own
shell writes it, first thing, see engine/runtime.py), ``-PGID`` when the worker has reaped
the step and killed what was left of its group. When the worker dies — killed, crashed,
or ended by Ray — the pipe reaches its end and the reaper SIGKILLs every group still
listed, grandchildren included, then exits. This replaces a guard shell per step that
trapped the parent-death signal (``PR_SET_PDEATHSIG``), which needed a Python
``preexec_fn`` (a full ``fork`` of the worker instead of ``vfork``: ≈ 7 ms in a Ray worker)
and a second shell (≈ 1.5 ms) for every step.

The reaper is not the worker's child (a shell starts it in the background and exits): a Ray
worker told to exit — its job's driver died — SIGKILLs its own children first (Ray's
``kill_child_processes_on_worker_exit``), which took the step's shell and a child reaper
together and left the step's other processes running, whenever Ray's exit came before the
worker's own look at the dead driver.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import threading

__all__ = ["process_alive", "process_started", "reaper_pid", "step_lifeline", "step_ended"]


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (dead, not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): the signal test above is all there is


def process_started(pid: int) -> float | None:
    """When ``pid`` started (epoch seconds, as psutil gives it), or ``None`` if there is no such
    process (or it may not be inspected). With the pid it tells a process from a later one
    that reused the pid."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return None


#: POSIX sh (bash and dash alike): keep the listed groups; at the pipe's end kill them all.
REAPER_SCRIPT = r"""trap '' INT TERM HUP QUIT
live=
while read -r line; do
  case $line in
    +*) live="$live ${line#+}" ;;
    -*) keep=; for p in $live; do [ "$p" = "${line#-}" ] || keep="$keep $p"; done; live=$keep ;;
  esac
done
for p in $live; do kill -9 -"$p" 2>/dev/null; done
"""

#: how the reaper is started: a shell that starts it in the background, prints its pid and exits,
#: so that the reaper is nobody's child. The pipe is moved to descriptor 3 first: an asynchronous
#: list's standard input is /dev/null before its own redirections (POSIX). The reaper's ``$0``
#: names the process it serves (what ``ps`` shows).
_LAUNCH = 'exec 3<&0 </dev/null; sh -c "$1" "$2" <&3 3<&- >/dev/null 2>&1 & echo $!'

_lock = threading.Lock()
#: (the process that started it, the pipe's write end, the reaper's pid, a pidfd of it or None)
_reaper: tuple[int, int, int, int | None] | None = None


def step_lifeline() -> int:
    """The write end of this process's reaper pipe (started on first use, again if it died or
    this process is a fork of the one that started it). A command step gets it as its
    standard input, writes ``+$$`` into it and then reads ``/dev/null`` instead."""
    global _reaper
    with _lock:
        if _reaper is not None:
            owner, fd, pid, pidfd = _reaper
            if owner == os.getpid() and _running(pid, pidfd):
                return fd
            os.close(fd)  # a fork's copy of its parent's pipe, or the pipe of a dead reaper
            if pidfd is not None:
                os.close(pidfd)
            _reaper = None
        r, w = os.pipe()  # neither end is inherited by anything else this process starts
        try:
            sh = shutil.which("sh") or "/bin/sh"
            launcher = subprocess.Popen([sh, "-c", _LAUNCH, "ductwork-reaper-launcher", REAPER_SCRIPT,
                                         f"ductwork-step-reaper-of-{os.getpid()}"], stdin=r, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
            with launcher.stdout:  # type: ignore[union-attr]
                line = launcher.stdout.readline()  # type: ignore[union-attr]
            launcher.wait()
            pid = int(line)
        except BaseException:
            os.close(w)
            raise
        finally:
            os.close(r)
        try:
            pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):  # no pidfds (Linux < 5.3): looked up by pid
            pidfd = None
        _reaper = (os.getpid(), w, pid, pidfd)
        return w


def reaper_pid() -> int | None:
    """This process's reaper, if it started one."""
    reaper = _reaper
    return reaper[2] if reaper is not None and reaper[0] == os.getpid() else None


def _running(pid: int, pidfd: int | None) -> bool:
    if pidfd is None:
        return process_alive(pid)
    return not select.select([pidfd], [], [], 0)[0]  # a pidfd reads ready once its process ended


def step_ended(pgid: int) -> None:
    """The step whose process group is ``pgid`` was reaped and its group killed: unlist it."""
    reaper = _reaper
    if reaper is None or reaper[0] != os.getpid():
        return
    try:
        os.write(reaper[1], f"-{pgid}\n".encode())
    except OSError:  # the reaper died: the next step starts a new one
        pass
