"""Keeping what a clone of a run needs (cloning itself: ``app/services/clones.py``).

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

from app.services.workspace import Workspace
from components.errors import DuctworkError
from components.serialize import dump_yaml, pipeline_to_dict
from components.spec import ComponentSpec, PipelineSpec

__all__ = ["record_run_pipeline", "run_pipeline_path"]

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
