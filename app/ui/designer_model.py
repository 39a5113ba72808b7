"""The designer's model: a pipeline being edited on the canvas, as pure data.

A :class:`Design` is a :class:`~components.spec.PipelineSpec` plus where each job sits
on the canvas and the edges drawn whose output→input mapping still awaits a choice.
Every edit is a pure function ``Design -> Design`` (or an outcome holding one), so the
wiring rules are unit-tested without Streamlit. The canvas adapter
(:mod:`app.ui.canvas`) turns a design into streamlit-flow nodes and edges and turns the
canvas' reports back into calls of these functions.

Wiring rules (``connect``): streamlit-flow has one unnamed output handle and one
unnamed input handle per node, so an edge only says "source feeds target". The mapping
is chosen here:

1. candidates are the (output, input) pairs whose types fit (:func:`types_fit`), where
   the input is a data input not already fed by another job;
2. one candidate → connected; otherwise prefer inputs with no binding at all, then pairs
   whose names match; exactly one left → connected;
3. several left → the edge is *pending* and the inspector asks which output feeds
   which input; none → refused with the reason (no outputs, no data inputs, types,
   already fed, cycle).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from components.errors import Problem
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
    "CanvasEdge",
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
    "edges",
    "upstream_jobs",
    "connect",
    "wire_options",
    "choose_wire",
    "disconnect",
    "set_input",
    "set_parameter",
    "set_compute",
    "set_external_input",
    "effective_compute",
    "design_problems",
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
    """A pipeline on the canvas: the spec, job positions and edges awaiting a mapping."""

    pipeline: PipelineSpec
    layout: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    pending: tuple[tuple[str, str], ...] = ()  #: (source, target) drawn, mapping not chosen


@dataclass(frozen=True)
class Wire:
    """One mapping: ``source``'s output ``output`` feeds ``target``'s input ``input``."""

    source: str
    output: str
    target: str
    input: str

    def label(self) -> str:
        return f"{self.output} → {self.input}"


@dataclass(frozen=True)
class CanvasEdge:
    """One arrow on the canvas: every wire from one job to another, or a pending edge."""

    source: str
    target: str
    wires: tuple[Wire, ...] = ()
    pending: bool = False

    @property
    def id(self) -> str:
        return edge_id(self.source, self.target)

    def label(self) -> str:
        if self.pending:
            return "choose output → input"
        return ", ".join(w.label() for w in self.wires)


@dataclass(frozen=True)
class WireOutcome:
    """What drawing an edge did: ``connected`` (with ``wires``), ``choose`` (the edge is
    pending; ``choices`` are the fitting pairs) or ``refused`` (``reason`` says why)."""

    design: Design
    status: Literal["connected", "choose", "refused"]
    wires: tuple[Wire, ...] = ()
    choices: tuple[Wire, ...] = ()
    reason: str = ""


def edge_id(source: str, target: str) -> str:
    """The canvas id of the edge from ``source`` to ``target``."""
    return f"edge:{source}->{target}"


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
    pending = tuple(p for p in design.pending if job not in p)
    pipeline = replace(design.pipeline, jobs=jobs, outputs=outputs)
    return replace(design, pipeline=pipeline, layout=layout, pending=pending)


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


def edges(design: Design) -> list[CanvasEdge]:
    """The arrows to draw: one per (source, target) with its wires, then pending edges."""
    grouped: dict[tuple[str, str], list[Wire]] = {}
    for target, job in design.pipeline.jobs.items():
        for input_name, binding in job.inputs.items():
            if isinstance(binding, JobOutput) and binding.job in design.pipeline.jobs:
                key = (binding.job, target)
                grouped.setdefault(key, []).append(Wire(binding.job, binding.output, target, input_name))
    result = [CanvasEdge(s, t, tuple(w)) for (s, t), w in grouped.items()]
    result += [CanvasEdge(s, t, pending=True) for s, t in design.pending if (s, t) not in grouped]
    return result


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


def wire_options(design: Design, source: str, target: str, resolve: Resolve) -> tuple[list[Wire], str]:
    """Every (output, input) pair that may be wired from ``source`` to ``target``.

    Returns the pairs and, when there are none, the reason. Inputs already fed by
    another job are left out; an input bound to a pipeline input or a path may be
    rewired.
    """
    if source == target:
        return [], f"Cannot connect job '{source}' to itself: a job cannot feed its own inputs."
    src_job, tgt_job = _require_job(design, source), _require_job(design, target)
    if target in upstream_jobs(design, source):
        return [], (
            f"Cannot connect '{source}' to '{target}': '{target}' already feeds '{source}', "
            "so the edge would make a cycle. Pipelines must be acyclic; remove one of the edges first."
        )
    src, tgt = job_component(src_job, resolve), job_component(tgt_job, resolve)
    if src is None or tgt is None:
        missing = src_job if src is None else tgt_job
        return [], (
            f"Cannot connect '{source}' to '{target}': component '{missing.component}' of job "
            f"'{missing.name}' is not registered. Register it or replace the job."
        )
    if not src.outputs:
        return [], f"Cannot connect '{source}' to '{target}': component '{src.ref}' has no outputs."
    data_inputs = [i for i in tgt.inputs.values() if i.is_data]
    if not data_inputs:
        params = _describe(tgt.inputs.values())
        return [], (
            f"Cannot connect '{source}' to '{target}': component '{tgt.ref}' has no data inputs "
            f"(its inputs are parameters: {params}); outputs are folders or files and can only feed data inputs."
        )
    free = [i for i in data_inputs if not isinstance(tgt_job.inputs.get(i.name), JobOutput)]
    if not free:
        fed = ", ".join(
            f"{i.name} ← {tgt_job.inputs[i.name].job}.{tgt_job.inputs[i.name].output}"  # type: ignore[union-attr]
            for i in data_inputs
        )
        return [], (
            f"Cannot connect '{source}' to '{target}': every data input of '{target}' is already fed ({fed}). "
            "Delete one of those edges first."
        )
    pairs = [
        Wire(source, o.name, target, i.name) for o in src.outputs.values() for i in free if types_fit(o.type, i.type)
    ]
    if not pairs:
        return [], (
            f"Cannot connect '{source}' to '{target}': no output of '{source}' fits a free input of "
            f"'{target}' — outputs: {_describe(src.outputs.values())}; free data inputs: {_describe(free)}. "
            "A file output fits only a uri_file input; folder types fit each other."
        )
    return pairs, ""


def connect(design: Design, source: str, target: str, resolve: Resolve) -> WireOutcome:
    """Draw an edge from ``source`` to ``target`` and map it (see the module docstring)."""
    pairs, reason = wire_options(design, source, target, resolve)
    if not pairs:
        return WireOutcome(design, "refused", reason=reason)
    chosen: Wire | None = None
    if len(pairs) == 1:
        chosen = pairs[0]
    else:
        tgt_job = design.pipeline.jobs[target]
        unbound = [w for w in pairs if w.input not in tgt_job.inputs]
        narrowed = unbound or pairs
        named = [w for w in narrowed if w.output == w.input]
        if len(narrowed) == 1:
            chosen = narrowed[0]
        elif len(named) == 1:
            chosen = named[0]
    if chosen is not None:
        return WireOutcome(choose_wire(design, chosen), "connected", wires=(chosen,))
    pending = design.pending if (source, target) in design.pending else (*design.pending, (source, target))
    return WireOutcome(replace(design, pending=pending), "choose", choices=tuple(pairs))


def choose_wire(design: Design, wire: Wire) -> Design:
    """Bind ``wire.target``'s input to ``wire.source``'s output; clears the pending edge."""
    job = _require_job(design, wire.target)
    _require_job(design, wire.source)
    updated = replace(job, inputs={**job.inputs, wire.input: JobOutput(wire.source, wire.output)})
    design = _replace_job(design, updated)
    pending = tuple(p for p in design.pending if p != (wire.source, wire.target))
    return replace(design, pending=pending)


def disconnect(design: Design, source: str, target: str) -> Design:
    """Delete the edge from ``source`` to ``target``: every wire and any pending mapping."""
    pending = tuple(p for p in design.pending if p != (source, target))
    job = design.pipeline.jobs.get(target)
    if job is None:
        return replace(design, pending=pending)
    kept = {k: b for k, b in job.inputs.items() if not (isinstance(b, JobOutput) and b.job == source)}
    return replace(_replace_job(design, replace(job, inputs=kept)), pending=pending)


# --------------------------------------------------------------------------- inspector


def set_input(design: Design, job: str, input_name: str, binding: Binding | None) -> Design:
    """Bind (or with ``None`` unbind) one input of ``job``; a pending edge it settles is cleared."""
    spec = _require_job(design, job)
    inputs = dict(spec.inputs)
    if binding is None:
        inputs.pop(input_name, None)
    else:
        inputs[input_name] = binding
    design = _replace_job(design, replace(spec, inputs=inputs))
    if isinstance(binding, JobOutput):
        design = replace(design, pending=tuple(p for p in design.pending if p != (binding.job, job)))
    return design


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


def design_problems(design: Design) -> list[Problem]:
    """Problems only the designer knows about: edges whose mapping awaits a choice."""
    return [
        Problem(
            message=(
                f"the edge from '{s}' to '{t}' needs a mapping: choose which output of '{s}' "
                f"feeds which input of '{t}' in the inspector, or delete the edge"
            ),
            job=t,
        )
        for s, t in design.pending
    ]


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
