"""Executors: where step tasks run. They only start, submit, wait and cancel; the one
scheduling loop (engine/scheduler.py) decides what is ready and records what happened.

``InProcessExecutor`` runs tasks in threads of this process (tests, debugging).
``RayExecutor`` runs each task as a Ray task with its compute target's resource request;
it imports and starts Ray only when ``start`` is called, so a fully reused run never does.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
import pickle
import shutil
import time
from collections.abc import Mapping
from typing import Any, Protocol

from components.errors import DuctworkError
from engine.compute import ResourceRequest
from engine.handoff import Handoff, run_handed
from engine.placement import fits
from engine.ray_watchdog import RayWatchdog, embedded_temp_dir
from engine.runtime import StepOutcome, StepTask

__all__ = ["Executor", "InProcessExecutor", "RayExecutor", "check_picklable", "ray_options"]


class Executor(Protocol):
    """The small interface the scheduler drives."""

    name: str
    capture_fds: bool  #: whether tasks may redirect descriptors 1 and 2 (own process)
    chains: bool  #: whether ``submit`` takes ``after``: handles whose outcomes the task waits for

    def start(self, requests: Mapping[str, ResourceRequest]) -> None:
        """Start or join the runtime; fail at once when a request can never be satisfied."""
        ...

    def submit(self, task: StepTask, request: ResourceRequest, retries: int,
               runtime_env: Mapping[str, Any] | None = None, handoff: Handoff | None = None,
               after: tuple[Any, ...] = ()) -> Any:
        """Submit one attempt (in ``runtime_env``, where the executor supports it); returns a handle.
        ``handoff``: the task commits its outputs and links inputs from the outcomes of ``after``
        (engine/handoff.py), which it starts after."""
        ...

    def wait(self, handles: list[Any], timeout: float) -> list[tuple[Any, StepOutcome]]:
        """Outcomes of the handles that finished within ``timeout`` seconds (maybe none)."""
        ...

    def cancel(self, handle: Any) -> None:
        """Stop a running attempt at once."""
        ...

    def shutdown(self) -> None:
        """Release what ``start`` acquired; leave no process behind."""
        ...


def check_picklable(task: StepTask) -> None:
    """Refuse, before anything is sent to Ray, a task that cannot be pickled."""
    if task.qualname and ("<lambda>" in task.qualname or "<locals>" in task.qualname):
        raise DuctworkError(
            f"job '{task.job}': function '{task.module}.{task.qualname}' is a lambda or is defined inside "
            "another function (a closure), so a Ray worker cannot import it. Define the component as a "
            "top-level function in its module.")
    try:
        pickle.dumps(task)
    except Exception as exc:  # noqa: BLE001 - any pickling failure
        raise DuctworkError(
            f"job '{task.job}': its arguments cannot be pickled for Ray ({exc}). Parameters must be plain "
            "values (numbers, text, booleans); lambdas, closures and open files cannot be sent.") from None


def ray_options(request: ResourceRequest, retries: int,
                runtime_env: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``.options(...)`` of one step's Ray task: resources, retries and runtime environment.

    Ray builds a ``runtime_env`` once per content hash on each node and caches it, so every
    step with the same ``pip`` list shares one virtualenv.
    """
    options: dict[str, Any] = {"num_cpus": request.cpus, "num_gpus": request.gpus,
                               "max_retries": retries, "retry_exceptions": False}
    if request.memory:
        options["memory"] = request.memory
    if request.custom:
        options["resources"] = dict(request.custom)
    if runtime_env:
        options["runtime_env"] = dict(runtime_env)
    return options


def _note_in_log(path: str, line: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8") as log:
        log.write(line)


class InProcessExecutor:
    """Runs tasks in a thread pool of this process: no Ray, no resource accounting."""

    name = "in-process"
    capture_fds = False
    chains = False  #: a thread waiting for another's result could hold the pool's last thread

    def __init__(self, max_workers: int | None = None):
        self.max_workers = max_workers or os.cpu_count() or 1
        self._pool: cf.ThreadPoolExecutor | None = None

    def start(self, requests: Mapping[str, ResourceRequest]) -> None:
        if self._pool is None:
            self._pool = cf.ThreadPoolExecutor(self.max_workers, thread_name_prefix="ductwork-step")

    def submit(self, task: StepTask, request: ResourceRequest, retries: int,
               runtime_env: Mapping[str, Any] | None = None, handoff: Handoff | None = None,
               after: tuple[Any, ...] = ()) -> Any:
        assert self._pool is not None, "start() first"
        assert not after, "the in-process executor does not chain tasks"
        if runtime_env:  # threads share this interpreter: say so in the step's log
            _note_in_log(task.log_path, f"[ductwork] the in-process executor cannot build the environment "
                         f"{dict(runtime_env)}; this step runs in the current environment\n")
        return self._pool.submit(run_handed, task, handoff)

    def wait(self, handles: list[Any], timeout: float) -> list[tuple[Any, StepOutcome]]:
        done, _ = cf.wait(handles, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out = []
        for fut in done:
            try:
                out.append((fut, fut.result()))
            except cf.CancelledError:
                out.append((fut, StepOutcome(ok=False, error="cancelled", ended_at=time.time())))
            except Exception as exc:  # noqa: BLE001 - run_step itself broke
                out.append((fut, StepOutcome(ok=False, error=f"{type(exc).__name__}: {exc}", ended_at=time.time())))
        return out

    def cancel(self, handle: Any) -> None:
        handle.cancel()  # a started thread cannot be stopped; its command's process group is killed

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class RayExecutor:
    """Ray tasks with per-step resource requests. ``address=None`` (and no ``RAY_ADDRESS``)
    starts an embedded local Ray with explicit settings and shuts it down afterwards."""

    name = "ray"
    capture_fds = True
    chains = True

    def __init__(self, address: str | None = None, num_cpus: int | None = None, temp_dir: str | None = None,
                 object_store_memory: int = 256 * 2**20, leave_by_exit: bool = False):
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        #: the process ends right after the run (the CLI): a joined cluster is left by that exit,
        #: which Ray handles as the end of the driver's job (its workers are stopped), instead of
        #: ``ray.shutdown()``, whose graceful disconnect takes 0.06-0.3 s here
        self.leave_by_exit = leave_by_exit
        self.num_cpus = num_cpus or os.cpu_count() or 1
        self.temp_dir = temp_dir or embedded_temp_dir(os.getpid())
        self.object_store_memory = object_store_memory
        self._owned = False
        self._connected = False  #: this executor called ``ray.init`` (a Ray initialised by the caller is left alone)
        self._remote = None
        self._shaped: dict[Any, Any] = {}  #: the remote function with each step shape's options
        self._ray = None
        self._watchdog: RayWatchdog | None = None  #: ends the embedded Ray if this process dies

    def start(self, requests: Mapping[str, ResourceRequest]) -> None:
        # Ray's task events feed its dashboard and state API, which Ductwork does not use (its
        # own records are the run store's). Waiting for their last flush made a driver's
        # disconnect take ≈ 0.3 s instead of ≈ 0.06 s; a value set by the user wins.
        os.environ.setdefault("RAY_task_events_shutdown_flush_timeout_ms", "0")
        import ray

        self._ray = ray
        if not ray.is_initialized():
            common = dict(log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
            if self.address:
                try:
                    ray.init(address=self.address, **common)
                except Exception as exc:  # noqa: BLE001 - connection problems of every kind
                    raise DuctworkError(
                        f"cannot join the Ray cluster at '{self.address}': {exc}. Check that `ray start --head` "
                        "runs there and that ~/.ray/auth_token matches the cluster's token, or leave out "
                        "--address to run on an embedded local Ray.") from None
            else:
                self._start_embedded(ray, common)
            self._connected = True
        self._remote = ray.remote(run_handed)
        check_feasible(requests, ray.nodes())

    def _start_embedded(self, ray: Any, common: Mapping[str, Any]) -> None:
        """Start a local Ray owned by this process, with a watchdog that ends it if this process
        dies (engine/ray_watchdog.py). Interrupted or failed — Ctrl-C or SIGTERM during its
        ≈ 4 s start included — it leaves nothing: what was started is stopped, its temp folder
        removed, and the exception raised again."""
        self._watchdog = RayWatchdog.start(self.temp_dir)
        try:
            with self._watchdog.marking():
                ray.init(address="local", num_cpus=self.num_cpus, include_dashboard=False, _temp_dir=self.temp_dir,
                         object_store_memory=self.object_store_memory, **common)
        except BaseException:
            self._abandon()
            raise
        self._owned = True

    def _abandon(self) -> None:
        """Stop a Ray whose start failed: what ``ray.init`` knows of, then whatever else the watchdog finds."""
        watchdog, self._watchdog = self._watchdog, None
        try:
            with contextlib.suppress(Exception):
                self._ray.shutdown()
        finally:
            if watchdog is not None:
                watchdog.sweep()
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def submit(self, task: StepTask, request: ResourceRequest, retries: int,
               runtime_env: Mapping[str, Any] | None = None, handoff: Handoff | None = None,
               after: tuple[Any, ...] = ()) -> Any:
        check_picklable(task)
        key = (request.cpus, request.gpus, request.memory, tuple(sorted(request.custom.items())), retries,
               repr(sorted(runtime_env.items())) if runtime_env else None)
        remote = self._shaped.get(key)
        if remote is None:  # ``.options()`` builds a new wrapper each call (≈ 0.1 ms): once per shape
            remote = self._shaped[key] = self._remote.options(**ray_options(request, retries, runtime_env))
        return remote.remote(task, handoff, *after)  # Ray resolves ``after`` first

    def wait(self, handles: list[Any], timeout: float) -> list[tuple[Any, StepOutcome]]:
        ray = self._ray
        ready, rest = ray.wait(handles, num_returns=1, timeout=timeout)
        if ready and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        return [(ref, self._outcome(ref)) for ref in ready]

    def _outcome(self, ref: Any) -> StepOutcome:
        from ray import exceptions as rex

        try:
            return self._ray.get(ref)
        except rex.TaskCancelledError:
            return StepOutcome(ok=False, error="cancelled", ended_at=time.time())
        except rex.OutOfMemoryError:
            return StepOutcome(ok=False, error="worker killed: out of memory", ended_at=time.time())
        except (rex.NodeDiedError, rex.LocalRayletDiedError):
            return StepOutcome(ok=False, error="worker crashed: the node running it died (its machine or its raylet "
                               "stopped); run again once the node is back, or on a target other nodes serve",
                               ended_at=time.time())
        except rex.WorkerCrashedError:
            return StepOutcome(ok=False, error="worker crashed: the Ray worker running it died (killed, out of memory, "
                               "or its node went down)", ended_at=time.time())
        except rex.RuntimeEnvSetupError as exc:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            detail = (lines[-1] if lines else type(exc).__name__)[:400]  # the cause is the last line
            return StepOutcome(ok=False, error=f"its environment could not be built by Ray: {detail}",
                               ended_at=time.time())
        except rex.RayTaskError as exc:
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            return StepOutcome(ok=False, error=f"{type(cause).__name__}: {str(cause).splitlines()[-1][:300]}",
                               ended_at=time.time())
        except rex.RayError as exc:
            return StepOutcome(ok=False, error=f"Ray error: {type(exc).__name__}", ended_at=time.time())

    def cancel(self, handle: Any) -> None:
        try:
            self._ray.cancel(handle, force=True)
        except Exception:  # noqa: BLE001 - already finished
            pass

    def shutdown(self) -> None:
        """Stop the embedded Ray; a joined cluster is only disconnected from (it keeps running),
        or, with ``leave_by_exit``, left connected until this process exits."""
        watchdog, self._watchdog = self._watchdog, None
        stopped = False
        try:
            if self._ray is not None and self._connected and (self._owned or not self.leave_by_exit):
                self._ray.shutdown()
            stopped = True
        finally:  # an interrupted or failed shutdown: the watchdog stops what is left
            if watchdog is not None and stopped:
                watchdog.release()
            elif watchdog is not None:
                watchdog.sweep()
            if self._owned:
                shutil.rmtree(self.temp_dir, ignore_errors=True)
            self._owned = self._connected = False


_RESOURCE_NAMES = {"cpus": "CPU", "gpus": "GPU", "memory": "memory"}


def _offer(resources: Mapping[str, float]) -> str:
    parts = []
    for key in sorted(resources):
        if key.startswith("node:") or key in ("object_store_memory",) or key.startswith("accelerator_type"):
            continue
        value = resources[key]
        parts.append(f"{value / 2**30:.1f} GiB memory" if key == "memory" else f"{value:g} {key}")
    return ", ".join(parts) or "nothing"


def check_feasible(requests: Mapping[str, ResourceRequest], nodes: list[dict[str, Any]]) -> None:
    """Fail before anything starts when a request fits no live node (Ray would wait forever)."""
    alive = [n for n in nodes if n.get("Alive")]
    problems = []
    for job, request in requests.items():
        if not any(fits(request, n.get("Resources", {})) for n in alive):
            problems.append(f"job '{job}' asks for {request.describe()}")
    if problems:
        offers = "\n".join(f"  - node {n.get('NodeID', '?')[:12]} ({n.get('NodeManagerAddress', '?')}): "
                           f"{_offer(n.get('Resources', {}))}" for n in alive)
        raise DuctworkError(
            "no node of the Ray cluster can ever satisfy these resource requests:\n  - "
            + "\n  - ".join(problems)
            + f"\nThe cluster offers:\n{offers or '  (no live nodes)'}\n"
            "Choose a smaller compute target for those jobs (`ductwork compute list`), or add a node that "
            "offers the resource (`ray start --resources '{\"highmem\": 1}'`).")
