"""Where pipelines come from: cloning a run, and keeping what a clone needs.

``ductwork runs clone`` and the designer's "clone into designer" both call
:func:`cloned_pipeline`: the pipeline exactly as the run executed it, with the run's
parameter values written into the pipeline inputs. :func:`clone_run` registers that as a
new pipeline version remembering ``cloned_from_run``.

Runs of a registered pipeline clone from the registry: a pipeline version and the component
versions it pins are immutable, and the run store records the pipeline's name and version.

Runs started from a file (``ductwork run p.yml``, a designer run of an unsaved design,
``ductwork component run``) do not register anything — registering every run of a file
being edited would fill the registry with versions and refuse a component whose code
changed under the same version. The file may have changed by the time someone clones
the run, so instead :func:`record_run_pipeline` writes, when such a run starts, the
pipeline as it ran to ``<home>/run_pipelines/<run id>.yml``: components inline, each code
folder snapshotted once per content digest into ``<home>/snapshots/`` (as registration
does). The cost is a few stat calls and one small file per run; a snapshot is copied
only the first time its code content is seen. Runs recorded before this existed fall
back to their file, and are cloned only if every component still has the digest it ran
with.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.services.workspace import Workspace
from components.errors import DuctworkError
from components.spec import ComponentSpec, PipelineInput, PipelineSpec

if TYPE_CHECKING:  # the registry (SQLModel) is imported only by the functions that use it
    from registry.pipeline_store import PipelineRegistration

__all__ = ["record_run_pipeline", "run_pipeline_path", "cloned_pipeline", "clone_run", "clone_yaml"]

_log = logging.getLogger(__name__)


def run_pipeline_path(ws: Workspace, run_id: str) -> Path:
    """Where the pipeline of a run that was not started from the registry is kept."""
    return ws.home / "run_pipelines" / f"{run_id}.yml"


def _snapshot(ws: Workspace, comp: ComponentSpec) -> Path:
    """Copy what a component's digest covers into ``snapshots/<digest>`` (the registry's rule,
    ``registry.snapshots.snapshot_component``). Uses no registry, so a run of files never
    imports SQLModel."""
    from registry.snapshots import snapshot_component

    return snapshot_component(comp, ws.snapshots_dir)[1]


def _frozen(ws: Workspace, spec: PipelineSpec) -> PipelineSpec:
    """``spec`` with each inline or file component's code at its snapshot (copied if new)."""
    jobs = {}
    for name, job in spec.jobs.items():
        comp = job.component
        if isinstance(comp, ComponentSpec) and comp.code is not None:
            comp = replace(comp, code=_snapshot(ws, comp))
        jobs[name] = replace(job, component=comp)
    return replace(spec, jobs=jobs)


def record_run_pipeline(ws: Workspace, run_id: str, spec: PipelineSpec, source: str | None) -> Path | None:
    """Keep the pipeline of run ``run_id`` for a later clone, unless it came from the registry.

    ``source`` is the run's source label (a file path, a registered reference, or ``None``
    for a spec built in memory). Never fails the run: a problem is logged and ``None`` returned.
    """
    from components.serialize import dump_yaml, pipeline_to_dict

    from_registry = source is not None and spec.version is not None and not Path(source).is_file()
    if from_registry:
        return None
    target = run_pipeline_path(ws, run_id)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        data = pipeline_to_dict(_frozen(ws, spec))
        # YAML emission is slow (≈ 2 s for 1,000 jobs): write each distinct pipeline once,
        # keyed by a hash of its content, and copy it for every later run of the same content
        key = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:32]
        kept = target.parent / "by-content" / f"{key}.yml"
        if not kept.is_file():
            kept.parent.mkdir(exist_ok=True)
            staged = kept.with_name(f"{key}.{os.getpid()}.part")
            staged.write_text(dump_yaml(data), encoding="utf-8")
            staged.replace(kept)
        partial = target.with_suffix(".part")
        shutil.copyfile(kept, partial)
        partial.replace(target)
    except (OSError, DuctworkError) as exc:
        _log.warning("run %s: its pipeline could not be kept for cloning: %s", run_id, exc)
        return None
    return target


def _check_unchanged(ws: Workspace, spec: PipelineSpec, run_id: str, file: str) -> None:
    """Refuse a file whose components no longer have the digests the run's steps recorded."""
    from app.services.pipelines import resolve_pipeline_spec
    from app.services.runs import run_store
    from components.digest import component_digest

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
    from app.services.runs import get_run
    from components.pipeline_loader import load_pipeline_file

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
    from app.services.pipelines import register_pipeline

    spec, layout, run = cloned_pipeline(ws, run_id)
    return register_pipeline(ws, spec, name=name, layout=layout or None, cloned_from_run=run.id)


def clone_yaml(ws: Workspace, run_id: str, name: str | None = None) -> str:
    """The YAML of a run's clone, to edit and run as a file (``runs clone --output``)."""
    from components.serialize import dump_yaml, pipeline_to_dict

    spec, _layout, _run = cloned_pipeline(ws, run_id)
    if name:
        from components.fields import check_name

        if (problem := check_name(name)) is not None:
            raise DuctworkError(f"pipeline {problem}")
        spec = replace(spec, name=name)
    return dump_yaml(pipeline_to_dict(spec))
