"""A run drawn on the designer's canvas: the canvas model (``docs/canvas-protocol.md``) of
one run, read-only, on the pipeline's own layout, with each step's live status.

Pure: step records, the pipeline spec and its saved layout in, plain dicts out; no
Streamlit, no I/O. The model itself is the designer's (:func:`app.ui.canvas_model.build_model`
in ``mode: "run"``); this module adds what a run knows: each step's status in words. The run page (:mod:`app.ui.views.run_page`) draws the model with
``app.ui.canvas.draw_canvas`` and reads the canvas' ``select`` events back with
:func:`selected_job`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from app.ui import designer_model as dm
from app.ui.canvas_model import build_model
from app.ui.designer_model import Resolve
from components.spec import ComponentRef, JobOutput, JobSpec, PipelineSpec
from engine.records import STEP_DONE, StepRunRecord, StepStatus

__all__ = [
    "RUN_MODE",
    "run_statuses",
    "waits_for",
    "run_model",
    "selected_job",
    "canvas_height",
    "short_run_id",
    "describe_seconds",
]

RUN_MODE = "run"


def short_run_id(run_id: str) -> str:
    """The unique end of a run id (``20250101-120000-3f2a1b`` → ``3f2a1b``): a run's end is
    enough to open it (``app.services.runs.get_run``)."""
    return run_id.rsplit("-", 1)[-1] if run_id else run_id


def describe_seconds(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 4 s``, ``2 h 5 min`` — short enough for a node."""
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{int(seconds)} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def waits_for(steps: Sequence[StepRunRecord], spec: PipelineSpec | None) -> dict[str, list[str]]:
    """Per step not done yet: the upstream jobs (by the pipeline's bindings) whose outputs it
    still waits for, in the pipeline's order."""
    if spec is None:
        return {}
    status = {s.job: s.status for s in steps}
    waits: dict[str, list[str]] = {}
    for name, job in spec.jobs.items():
        ups = dict.fromkeys(b.job for b in job.inputs.values() if isinstance(b, JobOutput))
        waits[name] = [u for u in ups if status.get(u) not in STEP_DONE]
    return waits


def _status(step: StepRunRecord, waits: list[str], now: float) -> dict[str, str]:
    try:
        state = StepStatus(step.status)
    except ValueError:  # a status this version does not know: drawn as not started
        state = StepStatus.PENDING
    if state == StepStatus.PENDING:
        text = f"waiting for {', '.join(waits)}" if waits else "waiting to start"
    elif state == StepStatus.RUNNING:
        text = f"running {describe_seconds(now - step.started_at)}" if step.started_at else "starting"
    elif state == StepStatus.COMPLETED:
        took = step.duration_s
        if took is None and step.started_at and step.ended_at:
            took = step.ended_at - step.started_at
        text = f"completed in {describe_seconds(took)}" if took is not None else "completed"
    elif state == StepStatus.REUSED:
        text = f"reused from run {short_run_id(step.reused_from)}" if step.reused_from else "reused"
    elif state == StepStatus.FAILED:
        why = _first_line(step.error)
        text = f"failed: {why}" if why else "failed"
    else:  # skipped, cancelled: the scheduler says why ("upstream prep failed", "cancelled by the user")
        why = _first_line(step.reason)
        text = f"{state.value}: {why}" if why else state.value
    return {"state": state.value, "text": text}


def run_statuses(steps: Sequence[StepRunRecord], now: float, spec: PipelineSpec | None = None) -> dict[str, dict]:
    """Job name → ``{"state", "text"}`` for the canvas: ``state`` is the step's
    :class:`~engine.records.StepStatus` value; ``text`` says it in words — ``running 12 s``,
    ``completed in 3.2 s``, ``reused from run 3f2a1b``, ``failed: <first line of the error>``,
    ``waiting for prep`` (with ``spec``, which names the upstream jobs; else ``waiting to start``)."""
    waits = waits_for(steps, spec)
    return {s.job: _status(s, waits.get(s.job, []), now) for s in steps}


def _run_pipeline(run: Any, spec: PipelineSpec | None, steps: Sequence[StepRunRecord]) -> PipelineSpec:
    """``spec`` with a job for every step it lacks (all of them when the pipeline was not
    found): the step's component by its recorded ``name:version``, no bindings."""
    base = spec or PipelineSpec(name=getattr(run, "pipeline", "") or "run")
    extra = {}
    for step in sorted(steps, key=lambda s: s.position):
        if step.job not in base.jobs:
            name, _, version = (step.component or step.job).partition(":")
            extra[step.job] = JobSpec(name=step.job, component=ComponentRef(name, version or None))
    return replace(base, jobs={**base.jobs, **extra}) if extra else base


def run_model(
    run: Any,
    steps: Sequence[StepRunRecord],
    design_layout: Mapping[str, Any] | None,
    resolve: Resolve,
    now: float,
    *,
    spec: PipelineSpec | None = None,
    selection: Sequence[str] = (),
    mount: str | None = None,
    rev: int = 0,
    ack: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The canvas model of run ``run`` (a ``RunRecord``), built by the designer's own
    :func:`app.ui.canvas_model.build_model` in ``mode: "run"`` (read-only, no palette): a
    node per job of ``spec`` (the pipeline the run executed; ``None`` when it was not found:
    a node per step, by its recorded component, no edges) at its place in ``design_layout``
    (the layout saved with the pipeline, ``{"nodes": {job: {"x", "y"}}}``; jobs it does not
    place are laid out by ``auto_layout``), data inputs and outputs named and typed by the
    component (``resolve``), edges port to port, the compute target each step ran on, and
    each step's ``status`` (:func:`run_statuses` at ``now``). ``mount`` defaults to
    ``run:<id>``; ``rev`` and ``ack`` are the page's to keep (the protocol's revision and the
    last canvas event it read)."""
    pipeline = _run_pipeline(run, spec, steps)
    design = dm.design_from_pipeline(pipeline, design_layout or {})
    components = {name: dm.job_component(job, resolve) for name, job in pipeline.jobs.items()}
    statuses = run_statuses(steps, now, spec)
    for name in pipeline.jobs:
        statuses.setdefault(name, {"state": StepStatus.PENDING.value, "text": "not recorded in this run"})
    model = build_model(design, components, mount=mount or f"run:{run.id}", rev=int(rev), ack=ack, mode=RUN_MODE,
                        statuses=statuses, selection=selection)
    ran_on = {s.job: s.compute for s in steps if s.compute}
    for job in model["jobs"]:
        job["compute"] = ran_on.get(job["id"], job["compute"])
    return model


def selected_job(events: Mapping[str, Any] | None, after_seq: int = -1) -> tuple[str | None, int]:
    """The job the last ``select`` event (of ``events``, the canvas' state value
    ``{"client", "events": [{"seq", "type", ...}]}``) with ``seq`` above ``after_seq`` picked,
    and the highest ``seq`` seen (``after_seq`` when there is none). A ``select`` of nothing
    (the last one) gives ``None``: the page keeps the step it shows."""
    job: str | None = None
    last = after_seq
    for event in (events or {}).get("events") or []:
        if not isinstance(event, Mapping):
            continue
        seq = event.get("seq")
        if not isinstance(seq, int) or seq <= after_seq:
            continue
        last = max(last, seq)
        if event.get("type") == "select":
            picked = event.get("jobs") or []
            job = picked[0] if isinstance(picked[0] if picked else None, str) else None
    return job, last


def canvas_height(model: Mapping[str, Any], least: int = 260, most: int = 620) -> int:
    """A canvas height (px) that shows every job of ``model`` at its place, within bounds."""
    bottom = max((float(j["y"]) for j in model.get("jobs") or []), default=0.0)
    return int(min(most, max(least, bottom + 200)))
