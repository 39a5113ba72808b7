"""The designer's model: a pipeline being edited on the canvas, as pure data.

A :class:`Design` is a :class:`~components.spec.PipelineSpec` plus where each job sits
on the canvas. Every edit is a pure function ``Design -> Design`` (or an outcome holding
one), so the wiring rules are unit-tested without Streamlit; the canvas
(:mod:`app.ui.canvas`) reports events that :mod:`app.ui.designer_state` turns into calls
of these functions.

Wiring (``connect``): the canvas has one handle per data input and per output, so an
edge names both ports — ``source.output -> target.input``. It is refused, with the
reason, when a port does not exist, the input is a parameter, the types do not fit
(:func:`types_fit`, the validator's rule) or the edge would close a cycle; connecting to
an input that is already bound replaces the binding (``replaced`` says what it was).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from components.spec import (
    Binding,
    ComponentRef,
    ComponentSpec,
    ExternalData,
    JobOutput,
    JobSpec,
    LiteralValue,
    PipelineSpec,
)

__all__ = [
    "Design",
    "Wire",
    "WireOutcome",
    "Resolve",
    "FOLDER_TYPES",
    "types_fit",
    "new_design",
    "design_from_pipeline",
    "job_component",
    "add_job",
    "remove_job",
    "move_jobs",
    "wires",
    "parse_wire_id",
    "upstream_jobs",
    "connect",
    "disconnect",
    "set_input",
    "set_parameter",
    "set_compute",
    "set_external_input",
    "effective_compute",
    "copy_jobs",
    "describe_binding",
    "layout_to_dict",
    "layout_from_dict",
    "auto_layout",
]

Resolve = Callable[[ComponentRef], ComponentSpec]

#: Data types that are folders on disk; any of them may feed any other.
FOLDER_TYPES: frozenset[str] = frozenset({"uri_folder", "mltable", "mlflow_model", "custom_model"})

_NAME_RE = re.compile(r"[^a-z0-9_]+")
_GRID_X = 280.0
_GRID_Y = 140.0


@dataclass(frozen=True)
class Design:
    """A pipeline on the canvas: the spec and where each job sits."""

    pipeline: PipelineSpec
    layout: Mapping[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Wire:
    """One edge: ``source``'s output ``output`` feeds ``target``'s input ``input``."""

    source: str
    output: str
    target: str
    input: str

    @property
    def id(self) -> str:
        """The canvas id of the edge (``prep.clean->train.data``)."""
        return f"{self.source}.{self.output}->{self.target}.{self.input}"

    def label(self) -> str:
        return f"{self.source}.{self.output} → {self.target}.{self.input}"


@dataclass(frozen=True)
class WireOutcome:
    """What drawing an edge did: ``connected``, ``replaced`` (the input was bound before:
    ``previous`` says to what), ``unchanged`` (that edge exists) or ``refused`` (``reason``)."""

    design: Design
    status: Literal["connected", "replaced", "unchanged", "refused"]
    wire: Wire | None = None
    previous: str = ""
    reason: str = ""


def parse_wire_id(edge: str) -> Wire | None:
    """The wire of a canvas edge id, or ``None`` when ``edge`` is not one."""
    left, sep, right = str(edge).partition("->")
    if not sep:
        return None
    source, dot1, output = left.partition(".")
    target, dot2, input_name = right.partition(".")
    if not (dot1 and dot2 and source and output and target and input_name):
        return None
    return Wire(source, output, target, input_name)


def types_fit(output_type: str, input_type: str) -> bool:
    """Whether an output of ``output_type`` may feed a data input of ``input_type``.

    Equal types fit; folder-like types (:data:`FOLDER_TYPES`) fit each other; a file
    fits only a file input; nothing fits a parameter (string, integer, number, boolean).
    """
    if output_type == input_type:
        return True
    return output_type in FOLDER_TYPES and input_type in FOLDER_TYPES


# --------------------------------------------------------------------------- building


def new_design(name: str = "untitled", display_name: str = "", description: str = "") -> Design:
    """An empty pipeline named ``name``."""
    return Design(PipelineSpec(name=name, display_name=display_name, description=description))


def design_from_pipeline(
    pipeline: PipelineSpec, layout: Mapping[str, Any] | None = None
) -> Design:
    """A design for a saved or imported pipeline; jobs without a position are laid out."""
    placed = layout_from_dict(layout or {})
    missing = [name for name in pipeline.jobs if name not in placed]
    if missing:
        auto = auto_layout(pipeline)
        placed = {**placed, **{name: auto[name] for name in missing}}
    return Design(pipeline=pipeline, layout={n: placed[n] for n in pipeline.jobs})


def job_component(job: JobSpec, resolve: Resolve) -> ComponentSpec | None:
    """The component a job uses, or ``None`` when it cannot be resolved."""
    if isinstance(job.component, ComponentSpec):
        return job.component
    try:
        return resolve(job.component)
    except (KeyError, LookupError, ValueError):
        return None
    except Exception:  # a registry error is reported by validation, not here
        return None


def _job_name(base: str, taken: Iterable[str]) -> str:
    stem = _NAME_RE.sub("_", base.lower()).strip("_") or "job"
    if stem[0].isdigit():
        stem = f"job_{stem}"
    used = set(taken)
    if stem not in used:
        return stem
    n = 2
    while f"{stem}_{n}" in used:
        n += 1
    return f"{stem}_{n}"


def _free_position(layout: Mapping[str, tuple[float, float]]) -> tuple[float, float]:
    if not layout:
        return (40.0, 60.0)
    right = max(x for x, _ in layout.values())
    top = min(y for _, y in layout.values())
    return (right + _GRID_X, top)


def add_job(
    design: Design,
    component: ComponentSpec,
    position: tuple[float, float] | None = None,
    name: str | None = None,
) -> tuple[Design, str]:
    """Add a job using the registered ``component``; returns the design and the job name.

    The job refers to the component by name and version; parameters keep their
    defaults until set; it is placed right of the rightmost job unless ``position``.
    """
    job_name = _job_name(name or component.name, design.pipeline.jobs)
    job = JobSpec(name=job_name, component=ComponentRef(component.name, component.version))
    jobs = {**design.pipeline.jobs, job_name: job}
    pos = position if position is not None else _free_position(design.layout)
    layout = {**design.layout, job_name: (float(pos[0]), float(pos[1]))}
    return replace(design, pipeline=replace(design.pipeline, jobs=jobs), layout=layout), job_name


def remove_job(design: Design, job: str) -> Design:
    """Delete ``job``, every binding fed by its outputs and the pipeline outputs it published."""
    _require_job(design, job)
    removed = design.pipeline.jobs[job]
    published = {out for out in removed.outputs.values() if out}
    jobs: dict[str, JobSpec] = {}
    for name, spec in design.pipeline.jobs.items():
        if name == job:
            continue
        kept = {k: b for k, b in spec.inputs.items() if not (isinstance(b, JobOutput) and b.job == job)}
        jobs[name] = spec if len(kept) == len(spec.inputs) else replace(spec, inputs=kept)
    outputs = {k: v for k, v in design.pipeline.outputs.items() if k not in published}
    layout = {k: v for k, v in design.layout.items() if k != job}
    return replace(design, pipeline=replace(design.pipeline, jobs=jobs, outputs=outputs), layout=layout)


def copy_jobs(design: Design, jobs: Iterable[str], dx: float = 40.0, dy: float = 40.0) -> tuple[Design, list[str]]:
    """Paste copies of ``jobs`` (unknown names skipped) shifted by ``(dx, dy)``, with fresh
    names. Bindings among the copied jobs follow the copies; bindings to jobs outside the
    copy are dropped (the copy starts unconnected there); published outputs are not copied."""
    originals = [j for j in dict.fromkeys(jobs) if j in design.pipeline.jobs]
    names: dict[str, str] = {}
    taken = set(design.pipeline.jobs)
    for job in originals:
        names[job] = _job_name(job, taken)
        taken.add(names[job])
    new_jobs = dict(design.pipeline.jobs)
    layout = dict(design.layout)
    for job in originals:
        spec = design.pipeline.jobs[job]
        inputs = {}
        for key, binding in spec.inputs.items():
            if isinstance(binding, JobOutput):
                if binding.job in names:
                    inputs[key] = JobOutput(names[binding.job], binding.output)
                continue
            inputs[key] = binding
        new_jobs[names[job]] = replace(spec, name=names[job], inputs=inputs, outputs={})
        x, y = design.layout.get(job, (0.0, 0.0))
        layout[names[job]] = (float(x) + dx, float(y) + dy)
    pipeline = replace(design.pipeline, jobs=new_jobs)
    return replace(design, pipeline=pipeline, layout=layout), [names[j] for j in originals]


def move_jobs(design: Design, positions: Mapping[str, tuple[float, float]]) -> Design:
    """Record new canvas positions for jobs (unknown names are ignored)."""
    layout = dict(design.layout)
    changed = False
    for name, (x, y) in positions.items():
        if name in design.pipeline.jobs and layout.get(name) != (float(x), float(y)):
            layout[name] = (float(x), float(y))
            changed = True
    return replace(design, layout=layout) if changed else design


def _require_job(design: Design, job: str) -> JobSpec:
    try:
        return design.pipeline.jobs[job]
    except KeyError:
        known = ", ".join(sorted(design.pipeline.jobs)) or "none"
        raise KeyError(f"job '{job}' is not in pipeline '{design.pipeline.name}' (jobs: {known})") from None


def _replace_job(design: Design, job: JobSpec) -> Design:
    jobs = {**design.pipeline.jobs, job.name: job}
    return replace(design, pipeline=replace(design.pipeline, jobs=jobs))


# --------------------------------------------------------------------------- edges


def wires(design: Design) -> list[Wire]:
    """Every job-to-job binding, in job and input order."""
    return [
        Wire(binding.job, binding.output, target, input_name)
        for target, job in design.pipeline.jobs.items()
        for input_name, binding in job.inputs.items()
        if isinstance(binding, JobOutput) and binding.job in design.pipeline.jobs
    ]


def upstream_jobs(design: Design, job: str) -> set[str]:
    """Every job whose outputs reach ``job`` through bindings (not including itself)."""
    seen: set[str] = set()
    stack = [job]
    while stack:
        current = design.pipeline.jobs.get(stack.pop())
        if current is None:
            continue
        for binding in current.inputs.values():
            if isinstance(binding, JobOutput) and binding.job not in seen:
                seen.add(binding.job)
                stack.append(binding.job)
    return seen


def _describe(specs: Iterable[Any]) -> str:
    return ", ".join(f"{s.name} ({s.type})" for s in specs) or "none"


def describe_binding(binding: Binding) -> str:
    """A binding as a person reads it: ``prep.clean``, ``pipeline input 'data'``, a path, a value."""
    if isinstance(binding, JobOutput):
        return f"{binding.job}.{binding.output}"
    if isinstance(binding, ExternalData):
        return f"the path {binding.path}"
    if isinstance(binding, LiteralValue):
        return f"the value {binding.value!r}"
    name = getattr(binding, "name", None)
    return f"pipeline input '{name}'" if name else str(binding)


def _refusal(wire: Wire, design: Design, resolve: Resolve) -> str:
    """Why ``wire`` may not be drawn, or ``""`` when it may."""
    where = f"Cannot connect {wire.source}.{wire.output} to {wire.target}.{wire.input}"
    if wire.source == wire.target:
        return f"{where}: a job cannot feed its own inputs."
    for job in (wire.source, wire.target):
        if job not in design.pipeline.jobs:
            return f"{where}: there is no job '{job}' (jobs: {', '.join(sorted(design.pipeline.jobs)) or 'none'})."
    src_job, tgt_job = design.pipeline.jobs[wire.source], design.pipeline.jobs[wire.target]
    src, tgt = job_component(src_job, resolve), job_component(tgt_job, resolve)
    for comp, job in ((src, src_job), (tgt, tgt_job)):
        if comp is None:
            return f"{where}: component '{job.component}' of job '{job.name}' is not registered. Register it or replace the job."
    assert src is not None and tgt is not None
    out = src.outputs.get(wire.output)
    if out is None:
        return f"{where}: '{src.ref}' has no output '{wire.output}' (outputs: {_describe(src.outputs.values())})."
    inp = tgt.inputs.get(wire.input)
    if inp is None:
        return f"{where}: '{tgt.ref}' has no input '{wire.input}' (inputs: {_describe(tgt.inputs.values())})."
    if not inp.is_data:
        return (f"{where}: '{wire.input}' is a parameter ({inp.type}); outputs are folders or files and "
                "feed only data inputs. Set the parameter in the inspector.")
    if not types_fit(out.type, inp.type):
        return (f"{where}: the output is {out.type} and the input takes {inp.type}. A file output fits only a "
                "uri_file input; folder types (uri_folder, mltable, mlflow_model, custom_model) fit each other.")
    if wire.target in upstream_jobs(design, wire.source):
        return (f"{where}: '{wire.target}' already feeds '{wire.source}', so the edge would make a cycle. "
                "Pipelines must be acyclic; remove one of the edges first.")
    return ""


def connect(design: Design, wire: Wire, resolve: Resolve) -> WireOutcome:
    """Bind ``wire.target``'s input to ``wire.source``'s output (see the module docstring)."""
    reason = _refusal(wire, design, resolve)
    if reason:
        return WireOutcome(design, "refused", wire, reason=reason)
    job = design.pipeline.jobs[wire.target]
    before = job.inputs.get(wire.input)
    binding = JobOutput(wire.source, wire.output)
    if before == binding:
        return WireOutcome(design, "unchanged", wire)
    updated = _replace_job(design, replace(job, inputs={**job.inputs, wire.input: binding}))
    if before is None:
        return WireOutcome(updated, "connected", wire)
    return WireOutcome(updated, "replaced", wire, previous=describe_binding(before))


def disconnect(design: Design, wire: Wire) -> Design:
    """Delete the edge ``wire`` (nothing happens when that binding is not there)."""
    job = design.pipeline.jobs.get(wire.target)
    if job is None or job.inputs.get(wire.input) != JobOutput(wire.source, wire.output):
        return design
    kept = {k: b for k, b in job.inputs.items() if k != wire.input}
    return _replace_job(design, replace(job, inputs=kept))


# --------------------------------------------------------------------------- inspector


def set_input(design: Design, job: str, input_name: str, binding: Binding | None) -> Design:
    """Bind (or with ``None`` unbind) one input of ``job``."""
    spec = _require_job(design, job)
    inputs = dict(spec.inputs)
    if binding is None:
        inputs.pop(input_name, None)
    else:
        inputs[input_name] = binding
    return _replace_job(design, replace(spec, inputs=inputs))


def set_parameter(design: Design, job: str, name: str, value: Any) -> Design:
    """Set a parameter to a literal value (``None`` returns it to the component default)."""
    return set_input(design, job, name, None if value is None else LiteralValue(value))


def set_external_input(design: Design, job: str, input_name: str, path: str, data_type: str) -> Design:
    """Bind a data input directly to an external file or folder (``{type, path}`` in YAML)."""
    return set_input(design, job, input_name, ExternalData(path=path, type=data_type))


def set_compute(design: Design, job: str, compute: str | None) -> Design:
    """Set the job's compute target (``None``: the component's or the pipeline default)."""
    spec = _require_job(design, job)
    return _replace_job(design, replace(spec, compute=compute or None))


def effective_compute(design: Design, job: str, component: ComponentSpec | None, default: str = "local") -> str:
    """The compute target the job will ask for: job → component → pipeline default → ``default``
    (the workspace default)."""
    spec = _require_job(design, job)
    return (
        spec.compute
        or (component.compute if component else None)
        or design.pipeline.settings.default_compute
        or default
    )


# --------------------------------------------------------------------------- layout


def layout_to_dict(design: Design) -> dict[str, dict[str, dict[str, float]]]:
    """The layout as the registry stores it: ``{"nodes": {job: {"x": .., "y": ..}}}``."""
    return {"nodes": {name: {"x": round(x, 1), "y": round(y, 1)} for name, (x, y) in design.layout.items()}}


def layout_from_dict(data: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """Read a saved layout; accepts ``{job: {"x", "y"}}``, ``{job: [x, y]}`` and a
    ``{"nodes": {...}}`` wrapper. Malformed entries are skipped (the job is laid out)."""
    if isinstance(data.get("nodes"), Mapping):
        data = data["nodes"]
    result: dict[str, tuple[float, float]] = {}
    for name, pos in data.items():
        try:
            if isinstance(pos, Mapping):
                result[str(name)] = (float(pos["x"]), float(pos["y"]))
            elif isinstance(pos, list | tuple) and len(pos) == 2:
                result[str(name)] = (float(pos[0]), float(pos[1]))
        except (KeyError, TypeError, ValueError):
            continue
    return result


def auto_layout(pipeline: PipelineSpec) -> dict[str, tuple[float, float]]:
    """Columns by depth in the graph (sources left), rows in file order.

    The depth walk keeps its own stack, so a chain of any length lays out; an upstream job
    already on the walk's path is a cycle (validation reports it) and counts as depth 0."""
    ups = {name: [b.job for b in job.inputs.values() if isinstance(b, JobOutput) and b.job in pipeline.jobs]
           for name, job in pipeline.jobs.items()}
    depth: dict[str, int] = {}
    for start in pipeline.jobs:
        if start in depth:
            continue
        on_path = {start}
        stack = [(start, iter(ups[start]))]
        while stack:
            name, pending = stack[-1]
            up = next((u for u in pending if u not in depth and u not in on_path), None)
            if up is not None:
                on_path.add(up)
                stack.append((up, iter(ups[up])))
                continue
            depth[name] = 1 + max((0 if u in on_path else depth[u] for u in ups[name]), default=-1)
            stack.pop()
            on_path.discard(name)

    rows: dict[int, int] = {}
    layout: dict[str, tuple[float, float]] = {}
    for name in pipeline.jobs:
        col = depth[name]
        row = rows.get(col, 0)
        rows[col] = row + 1
        layout[name] = (40.0 + col * _GRID_X, 60.0 + row * _GRID_Y)
    return layout
