"""Services the visual designer needs beyond the CLI's: validating an unsaved pipeline,
reading uploaded YAML, exporting one, templates, and registering uploaded components.

Uploads are untrusted: sizes are capped, file names are reduced to a safe basename,
and a code zip is extracted only inside its own folder (no absolute paths, no ``..``,
no links), within a total size limit.
"""

from __future__ import annotations

import hashlib
import io
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from app.services.workspace import Workspace
from components.errors import DuctworkError, Problem
from components.fields import plain
from components.spec import PipelineSpec
from components.yamlio import MAX_YAML_BYTES, load_yaml_text

__all__ = [
    "MAX_YAML_BYTES",
    "MAX_ZIP_BYTES",
    "MAX_UNZIPPED_BYTES",
    "DesignSource",
    "sanitize_filename",
    "validate_design",
    "read_pipeline_upload",
    "export_design_yaml",
    "template_source",
    "pipeline_source",
    "register_component_upload",
]

MAX_ZIP_BYTES = 50 * 1024 * 1024  #: a component's code folder, zipped
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024  #: the same, extracted
MAX_ZIP_ENTRIES = 5000

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class DesignSource:
    """A pipeline to open in the designer: its spec, saved layout and where it came from."""

    spec: PipelineSpec
    layout: dict[str, Any]
    origin: str  #: ``name:version``, ``template:NAME``, ``run:ID`` or ``upload:FILE``


def sanitize_filename(name: str, default: str = "upload") -> str:
    """A safe basename: folders dropped, odd characters replaced, no leading dots, ≤ 100 chars."""
    base = PurePosixPath(str(name).replace("\\", "/")).name
    cleaned = _SAFE.sub("_", base).lstrip("._")[:100]
    return cleaned or default


def _check_size(what: str, filename: str, data: bytes, limit: int) -> None:
    if len(data) > limit:
        raise DuctworkError(
            f"{what} '{sanitize_filename(filename)}' is {len(data) / 1e6:.1f} MB, above the limit of "
            f"{limit / 1e6:.0f} MB; upload a smaller file or register it by path."
        )


def _upload_dir(ws: Workspace, data: bytes) -> Path:
    folder = ws.home / "uploads" / hashlib.sha256(data).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _parse_yaml(filename: str, data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DuctworkError(
            f"'{sanitize_filename(filename)}' is not UTF-8 text; upload a YAML file."
        ) from None
    return load_yaml_text(text, sanitize_filename(filename), require_mapping=False)


def validate_design(ws: Workspace, spec: PipelineSpec, resolve: Any = None) -> list[Problem]:
    """The problems ``ductwork validate`` would report for ``spec`` (errors only)."""
    from app.services.components import component_resolver
    from app.services.compute import compute_names
    from components.validate import validate_pipeline

    return validate_pipeline(spec, resolve or component_resolver(ws), compute_names(ws))


def read_pipeline_upload(ws: Workspace, filename: str, data: bytes) -> DesignSource:
    """A pipeline from an uploaded YAML file. Relative paths in it resolve inside the
    workspace's upload folder (an upload has no folder of its own): refer to registered
    components (``name:version``) and give data paths as absolute paths."""
    from components.pipeline_loader import pipeline_from_dict

    _check_size("pipeline file", filename, data, MAX_YAML_BYTES)
    raw = _parse_yaml(filename, data)
    if not isinstance(raw, dict) or raw.get("type", "pipeline") != "pipeline" or "jobs" not in raw:
        raise DuctworkError(
            f"'{sanitize_filename(filename)}' is not a pipeline file (expected 'type: pipeline' and 'jobs:'); "
            "register components on the Components page."
        )
    folder = _upload_dir(ws, data)
    safe = sanitize_filename(filename, "pipeline.yml")
    (folder / safe).write_bytes(data)
    spec = pipeline_from_dict(raw, folder, folder / safe)
    layout = raw.get("layout") if isinstance(raw.get("layout"), dict) else {}
    return DesignSource(spec, dict(layout or {}), f"upload:{safe}")


def export_design_yaml(spec: PipelineSpec) -> str:
    """The YAML of an (unsaved) design, as ``pipeline export`` writes a registered one."""
    from components.serialize import dump_yaml, pipeline_to_dict

    return dump_yaml(pipeline_to_dict(spec))


def template_source(ws: Workspace, name: str) -> DesignSource:
    """A new, unsaved pipeline from a template (``name`` as listed by the registry)."""
    from components.pipeline_loader import pipeline_from_dict

    template = ws.registry.get_template(name)
    spec = pipeline_from_dict(dict(template.spec), ws.home, None)
    return DesignSource(spec, dict(template.layout or {}), f"template:{name}")


def pipeline_source(ws: Workspace, ref: str) -> DesignSource:
    """A registered pipeline version with its saved layout."""
    from app.services.pipelines import get_pipeline

    record = get_pipeline(ws, ref)
    spec = ws.registry.load_pipeline_record(record)
    return DesignSource(spec, dict(record.layout or {}), record.ref)


def _extract_zip(filename: str, data: bytes, dest: Path) -> None:
    _check_size("code zip", filename, data, MAX_ZIP_BYTES)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DuctworkError(f"'{sanitize_filename(filename)}' is not a zip file; zip the component's code folder.") from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ZIP_ENTRIES:
            raise DuctworkError(
                f"'{sanitize_filename(filename)}' holds {len(entries)} files, above the limit of {MAX_ZIP_ENTRIES}."
            )
        total = sum(e.file_size for e in entries)
        if total > MAX_UNZIPPED_BYTES:
            raise DuctworkError(
                f"'{sanitize_filename(filename)}' extracts to {total / 1e6:.0f} MB, above the limit of "
                f"{MAX_UNZIPPED_BYTES / 1e6:.0f} MB."
            )
        root = dest.resolve()
        for entry in entries:
            parts = PurePosixPath(entry.filename.replace("\\", "/")).parts
            if entry.filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                raise DuctworkError(
                    f"'{sanitize_filename(filename)}' contains the unsafe path '{entry.filename}'; "
                    "zip the code folder with relative paths only."
                )
            if stat.S_ISLNK(entry.external_attr >> 16):
                raise DuctworkError(
                    f"'{sanitize_filename(filename)}' contains the link '{entry.filename}'; links are not accepted."
                )
            target = (root / Path(*parts)).resolve() if parts else root
            if root not in (target, *target.parents):
                raise DuctworkError(f"'{sanitize_filename(filename)}' entry '{entry.filename}' leaves its folder.")
            if entry.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(entry) as src, open(target, "wb") as out:
                out.write(src.read())


def _single_top_folder(folder: Path) -> Path:
    """A zip of ``src/`` extracts to ``code/src``: use that folder when it is the only entry."""
    children = [p for p in folder.iterdir() if p.name != "__MACOSX"]
    return children[0] if len(children) == 1 and children[0].is_dir() else folder


def register_component_upload(
    ws: Workspace, yaml_name: str, yaml_data: bytes, zip_name: str | None = None, zip_data: bytes | None = None
) -> list[Any]:
    """Register a component from an uploaded YAML file and, optionally, its code folder as a
    zip. The YAML's ``code:`` is pointed at the extracted folder. Returns the registrations."""
    from app.services.components import register_paths

    _check_size("component file", yaml_name, yaml_data, MAX_YAML_BYTES)
    raw = _parse_yaml(yaml_name, yaml_data)
    if not isinstance(raw, dict):
        raise DuctworkError(
            f"'{sanitize_filename(yaml_name)}' is not a component file (expected a mapping with "
            "'type: command', 'name', 'inputs', 'outputs' and 'command')."
        )
    if raw.get("type") == "pipeline" or "jobs" in raw:
        raise DuctworkError(
            f"'{sanitize_filename(yaml_name)}' is a pipeline; import it in the Designer (Import YAML)."
        )
    folder = _upload_dir(ws, yaml_data + (zip_data or b""))
    safe = sanitize_filename(yaml_name, "component.yml")
    if not safe.endswith((".yml", ".yaml")):
        safe += ".yml"
    if zip_data is not None:
        code = folder / "code"
        if not code.exists():
            code.mkdir()
            _extract_zip(zip_name or "code.zip", zip_data, code)
        raw = {**plain(raw), "code": str(_single_top_folder(code))}
        (folder / safe).write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    else:
        if raw.get("code") not in (None, ".", "./"):
            raise DuctworkError(
                f"component file '{safe}' has code: '{raw.get('code')}', a folder that was not uploaded; "
                "add its code folder as a zip, or register it by path."
            )
        (folder / safe).write_bytes(yaml_data)
    return register_paths(ws, [folder / safe])


def pipelines_using(ws: Workspace, name: str, version: str | None = None) -> list[tuple[str, list[str]]]:
    """Registered pipeline versions whose jobs use component ``name`` (at ``version`` when
    given): ``[(pipeline ref, [job, ...]), ...]``, newest pipelines first."""
    from app.services.pipelines import list_pipelines
    from components.pipeline_loader import parse_component_ref

    found: list[tuple[str, list[str]]] = []
    for record in list_pipelines(ws, all_versions=True):
        jobs = []
        for job_name, job in dict((record.spec or {}).get("jobs") or {}).items():
            text = job.get("component") if isinstance(job, dict) else None
            ref = parse_component_ref(text) if isinstance(text, str) else None
            if ref is not None and ref.name == name and (version is None or ref.version in (None, str(version))):
                jobs.append(job_name)
        if jobs:
            found.append((record.ref, jobs))
    return found


_CLUSTER_PROBE = """
import json, sys
import ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
nodes = [
    {"node": n.get("NodeManagerAddress", ""), "node_id": n.get("NodeID", "")[:12], "alive": bool(n.get("Alive")),
     "resources": {k: v for k, v in (n.get("Resources") or {}).items() if not k.startswith("node:")}}
    for n in ray.nodes()
]
print("DUCTWORK-NODES " + json.dumps(nodes))
ray.shutdown()
"""


def cluster_nodes(address: str, timeout: float = 60.0, auth_mode: str | None = None) -> list[dict[str, Any]]:
    """The nodes of the Ray cluster at ``address`` (``auto`` or ``HOST:PORT``) and their resources.

    Asked in a short-lived child process, so the app never holds a Ray connection (or
    starts a local Ray) itself. ``auth_mode``: the cluster's ``RAY_AUTH_MODE`` when known
    (the workspace's warm Ray records it)."""
    import json
    import os
    import subprocess
    import sys

    address = address.strip()
    if not address:
        raise DuctworkError("give the Ray cluster's address ('auto' for a cluster started here with "
                            "'ray start --head', or HOST:PORT)")
    try:
        env = {**os.environ, **({"RAY_AUTH_MODE": auth_mode} if auth_mode else {})}
        done = subprocess.run([sys.executable, "-c", _CLUSTER_PROBE, address], capture_output=True, text=True,
                              timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired:
        raise DuctworkError(f"the Ray cluster at '{address}' did not answer within {timeout:.0f} s; "
                            "check the address and that the cluster is running") from None
    for line in done.stdout.splitlines():
        if line.startswith("DUCTWORK-NODES "):
            return list(json.loads(line[len("DUCTWORK-NODES "):]))
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    raise DuctworkError(f"cannot connect to the Ray cluster at '{address}': {tail}. "
                        "Start one with 'ray start --head' or check the address.")


def step_counts(ws: Workspace, run_ids: list[str]) -> dict[str, dict[str, int]]:
    """How many steps of each run ended in each status: ``{run_id: {status: n}}``, in one
    short read of the run store (the runs table shows a page of runs at a time)."""
    from app.services.runs import run_store

    store = run_store(ws)
    if not run_ids:
        return {}
    transact = getattr(store, "_run", None)
    if transact is None:  # a store without SQL (in memory): ask run by run
        return {rid: _count(s.status for s in store.step_runs(rid)) for rid in run_ids}
    rows = transact(lambda con: con.execute(
        "SELECT run_id, status, count(*) FROM step_runs WHERE run_id IN (SELECT unnest(?::VARCHAR[])) "
        "GROUP BY run_id, status", [list(run_ids)]).fetchall())
    counts: dict[str, dict[str, int]] = {rid: {} for rid in run_ids}
    for rid, status, n in rows:
        counts.setdefault(rid, {})[status] = int(n)
    return counts


def _count(statuses: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for status in statuses:
        out[status] = out.get(status, 0) + 1
    return out


def run_pipeline_spec(ws: Workspace, run: Any) -> PipelineSpec | None:
    """The pipeline a run executed: as kept when it started (runs of files), the registered version,
    else the file it was started from."""
    from app.services.lineage import run_pipeline_path
    from components.pipeline_loader import load_pipeline_file

    kept = run_pipeline_path(ws, run.id)
    if kept.is_file():
        try:
            return load_pipeline_file(kept)
        except Exception:  # noqa: BLE001 - fall back to the registry or the file
            pass
    if run.version:
        try:
            return ws.registry.pipeline_spec(run.pipeline, str(run.version))
        except Exception:  # noqa: BLE001 - fall back to the file
            pass
    if run.source and Path(run.source).is_file():
        try:
            return load_pipeline_file(run.source)
        except Exception:  # noqa: BLE001
            return None
    return None


def run_source(ws: Workspace, run_id: str) -> DesignSource:
    """A new, unsaved design cloned from a run: its pipeline exactly as it ran (layout included
    when it was registered) with the run's parameter values written into the pipeline inputs —
    the same clone as ``ductwork runs clone`` (:func:`app.services.lineage.cloned_pipeline`)."""
    from app.services.clones import cloned_pipeline

    spec, layout, run = cloned_pipeline(ws, run_id)
    return DesignSource(spec, layout, f"run:{run.id}")
