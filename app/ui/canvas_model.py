"""What the canvas draws: a design (or a run) as the model of docs/canvas-protocol.md.

Pure: no Streamlit, no workspace. The designer page and the run page build their model
here and hand it to :func:`app.ui.canvas.draw_canvas`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.ui import designer_model as dm
from components.errors import Problem
from components.spec import ComponentSpec, ExternalData, JobOutput, LiteralValue, ParentInput

__all__ = ["PaletteEntry", "build_model", "job_ports", "fits_table", "preview_marks", "DATA_TYPES"]

#: The data types every model's ``fits`` table covers (more are added from the components seen).
DATA_TYPES = ("uri_folder", "uri_file", "mltable", "mlflow_model", "custom_model")


@dataclass(frozen=True)
class PaletteEntry:
    """One palette entry: a registered component's latest version."""

    name: str
    version: str
    title: str
    description: str
    group: str

    def to_dict(self) -> dict[str, str]:
        return {"ref": f"{self.name}:{self.version}", "name": self.name, "version": self.version,
                "title": self.title, "description": self.description, "group": self.group}


def _bound(binding: Any) -> str | None:
    if isinstance(binding, JobOutput):
        return "job"
    if isinstance(binding, ExternalData | ParentInput):
        return "external"
    if isinstance(binding, LiteralValue):
        return "literal"
    return None


def job_ports(job: Any, component: ComponentSpec | None) -> tuple[list[dict], list[dict]]:
    """A job's data inputs (with how each is bound, and whether a required one is missing)
    and its outputs, as the canvas draws their handles."""
    if component is None:
        return [], []
    inputs = []
    for inp in component.inputs.values():
        if not inp.is_data:
            continue
        bound = _bound(job.inputs.get(inp.name))
        inputs.append({"name": inp.name, "type": inp.type, "optional": not inp.required, "bound": bound,
                       "missing": inp.required and bound is None})
    outputs = [{"name": o.name, "type": o.type} for o in component.outputs.values()]
    return inputs, outputs


def fits_table(types: Iterable[str]) -> dict[str, list[str]]:
    """``fits[output_type]``: the input types it may feed (the validator's rule, :func:`dm.types_fit`)."""
    known = sorted({*DATA_TYPES, *types})
    return {o: [i for i in known if dm.types_fit(o, i)] for o in known}


def preview_marks(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """Per job, what the engine's plan says (``PlanPreview.rows()``): reused / will run / waits."""
    marks = {}
    for row in rows:
        action = str(row.get("action") or "")
        state = {"reuse": "reused", "run": "run", "wait": "waits"}.get(action, action)
        label = {"reused": "reused", "run": "will run", "waits": "waits"}.get(state, state)
        reason = str(row.get("reason") or "")
        marks[str(row["name"])] = {"state": state, "text": f"{label}: {reason}" if reason else label}
    return marks


def _ref(job: Any) -> str:
    """``name:version`` of a job's component (``name`` alone when it asks for the latest)."""
    comp = job.component
    return f"{comp.name}:{comp.version}" if comp.version else comp.name


def build_model(
    design: dm.Design,
    components: Mapping[str, ComponentSpec | None],
    *,
    mount: str,
    rev: int,
    ack: Mapping[str, Any] | None = None,
    mode: str = "design",
    problems: Iterable[Problem] = (),
    preview: Mapping[str, Mapping[str, str]] | None = None,
    statuses: Mapping[str, Mapping[str, str]] | None = None,
    selection: Iterable[str] = (),
    notice: Mapping[str, Any] | None = None,
    palette: Iterable[PaletteEntry] = (),
    dirty: bool = False,
    restorable: bool = False,
    can_undo: bool = False,
    can_redo: bool = False,
    draft: Mapping[str, Any] | None = None,
    default_compute: str = "local",
) -> dict[str, Any]:
    """The canvas model of ``design``; ``components`` maps each job to its resolved component."""
    by_job: dict[str, list[str]] = {}
    for problem in problems:
        if problem.job in design.pipeline.jobs and problem.severity != "warning":
            by_job.setdefault(problem.job, []).append(problem.message)
    jobs, types = [], set()
    for name, job in design.pipeline.jobs.items():
        comp = components.get(name)
        inputs, outputs = job_ports(job, comp)
        types.update(p["type"] for p in (*inputs, *outputs))
        x, y = design.layout.get(name, (0.0, 0.0))
        jobs.append({
            "id": name, "x": x, "y": y,
            "title": (comp.display_name if comp and comp.display_name else "") or job.component.name,
            "component": _ref(job),
            "compute": dm.effective_compute(design, name, comp, default_compute),
            "inputs": inputs, "outputs": outputs, "problems": by_job.get(name, []),
            "preview": dict(preview[name]) if preview and name in preview else None,
            "status": dict(statuses[name]) if statuses and name in statuses else None,
        })
    edges = [{"id": w.id, "source": w.source, "sourceHandle": w.output, "target": w.target, "targetHandle": w.input}
             for w in dm.wires(design)]
    read_only = mode != "design"
    return {
        "mount": mount, "rev": rev, "ack": dict(ack or {"client": "", "seq": 0}), "mode": mode,
        "readOnly": read_only, "dirty": dirty, "restorable": restorable and not read_only,
        "draft": dict(draft) if draft and dirty else None, "canUndo": can_undo, "canRedo": can_redo,
        "selection": [j for j in selection if j in design.pipeline.jobs],
        "notice": dict(notice) if notice else None, "jobs": jobs, "edges": edges,
        "palette": [] if read_only else [p.to_dict() for p in palette], "fits": fits_table(types),
    }
