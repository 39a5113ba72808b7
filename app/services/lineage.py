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
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from app.services.workspace import Workspace
from components.errors import DuctworkError
from components.serialize import dump_yaml, pipeline_to_dict
from components.spec import ComponentSpec, PipelineSpec

__all__ = ["record_run_pipeline", "run_pipeline_path", "run_layout", "ArtifactUse", "Lineage", "artifact_lineage",
           "LINEAGE_RUNS"]

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


# ------------------------------------------------------------------------- layout of a run


def run_layout(ws: Workspace, run: Any) -> dict[str, Any]:
    """The canvas layout saved with the pipeline run ``run`` (a ``RunRecord``) executed:
    its registered version's layout, else the ``layout:`` of the pipeline file it was
    started from; ``{}`` when there is none (the run page lays the jobs out itself)."""
    source = Path(run.source) if run.source else None
    if run.version and not (source is not None and source.is_file()):
        try:
            return dict(ws.registry.get_pipeline(run.pipeline, str(run.version)).layout or {})
        except Exception:  # noqa: BLE001 - the registry lost it: no layout, the jobs are laid out
            return {}
    if source is not None and source.is_file() and source.suffix in (".yml", ".yaml"):
        try:
            raw = yaml.safe_load(source.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return {}
        layout = raw.get("layout") if isinstance(raw, dict) else None
        return dict(layout) if isinstance(layout, dict) else {}
    return {}


# ------------------------------------------------------------------------- artifact lineage

#: how many of the latest runs :func:`artifact_lineage` looks through
LINEAGE_RUNS = 2000


@dataclass(frozen=True)
class ArtifactUse:
    """One step run that made or read an artifact: ``port`` is the output (producers) or the
    input (consumers) it came out of or went into."""

    run_id: str
    job: str
    port: str
    status: str  #: the step run's status: ``completed`` (it committed the artifact), ``reused``, …
    pipeline: str
    component: str
    started_at: float | None


@dataclass(frozen=True)
class Lineage:
    """Where an artifact came from and where it went, newest runs first."""

    digest: str | None  #: ``None`` for an external path (``path`` is set)
    path: str | None  #: the file or folder asked about
    producers: tuple[ArtifactUse, ...]  #: step runs whose output it is (committed or reused)
    consumers: tuple[ArtifactUse, ...]  #: step runs that read it as an input

    @property
    def runs(self) -> list[str]:
        """Every run that made or read it, newest first, each once."""
        return list(dict.fromkeys(u.run_id for u in (*self.producers, *self.consumers)))


def _digest_of(ws: Workspace, digest_or_path: str | Path) -> tuple[str | None, str | None]:
    """``(digest, None)`` for an artifact digest or a path inside the artifact store;
    ``(None, absolute path)`` for any other path (an external input)."""
    text = str(digest_or_path)
    if "/trees/" in text and text.split(" (")[0].endswith(".json"):  # an object store's tree (output_paths)
        return text.split(" (")[0].rsplit("/", 1)[-1][:-len(".json")], None
    candidate = Path(text)
    if candidate.is_absolute() or os.sep in text or "/" in text:
        absolute = candidate.expanduser().absolute()
        try:
            inside = absolute.relative_to(ws.artifacts_dir.absolute())
        except ValueError:
            return None, str(absolute)
        return (inside.parts[0], None) if inside.parts else (None, str(absolute))
    return text, None


def artifact_lineage(ws: Workspace, digest_or_path: str | Path, limit: int = LINEAGE_RUNS) -> Lineage:
    """The lineage of an artifact, by its digest or a path to it (in the artifact store, or
    an external file or folder a step read): the step runs of the latest ``limit`` runs
    whose outputs are it and those whose inputs read it (by data digest, or for an external
    path by the path it was read from). Reads the run store only (one short transaction)."""
    from engine.duckdb_store import DuckDBRunStore
    from engine.runstore import RunFilter

    digest, path = _digest_of(ws, digest_or_path)
    store = DuckDBRunStore(ws.runs_db)
    with store.reading():
        runs = store.list_runs(RunFilter(), limit)
        steps = store.step_runs_of([r.id for r in runs])
    producers: list[ArtifactUse] = []
    consumers: list[ArtifactUse] = []
    for run in runs:
        for step in steps.get(run.id, []):
            if digest is not None:
                producers += [_use(run, step, name) for name, ref in step.outputs.items() if ref.digest == digest]
            consumers += [_use(run, step, name) for name in _inputs_reading(step.ingredients or {}, digest, path)]
    return Lineage(digest, path, tuple(producers), tuple(consumers))


def _use(run: Any, step: Any, port: str) -> ArtifactUse:
    return ArtifactUse(run.id, step.job, port, step.status, run.pipeline, step.component, step.started_at)


def _inputs_reading(ingredients: dict[str, Any], digest: str | None, path: str | None) -> Iterable[str]:
    if digest is not None:
        return [name for name, value in (ingredients.get("inputs") or {}).items() if value == digest]
    wanted = f"path:{path}"
    return [name for name, source in (ingredients.get("input_sources") or {}).items() if source == wanted]
