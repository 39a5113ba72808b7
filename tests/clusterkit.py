"""Real parts for the cluster tests: an S3-compatible server and a three-node Ray cluster on
this machine, each started as its own processes and stopped by their own pids.

Why real processes rather than ``ray.cluster_utils.Cluster`` or moto's in-process mock: the
promise under test is that *nothing assumes a shared disk*, that a dead machine fails its
step clearly, and that a store that cannot be reached is an error before anything runs.
Only nodes started by ``ray start`` in their own mount namespace (where the driver's
workspace folder does not exist), nodes that can be SIGKILLed, and a server that can be
killed show that.

Use::

    from clusterkit import ray_cluster, s3_server  # noqa: F401  (pytest finds fixtures by name)

    def test_x(ray_cluster, s3_server):
        home = ray_cluster.hidden / "ws"          # a workspace the workers cannot see
        bucket = s3_server.make_bucket("art")     # "s3://art"
        env = {**ray_cluster.env, **s3_server.env}  # what a driver process needs

Everything a fixture starts is its own process group (``start_new_session``); teardown
sends SIGTERM to each group, SIGKILL after a few seconds, then kills by pid whatever process
still names the fixture's own temporary folder (each has a unique one) and fails the test
session if something survived. A small reaper process started beside each cluster does the same
if the test process itself dies first (SIGKILL, a hard timeout). Never ``ray stop`` (it stops every Ray on the machine) and
never a kill by process name: other engineers' and other tests' Rays run beside these.

Measured here (2 cores, shared with other engineers' runs): the head is up after ≈ 8 s, both
workers ≈ 6 s later (started together), all three alive in 12.6–22 s (typically ≈ 13–17 s), which
the ``ray_cluster`` fixture pays once per test run (one cluster shared by the cluster modules); stopping it takes ≈ 3–4 s (Ray's own
SIGTERM handling takes > 10 s, so SIGKILL follows after 3 s); kill_node + restart_node ≈ 8–15 s.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

__all__ = ["S3Server", "LoopbackCluster", "NodeShape", "SHAPES", "s3_server", "ray_cluster", "free_port",
           "unshare_problem", "shared_cluster", "shared_cluster_running", "stop_shared_cluster"]

REPO = Path(__file__).resolve().parent.parent
_BIN = Path(sys.executable).parent
RAY = str(_BIN / "ray")
START_TIMEOUT_S = 120.0
TERM_GRACE_S = 3.0  #: how long a process group gets after SIGTERM before SIGKILL


def free_port() -> int:
    """A TCP port nothing listens on now (the usual bind-to-0 race: a caller retries on a clash)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _kill_group(popen: subprocess.Popen, grace: float = TERM_GRACE_S) -> None:
    """SIGTERM the process group that ``popen`` leads, SIGKILL it after ``grace`` seconds, reap the leader.

    The group is signalled even when its leader is already gone: its children may not be."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, sig)
        try:
            popen.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:  # the leader is gone; whatever is left of its group goes too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(popen.pid, signal.SIGKILL)
        return


def _leftovers(marker: str | None, known: Mapping[int, psutil.Process]) -> list[psutil.Process]:
    """Live processes that are one of ``known`` (by pid *and* start time, so a reused pid is not
    mistaken) or whose command line names ``marker`` (a fixture's own unique folder)."""
    found: dict[int, psutil.Process] = {p.pid: p for p in known.values() if _alive(p)}
    for process in psutil.process_iter(["pid", "cmdline"]) if marker else ():
        if process.pid in found or process.pid == os.getpid():
            continue
        cmdline = " ".join(process.info.get("cmdline") or [])
        if marker in cmdline and _alive(process):
            found[process.pid] = process
    return list(found.values())


def _sweep(marker: str | None, known: Mapping[int, psutil.Process]) -> list[str]:
    """SIGKILL, by pid, what :func:`_leftovers` finds still alive a few seconds after its group was
    killed (a process may still be exiting then); returns what had to be killed (for the failure message)."""
    _, left = psutil.wait_procs(_leftovers(marker, known), timeout=5)
    left = [p for p in left if _alive(p)]
    killed = []
    for process in left:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            killed.append(f"{process.pid} {' '.join(process.cmdline())[:160]}")
            process.kill()
    psutil.wait_procs(left, timeout=5)
    return killed


def _wait_http(url: str, popen: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"{popen.args} exited with {popen.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers (an error status is still an answer)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s:\n{_tail(log)}")


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


# ---------------------------------------------------------------------------- S3
class S3Server:
    """moto's S3-compatible server on 127.0.0.1, in its own process (a test can :meth:`kill`
    it to make the store unreachable). Clients find it through :attr:`env`, the standard AWS
    variables ``AWS_ENDPOINT_URL`` included, as any boto3/s3fs client does."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log_path = self.folder / "moto.log"
        self.port = 0
        self._popen: subprocess.Popen | None = None
        self._known: dict[int, psutil.Process] = {}

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """What a client process needs to reach this server (credentials are moto's dummies)."""
        return {"AWS_ENDPOINT_URL": self.endpoint_url, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    def start(self) -> S3Server:
        for _ in range(3):  # a port taken between free_port() and the bind: try another
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self._popen = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                    env={**os.environ, **self.env})
            self._known[self._popen.pid] = psutil.Process(self._popen.pid)
            try:
                _wait_http(self.endpoint_url, self._popen, self.log_path)
                return self
            except RuntimeError:
                self.kill()
        raise RuntimeError(f"moto server did not start:\n{_tail(self.log_path)}")

    def make_bucket(self, name: str) -> str:
        """Create bucket ``name`` (one that exists is fine) and return ``s3://name``."""
        request = urllib.request.Request(f"{self.endpoint_url}/{name}", method="PUT")
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as exc:
            if exc.code != 409:  # BucketAlreadyOwnedByYou
                raise
        return f"s3://{name}"

    def kill(self) -> None:
        """SIGKILL the server now (an unreachable store); :meth:`start` starts a fresh, empty one."""
        if self._popen is not None:
            _kill_group(self._popen, grace=0.0)

    def stop(self) -> None:
        """Stop the server; what it started is gone afterwards (asserted)."""
        if self._popen is not None:
            _kill_group(self._popen, grace=2.0)
            self._popen = None
        killed = _sweep(None, self._known)  # moto runs no children (no --reload): its own pids suffice
        assert not killed, f"moto server processes survived their stop (now killed): {killed}"


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    """A moto S3 server on loopback for the module; create buckets with ``make_bucket``."""
    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------- Ray
@dataclass(frozen=True)
class NodeShape:
    """One node of the loopback cluster: what ``ray start`` advertises, and whether it runs where
    the driver's workspace (``LoopbackCluster.hidden``) is hidden."""

    name: str
    cpus: int = 1
    gpus: int = 0
    resources: Mapping[str, float] = field(default_factory=dict)
    head: bool = False
    hidden: bool = True  #: in its own mount namespace with ``hidden`` covered by an empty tmpfs


#: The shapes of issue #12: a head (not hidden: it may share the driver's disk, as a head
#: started on a team's login machine does), a high-memory CPU worker and a GPU worker
#: (``--num-gpus 1`` on a machine without one: Ray only counts it).
SHAPES = (NodeShape("head", resources={"head": 1}, head=True, hidden=False),
          NodeShape("highmem", resources={"highmem": 1}),
          NodeShape("gpu", gpus=1))

# Waits, from a short-lived driver process, until every named node is alive (or, with
# "dead", until each is dead), and prints {name: node id} of the live ones. Matching by
# NodeName (``ray start --node-name``): after a restart the dead node keeps its name.
_WAIT_NODES = r"""
import json, sys, time
import ray
address, want, mode, timeout = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], float(sys.argv[4])
ray.init(address=address, logging_level="ERROR", log_to_driver=False)
deadline = time.monotonic() + timeout
while True:
    nodes = ray.nodes()
    alive = {n["NodeName"]: n["NodeID"] for n in nodes if n["Alive"]}
    dead = {n["NodeID"] for n in nodes if not n["Alive"]}
    if mode == "alive":
        done = all(name in alive and alive[name] not in want.get("not", []) for name in want["names"])
    else:
        done = all(node_id in dead for node_id in want["ids"])
    if done or time.monotonic() > deadline:
        break
    time.sleep(0.2)
print("CLUSTERKIT " + json.dumps({"alive": alive, "done": done}))
ray.shutdown()
"""


# Started beside a cluster: when the test process dies without stopping it (SIGKILL, a hard
# timeout), this kills every process that names the cluster's folder, and removes the folder.
_REAPER = r"""
import os, shutil, sys, time
import psutil
parent, base, me = int(sys.argv[1]), sys.argv[2], os.getpid()
try:
    watched = psutil.Process(parent)
    while watched.is_running() and watched.status() != psutil.STATUS_ZOMBIE:
        time.sleep(1)
except psutil.NoSuchProcess:
    pass
for process in psutil.process_iter(["pid", "cmdline"]):
    if process.pid != me and base in " ".join(process.info["cmdline"] or []):
        try:
            process.kill()
        except psutil.Error:
            pass
shutil.rmtree(base, ignore_errors=True)
"""


def unshare_problem(folder: Path) -> str | None:
    """Why a worker cannot be started with ``folder`` hidden (``None`` when it can): runs the
    exact ``unshare --mount`` + ``mount -t tmpfs`` the workers use, on a file only the host has."""
    if shutil.which("unshare") is None:
        return "the 'unshare' command is not installed (util-linux)"
    probe = folder / ".clusterkit-probe"
    probe.write_text("host only")
    try:
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             f'mount -t tmpfs none "{folder}" && test ! -e "{probe}"'],
            capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare --mount failed: {exc}"
    finally:
        probe.unlink(missing_ok=True)
    if done.returncode != 0:
        return (f"unshare --mount + mount -t tmpfs is not permitted here (exit {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()[:300]}); it needs root or CAP_SYS_ADMIN")
    return None


class RayNode:
    """One ``ray start --block`` process (its own session and process group) and its folders."""

    def __init__(self, shape: NodeShape, base: Path):
        self.shape = shape
        #: Ray's temp folder of this node (``--temp-dir``; Ray 2.60 honours it on workers too).
        #: Short on purpose: Ray's Unix socket paths under it must stay under 107 bytes.
        self.temp_dir = base / shape.name
        self.cache_dir = base / "cache" / shape.name  #: DUCTWORK_NODE_CACHE of this node
        self.log_path = base / f"{shape.name}.log"
        self.popen: subprocess.Popen | None = None
        self.known: dict[int, psutil.Process] = {}  #: every process of this node seen so far, by pid

    def command(self, port: int, hidden: Path) -> list[str]:
        shape = self.shape
        args = [RAY, "start", "--block", "--node-ip-address", "127.0.0.1", "--node-name", shape.name,
                "--num-cpus", str(shape.cpus), "--num-gpus", str(shape.gpus),
                "--temp-dir", str(self.temp_dir), "--object-store-memory", "100000000", "--disable-usage-stats",
                # fixed defaults (8265, 10001, 52365) would clash with any other Ray on this machine
                "--dashboard-agent-listen-port", str(free_port())]
        if shape.resources:
            args += ["--resources", json.dumps(dict(shape.resources))]
        if shape.head:  # --port and --include-dashboard are refused on a worker
            args += ["--head", "--port", str(port), "--include-dashboard=false",
                     "--dashboard-port", str(free_port()), "--ray-client-server-port", str(free_port())]
        else:
            args += ["--address", f"127.0.0.1:{port}"]
        if not shape.hidden:
            return args
        # unshare (without --fork) and sh both exec: the pid started is ray's own process
        script = f'mount -t tmpfs none "{hidden}" && exec "$@"'
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *args]

    def start(self, port: int, hidden: Path, env: Mapping[str, str]) -> None:
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.command(port, hidden), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, env={**env, "DUCTWORK_NODE_CACHE": str(self.cache_dir)})
        self.remember()

    def remember(self) -> None:
        """Record the node's processes now (its ``ray start`` and every descendant), so that teardown
        finds them by pid even after they were re-parented."""
        if self.popen is None:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            leader = psutil.Process(self.popen.pid)
            for process in [leader, *leader.children(recursive=True)]:
                self.known.setdefault(process.pid, process)

    def kill(self, grace: float) -> None:
        if self.popen is not None:
            self.remember()
            _kill_group(self.popen, grace=grace)
            for process in self.known.values():  # a descendant that left the group (setsid) too
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    if _alive(process):
                        process.kill()

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


class LoopbackCluster:
    """A Ray cluster of real ``ray start`` nodes on this machine: a head and workers of different
    shapes (:data:`SHAPES`), each with its own temp folder, node cache and process group.

    Attributes a test uses: ``address`` (``127.0.0.1:PORT``, the GCS), ``hidden`` (a folder the
    workers cannot see: put the driver's workspace under it), ``node_ids`` (name → node id hex),
    ``node_cache`` (name → that node's ``DUCTWORK_NODE_CACHE``), ``temp_dirs`` (name → Ray's temp
    folder of that node), ``env`` (what a driver process needs), and ``kill_node``,
    ``restart_node``, ``connected``, ``stop``.

    Worth knowing:

    - Ray on Linux replaces a loopback ``--node-ip-address`` by the machine's own address
      (``services.resolve_ip_for_localhost``), so ``ray.nodes()`` lists that address (here
      192.0.2.2) for every node; the GCS listens on every interface, so ``127.0.0.1:PORT`` works.
    - Token authentication (Ray 2.60's default for a new local cluster) is on, with a token of
      this cluster's own in ``RAY_AUTH_TOKEN``: every node and driver gets it through the
      environment (``env``), so ``~/.ray/auth_token`` is neither read nor written.
    - Ray workers inherit their raylet's environment: ``DUCTWORK_NODE_CACHE`` set on a node's
      ``ray start`` is what a task on that node sees (checked in tests/test_clusterkit.py).
    - The GCS is told to notice a dead node within ≈ 3 s (health checks every 1 s, 3 misses)
      instead of Ray's ≈ 15–30 s, so that a killed worker is seen as dead while a test waits.
    """

    def __init__(self, base: Path | None = None, shapes: tuple[NodeShape, ...] = SHAPES):
        #: one unique, short folder per cluster under /tmp: Unix socket paths under a node's temp
        #: folder must stay under 107 bytes, and its name marks this cluster's processes
        self.base = Path(base) if base is not None else Path(tempfile.mkdtemp(prefix="dw-rc-", dir="/tmp"))
        self.hidden = self.base / "hidden"
        self.hidden.mkdir(parents=True, exist_ok=True)
        self.nodes = {shape.name: RayNode(shape, self.base) for shape in shapes}
        self.port = 0
        self.token = secrets.token_hex(16)
        self.node_ids: dict[str, str] = {}
        self.started_s = 0.0  #: seconds the last start took (all nodes alive)
        self._stopped = False
        self._reaper: subprocess.Popen | None = None  #: stops the cluster if this process dies first

    # -------------------------------------------------------------- what tests read
    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def node_cache(self) -> dict[str, Path]:
        return {name: node.cache_dir for name, node in self.nodes.items()}

    @property
    def temp_dirs(self) -> dict[str, Path]:
        return {name: node.temp_dir for name, node in self.nodes.items()}

    @property
    def env(self) -> dict[str, str]:
        """The variables a driver process needs to join this cluster (add them to ``os.environ``)."""
        return {"RAY_ADDRESS": self.address, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    def _node_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "DUCTWORK_"))}
        env.update(self.env, RAY_health_check_period_ms="1000", RAY_health_check_timeout_ms="1000",
                   RAY_health_check_failure_threshold="3", RAY_USAGE_STATS_ENABLED="0")
        env.pop("RAY_ADDRESS")
        return env

    # -------------------------------------------------------------- starting
    def start(self, timeout: float = START_TIMEOUT_S) -> LoopbackCluster:
        """Start the head, then every worker at once; returns when the cluster sees all of them alive."""
        problem = unshare_problem(self.hidden) if any(n.shape.hidden for n in self.nodes.values()) else None
        if problem:
            print(f"clusterkit: cannot hide the driver's folder from the workers: {problem}", file=sys.stderr)
            pytest.skip(f"loopback cluster needs a mount namespace per worker: {problem}")
        began = time.monotonic()
        self._reaper = subprocess.Popen([sys.executable, "-c", _REAPER, str(os.getpid()), str(self.base)],
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        head = next(n for n in self.nodes.values() if n.shape.head)
        self.port = free_port()
        head.start(self.port, self.hidden, self._node_env())
        self._wait_started(head, began + timeout)
        for node in self.nodes.values():
            if node is not head:
                node.start(self.port, self.hidden, self._node_env())
        self.node_ids = self._wait_alive(list(self.nodes), timeout=max(1.0, began + timeout - time.monotonic()))
        for node in self.nodes.values():
            node.remember()
        self.started_s = time.monotonic() - began
        _atexit_stop.add(self)
        return self

    def _wait_started(self, node: RayNode, deadline: float) -> None:
        """Until ``ray start`` says it started (its log), or fail with the log's tail."""
        while time.monotonic() < deadline:
            if node.popen.poll() is not None:
                raise RuntimeError(f"ray start of node '{node.shape.name}' exited with {node.popen.returncode}:\n"
                                   f"{_tail(node.log_path)}")
            if "Ray runtime started" in node.log_path.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"node '{node.shape.name}' did not start in time:\n{_tail(node.log_path)}")

    def _probe_nodes(self, want: dict[str, Any], mode: str, timeout: float) -> dict[str, Any]:
        env = {**self._node_env(), **self.env, "PYTHONPATH": str(REPO)}
        done = subprocess.run([sys.executable, "-c", _WAIT_NODES, self.address, json.dumps(want), mode, str(timeout)],
                              capture_output=True, text=True, env=env, timeout=timeout + 60)
        for line in done.stdout.splitlines():
            if line.startswith("CLUSTERKIT "):
                return json.loads(line[len("CLUSTERKIT "):])
        raise RuntimeError(f"cannot ask the cluster at {self.address} for its nodes:\n{done.stderr[-3000:]}")

    def _wait_alive(self, names: list[str], timeout: float, not_ids: list[str] = ()) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        for name in names:
            node = self.nodes[name]
            if node.popen is not None and node.popen.poll() is not None:
                raise RuntimeError(f"node '{name}' exited with {node.popen.returncode}:\n{_tail(node.log_path)}")
        answer = self._probe_nodes({"names": names, "not": list(not_ids)}, "alive", max(1.0, deadline - time.monotonic()))
        if not answer["done"]:
            logs = "\n".join(f"--- {n}\n{_tail(self.nodes[n].log_path, 15)}" for n in names)
            raise RuntimeError(f"nodes {names} not all alive within {timeout:g} s (alive: {answer['alive']}):\n{logs}")
        return {name: answer["alive"][name] for name in names}

    # -------------------------------------------------------------- faults
    def kill_node(self, name: str, wait: bool = True, timeout: float = 60.0) -> None:
        """SIGKILL node ``name``'s whole process group at once, as a machine that dies does (no
        goodbye to the GCS); with ``wait``, until the cluster lists that node as dead."""
        node = self.nodes[name]
        node.kill(grace=0.0)
        if wait and name in self.node_ids:
            answer = self._probe_nodes({"ids": [self.node_ids[name]]}, "dead", timeout)
            if not answer["done"]:
                raise RuntimeError(f"the cluster still lists node '{name}' as alive {timeout:g} s after its kill")

    def restart_node(self, name: str, timeout: float = START_TIMEOUT_S) -> str:
        """Start node ``name`` again with the same resources, temp folder and node cache (a rebooted
        machine keeps its disk); returns its new node id once the cluster lists it alive."""
        node = self.nodes[name]
        if node.shape.head:
            raise ValueError("restarting the head is not supported: the workers would have to rejoin it")
        if node.running:
            node.kill(grace=TERM_GRACE_S)
        old = self.node_ids.get(name)
        node.start(self.port, self.hidden, self._node_env())
        self.node_ids[name] = self._wait_alive([name], timeout, not_ids=[old] if old else [])[name]
        node.remember()
        return self.node_ids[name]

    # -------------------------------------------------------------- a driver in this process
    @contextlib.contextmanager
    def connected(self) -> Iterator[Any]:
        """``ray`` joined to this cluster from the test process, disconnected afterwards.

        Ray reads ``RAY_AUTH_MODE`` into its config when it is imported and caches the token it
        first read, and this process may have used Ray before (another test module's embedded Ray,
        whose token is ``~/.ray/auth_token``): both are refreshed here, and again afterwards."""
        import ray
        from ray._raylet import AuthenticationTokenLoader, Config

        def refresh() -> None:
            Config.initialize("")
            AuthenticationTokenLoader.instance().reset_cache()  # a token read before (~/.ray/auth_token) is cached

        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update({k: v for k, v in self.env.items() if k != "RAY_ADDRESS"})
        refresh()
        try:
            ray.init(address=self.address, logging_level="ERROR", log_to_driver=False)
            yield ray
        finally:
            ray.shutdown()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            refresh()

    # -------------------------------------------------------------- stopping
    def stop(self) -> None:
        """Stop every node (workers first, by process group, then by pid); afterwards no process
        that names this cluster's folder is left (asserted), and its folders are removed."""
        if self._stopped:
            return
        self._stopped = True
        _atexit_stop.discard(self)
        if self._reaper is not None:  # its command line names the folder too: it goes first
            self._reaper.kill()
            self._reaper.wait()
        nodes = sorted(self.nodes.values(), key=lambda n: n.shape.head)  # workers first
        for node in nodes:
            if node.popen is not None:
                node.remember()
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(node.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + TERM_GRACE_S  # one grace period for all of them, then SIGKILL
        for node in nodes:
            with contextlib.suppress(subprocess.TimeoutExpired, AttributeError):
                node.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            node.kill(grace=0.0)
        known = {pid: p for node in nodes for pid, p in node.known.items()}
        killed = _sweep(str(self.base), known)
        # the tmpfs over ``hidden`` lived only in the workers' namespaces: nothing to unmount here
        shutil.rmtree(self.base, ignore_errors=True)
        assert not killed, f"processes of the loopback cluster survived their node's stop (now killed): {killed}"


class _AtExit:
    """Clusters still running when the interpreter exits (a test run interrupted outside any
    fixture teardown) are stopped then; a killed test process is the reaper's (``_REAPER``)."""

    def __init__(self) -> None:
        self.clusters: set[LoopbackCluster] = set()
        atexit.register(self.stop_all)

    def add(self, cluster: LoopbackCluster) -> None:
        self.clusters.add(cluster)

    def discard(self, cluster: LoopbackCluster) -> None:
        self.clusters.discard(cluster)

    def stop_all(self) -> None:
        for cluster in list(self.clusters):
            with contextlib.suppress(Exception):
                cluster.stop()


_atexit_stop = _AtExit()


#: The cluster every module of this process shares (:func:`shared_cluster`); ``None`` while none runs.
_shared: LoopbackCluster | None = None


def shared_cluster() -> LoopbackCluster:
    """The loopback cluster of this test process, started on first use. Every cluster module of
    a test run shares it (tests/conftest.py puts them in one xdist group, on one worker, one after
    the other) and it is stopped after the group's last test (:func:`stop_shared_cluster`, called
    from tests/conftest.py's ``pytest_runtest_teardown``), so the suite starts three ``ray start``
    nodes once instead of once per module (≈ 15-20 s each time here, plus ≈ 4 s to stop)."""
    global _shared
    if _shared is None:
        cluster = LoopbackCluster()
        try:
            cluster.start()
        except BaseException:
            cluster.stop()
            raise
        print(f"clusterkit: loopback cluster at {cluster.address} up in {cluster.started_s:.1f} s", file=sys.stderr)
        _shared = cluster
    return _shared


def shared_cluster_running() -> bool:
    return _shared is not None


def stop_shared_cluster() -> None:
    """Stop the shared cluster, if one runs (asserting, as :meth:`LoopbackCluster.stop` does, that
    nothing of it survived)."""
    global _shared
    cluster, _shared = _shared, None
    if cluster is not None:
        cluster.stop()


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[LoopbackCluster]:
    """A head and two workers (``highmem: 1``; one simulated GPU) started with ``ray start`` on
    this machine; the workers cannot see ``ray_cluster.hidden``. Skipped, with the reason printed,
    where a mount namespace cannot be made.

    One cluster serves every module that uses it (:func:`shared_cluster`): a module that kills a
    node starts it again before it ends (the dead node stays listed by the GCS, so a module that
    counts every node it lists runs first: tests/conftest.py orders them), and give each module
    its own folders under ``hidden``. A module that leaves a node down gets a fresh cluster for
    the next one."""
    cluster = shared_cluster()
    yield cluster
    if not all(node.running for node in cluster.nodes.values()):
        stop_shared_cluster()
