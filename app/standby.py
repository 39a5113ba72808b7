"""The warm Ray's standby driver: a ``ductwork run`` handed, whole, to a process that has
imported Ray and joined the workspace's warm Ray already — as Gradle's daemon takes a build.

A run on the warm Ray paid, before its first step, ≈ 1–1.5 s here that has nothing to do with
the pipeline: Python importing Ray (0.7–1.0 s) and the driver joining the node (connecting to
its GCS, registering a job). For a forced 100-step chain that was a third of the run
(bench/README.md (j)). The keeper of the warm Ray (``engine.workspace_ray``) therefore keeps
one *standby*: ``python -m app.standby FOLDER ADDRESS`` imports Ray and the engine, joins the
node and waits on a Unix socket. ``ductwork run`` (:func:`hand_over`, called first thing by
the console script and by ``app.cli.main``) connects to it and hands over what makes the
command what it is — its arguments, working folder, environment, umask and its standard
input, output and error themselves (passed as descriptors, ``SCM_RIGHTS``) — and the standby
runs the command exactly as the CLI would, in that process, as the run's driver. The CLI
process stays as a thin client until the standby says how the command ended, and exits with
that status. One standby serves one command and exits; the keeper starts the next one when
no run is on the node (so its start never takes CPU from a run's steps).

What stays as it was:

- **Signals.** Ctrl-C, ``kill`` and a closed terminal reach the CLI process; it passes SIGINT,
  SIGTERM and SIGHUP on to the standby, which stops the run as the CLI would have
  (``cancelled`` records, its steps stopped, exit 130). ``ductwork runs cancel`` signals the
  run's driver, which is the standby.
- **A killed CLI.** The standby watches the CLI's process (a pidfd): when it dies without
  having been told the result, the standby kills itself with SIGKILL, which is what the driver
  would have suffered — the run's steps go with it and its records are completed by the next
  open, as DESIGN.md says for a killed driver. A killed standby: the CLI says so and exits 1.
- **The terminal.** The command's output goes to the CLI's own descriptors; the CLI modules
  (Rich's consoles decide colour and the live display when they are made) are imported only
  after the hand-over, in the CLI's environment.
- **What is never handed over:** anything but ``run``; ``run --address``/``--in-process``; a
  workspace whose ``address`` setting or ``RAY_ADDRESS`` names a cluster; any command when
  ``DUCTWORK_STANDBY=0``; and every command when no standby is listening (no warm Ray, or the
  standby is still starting): those run in the CLI process as before.

Who may connect: the socket is in Linux's abstract namespace (a workspace's path can exceed a
socket path's 107 bytes), named by the workspace's ``ray/`` folder; the standby serves only a
peer of its own user id (``SO_PEERCRED``) and only a command whose workspace is its own.

This module imports only the standard library until a command is handed over: the CLI
process pays ≈ nothing for trying.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["STANDBY_ENV", "SERVE_FAILED", "flush_and_leave", "hand_over", "leave_now", "main", "serve", "socket_name",
           "standby_file"]

STANDBY_ENV = "DUCTWORK_STANDBY"  #: "0" (or false/no/off): never hand a command over
SERVE_FAILED = 3  #: the standby's exit status when it could not get ready (the keeper stops retrying)
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_OFF = {"0", "false", "no", "off"}
_HEADER = struct.Struct("!I")
_GLOBAL_WITH_VALUE = ("--home", "--store")
_NOT_HANDED = ("--address", "--in-process")


def socket_name(ray_dir: str | os.PathLike[str]) -> bytes:
    """The abstract socket of the standby of the workspace whose warm Ray lives in ``ray_dir``."""
    digest = hashlib.blake2b(os.fsencode(os.path.realpath(ray_dir)), digest_size=12).hexdigest()
    return b"\0ductwork-standby-" + digest.encode()


def standby_file(ray_dir: str | os.PathLike[str]) -> Path:
    """``<ray_dir>/standby.json``: the listening standby's pid and since when (for ``ray status``)."""
    return Path(ray_dir) / "standby.json"


# ---------------------------------------------------------------------- the CLI's side
def _ray_dir_of(argv: list[str]) -> Path | None:
    """The workspace's ``ray/`` folder when ``argv`` is a ``run`` that may be handed over."""
    home: str | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name in _GLOBAL_WITH_VALUE:
            if not eq:
                i += 1
                if i >= len(argv):
                    return None
                value = argv[i]
            if name == "--home":
                home = value
            i += 1
            continue
        if arg != "run":
            return None  # another command, or an option this does not know: the CLI decides
        rest = argv[i + 1:]
        if any(a.partition("=")[0] in _NOT_HANDED for a in rest):
            return None
        break
    else:
        return None
    chosen = home if home not in (None, "") else os.environ.get("DUCTWORK_HOME") or ".ductwork"
    root = Path(chosen).expanduser().resolve()
    try:
        settings = json.loads((root / "settings.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        settings = {}
    except (OSError, ValueError):
        return None  # the CLI says what is wrong with it
    if not isinstance(settings, dict) or settings.get("address"):
        return None
    return root / "ray"


def hand_over(argv: list[str] | None = None) -> int | None:
    """Run this ``ductwork`` command in the workspace's standby driver and return its exit
    status; ``None`` when it is to run in this process (see the module's note)."""
    argv = sys.argv[1:] if argv is None else argv
    if os.environ.get(STANDBY_ENV, "").strip().lower() in _OFF or os.environ.get("RAY_ADDRESS"):
        return None
    ray_dir = _ray_dir_of(argv)
    if ray_dir is None:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(socket_name(ray_dir))
    except OSError:
        sock.close()
        return None  # no standby listening
    try:
        umask = os.umask(0o22)
        os.umask(umask)
        request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask,
                              "pid": os.getpid(), "folder": str(ray_dir)}).encode()
        sock.settimeout(10.0)  # the standby answers at once; one that hangs is not waited for
        socket.send_fds(sock, [_HEADER.pack(len(request)) + request], [0, 1, 2])
        reply = _read_line(sock)
    except OSError:
        sock.close()
        return None
    answer = _parse(reply)
    if "ok" not in answer:
        sock.close()
        return None  # declined (its warm Ray is stopping, another workspace…): run here
    return _wait_for(sock, int(answer["ok"]))


def _wait_for(sock: socket.socket, pid: int) -> int:
    """Pass stop signals on to the standby until it says how the command ended."""
    def forward(signum: int, frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    sock.settimeout(None)
    try:
        answer = _parse(_read_line(sock))
    except OSError:
        answer = {}
    if "exit" in answer:
        return int(answer["exit"])
    sys.stderr.write(f"ductwork: the run's driver (pid {pid}, the warm Ray's standby) ended without saying how the "
                     "command ended (it was killed?); `ductwork runs list` shows what the run recorded\n")
    return 1


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _parse(line: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(line)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


# ---------------------------------------------------------------------- the standby's side
def serve(folder: Path, address: str) -> int:
    """Join the warm Ray at ``address``, wait for one command for the workspace whose ``ray/``
    folder is ``folder``, run it as the CLI would, and exit with its status."""
    keeper = os.getppid()
    _die_with_parent()
    try:
        listener = _get_ready(folder, address)
    except Exception as exc:  # noqa: BLE001 - whatever kept it from getting ready: the keeper's log says
        print(f"standby {os.getpid()}: not ready ({type(exc).__name__}: {exc})", file=sys.stderr, flush=True)
        return SERVE_FAILED
    marker = standby_file(folder)
    partial = marker.with_name(f"standby.json.{os.getpid()}")
    partial.write_text(json.dumps({"pid": os.getpid(), "ready_at": time.time(), "address": address}))
    os.replace(partial, marker)
    try:
        while True:
            if os.getppid() != keeper:
                return 0  # the keeper is gone (and its Ray with it)
            if not select.select([listener], [], [], 1.0)[0]:
                continue
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                handed = _take(conn, folder)
                if handed is not None:
                    break
                conn.close()
    finally:
        with contextlib.suppress(FileNotFoundError, ValueError, OSError):
            if json.loads(marker.read_text()).get("pid") == os.getpid():
                marker.unlink()
        listener.close()
    request, conn = handed
    return _run(request, conn, folder)


def _get_ready(folder: Path, address: str) -> socket.socket:
    import logging

    os.environ.setdefault("RAY_task_events_shutdown_flush_timeout_ms", "0")  # as engine.executors
    import ray

    ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
    # what a run imports before its first step. Not the CLI's own modules (its Rich consoles look
    # at the terminal when they are made) nor Typer (it reads TERMINAL_WIDTH and TYPER_USE_RICH
    # when imported): those come after the hand-over, in the CLI's environment. Rich and Click
    # read nothing of it when imported.
    import click  # noqa: F401
    import rich.console  # noqa: F401
    import rich.live  # noqa: F401
    import rich.table  # noqa: F401

    import app.services.pipelines  # noqa: F401
    import app.services.runs  # noqa: F401
    import engine.executors  # noqa: F401
    import engine.scheduler  # noqa: F401
    from engine import duckdb_store

    duckdb_store.prepare()
    _warm_workers(ray)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    listener.bind(socket_name(folder))
    listener.listen(4)
    return listener


def _warm_workers(ray: Any) -> None:
    """Bind one Ray worker per CPU (at most 8) to this driver's job and have each import what a
    step's task imports: a worker takes the first task of a job only after loading that job's
    settings and importing the task's function (engine.handoff, the step runtime), ≈ 0.5 s here
    before a run's first step; this does it while no run waits."""
    cpus = max(1, min(int(ray.cluster_resources().get("CPU", 1)), 8))
    task = ray.remote(num_cpus=1, max_retries=0)(_ready_worker)
    with contextlib.suppress(Exception):  # a worker that cannot: the run's first step waits, as before
        ray.get([task.remote(0.3) for _ in range(cpus)], timeout=120)


def _ready_worker(hold: float) -> int:
    """In a Ray worker: import the step runtime, then hold the CPU a moment (so that each of the
    standby's warm-up tasks lands on another worker)."""
    import engine.handoff  # noqa: F401
    import engine.runtime  # noqa: F401

    time.sleep(hold)
    return os.getpid()


def _take(conn: socket.socket, folder: Path) -> tuple[dict[str, Any], socket.socket] | None:
    """Read a hand-over; answer ``ok`` and return it, or answer ``no`` and return ``None``."""
    conn.settimeout(10.0)
    pid, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    if uid != os.getuid():
        return None  # another user's process: not a word
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    try:
        while len(data) < _HEADER.size or len(data) < _HEADER.size + _HEADER.unpack_from(data)[0]:
            more = conn.recv(1 << 16)
            if not more:
                raise ValueError("the request ended early")
            data += more
        request = json.loads(data[_HEADER.size:_HEADER.size + _HEADER.unpack_from(data)[0]])
        if len(fds) != 3 or request.get("pid") != pid:
            raise ValueError("not a hand-over")
        if os.path.realpath(request["folder"]) != os.path.realpath(folder):
            raise ValueError(f"another workspace ({request['folder']})")
        # a run driver from here on, before the head is looked at (the keeper's race rule):
        # either the keeper sees this driver and stays, or this sees no head and declines
        drivers = folder / "drivers"
        drivers.mkdir(parents=True, exist_ok=True)
        (drivers / str(os.getpid())).write_text(str(time.time()))
        if not (folder / "head.json").exists():
            (drivers / str(os.getpid())).unlink()
            raise ValueError("the warm Ray is stopping")
    except (ValueError, KeyError, TypeError, OSError) as exc:
        for fd in fds:
            os.close(fd)
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"no": str(exc)}).encode() + b"\n")
        return None
    request["fds"] = fds
    conn.sendall(json.dumps({"ok": os.getpid()}).encode() + b"\n")
    return request, conn


def _run(request: dict[str, Any], conn: socket.socket, folder: Path) -> int:
    """Become the CLI process of the request, run the command, tell the CLI its status."""
    _die_with_parent(0)  # a driver now: it records its run's end even if the keeper goes
    for target, fd in enumerate(request["fds"]):
        os.dup2(fd, target, inheritable=True)
        os.close(fd)
    _adopt_environment(request["env"])
    os.chdir(request["cwd"])
    os.umask(int(request["umask"]))
    _reopen_std_streams()
    sys.argv = ["ductwork", *request["argv"]]
    answered = _watch(int(request["pid"]))
    code = 1
    try:
        from app.cli import cli, common

        code = common.run_cli(cli)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        answered.set()
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
    return code


def _adopt_environment(env: dict[str, str]) -> None:
    """Make this process's environment the CLI's, changing only what differs: Ray's threads run
    already, and C code reading the environment (``getenv``) while it is rewritten is a known
    way to crash a process, so the rewrite is as short as it can be. ``RAY_AUTH_MODE`` is kept
    when the CLI has none: the run's join sets it to the warm Ray's, which is this one."""
    keep = {"RAY_AUTH_MODE"} - set(env)
    for name in [n for n in os.environ if n not in env and n not in keep]:
        del os.environ[name]
    for name, value in env.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def _reopen_std_streams() -> None:
    """``sys.stdin/stdout/stderr`` over the handed descriptors, buffered as Python's start would
    make them for those files (a terminal: line-buffered)."""
    encoding = os.environ.get("PYTHONIOENCODING", "utf-8").split(":")[0] or "utf-8"
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        with contextlib.suppress(OSError, ValueError):
            tty = os.isatty(fd)
            stream = open(fd, mode, encoding=encoding, errors="backslashreplace" if fd == 2 else "strict",  # noqa: SIM115
                          buffering=-1, closefd=False, newline=None)
            if mode == "w":
                stream.reconfigure(line_buffering=tty or fd == 2)
            setattr(sys, name, stream)
            setattr(sys, f"__{name}__", stream)


def _watch(pid: int) -> threading.Event:
    """Kill this process (SIGKILL) when the CLI process ``pid`` dies before it is answered (set
    the returned event once it is)."""
    answered = threading.Event()
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        os.kill(os.getpid(), signal.SIGKILL)  # gone already
        raise

    def wait() -> None:
        select.select([pidfd], [], [])
        if not answered.is_set():
            os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=wait, name="ductwork-cli-watch", daemon=True).start()
    return answered


def _die_with_parent(sig: int = signal.SIGTERM) -> None:
    """``PR_SET_PDEATHSIG``: ``sig`` when the keeper dies (0: no longer)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG


def leave_now(code: int) -> None:
    """End a process that loaded Ray without finalising the interpreter (see ``app.cli.main``):
    other threads, then the log handlers, then the output buffers, then out."""
    import logging

    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    logging.shutdown()
    flush_and_leave(code)


def flush_and_leave(code: int) -> None:
    """The output buffers written out, then the process gone without finalising the interpreter."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def main() -> None:
    """``python -m app.standby FOLDER ADDRESS`` (started by the warm Ray's keeper)."""
    if len(sys.argv) != 3:
        sys.stderr.write("usage: python -m app.standby RAY_FOLDER ADDRESS (the warm Ray's keeper starts it)\n")
        sys.exit(2)
    leave_now(serve(Path(sys.argv[1]).resolve(), sys.argv[2]))


if __name__ == "__main__":
    main()
