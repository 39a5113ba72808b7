"""First start: seed a workspace with the built-in components, templates and compute targets.

:func:`seed_workspace` registers every component of ``components/library``, stores each
template (as a registry template for the designer's "New from template", and as a
registered pipeline so that ``ductwork run text_classification`` works at once), and adds
the compute targets ``cpu-highmem`` and ``gpu`` beside the registry's own ``local``.
It is idempotent: a second call registers nothing new, and it never changes what a
person has changed (a compute target or pipeline of the same name is left alone).

:func:`seed_on_open` is the workspace open hook. It re-seeds only when the library's files
changed since the last seed (a stat of ~60 files, recorded in ``<home>/library.seed``), so
opening a workspace stays cheap.

Compute targets, locally and on a cluster — the rule, decided here:
- ``cpu-highmem`` asks for CPUs and memory only (no custom resource): the embedded local
  Ray advertises no ``highmem`` resource, so a custom request would never be scheduled.
  On a cluster, add it: ``ductwork compute update cpu-highmem --resource highmem=1`` and
  start the big nodes with ``ray start --resources '{"highmem": 1}'``.
- ``gpu`` asks for one GPU only when a GPU is visible on the machine that creates the
  workspace (``/proc/driver/nvidia/gpus`` or ``nvidia-smi -L``, honouring
  ``CUDA_VISIBLE_DEVICES``). Without one it asks for none, so its steps still run — the
  transformer component then trains on the CPU and says so in its log — and its
  description says how to turn the GPU request on. A request no node can satisfy would
  otherwise fail every run of the template on a laptop.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.services.workspace import Workspace
from components.errors import DuctworkError
from components.library import LIBRARY_DIR, component_files, list_templates
from components.spec import ComponentRef, PipelineSpec

__all__ = ["SeedReport", "seed_workspace", "seed_on_open", "builtin_compute_targets", "visible_gpus", "SEED_FILE"]

#: Written in the workspace folder after a seed: the library fingerprint it was seeded from.
SEED_FILE = "library.seed"
SEED_LOCK = ".seed.lock"  #: held while one process seeds, so that concurrent first opens seed once
GIB = 2**30
_log = logging.getLogger(__name__)


@dataclass
class SeedReport:
    """What one seed did; ``added`` lists ``kind:name`` of everything new (empty on a second call)."""

    added: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def visible_gpus() -> int:
    """How many NVIDIA GPUs this process can see (0 when ``CUDA_VISIBLE_DEVICES`` hides them)."""
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in ("", "-1"):
        return 0
    proc = Path("/proc/driver/nvidia/gpus")
    count = len(list(proc.iterdir())) if proc.is_dir() else 0
    if not count and shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False)
            count = sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.SubprocessError):
            count = 0
    if count and hidden:
        count = min(count, len([d for d in hidden.split(",") if d.strip()]))
    return count


def builtin_compute_targets(gpus: int | None = None) -> list[dict[str, Any]]:
    """The seeded targets (besides ``local``) as keyword arguments of ``add_compute``.

    ``gpus`` is the number of visible GPUs (detected when ``None``); see the module doc.
    """
    import psutil

    cpus = float(min(2, os.cpu_count() or 1))
    memory = min(4 * GIB, psutil.virtual_memory().total // 4)
    has_gpu = (visible_gpus() if gpus is None else gpus) > 0
    gpu_note = (
        "One GPU per step." if has_gpu else
        "No GPU was visible when this workspace was created: requests none, so its steps run on the CPU. "
        "On a GPU machine: ductwork compute update gpu --gpus 1"
    )
    return [
        {"name": "cpu-highmem", "cpus": cpus, "gpus": 0.0, "memory": int(memory), "price_per_hour": 0.5,
         "description": "Memory-heavy data preparation (example price). On a cluster add --resource highmem=1."},
        {"name": "gpu", "cpus": 1.0, "gpus": 1.0 if has_gpu else 0.0, "memory": None, "price_per_hour": 2.5,
         "description": "Transformer training (example price). " + gpu_note},
    ]


def _seed_compute(ws: Workspace, report: SeedReport, gpus: int | None) -> None:
    from app.services.compute import add_compute

    existing = set(ws.registry.compute_names())
    for target in builtin_compute_targets(gpus):
        name = target.pop("name")
        if name in existing:
            report.kept.append(f"compute:{name}")
            continue
        add_compute(ws, name, **target)
        report.added.append(f"compute:{name}")


def _seed_components(ws: Workspace, report: SeedReport) -> None:
    from components.loader import load_component_file

    for path in component_files():
        spec = load_component_file(path)
        conflict = ws.registry.component_conflict(spec)
        if conflict:
            report.warnings.append(f"built-in {conflict}; the registered one was kept")
            continue
        result = ws.registry.register_component(spec)
        (report.added if result.created else report.kept).append(f"component:{spec.ref}")


def _pinned(spec: PipelineSpec) -> PipelineSpec:
    """``spec`` with every job's component replaced by its registered ``name:version``."""
    jobs = {name: replace(job, component=ComponentRef(job.component.name, job.component.version))
            for name, job in spec.jobs.items()}
    return replace(spec, jobs=jobs, source=None, warnings=())


def _seed_templates(ws: Workspace, report: SeedReport) -> None:
    from app.services.pipelines import register_pipeline
    from components.pipeline_loader import load_pipeline_file
    from components.serialize import pipeline_to_dict
    from registry import TemplateBase

    known = {t.name: t for t in ws.registry.list_templates()}
    pipelines = {p.name for p in ws.registry.list_pipelines()}
    for info in list_templates():
        spec = load_pipeline_file(info.pipeline_file)
        stored = json.loads(json.dumps(pipeline_to_dict(_pinned(spec))))  # data paths absolute: into the library
        template = TemplateBase(name=info.name, display_name=info.title, description=info.description,
                                spec=stored, layout={}, tags=dict(info.tags), builtin=True)
        old = known.get(info.name)
        if old is None or (old.builtin and (old.spec, old.description, old.display_name)
                           != (stored, info.description, info.title)):
            ws.registry.save_template(template)
            report.added.append(f"template:{info.name}")
        else:
            report.kept.append(f"template:{info.name}")
        if spec.name in pipelines:  # never add a version over a pipeline someone may have edited
            report.kept.append(f"pipeline:{spec.name}")
            continue
        register_pipeline(ws, info.pipeline_file)
        report.added.append(f"pipeline:{spec.name}")


def seed_workspace(ws: Workspace, *, gpus: int | None = None) -> SeedReport:
    """Register the built-in components, templates (and their pipelines) and compute targets.

    Idempotent. ``gpus`` overrides GPU detection for the ``gpu`` target (see the module doc).
    Compute targets come first: registering the template pipelines validates their ``compute:``.
    """
    report = SeedReport()
    _seed_compute(ws, report, gpus)
    _seed_components(ws, report)
    _seed_templates(ws, report)
    return report


def library_fingerprint() -> str:
    """A cheap digest of the library's files (path, size, mtime): changes when the library does."""
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(LIBRARY_DIR.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            stat = path.stat()
            digest.update(f"{path.relative_to(LIBRARY_DIR)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def seed_on_open(ws: Workspace, seed: Callable[[Workspace], SeedReport] = seed_workspace) -> SeedReport | None:
    """Open hook: seed when the workspace has not been seeded from this library yet; else do nothing.

    ``DUCTWORK_SEED=0`` turns first-start seeding off (an empty workspace, e.g. for tests that
    count what they registered). A seed that fails leaves the workspace usable and says why.
    """
    if os.environ.get("DUCTWORK_SEED", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    marker = ws.home / SEED_FILE
    stamp = json.dumps({"library": library_fingerprint(), "db_url": ws.db_url}, sort_keys=True)
    if _seeded(marker, stamp):
        return None
    # two first opens at once (two runs, the app and a CLI call) seed once: the second waits for
    # the first and then finds the stamp written
    with open(ws.home / SEED_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _seeded(marker, stamp):
            return None
        try:
            report = seed(ws)
        except DuctworkError as exc:
            _log.warning("the built-in library could not be seeded into workspace '%s': %s", ws.home, exc)
            return None
        for warning in report.warnings:
            _log.warning("%s", warning)
        partial = marker.with_name(f"{SEED_FILE}.{os.getpid()}")
        partial.write_text(stamp, encoding="utf-8")
        os.replace(partial, marker)
    return report


def _seeded(marker: Path, stamp: str) -> bool:
    try:
        return marker.read_text(encoding="utf-8") == stamp
    except OSError:
        return False
