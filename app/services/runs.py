"""Runs: start (in this process or as a background driver), list, inspect, compare, cancel,
read logs. The CLI's ``run``/``runs`` commands and the app's Runs page call these.

How a run gets Ray, in this order: ``--address`` / ``RAY_ADDRESS`` / the ``address`` setting (a cluster); else the
workspace's warm Ray when it is up (``engine.workspace_ray``: one local Ray kept by its own
keeper process, stopped after 15 idle minutes or by ``ductwork ray stop``); else, with
``warm`` (the default of ``ductwork run`` and of every run the app starts, unless ``--no-warm``,
``DUCTWORK_WARM=0``, ``CI`` or the ``warm`` setting says otherwise: ``warm_ray.warm_by_default``),
that warm Ray started now; else an embedded local Ray owned by this driver and shut down when
it ends. Ray is only reached for when a step has to execute: a fully reused run never starts
or joins one.

Why the app's runs use the warm Ray: a run started from the app is its own driver process
(the same code path as ``ductwork run``), so the page stays responsive and the run survives
a reload. With a Ray per driver, every rerun after a one-parameter change paid Ray's start
(≈ 4–5 s) and shutdown (≈ 1.5–2 s) again: the text template's rerun took 1.29× its re-run
steps' own time. The warm Ray is not owned by the Streamlit server (it would die with it
and leak workers across reloads) but by a keeper process with a pid file, a log, an idle
limit and ``ductwork ray status|stop``. The same reasoning made it the default of a plain
``ductwork run`` too (issue #13: Ray's start and stop were half of a 100-step chain's 16.6 s),
as build tools keep their daemon; a CI job (``CI`` set) or ``--no-warm`` keeps issue #3's
embedded Ray that leaves nothing behind, unless a warm Ray is already up.
"""
from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.services.components import component_resolver
from app.services.environments import environment_resolver
from app.services.lineage import record_run_pipeline
from app.services.pipelines import load_pipeline
from app.services.warm_ray import standby_module, warm_by_default
from app.services.workspace import Workspace, store_uri
from components.errors import DuctworkError
from components.fields import suggest_name
from components.spec import PipelineSpec
from components.validate import read_pipeline_values
from engine.artifacts import ArtifactStore, LocalArtifactStore
from engine.compute import ComputeSpec
from engine.costs import RunCosts, run_costs, step_cost
from engine.drivers import DriverFile, read_driver_file
from engine.manifests import ReuseManifests
from engine.records import (
    MetricRecord,
    OutputRef,
    RunRecord,
    RunStatus,
    StepRunRecord,
    StepStatus,
    StoreBatch,
)
from engine.runstore import RunFilter
from engine.workspace_ray import WorkspaceRay

if TYPE_CHECKING:
    from engine.objectstore import ObjectArtifactStore

__all__ = [
    "RunDetails",
    "prepare_run",
    "plan_pipeline",
    "PlanPreview",
    "preview_run",
    "start_run",
    "start_run_background",
    "list_runs",
    "count_runs",
    "get_run",
    "step_log",
    "cancel_run",
    "compare_runs",
    "run_params",
    "run_to_json",
    "run_costs_of",
    "spend_history",
    "log_tail",
    "iso_time",
    "mark_interrupted_runs",
    "run_store",
    "fetch_output",
]

Executor = str  #: "ray" (default) or "in-process" (debugging, tests)


def run_store(ws: Workspace):
    """The workspace's DuckDB run store (opened per call: no connection is held)."""
    from engine.duckdb_store import DuckDBRunStore

    return DuckDBRunStore(ws.runs_db)


def open_store(url: str, workspace: str, check: bool = True) -> ObjectArtifactStore:
    """The object store at ``url``; with ``check``, reached once now so that a store that cannot be
    reached is a clear error before anything runs."""
    from engine.objectstore import ObjectArtifactStore

    store = ObjectArtifactStore(store_uri(url), workspace=workspace)
    if check:
        store.check()
    return store


def artifact_store(ws: Workspace, check: bool = True) -> ArtifactStore:
    """The workspace's artifact store: its own ``artifacts/`` folder (the embedded default), or the
    store its ``--store`` / ``DUCTWORK_STORE`` / ``store`` setting names (S3, a shared folder), which
    every node and every workspace pointing at it shares (engine/objectstore.py)."""
    url = ws.store_url
    if url:
        return open_store(url, ws.name, check)
    return LocalArtifactStore(ws.artifacts_dir, ws.tmp_dir, workspace=ws.name)


def _computes(ws: Workspace) -> dict[str, ComputeSpec]:
    return {t.name: ComputeSpec(t.name, t.cpus, t.gpus, t.memory, dict(t.resources), t.price_per_hour)
            for t in ws.compute_targets().values()}


@dataclass
class PreparedRun:
    spec: PipelineSpec
    graph: Any
    values: Any
    source: str | None


def prepare_run(ws: Workspace, source: str | Path | PipelineSpec, params: Mapping[str, Any] | None = None) -> PreparedRun:
    """Load and validate the pipeline with the run's input values, compile it, and bind the values.

    The one check every run goes through (``ductwork run`` and ``--plan``, the SDK's ``run()``,
    the app's runs): a value of the wrong type, outside an input's min/max or enum, or for a
    name the pipeline does not have is refused here, every problem at once, before anything runs."""
    from engine.graph import compile_pipeline
    from engine.inputs import bind_pipeline_inputs

    spec = load_pipeline(ws, source, params)
    resolve = component_resolver(ws)
    graph = compile_pipeline(spec, resolve, _computes(ws), validate=False, environments=environment_resolver(ws))
    values = bind_pipeline_inputs(spec, read_pipeline_values(spec, params or {}, resolve))
    label = None if isinstance(source, PipelineSpec) else str(Path(source).absolute()
                                                              if Path(str(source)).is_file() else source)
    return PreparedRun(spec, graph, values, label)


def plan_pipeline(ws: Workspace, source: str | Path | PipelineSpec, params: Mapping[str, Any] | None = None,
                  force: bool = False, verify: bool = False):
    """What a run would reuse and run, and why — without running anything or starting Ray.
    ``verify`` re-hashes every reusable output (see :func:`start_run`)."""
    from engine.plan import plan_run

    prepared = prepare_run(ws, source, params)
    return plan_run(prepared.graph, prepared.values, run_store(ws), artifact_store(ws), force, verify)


@dataclass(frozen=True)
class PlanPreview:
    """A run's plan with each step's estimated duration and whether the machine can place it."""

    plan: Any  #: engine.plan.RunPlan
    forecast: Any  #: engine.forecast.PlanForecast

    def rows(self) -> list[dict[str, Any]]:
        """One plain row per step (``--plan --json`` and the designer's preview)."""
        return [{"name": d.job, "action": d.action, "reason": d.reason, "compute": d.compute,
                 "resources": d.resources, "signature": d.signature, **self.forecast.steps[d.job].to_dict()}
                for d in self.plan.steps.values()]


def _placement_offer(ws: Workspace, address: str | None) -> tuple[dict[str, float] | None, str]:
    """What the Ray a run would use offers, without starting or joining it: unknown for a
    cluster (it is checked when the run starts), else this machine's own resources, with the
    warm Ray's CPUs when it is up."""
    from engine.placement import local_offer

    address = address or ws.address
    if address:
        return None, f"the Ray cluster at {address}"
    head = WorkspaceRay(ws.ray_dir).head()
    if head is not None:
        return local_offer(head.num_cpus), "the warm Ray on this machine"
    return local_offer(), "this machine"


def preview_run(ws: Workspace, source: str | Path | PipelineSpec, params: Mapping[str, Any] | None = None,
                force: bool = False, verify: bool = False, address: str | None = None) -> PlanPreview:
    """:func:`plan_pipeline` and, per step, an estimated duration (the median of its component
    version's recent completed step runs) and whether the machine can place it — no Ray started."""
    from engine.forecast import forecast_plan
    from engine.plan import plan_run

    prepared = prepare_run(ws, source, params)
    store = run_store(ws)
    offer, where = _placement_offer(ws, address)
    plan = plan_run(prepared.graph, prepared.values, store, artifact_store(ws), force, verify)
    return PlanPreview(plan, forecast_plan(prepared.graph, plan, store, offer, where))


# ------------------------------------------------------------------------- drivers
def drivers_dir(ws: Workspace) -> Path:
    """Where the driver files of the runs started from this workspace are (engine/drivers.py)."""
    return ws.tmp_dir / "drivers"


def mark_interrupted_runs(ws: Workspace) -> list[str]:
    """Workspace open hook: a run whose driver process is gone is marked ``interrupted``, at the
    time of its driver's last heartbeat, with its unfinished steps ``cancelled``.

    Cheap when nothing is running: it lists ``tmp/drivers`` (one small file per live driver)
    and opens the run store only when a driver has died.
    """
    folder = drivers_dir(ws)
    if not folder.is_dir():
        return []
    dead = [info for path in folder.glob("*.json")
            if (info := read_driver_file(path)) is not None and info.alive is False]
    if not dead:
        return []
    from engine.records import STEP_FINAL

    store, manifests = run_store(ws), ReuseManifests.beside(artifact_store(ws, check=False))
    marked: list[str] = []
    for info in dead:
        run = store.get_run(info.run_id)
        if run is not None and run.status == RunStatus.RUNNING:
            died = max(info.heartbeat, run.started_at or 0.0)
            run.status, run.ended_at = RunStatus.INTERRUPTED, died
            run.error = run.error or f"the driver process (pid {info.pid}) died; last heartbeat " \
                f"{dt.datetime.fromtimestamp(died).strftime('%Y-%m-%d %H:%M:%S')}"
            batch = StoreBatch(runs=[run])
            for step in store.step_runs(info.run_id):
                if step.status not in STEP_FINAL:
                    batch.step_runs.append(step)
                    _end_orphaned_step(step, died, manifests, batch)
            store.apply(batch)
            marked.append(info.run_id)
        with contextlib.suppress(FileNotFoundError):
            (folder / f"{info.run_id}.json").unlink()
    return marked


def _end_orphaned_step(step: StepRunRecord, died: float, manifests: ReuseManifests, batch: StoreBatch) -> None:
    """A step its dead driver left unfinished: ``completed`` if its output was committed (its
    reuse manifest, written at the commit, names this very step run), else ``cancelled``."""
    try:
        made = manifests.get(step.signature) if step.signature else None
    except Exception:  # noqa: BLE001 - a shared store out of reach: the step is not known to be committed
        made = None
    if made is not None and (made.run_id, made.job) == (step.run_id, step.job):
        step.status, step.outputs = StepStatus.COMPLETED, dict(made.outputs)
        step.ended_at, step.duration_s = made.created_at, made.duration_s
        batch.reuse.append(made)
        return
    step.status, step.reason = StepStatus.CANCELLED, "driver died"
    if step.started_at:
        step.ended_at = max(died, step.started_at)
        step.duration_s = round(step.ended_at - step.started_at, 3)


def start_run(
    ws: Workspace,
    pipeline: str | Path | PipelineSpec,
    params: Mapping[str, Any] | None = None,
    force: bool = False,
    address: str | None = None,
    on_event: Callable[[Any], None] | None = None,
    *,
    run_id: str | None = None,
    executor: Executor = "ray",
    prepared: PreparedRun | None = None,
    verify: bool = False,
    warm: bool | None = None,
    exiting: bool = False,
    on_notice: Callable[[str], None] | None = None,
):
    """Run a pipeline in this process (this process is the driver) and return its ``RunResult``.

    ``executor="in-process"`` runs steps in threads of this process instead of Ray (debugging).
    ``verify`` re-hashes every reused output: a corrupt one is a miss, evicted, and its step reruns.
    ``warm`` starts the workspace's warm Ray when none is up (see the module's note); ``None``:
    :func:`app.services.warm_ray.warm_by_default`. ``on_notice`` hears, once, that this run
    started the warm Ray and how to stop it.
    ``exiting``: the process ends right after (the CLI), so a joined Ray is left by that exit.
    """
    from engine.scheduler import execute_run, new_run_id

    if warm is None:
        warm = warm_by_default(ws)[0]

    prepared = prepared or prepare_run(ws, pipeline, params)
    artifacts = artifact_store(ws)  # a store out of reach is an error before anything is recorded
    run_id = run_id or new_run_id()
    # executors are imported only when a step has to run (a fully reused run needs none)
    warm_ray: WorkspaceRay | None = None
    if executor == "in-process":
        def factory():
            from engine.executors import InProcessExecutor

            return InProcessExecutor()
    elif executor == "ray":
        address = address or ws.address
        warm_ray = None if address else WorkspaceRay(ws.ray_dir, standby=standby_module())

        def factory():
            from engine.executors import RayExecutor

            joined = warm_ray.join(start=warm) if warm_ray is not None else None
            if warm_ray is not None and warm_ray.started is not None and on_notice is not None:
                on_notice(started_warm_ray_notice(ws, warm_ray.started))
            return RayExecutor(address=address or joined, leave_by_exit=exiting)
    else:
        raise DuctworkError(f"executor '{executor}' is not known; use 'ray' or 'in-process'")
    try:
        with DriverFile(drivers_dir(ws), run_id):  # written before the run is recorded; beats while it runs
            record_run_pipeline(ws, run_id, prepared.spec, prepared.source)  # what `runs clone` needs of a file
            return execute_run(prepared.graph, prepared.values, store=run_store(ws), artifacts=artifacts,
                               logs_dir=ws.logs_dir, executor_factory=factory, force=force, run_id=run_id,
                               source=prepared.source, on_event=on_event, verify=verify)
    finally:
        if warm_ray is not None:
            warm_ray.leave()


def started_warm_ray_notice(ws: Workspace, head: Any) -> str:
    """What a run says once when it started the workspace's warm Ray."""
    idle = f"{head.idle_s / 60:g} idle minutes" if head.idle_s >= 60 else f"{head.idle_s:g} idle seconds"
    return (f"started the workspace's warm Ray at {head.address} (keeper pid {head.pid}): later runs skip Ray's "
            f"start-up; it stops by itself after {idle}, or now with `ductwork --home {ws.home} ray stop` "
            "(--no-warm or `ductwork settings set warm false`: runs start a Ray of their own)")


def start_run_background(
    ws: Workspace,
    pipeline: str | Path | PipelineSpec,
    params: Mapping[str, Any] | None = None,
    force: bool = False,
    address: str | None = None,
    *,
    executor: Executor = "ray",
    warm: bool = True,
) -> str:
    """Start a run as its own detached driver process (``ductwork run``); returns its run id.

    The pipeline is validated here first, so mistakes are reported at once. The driver
    survives page reloads; follow it with :func:`get_run`, stop it with :func:`cancel_run`.
    ``warm`` (the default: the app's runs) runs it on the workspace's warm Ray.
    """
    from components.serialize import dump_yaml, pipeline_to_dict
    from engine.scheduler import new_run_id

    prepared = prepare_run(ws, pipeline, params)
    run_id = new_run_id()
    if isinstance(pipeline, PipelineSpec):
        submitted = ws.tmp_dir / "submitted"
        submitted.mkdir(parents=True, exist_ok=True)
        target = submitted / f"{run_id}.yml"
        target.write_text(dump_yaml(pipeline_to_dict(pipeline)))
        source = str(target)
    else:
        source = str(Path(pipeline).absolute()) if Path(str(pipeline)).is_file() else str(pipeline)
    cmd = [sys.executable, "-c", "from app.cli import main; main()", "--home", str(ws.home), "run", source,
           "--run-id", run_id, "--quiet"]
    for name, value in (params or {}).items():
        cmd += ["--set", f"{name}={json.dumps(value) if not isinstance(value, str) else value}"]
    if force:
        cmd.append("--force")
    if address:
        cmd += ["--address", address]
    if executor == "in-process":
        cmd.append("--in-process")
    elif warm:
        cmd.append("--warm")
    log_dir = ws.logs_dir / run_id
    log_dir.mkdir(parents=True, exist_ok=True)
    # recorded from its first instant, before its driver starts (which records it again): a
    # driver that dies before that (a broken environment, a signal while it imports) leaves a
    # run that the next open marks interrupted, through the driver file written for it here
    graph = prepared.graph
    record = RunRecord(id=run_id, pipeline=graph.pipeline.name, version=graph.pipeline.version,
                       params=prepared.values.as_params(), status=RunStatus.RUNNING, started_at=time.time(),
                       host=socket.gethostname(), force=force, source=source)
    steps = [StepRunRecord(run_id=run_id, job=name, component=node.component.ref, status=StepStatus.PENDING,
                           compute=node.compute.name, resources=node.request.to_dict(), position=position,
                           reason="its driver is starting")
             for position, (name, node) in enumerate(graph.steps.items())]
    run_store(ws).apply(StoreBatch(runs=[record], step_runs=steps))
    try:
        with open(log_dir / "driver.log", "ab") as log:
            child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True, close_fds=True, cwd=os.getcwd())
    except OSError as exc:
        record.status, record.ended_at, record.error = RunStatus.FAILED, time.time(), f"driver not started: {exc}"
        for step in steps:
            step.status, step.reason = StepStatus.CANCELLED, "its driver did not start"
        run_store(ws).apply(StoreBatch(runs=[record], step_runs=steps))
        raise DuctworkError(f"cannot start the run's driver process: {exc}") from None
    DriverFile(drivers_dir(ws), run_id, pid=child.pid).write()
    return run_id


# ------------------------------------------------------------------------- reading
def _epoch(value: float | dt.datetime | None) -> float | None:
    if value is None or isinstance(value, int | float):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def _filter(pipeline: str | None, status: str | None, since: Any, until: Any) -> RunFilter:
    if pipeline and not pipeline.isascii():  # the name as written (日本): runs carry its stored name
        pipeline = suggest_name(pipeline)
    return RunFilter(pipeline=pipeline, status=status, since=_epoch(since), until=_epoch(until))


def list_runs(ws: Workspace, pipeline: str | None = None, status: str | None = None,
              since: float | dt.datetime | None = None, until: float | dt.datetime | None = None,
              limit: int = 50, offset: int = 0) -> list[RunRecord]:
    """Runs, newest first, filtered by pipeline, status and start time."""
    return run_store(ws).list_runs(_filter(pipeline, status, since, until), limit, offset)


def count_runs(ws: Workspace, pipeline: str | None = None, status: str | None = None,
               since: float | dt.datetime | None = None, until: float | dt.datetime | None = None) -> int:
    return run_store(ws).count_runs(_filter(pipeline, status, since, until))


@dataclass
class RunDetails:
    """A run with its step runs, metrics per job and output paths."""

    run: RunRecord
    steps: list[StepRunRecord]
    metrics: dict[str, list[MetricRecord]] = field(default_factory=dict)
    output_paths: dict[str, dict[str, str]] = field(default_factory=dict)

    def step(self, job: str) -> StepRunRecord:
        for s in self.steps:
            if s.job == job:
                return s
        raise DuctworkError(f"run '{self.run.id}' has no job '{job}' (its jobs: "
                            f"{', '.join(s.job for s in self.steps)})")


def _resolve_id(store, run_id: str) -> str:
    if store.get_run(run_id) is not None:
        return run_id
    found = store.resolve_run_id(run_id)
    if len(found) == 1:
        return found[0]
    if not found:
        raise DuctworkError(f"run '{run_id}' does not exist; `ductwork runs list` shows the run ids")
    raise DuctworkError(f"run id '{run_id}' is ambiguous ({', '.join(found[:5])} ...); type more of it")


def output_paths(ws: Workspace, step: StepRunRecord) -> dict[str, str]:
    """Where each output of a step run is: its path in the workspace's own store, or in an object
    store the URL of its tree (the manifest naming its files' blobs; engine/objectstore.py)."""
    url = ws.store_url
    if url:
        return {name: f"{url.rstrip('/')}/trees/{ref.digest[:2]}/{ref.digest}.json" + (f" ({ref.file})" if ref.file else "")
                for name, ref in step.outputs.items()}
    arts = ws.artifacts_dir
    return {name: str(arts / ref.digest / ref.file if ref.file else arts / ref.digest)
            for name, ref in step.outputs.items()}


def fetch_output(ws: Workspace, ref: OutputRef) -> Path:
    """A local copy of an output kept in an object store (this machine's node cache; a second
    fetch is free), for previews and for reading it by hand; the path itself for a local store."""
    store = artifact_store(ws)
    if not getattr(store, "remote", False):
        base = store.path(ref.digest)
    else:
        base = store.materialize(ref.digest)
    return base / ref.file if ref.file else base


def get_run(ws: Workspace, run_id: str) -> RunDetails:
    """One run (a unique start or end of its id is enough) with steps, metrics and output paths."""
    store = run_store(ws)
    rid = _resolve_id(store, run_id)
    run = store.get_run(rid)
    assert run is not None
    steps = store.step_runs(rid)
    metrics: dict[str, list[MetricRecord]] = {}
    for m in store.metrics(rid):
        metrics.setdefault(m.job, []).append(m)
    return RunDetails(run, steps, metrics, {s.job: output_paths(ws, s) for s in steps})


def step_log(ws: Workspace, run_id: str, job: str, tail: int | None = None) -> str:
    """A step's log (stdout and stderr of the step and its subprocesses); ``tail``: last N lines."""
    details = get_run(ws, run_id)
    step = details.step(job)
    path = Path(step.log_path) if step.log_path else ws.logs_dir / details.run.id / f"{job}.log"
    if not path.exists():
        why = "it was reused, not executed" if step.status == "reused" else f"it is {step.status}"
        raise DuctworkError(f"job '{job}' of run '{details.run.id}' has no log: {why}"
                            + (f" (reused from run {step.reused_from})" if step.reused_from else ""))
    if tail:
        return "\n".join(_last_lines(path, tail, _STEP_LOG_TAIL_BYTES))
    return path.read_text(errors="replace")  # a step's log is capped (engine/steplog.py): at most ~20 MiB


def follow_step_log(ws: Workspace, run_id: str, job: str, lines: int = 10, poll_s: float = 0.5) -> Iterator[str]:
    """A step's last ``lines`` lines, then what it writes, as it writes it, until the step (or its
    run) is no longer running. Only the log's end is read; when the log's cap cuts the file back
    (engine/steplog.py) it goes on from the new end, saying so."""
    step_log(ws, run_id, job, 1)  # the same clear error when there is no log
    details = get_run(ws, run_id)
    path = Path(details.step(job).log_path or ws.logs_dir / details.run.id / f"{job}.log")
    with open(path, "rb") as f:
        offset = f.seek(0, os.SEEK_END)
        head = _last_lines(path, lines, _STEP_LOG_TAIL_BYTES)
        yield "\n".join(head) + ("\n" if head else "")
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        last = b""  #: the end of what was printed: where to go on once the cap rewrote the file
        while True:
            size = os.fstat(f.fileno()).st_size
            if size < offset:
                found = _find_again(f, size, last)
                if found is None:  # more was written since the last look than the cap keeps
                    yield "\n# ductwork: (follow) the log's cap cut what was written since; its last lines:\n"
                    found = max(0, size - _TAIL_CHUNK)
                offset = found
            if size > offset:
                f.seek(offset)
                data = f.read(min(size - offset, _TAIL_CHUNK * 16))
                offset += len(data)
                last = (last + data)[-4096:]
                yield decoder.decode(data)
                continue
            now = get_run(ws, details.run.id)
            if now.run.status != "running" or now.step(job).status not in ("running", "pending"):
                if os.fstat(f.fileno()).st_size == offset:
                    yield decoder.decode(b"", final=True)
                    return
                continue
            time.sleep(poll_s)


def _find_again(f: Any, size: int, last: bytes) -> int | None:
    """Where ``last`` (the end of what a follower printed) ends in the log's last 4 MiB, once the
    cap rewrote it; ``None`` when it is not there."""
    if not last:
        return None
    start = max(0, size - _STEP_LOG_TAIL_BYTES)
    f.seek(start)
    found = f.read(size - start).rfind(last)
    return None if found < 0 else start + found + len(last)


LOG_TAIL_LINES = 20  #: the log lines a failed step shows in the summary and in ``--json``
_TAIL_BYTES = 256 * 1024
_STEP_LOG_TAIL_BYTES = 4 * 1024 * 1024  #: the most ``runs logs --tail`` and the app's log view read
_TAIL_CHUNK = 64 * 1024


def _last_lines(path: Path, lines: int, max_bytes: int | None = None) -> list[str]:
    """The last ``lines`` lines of file ``path``, reading only its end: a window that doubles
    until it holds that many whole lines or reaches the start (or ``max_bytes``; then the
    window's first line, which may be cut, is left out)."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        window = min(size, _TAIL_CHUNK if max_bytes is None else min(_TAIL_CHUNK, max_bytes))
        while True:
            f.seek(size - window)
            data = f.read(window)
            capped = max_bytes is not None and window >= max_bytes
            if window >= size or capped or data.count(b"\n") > lines:
                break
            window = min(size, window * 2 if max_bytes is None else min(window * 2, max_bytes))
    text = data.decode(errors="replace").splitlines()
    if window < size and text:
        text = text[1:]  # the first line read may be cut
    return text[-lines:]


def file_tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of any log file, reading at most its last 256 KiB."""
    return _last_lines(path, lines, _TAIL_BYTES)


def log_tail(ws: Workspace, run_id: str, step: StepRunRecord, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of a step's log (at most its last 256 KiB are read); ``[]``
    without a log."""
    path = Path(step.log_path) if step.log_path else ws.logs_dir / run_id / f"{step.job}.log"
    try:
        return _last_lines(path, lines, _TAIL_BYTES)
    except OSError:
        return []


def cancel_run(ws: Workspace, run_id: str) -> bool:
    """Ask a running run's driver to cancel (SIGINT): it stops its steps and records ``cancelled``."""
    details = get_run(ws, run_id)
    run = details.run
    if run.status != "running":
        raise DuctworkError(f"run '{run.id}' is not running (it is {run.status}); nothing to cancel")
    if run.host != socket.gethostname() or not run.driver_pid:
        raise DuctworkError(f"run '{run.id}' is driven from host '{run.host}'; cancel it there")
    try:
        os.kill(run.driver_pid, signal.SIGINT)
    except ProcessLookupError:
        mark_interrupted_runs(ws)
        return False
    return True


def run_params(ws: Workspace, run_id: str) -> dict[str, Any]:
    """What a clone needs: the pipeline, its version, where it came from and the parameter values."""
    run = get_run(ws, run_id).run
    return {"pipeline": run.pipeline, "version": run.version, "source": run.source, "params": dict(run.params)}


def compare_runs(ws: Workspace, a: str, b: str) -> dict[str, Any]:
    """Differences between two runs: parameters, and per step status, signature, duration, metrics."""
    ra, rb = get_run(ws, a), get_run(ws, b)
    keys = sorted(set(ra.run.params) | set(rb.run.params))
    params = {k: {"a": ra.run.params.get(k), "b": rb.run.params.get(k)}
              for k in keys if ra.run.params.get(k) != rb.run.params.get(k)}
    sa, sb = {s.job: s for s in ra.steps}, {s.job: s for s in rb.steps}
    steps = []
    for job in list(dict.fromkeys([*sa, *sb])):
        x, y = sa.get(job), sb.get(job)
        last = lambda d, j: {m.name: m.value for m in d.metrics.get(j, [])}  # noqa: E731
        steps.append({
            "name": job,
            "status": {"a": x.status if x else None, "b": y.status if y else None},
            "same_signature": bool(x and y and x.signature and x.signature == y.signature),
            "duration_s": {"a": x.duration_s if x else None, "b": y.duration_s if y else None},
            "metrics": {"a": last(ra, job), "b": last(rb, job)},
        })
    return {"a": ra.run.id, "b": rb.run.id, "params": params, "steps": steps}


def iso_time(ts: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC text (``None`` stays ``None``)."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds") if ts else None


def run_costs_of(ws: Workspace, run_ids: list[str]) -> dict[str, RunCosts]:
    """Per run: what it spent (per compute target too) and what reuse saved, in one read."""
    return {rid: run_costs(steps) for rid, steps in run_store(ws).step_runs_of(run_ids).items()}


def spend_history(ws: Workspace, pipeline: str | None = None, status: str | None = None,
                  since: float | dt.datetime | None = None, until: float | dt.datetime | None = None,
                  limit: int = 200) -> list[dict[str, Any]]:
    """The last ``limit`` runs' spend and savings, oldest first: one row per run with
    ``run``, ``pipeline``, ``started_at``, ``spent_s``, ``spent_cost``, ``saved_s``, ``saved_cost`` and
    ``priced`` (whether any of its steps had a price). The Runs page charts them per pipeline over time."""
    store = run_store(ws)
    with store.reading():
        runs = store.list_runs(_filter(pipeline, status, since, until), limit)
        steps = store.step_runs_of([r.id for r in runs])
    rows = []
    for run in reversed(runs):
        costs = run_costs(steps.get(run.id, []))
        rows.append({"run": run.id, "pipeline": run.pipeline, "started_at": run.started_at,
                     "spent_s": costs.spent.seconds, "spent_cost": costs.spent.cost,
                     "saved_s": costs.saved.seconds, "saved_cost": costs.saved.cost,
                     "priced": costs.spent.priced or costs.saved.priced})
    return rows


def run_to_json(ws: Workspace, run: RunRecord, steps: list[StepRunRecord]) -> dict[str, Any]:
    """The one JSON object of ``run --json`` and ``runs show --json``: the run, what it spent
    and what reuse saved (``spent``/``saved``), and its steps, each with its own ``cost`` (spent,
    or saved when reused) and, when it failed, the last lines of its log (``log_tail``)."""
    return {
        "id": run.id, "pipeline": run.pipeline, "version": run.version, "status": run.status,
        "started_at": iso_time(run.started_at), "ended_at": iso_time(run.ended_at), "params": run.params,
        "error": run.error,
        **run_costs(steps).to_dict(),
        "steps": [{
            "name": s.job, "status": s.status, "reused": s.status == "reused", "signature": s.signature,
            "compute": s.compute, "resources": dict(s.resources or {}), "node_id": s.node_id, "duration_s": s.duration_s,
            "outputs": output_paths(ws, s), "reason": s.reason, "reused_from": s.reused_from,
            "error": s.error, "exit_code": s.exit_code, "log": s.log_path,
            "price_per_hour": s.price_per_hour, "saved_s": s.saved_s, "cost": step_cost(s),
            **({"log_tail": log_tail(ws, run.id, s)} if s.status == "failed" else {}),
        } for s in steps],
    }
