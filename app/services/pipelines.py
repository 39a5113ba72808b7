"""Pipelines: load (file or registry), validate, register, save from the designer, list, export, fork.

Shared by the CLI and the app. A pipeline is always validated against the registered
components and the workspace's compute targets before it is registered or handed on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.services.components import component_resolver, parse_ref, warning_text
from app.services.workspace import Workspace
from components.errors import DuctworkError, Problem, ValidationError
from components.spec import ComponentRef, ComponentSpec, PipelineSpec
from components.validate import check_pipeline_values, read_pipeline_values, with_pipeline_values

if TYPE_CHECKING:  # the registry (SQLModel) is imported only when a function needs it
    from registry import PipelinePublic
    from registry.pipeline_store import PipelineRegistration

__all__ = [
    "check_pipeline",
    "load_pipeline",
    "resolve_pipeline_spec",
    "register_pipeline",
    "save_pipeline",
    "fork_pipeline",
    "get_pipeline",
    "list_pipelines",
    "export_pipeline",
    "pipeline_to_json",
    "is_pipeline_file",
]


def is_pipeline_file(source: str | Path) -> bool:
    """True when ``source`` names a file (rather than a registered ``name[:version]``)."""
    text = str(source)
    return Path(text).suffix in (".yml", ".yaml") or Path(text).is_file()


def _validate(ws: Workspace, spec: PipelineSpec) -> list[Problem]:
    from components.validate import validate_pipeline

    return list(validate_pipeline(spec, component_resolver(ws), ws.compute_names(), include_warnings=True))


def check_pipeline(ws: Workspace, path: str | Path, data: Any = None) -> tuple[PipelineSpec, list[Problem]]:
    """Read a pipeline file and validate it; returns the spec and every problem (errors and warnings).

    Raises ValidationError only when the file cannot be read into a spec at all.
    """
    from components.pipeline_loader import load_pipeline_file, pipeline_from_dict

    path = Path(path).absolute()
    spec = pipeline_from_dict(data, path.parent, path) if data is not None else load_pipeline_file(path)
    return spec, _validate(ws, spec)


def _raise_errors(spec: PipelineSpec, problems: list[Problem]) -> None:
    errors = [p for p in problems if p.severity != "warning"]
    if errors:
        raise ValidationError(errors)


def load_pipeline(ws: Workspace, source: str | Path | PipelineSpec,
                  values: Mapping[str, Any] | None = None) -> PipelineSpec:
    """A validated pipeline from a file (``"p.yml"``), a registered one (``"name"``, ``"name:3"``),
    or a spec. Raises ValidationError with every problem.

    ``values`` are a run's input values (``--set``, ``run(params=...)``): each is checked against
    every component input it feeds (``components.validate.check_pipeline_values``) and the
    pipeline is validated with them in place (so a ``--set`` fills an input without a default),
    every problem of both raised at once. The spec returned keeps its own defaults.

    ``spec.warnings`` of the result holds every warning once, each naming its file: the
    loader's (Azure-only fields), then the validator's (e.g. an undefined ``azureml:`` compute).
    Loading a spec that this function returned gives the same warnings again, not twice.
    """
    if isinstance(source, PipelineSpec):
        spec = source
    elif is_pipeline_file(source):
        if not Path(source).is_file():
            raise DuctworkError(f"pipeline file '{source}' does not exist; check the path")
        from components.pipeline_loader import load_pipeline_file

        spec = load_pipeline_file(Path(source).absolute(), cache=ws.parsed_cache)
    else:
        name, version = parse_ref(str(source), "pipeline")
        spec = ws.registry.pipeline_spec(name, version)
    resolve = component_resolver(ws)
    given = read_pipeline_values(spec, values or {}, resolve)
    refused = check_pipeline_values(spec, given, resolve)
    fields = {p.field for p in refused}
    accepted = {name: value for name, value in given.items() if f"inputs.{name}" not in fields}
    # the loader's warnings are placed below, once
    problems = _validate(ws, with_pipeline_values(replace(spec, warnings=()), accepted))
    # what a refused value would have replaced (no default, a missing default path) is not a problem of the run
    _raise_errors(spec, [*refused, *(p for p in problems if p.job is not None or p.field not in fields)])
    file = str(spec.source) if spec.source else ""
    located = [w if not file or w.startswith(file) else warning_text(Problem(w, file=file, severity="warning"))
               for w in spec.warnings]
    found = [warning_text(p) for p in problems if p.severity == "warning"]
    return replace(spec, warnings=tuple(dict.fromkeys([*located, *found])))


def resolve_pipeline_spec(ws: Workspace, spec: PipelineSpec) -> PipelineSpec:
    """``spec`` with every ``ComponentRef`` replaced by the registered ``ComponentSpec`` (code at its snapshot)."""
    from components.validate import resolve_pipeline

    return resolve_pipeline(spec, component_resolver(ws))


def _pin_components(ws: Workspace, spec: PipelineSpec) -> PipelineSpec:
    """Register file and inline components, and pin ``name@latest`` refs, so every job names ``name:version``."""
    inline = [job.component for job in spec.jobs.values() if isinstance(job.component, ComponentSpec)]
    conflicts = list(dict.fromkeys(m for c in inline if (m := ws.registry.component_conflict(c))))
    if conflicts:
        raise DuctworkError(f"pipeline '{spec.name}' cannot be registered:\n" + "\n".join(conflicts))
    jobs = {}
    for name, job in spec.jobs.items():
        comp = job.component
        if isinstance(comp, ComponentSpec):
            record = ws.registry.register_component(comp).component
            ref = ComponentRef(record.name, record.version)
        elif comp.version is None:
            ref = ComponentRef(comp.name, ws.registry.get_component(comp.name).version)
        else:
            ref = comp
        jobs[name] = replace(job, component=ref)
    return replace(spec, jobs=jobs)


def register_pipeline(
    ws: Workspace,
    source: str | Path | PipelineSpec,
    *,
    name: str | None = None,
    layout: dict[str, Any] | None = None,
    forked_from: str | None = None,
    cloned_from_run: str | None = None,
) -> PipelineRegistration:
    """Validate, register the components it defines, and store the next version of the pipeline.

    Content identical to the latest version is a no-op returning it (a given ``layout`` still
    replaces that version's layout). ``name`` overrides the pipeline's own name.
    """
    spec = load_pipeline(ws, source)
    if name:
        from components.fields import check_name

        if (problem := check_name(name)) is not None:
            raise DuctworkError(f"pipeline {problem}")
        spec = replace(spec, name=name)
    pinned = _pin_components(ws, spec)
    result = ws.registry.register_pipeline(
        pinned, layout=layout, forked_from=forked_from, cloned_from_run=cloned_from_run
    )
    return replace(result, warnings=spec.warnings)


def save_pipeline(
    ws: Workspace,
    spec: PipelineSpec,
    layout: dict[str, Any] | None = None,
    *,
    forked_from: str | None = None,
    cloned_from_run: str | None = None,
) -> PipelineRegistration:
    """The designer's save: register ``spec`` with its canvas ``layout`` (see :func:`register_pipeline`)."""
    return register_pipeline(ws, spec, layout=layout, forked_from=forked_from, cloned_from_run=cloned_from_run)


def fork_pipeline(ws: Workspace, ref: str, new_name: str) -> PipelineRegistration:
    """Copy a registered pipeline version, or a template, under ``new_name`` (layout included),
    remembering where it came from: ``forked_from`` is ``name:version`` or ``template:NAME``.

    ``ref`` is ``NAME``/``NAME:VERSION`` of a pipeline, or the name of a template (as
    ``ductwork init --list`` and the designer's "new from template" show them); a registered
    pipeline wins when both have the name.
    """
    from registry import NotFoundError

    try:
        record = get_pipeline(ws, ref)
    except (NotFoundError, DuctworkError) as exc:
        templates = {t.name: t for t in ws.registry.list_templates()}
        template = templates.get(ref.removeprefix("template:"))
        if template is None:
            names = ", ".join(templates) or "none"
            raise DuctworkError(f"{exc} Templates: {names}.") from None
        from components.pipeline_loader import pipeline_from_dict

        spec = pipeline_from_dict(dict(template.spec), ws.home, f"template:{template.name}")
        return register_pipeline(ws, spec, name=new_name, layout=dict(template.layout or {}),
                                 forked_from=f"template:{template.name}")
    spec = ws.registry.load_pipeline_record(record)
    return register_pipeline(ws, spec, name=new_name, layout=dict(record.layout), forked_from=record.ref)


def get_pipeline(ws: Workspace, ref: str) -> PipelinePublic:
    """A registered pipeline version (spec, layout, lineage) from ``NAME`` or ``NAME:VERSION``."""
    name, version = parse_ref(ref, "pipeline")
    return ws.registry.get_pipeline(name, version)


def list_pipelines(ws: Workspace, search: str | None = None, all_versions: bool = False) -> list[PipelinePublic]:
    """Registered pipelines (latest version of each unless ``all_versions``), filtered by ``search``."""
    return ws.registry.list_pipelines(search=search, all_versions=all_versions)


def export_pipeline(ws: Workspace, ref: str) -> str:
    """YAML of a registered pipeline version that ``validate`` and ``pipeline register`` accept again."""
    from components.serialize import dump_yaml

    return dump_yaml(dict(get_pipeline(ws, ref).spec))


def pipeline_to_json(record: PipelinePublic, *, with_spec: bool = True) -> dict[str, Any]:
    """JSON-ready form of a registered pipeline version (``--json``)."""
    data = record.model_dump(mode="json", exclude=None if with_spec else {"spec", "layout"})
    data["ref"] = record.ref
    data["jobs"] = len((record.spec or {}).get("jobs") or {})
    return data
