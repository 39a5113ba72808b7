"""Cloning a run: the pipeline exactly as it ran, to edit, register or run again.

``ductwork runs clone`` and the designer's "clone into designer" both call
:func:`cloned_pipeline`: the pipeline exactly as the run executed it, with the run's
parameter values written into the pipeline inputs. :func:`clone_run` registers that as a
new pipeline version remembering ``cloned_from_run``. Where the pipeline of a run comes
from — the registry, or the copy :mod:`app.services.lineage` kept when a file run started —
is said there.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from app.services.lineage import run_pipeline_path
from app.services.pipelines import register_pipeline, resolve_pipeline_spec
from app.services.runs import get_run, run_store
from app.services.workspace import Workspace
from components.digest import component_digest
from components.errors import DuctworkError
from components.fields import check_name
from components.pipeline_loader import load_pipeline_file
from components.serialize import dump_yaml, pipeline_to_dict
from components.spec import ComponentSpec, PipelineInput, PipelineSpec
from registry.pipeline_store import PipelineRegistration

__all__ = ["cloned_pipeline", "clone_run", "clone_yaml"]


def _check_unchanged(ws: Workspace, spec: PipelineSpec, run_id: str, file: str) -> None:
    """Refuse a file whose components no longer have the digests the run's steps recorded."""

    resolved = resolve_pipeline_spec(ws, spec)
    changed = []
    for step in run_store(ws).step_runs(run_id):
        job = resolved.jobs.get(step.job)
        recorded = (step.ingredients or {}).get("component_digest")
        if job is None:
            changed.append(f"job '{step.job}' is gone")
        elif recorded and isinstance(job.component, ComponentSpec) and component_digest(job.component) != recorded:
            changed.append(f"component of job '{step.job}' changed")
    if changed:
        raise DuctworkError(
            f"run '{run_id}' cannot be cloned exactly: it ran from '{file}', which changed since "
            f"({'; '.join(changed)}), and it was recorded before Ductwork kept each run's pipeline. "
            "Run the file again and clone that run, or open the file itself."
        )


def _with_params(spec: PipelineSpec, params: dict[str, Any]) -> PipelineSpec:
    """``spec`` whose inputs hold the run's values (data inputs their paths)."""
    inputs = dict(spec.inputs)
    for name, value in params.items():
        current = inputs.get(name)
        if current is None:
            inputs[name] = PipelineInput(name=name, value=value)
        elif current.is_data:
            inputs[name] = replace(current, path=None if value is None else str(value))
        else:
            inputs[name] = replace(current, value=value)
    return replace(spec, inputs=inputs)


def cloned_pipeline(ws: Workspace, run_id: str) -> tuple[PipelineSpec, dict[str, Any], Any]:
    """The pipeline run ``run_id`` executed, with its parameter values as the inputs' values.

    Returns ``(spec, layout, run)``: ``spec`` has no version (saving it makes the next one),
    ``layout`` is the canvas layout of the registered version it ran (``{}`` otherwise) and
    ``run`` the run's record. Raises DuctworkError when the run's pipeline cannot be found.
    """

    run = get_run(ws, run_id).run
    frozen = run_pipeline_path(ws, run.id)
    layout: dict[str, Any] = {}
    if frozen.is_file():
        spec = load_pipeline_file(frozen)
    elif run.version and not (run.source and Path(run.source).is_file()):
        record = ws.registry.get_pipeline(run.pipeline, str(run.version))
        spec = ws.registry.load_pipeline_record(record)
        layout = dict(record.layout or {})
    elif run.source and Path(run.source).is_file():
        spec = load_pipeline_file(run.source)
        _check_unchanged(ws, spec, run.id, run.source)
    else:
        raise DuctworkError(
            f"run '{run.id}' cannot be cloned: its pipeline '{run.pipeline}' is not registered"
            + (f" and its file '{run.source}' is gone" if run.source else "")
            + ". Clone another run of it, or open the pipeline itself."
        )
    spec = _with_params(replace(spec, version=None, source=None, warnings=()), dict(run.params or {}))
    return spec, layout, run


def clone_run(ws: Workspace, run_id: str, name: str | None = None) -> PipelineRegistration:
    """Register the pipeline of run ``run_id`` (see :func:`cloned_pipeline`) as a new version of
    ``name`` (default: the run's pipeline), remembering ``cloned_from_run``.

    Content identical to the latest version of that name registers nothing and returns it
    (``created`` is False). Components that ran from files are registered too.
    """

    spec, layout, run = cloned_pipeline(ws, run_id)
    return register_pipeline(ws, spec, name=name, layout=layout or None, cloned_from_run=run.id)


def clone_yaml(ws: Workspace, run_id: str, name: str | None = None) -> str:
    """The YAML of a run's clone, to edit and run as a file (``runs clone --output``)."""

    spec, _layout, _run = cloned_pipeline(ws, run_id)
    if name:
        if (problem := check_name(name)) is not None:
            raise DuctworkError(f"pipeline {problem}")
        spec = replace(spec, name=name)
    return dump_yaml(pipeline_to_dict(spec))
