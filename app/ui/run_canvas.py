"""A run drawn on the designer's canvas: the canvas model (``docs/canvas-protocol.md``) of
one run, read-only, on the pipeline's own layout, with each step's live status.

Pure: step records, the pipeline spec and its saved layout in, plain dicts out; no
Streamlit, no I/O. The run page (:mod:`app.ui.views.run_page`) draws the model with
``app.ui.canvas.draw_canvas`` and reads the canvas' ``select`` events back with
:func:`selected_job`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from app.ui.designer_model import Resolve, auto_layout, layout_from_dict
from components.spec import (
    ComponentRef,
    ComponentSpec,
    ExternalData,
    JobOutput,
    JobSpec,
    LiteralValue,
    ParentInput,
    PipelineSpec,
)
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
_GRID_X = 280.0
_GRID_Y = 140.0


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


def _component(job: JobSpec, resolve: Resolve) -> ComponentSpec | None:
    if isinstance(job.component, ComponentSpec):
        return job.component
    try:
        return resolve(job.component)
    except Exception:  # noqa: BLE001 - an unresolvable component draws a node without ports
        return None


def _ref(job: JobSpec | None, component: ComponentSpec | None, step: StepRunRecord | None) -> str:
    if step is not None and step.component:
        return step.component
    if component is not None:
        return component.ref
    if job is not None and isinstance(job.component, ComponentRef):
        ref = job.component
        return f"{ref.name}:{ref.version}" if ref.version is not None else ref.name
    return ""


def _bound(binding: Any) -> str | None:
    if isinstance(binding, JobOutput):
        return "job"
    if isinstance(binding, ExternalData | ParentInput):
        return "external"
    if isinstance(binding, LiteralValue):
        return "literal" if binding.value is not None else None
    return None


def _ports(job: JobSpec | None, component: ComponentSpec | None) -> tuple[list[dict], list[dict]]:
    if component is None:
        return [], []
    bindings = job.inputs if job is not None else {}
    inputs = [{"name": name, "type": spec.type, "optional": spec.optional,
               "bound": _bound(bindings.get(name)), "missing": False}
              for name, spec in component.inputs.items() if spec.is_data]
    outputs = [{"name": name, "type": out.type} for name, out in component.outputs.items()]
    return inputs, outputs


def _positions(spec: PipelineSpec | None, names: Sequence[str], design_layout: Mapping[str, Any] | None,
               steps: Mapping[str, StepRunRecord]) -> dict[str, tuple[float, float]]:
    """The saved layout; jobs it does not place are laid out as the designer lays them out
    (``auto_layout``), and steps the pipeline does not have (it was not found) in one column
    right of them, in run order."""
    placed = layout_from_dict(design_layout or {})
    auto = auto_layout(spec) if spec is not None else {}
    out = {name: placed.get(name) or auto[name] for name in names if name in placed or name in auto}
    rest = sorted((n for n in names if n not in out), key=lambda n: steps[n].position if n in steps else 0)
    left = max((x for x, _ in out.values()), default=40.0 - _GRID_X) + _GRID_X
    for row, name in enumerate(rest):
        out[name] = (left, 60.0 + row * _GRID_Y)
    return out


def _edges(spec: PipelineSpec | None, names: Iterable[str]) -> list[dict[str, str]]:
    if spec is None:
        return []
    known = set(names)
    edges: list[dict[str, str]] = []
    for target, job in spec.jobs.items():
        for port, binding in job.inputs.items():
            if isinstance(binding, JobOutput) and binding.job in known and target in known:
                edges.append({"id": f"{binding.job}.{binding.output}->{target}.{port}", "source": binding.job,
                              "sourceHandle": binding.output, "target": target, "targetHandle": port})
    return edges


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
    """The canvas model of run ``run`` (a ``RunRecord``): ``mode: "run"``, read-only, no
    palette; a node per job of ``spec`` (the pipeline the run executed; ``None`` when it is
    not found: a node per step, no edges) at its place in ``design_layout`` (the layout
    saved with the pipeline, ``{"nodes": {job: {"x", "y"}}}``; jobs it does not place are
    auto-laid out), its data inputs and outputs named and typed by its component
    (``resolve``), edges port to port, and each step's ``status`` (:func:`run_statuses` at
    ``now``). ``mount`` defaults to ``run:<id>``; ``rev`` and ``ack`` are the page's to keep
    (the protocol's revision and the last canvas event it applied)."""
    by_job = {s.job: s for s in steps}
    jobs_of = dict(spec.jobs) if spec is not None else {}
    names = list(jobs_of) + [s.job for s in steps if s.job not in jobs_of]
    positions = _positions(spec, names, design_layout, by_job)
    statuses = run_statuses(steps, now, spec)
    default_compute = spec.settings.default_compute if spec is not None else None
    nodes = []
    for name in names:
        job, step = jobs_of.get(name), by_job.get(name)
        component = _component(job, resolve) if job is not None else None
        inputs, outputs = _ports(job, component)
        title = (job.display_name if job is not None and job.display_name else "") \
            or (component.display_name if component is not None and component.display_name else "") \
            or (component.name if component is not None else _ref(job, component, step).split(":")[0])
        compute = (step.compute if step is not None and step.compute else None) \
            or (job.compute if job is not None else None) or (component.compute if component else None) \
            or default_compute or "local"
        x, y = positions[name]
        nodes.append({
            "id": name, "x": x, "y": y, "title": title or name, "component": _ref(job, component, step),
            "compute": compute, "inputs": inputs, "outputs": outputs, "problems": [], "preview": None,
            "status": statuses.get(name, {"state": StepStatus.PENDING.value, "text": "not recorded in this run"}),
        })
    return {
        "mount": mount or f"run:{run.id}",
        "rev": int(rev),
        "ack": dict(ack) if ack else None,
        "mode": RUN_MODE,
        "readOnly": True,
        "dirty": False,
        "draft": None,
        "canUndo": False,
        "canRedo": False,
        "selection": [j for j in selection if j in positions],
        "notice": None,
        "jobs": nodes,
        "edges": _edges(spec, names),
        "palette": [],
        "fits": {},
    }


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
