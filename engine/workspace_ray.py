"""The workspace's warm Ray: one local Ray node kept running between runs, so that a rerun
after a small change does not pay Ray's start (≈ 4–5 s here) and stop (≈ 1.5–2 s) again.

Without it each run's driver starts its own embedded Ray and shuts it down when it ends
(issue #3's default: nothing is left behind). That is right for one-off runs and for CI,
but a data scientist who changes a learning rate and reruns waits ≈ 7 s longer than the
steps that had to run; for the text template that made the rerun 1.29× the re-run steps'
own time (bench/incremental.py).

Who owns it: a *keeper* process (``python -m engine.workspace_ray keep``), started in its
own session by ``ductwork ray start`` or by the first ``ductwork run --warm`` (the app's
runs pass it), owns the Ray node: it is the Ray node's first driver, so the node lives
exactly as long as the keeper. The keeper stops Ray and exits after ``idle_s`` seconds in
which no run used it, on SIGTERM (``ductwork ray stop``), and Ray's own processes go with
it. Everything about it lives in ``<workspace>/ray/``:

- ``head.json``: address, keeper pid and start time, idle limit, CPUs, Ray's temp folder;
  written once Ray is up (atomically), removed when it stops;
- ``drivers/<pid>``: one file per run driver on it, written before the driver joins and
  removed when it ends; a dead driver's file counts for nothing;
- ``keeper.log``: the keeper's output; ``lock``: serialises starting.

Joining and idle-stopping cannot race: a driver writes its ``drivers/`` file *before* it
reads ``head.json``, and the keeper renames ``head.json`` away *before* it looks at
``drivers/`` a last time, so either the keeper sees the driver (and stays) or the driver
sees no head (and starts its own embedded Ray).

This module does not import Ray; only the keeper process does.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.errors import DuctworkError
from engine.processes import process_alive, process_started

__all__ = ["DEFAULT_IDLE_S", "Head", "WorkspaceRay"]

_UNSET = object()

DEFAULT_IDLE_S = 15 * 60.0
POLL_S = 0.25  #: how often the keeper looks at its drivers (a directory listing)
READY_CHECK_S = 5.0  #: how often, while idle, it checks that its ready workers are still there
START_TIMEOUT_S = 180.0
OBJECT_STORE_MEMORY = 256 * 2**20  #: as the embedded Ray (engine.executors.RayExecutor)
MAX_READY_WORKERS = 8  #: idle workers kept started between runs: one per CPU, at most this many


@dataclass(frozen=True)
class Head:
    """A running warm Ray, as its keeper recorded it."""

    address: str
    pid: int
    created: float  #: the keeper's process start time (tells a reused pid from the keeper)
    started_at: float
    idle_s: float
    num_cpus: int
    temp_dir: str
    auth_mode: str  #: Ray's RAY_AUTH_MODE in the keeper ("token" unless the user disabled it)
    host: str  #: the keeper's machine: a workspace on shared storage is seen from other hosts too

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class WorkspaceRay:
    """The warm Ray of the workspace whose ``ray/`` folder is ``folder``."""

    def __init__(self, folder: str | os.PathLike[str], standby: str | None = None):
        self.folder = Path(folder)
        #: the module a keeper this starts runs as its standby driver (``python -m MODULE FOLDER
        #: ADDRESS``: see app/standby.py); ``None``: no standby
        self.standby = standby
        self.head_path = self.folder / "head.json"
        self.drivers_dir = self.folder / "drivers"
        self.log_path = self.folder / "keeper.log"
        self.started: Head | None = None  #: set by :meth:`start` when it started a keeper (not found one)
        self._auth_before: Any = _UNSET  #: ``RAY_AUTH_MODE`` before :meth:`join` set it

    # ------------------------------------------------------------------ reading
    def head(self) -> Head | None:
        """The running warm Ray, or ``None`` (a stale ``head.json`` of a dead keeper is removed)."""
        try:
            data = json.loads(self.head_path.read_text())
            head = Head(**data)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, OSError):
            return None  # being written or damaged: not usable
        if head.host != socket.gethostname():
            return None  # another machine's warm Ray (its pid means nothing here)
        created = process_started(head.pid)
        if created is None or abs(created - head.created) > 1.0 or not process_alive(head.pid):
            with contextlib.suppress(FileNotFoundError):
                self.head_path.unlink()
            return None
        return head

    def drivers(self) -> list[int]:
        """Pids of the live run drivers using it (files of dead ones are removed)."""
        pids: list[int] = []
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.drivers_dir):
                try:
                    pid = int(entry.name)
                except ValueError:
                    continue
                if process_alive(pid):
                    pids.append(pid)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
        return sorted(pids)

    def status(self) -> dict[str, Any]:
        head = self.head()
        if head is None:
            return {"running": False, "folder": str(self.folder)}
        return {"running": True, "folder": str(self.folder), **head.to_dict(), "drivers": self.drivers(),
                "standby": self.standby_pid(), "log": str(self.log_path)}

    def standby_pid(self) -> int | None:
        """The pid of the standby driver listening for the next run, if one is."""
        try:
            pid = int(json.loads((self.folder / "standby.json").read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return pid if process_alive(pid) else None

    # ------------------------------------------------------------------ starting
    def start(self, idle_s: float = DEFAULT_IDLE_S, num_cpus: int | None = None,
              timeout: float = START_TIMEOUT_S) -> Head:
        """The running warm Ray, started first if there is none (waits until it answers)."""
        if idle_s <= 0:
            raise DuctworkError(f"the idle time must be positive, not {idle_s:g} s")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.started = None
        with open(self.folder / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            head = self.head()
            if head is not None:
                return head
            cpus = num_cpus or os.cpu_count() or 1
            command = [sys.executable, "-m", "engine.workspace_ray", "keep", str(self.folder.resolve()),
                       "--idle", f"{idle_s:g}", "--cpus", str(cpus), *(["--standby", self.standby] if self.standby else [])]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)}
            env.pop("RAY_ADDRESS", None)
            with open(self.log_path, "ab") as log:
                keeper = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True, close_fds=True, env=env)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                head = self.head()
                if head is not None:
                    self.started = head
                    return head
                if keeper.poll() is not None:
                    raise DuctworkError(
                        f"the workspace's Ray did not start (its keeper exited with {keeper.returncode}). "
                        f"Its log, {self.log_path}, ends with:\n{self._log_tail()}")
                time.sleep(0.1)
            keeper.terminate()
            raise DuctworkError(f"the workspace's Ray did not start within {timeout:g} s; see {self.log_path}")

    def _log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    # ------------------------------------------------------------------ stopping
    def stop(self, force: bool = False, timeout: float = 60.0) -> bool:
        """Stop the warm Ray; ``False`` if none was running. Refused while runs use it,
        unless ``force`` (their running steps then fail)."""
        head = self.head()
        if head is None:
            return False
        users = self.drivers()
        if users and not force:
            raise DuctworkError(
                f"the workspace's Ray is in use by {len(users)} run driver(s) (pids {', '.join(map(str, users))}); "
                "wait for those runs or cancel them (`ductwork runs cancel RUN_ID`), or stop it anyway with --force")
        with contextlib.suppress(ProcessLookupError):
            os.kill(head.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process_alive(head.pid):
            time.sleep(0.1)
        if process_alive(head.pid):  # it did not stop in time: its whole session goes (Ray's processes too)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(head.pid, signal.SIGKILL)
        for path in (self.head_path, self.folder / "head.json.stopping"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return True

    # ------------------------------------------------------------------ drivers
    def join(self, start: bool = False, idle_s: float = DEFAULT_IDLE_S) -> str | None:
        """Register this process as a driver and return the warm Ray's address, starting it
        first when ``start``; ``None`` (and not registered) when there is none to join.
        Call :meth:`leave` when the run ends.

        It also sets ``RAY_AUTH_MODE`` to the keeper's, which Ray reads when it is first
        imported: a client that connects with token authentication disabled is refused by a
        cluster that has it (Ray's default for a local cluster), even with the token at hand."""
        self.drivers_dir.mkdir(parents=True, exist_ok=True)
        mine = self.drivers_dir / str(os.getpid())
        mine.write_text(str(time.time()))  # before reading the head: see the module's note on races
        try:
            head = self.start(idle_s=idle_s) if start else self.head()
        except BaseException:
            self.leave()
            raise
        if head is None:
            self.leave()
            return None
        self._auth_before = os.environ.get("RAY_AUTH_MODE")
        os.environ["RAY_AUTH_MODE"] = head.auth_mode
        return head.address

    def leave(self) -> None:
        """Unregister this driver, and give back the ``RAY_AUTH_MODE`` it had before it joined: a
        long-lived process (the app, a notebook) that starts an embedded Ray later must not start
        it with this warm Ray's auth mode."""
        with contextlib.suppress(FileNotFoundError):
            (self.drivers_dir / str(os.getpid())).unlink()
        if self._auth_before is not _UNSET:
            if self._auth_before is None:
                os.environ.pop("RAY_AUTH_MODE", None)
            else:
                os.environ["RAY_AUTH_MODE"] = self._auth_before
            self._auth_before = _UNSET


_ROOT = str(Path(__file__).resolve().parent.parent)


# ---------------------------------------------------------------------- the keeper process
def keep(folder: Path, idle_s: float, num_cpus: int, standby: str | None = None) -> int:
    """Own a local Ray node until it has been idle for ``idle_s`` seconds or a signal comes;
    with ``standby``, keep one standby driver (``python -m STANDBY FOLDER ADDRESS``) listening."""
    import logging
    import shutil

    import ray

    wr = WorkspaceRay(folder)
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    me = os.getpid()
    temp_dir = f"/tmp/ductwork-ray-ws-{me}"  # short: Unix socket paths are limited to 107 bytes
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, _temp_dir=temp_dir,
             object_store_memory=OBJECT_STORE_MEMORY, log_to_driver=False, logging_level=logging.ERROR,
             configure_logging=True)
    stopping = folder / "head.json.stopping"
    spare: Standby | None = None
    lock = open(folder / "lock", "a")  # noqa: SIM115 - held from the decision to stop until Ray is gone
    try:
        head = Head(address=ray.get_runtime_context().gcs_address, pid=me, created=process_started(me) or 0.0,
                    started_at=time.time(), idle_s=idle_s, num_cpus=num_cpus, temp_dir=temp_dir,
                    auth_mode=os.environ.get("RAY_AUTH_MODE", "disabled"), host=socket.gethostname())
        partial = folder / f"head.json.{me}"
        partial.write_text(json.dumps(head.to_dict()))
        os.replace(partial, wr.head_path)
        _log(f"warm Ray up at {head.address} (pid {me}, {num_cpus} CPUs, stops after {idle_s:g} s idle)")
        ready = ReadyWorkers.open(ray, min(num_cpus, MAX_READY_WORKERS))
        spare = Standby(folder, head.address, standby) if standby else None
        idle_since = checked = time.monotonic()
        while not stop.wait(POLL_S):
            if not wr.head_path.exists():
                _log("head.json was removed: stopping")
                break
            if spare is not None:
                spare.reap()
            if wr.drivers():
                idle_since = time.monotonic()
                continue
            if spare is not None:
                spare.keep_one()  # while no run is on the node: its start takes CPU from no step
            if ready is not None and (idle_since >= checked or time.monotonic() - checked >= READY_CHECK_S):
                ready.top_up()  # at once when the last run left, and now and then while idle
                checked = time.monotonic()
            if time.monotonic() - idle_since < idle_s:
                continue
            try:  # a run that is starting it holds the lock: look again later
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            os.replace(wr.head_path, stopping)  # no new driver can join from here on…
            if wr.drivers():  # …but one may have joined just before
                os.replace(stopping, wr.head_path)
                fcntl.flock(lock, fcntl.LOCK_UN)
                idle_since = time.monotonic()
                continue
            _log(f"idle for {idle_s:g} s: stopping")
            break
    finally:
        if spare is not None:
            spare.stop(serving=set(wr.drivers()))
        fcntl.flock(lock, fcntl.LOCK_EX)  # `start` waits until this Ray is gone before starting another
        try:
            for path in (wr.head_path, stopping):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            ray.shutdown()
            shutil.rmtree(temp_dir, ignore_errors=True)
            _log("warm Ray stopped")
        finally:
            lock.close()
    return 0


class Standby:
    """The keeper's one standby driver (app/standby.py): a process that has imported Ray and
    joined this node, waiting for the next ``ductwork run`` to be handed to it. It serves one
    command and exits; the keeper starts the next one when no run is on the node. One that
    fails to get ready (exit status 3) is retried twice, then no more (the log says why)."""

    FAILED = 3  #: app.standby.SERVE_FAILED
    MAX_FAILURES = 3

    def __init__(self, folder: Path, address: str, module: str):
        self.folder, self.address, self.module = folder, address, module
        self.process: subprocess.Popen | None = None
        self.failures = 0

    def reap(self) -> None:
        """Forget a standby that has exited (it served a command, or failed to get ready)."""
        if self.process is None or self.process.poll() is None:
            return
        if self.process.returncode == self.FAILED:
            self.failures += 1
            if self.failures >= self.MAX_FAILURES:
                _log(f"the standby driver failed to get ready {self.failures} times: runs join Ray themselves")
        self.process = None

    def keep_one(self) -> None:
        if self.process is not None or self.failures >= self.MAX_FAILURES:
            return
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)}
        with open(self.folder / "keeper.log", "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", self.module, str(self.folder), self.address],
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            close_fds=True, env=env)

    def stop(self, serving: set[int]) -> None:
        """End the standby that is waiting (one serving a run is that run's driver: Ray's end fails its steps)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None or process.pid in serving:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ReadyWorkers:
    """Idle Ray worker processes kept started on the warm node between runs.

    Ray binds a worker process to the job of the first task it runs and ends it when that
    job's driver disconnects, so every run (one driver, one job) would wait for fresh workers:
    ≈ 1 s here, most of it Python importing Ray in the new process, before its first step
    starts. Workers that the raylet starts *without* a job are handed to whichever job asks
    first, which is how the node's first driver gets its workers at once. Whenever no run is
    on the node, the keeper asks the raylet (its ``PrestartWorkers`` call) for such workers
    until ``target`` of them are idle or starting, so the next run's first step starts in a
    process that is already up. It never starts them while a run is on the node: a starting
    worker takes a CPU for ≈ 0.7 s, which belongs to the run's steps then.

    Both calls are the raylet's gRPC API, not a public Ray API: if they cannot be made (Ray
    changed them, ``grpcio`` missing) the keeper says so once in its log and runs go on
    starting their own workers, as before.
    """

    def __init__(self, raylet: Any, stub: Any, messages: Any, target: int):
        self.raylet = raylet  #: psutil.Process of the node's raylet (the workers' parent)
        self.stub = stub  #: the raylet's NodeManagerService
        self.messages = messages  #: (node_manager_pb2, common_pb2)
        self.target = target

    @classmethod
    def open(cls, ray: Any, target: int) -> ReadyWorkers | None:
        if target < 1:
            return None
        try:
            import psutil
            from ray._private.grpc_utils import init_grpc_channel
            from ray.core.generated import common_pb2, node_manager_pb2, node_manager_pb2_grpc

            node_id = ray.get_runtime_context().get_node_id()
            node = next(n for n in ray.nodes() if n.get("NodeID") == node_id)
            raylet = next(c for c in psutil.Process().children() if c.name() == "raylet")
            channel = init_grpc_channel(f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}")
            ready = cls(raylet, node_manager_pb2_grpc.NodeManagerServiceStub(channel),
                        (node_manager_pb2, common_pb2), target)
            ready.count()  # fail here, once, if the raylet does not answer as expected
        except Exception as exc:  # noqa: BLE001 - any missing piece: runs start their own workers
            _log(f"idle workers will not be kept started between runs ({type(exc).__name__}: {exc})")
            return None
        return ready

    def count(self) -> int:
        """Workers that the next run can take at once: registered workers bound to no job yet,
        plus worker processes still starting (not registered yet)."""
        import psutil

        node_manager_pb2, common_pb2 = self.messages
        stats = self.stub.GetNodeStats(node_manager_pb2.GetNodeStatsRequest(), timeout=10)
        registered = set()
        free = 0
        for worker in stats.core_workers_stats:
            registered.add(worker.pid)
            if worker.worker_type == common_pb2.WORKER and not worker.actor_id and _is_nil(worker.job_id):
                free += 1
        starting = 0
        with contextlib.suppress(psutil.Error):
            for child in self.raylet.children():
                if child.pid in registered:
                    continue
                with contextlib.suppress(psutil.Error):
                    cmd = child.cmdline()
                    if any(part.endswith("default_worker.py") for part in cmd) and \
                            not any(part.startswith("--worker-type=") for part in cmd):  # not a spill worker
                        starting += 1
        return free + starting

    def top_up(self) -> None:
        """Start workers until ``target`` are ready; after a failure, never again."""
        if self.target < 1:
            return
        node_manager_pb2, common_pb2 = self.messages
        try:
            missing = self.target - self.count()
            if missing > 0:
                self.stub.PrestartWorkers(node_manager_pb2.PrestartWorkersRequest(
                    language=common_pb2.PYTHON, num_workers=missing), timeout=10)
        except Exception as exc:  # noqa: BLE001 - the raylet refused or is going away: try no more
            _log(f"could not keep idle workers started ({type(exc).__name__}: {exc}); runs start their own")
            self.target = 0


def _is_nil(job_id: bytes) -> bool:
    return not job_id or set(job_id) == {0xFF}


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}", flush=True)


def _main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m engine.workspace_ray")
    sub = parser.add_subparsers(dest="command", required=True)
    k = sub.add_parser("keep", help="own the workspace's warm Ray (started by `ductwork ray start`)")
    k.add_argument("folder", type=Path)
    k.add_argument("--idle", type=float, default=DEFAULT_IDLE_S)
    k.add_argument("--cpus", type=int, default=os.cpu_count() or 1)
    k.add_argument("--standby", default=None, help="the module to run as the standby driver (app.standby)")
    args = parser.parse_args(argv)
    return keep(args.folder.resolve(), args.idle, args.cpus, args.standby)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
