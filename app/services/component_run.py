"""Run one component alone (``ductwork component run``): find it, wrap it in a one-job pipeline.

The pipeline is built by :func:`components.single.single_job_pipeline` and then run by the
very code path of ``ductwork run`` — same signatures, reuse, logs, records, compute and
live display. A component is named by a file (``train.yml``; ``module.py`` or
``module.py:function`` for Python components) or by a registered ``NAME[:VERSION]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.services.workspace import Workspace
from components.errors import DuctworkError
from components.spec import ComponentRef, ComponentSpec, PipelineSpec

__all__ = ["find_component", "component_pipeline", "parse_input_option"]

_FILE_SUFFIXES = (".yml", ".yaml", ".py")


def parse_input_option(text: str) -> tuple[str, str]:
    """``NAME=PATH`` from ``--input``."""
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path:
        raise DuctworkError(f"--input '{text}' is not of the form NAME=PATH, e.g. --input training_data=./data")
    return name.strip(), path


def _python_component(path: Path, function: str | None) -> ComponentSpec:
    from app.services.components import load_python_components
    from components.fields import did_you_mean

    specs = load_python_components(path)
    if function is None:
        if len(specs) == 1:
            return specs[0]
        names = ", ".join(s.name for s in specs)
        raise DuctworkError(f"'{path}' defines {len(specs)} components ({names}); name one: "
                            f"ductwork component run {path}:{specs[0].name}")
    for spec in specs:
        if function in (spec.name, spec.function.qualname if spec.function else None):
            return spec
    names = [s.name for s in specs]
    raise DuctworkError(f"'{path}' defines no component '{function}'.{did_you_mean(function, names)} "
                        f"Its components: {', '.join(names)}")


def find_component(ws: Workspace, target: str) -> tuple[ComponentSpec, ComponentRef | None]:
    """The component ``target`` names: from a file (``ref`` is ``None``) or the registry (pinned ``ref``)."""
    from app.services.components import component_resolver, parse_ref
    from components.loader import load_component_file
    from components.yamlio import load_yaml_file

    path_text, _, function = target.rpartition(":") if ".py:" in target else (target, "", "")
    path = Path(path_text).expanduser()
    if path.is_file():
        if path.suffix == ".py":
            return _python_component(path.absolute(), function or None), None
        data = load_yaml_file(path)
        if isinstance(data, dict) and (data.get("type") == "pipeline" or "jobs" in data):
            raise DuctworkError(f"'{target}' is a pipeline, not a component; run it with: ductwork run {target}")
        return load_component_file(path), None
    if path.suffix in _FILE_SUFFIXES or "/" in path_text or path.is_dir():
        what = "is a folder; name the component's YAML file in it" if path.is_dir() else "does not exist; check the path"
        raise DuctworkError(f"component file '{target}' {what}")
    name, version = parse_ref(target)
    spec = component_resolver(ws)(ComponentRef(name, version))
    return spec, ComponentRef(spec.name, spec.version)


def component_pipeline(
    ws: Workspace,
    target: str,
    inputs: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    compute: str | None = None,
) -> PipelineSpec:
    """The one-job pipeline that runs component ``target`` with ``inputs`` (paths) and ``params``.

    Raises ValidationError (every problem, each naming the component and the option) for
    unknown names, missing required inputs, paths that do not exist and ill-typed values,
    and DuctworkError for an unknown compute target.
    """
    from components.fields import did_you_mean
    from components.single import single_job_pipeline

    spec, ref = find_component(ws, target)
    if compute is not None:
        names = list(ws.registry.compute_names())
        if compute not in names:
            raise DuctworkError(f"compute target '{compute}' is not defined.{did_you_mean(compute, names)} "
                                f"Known targets: {', '.join(names)}")
    return single_job_pipeline(spec, inputs, params, ref=ref, compute=compute)
