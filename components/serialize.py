"""Specs back to YAML-ready dicts in the file format the loader reads.

``component_to_dict`` and ``pipeline_to_dict`` produce canonical, Azure-shaped
mappings (fields in a fixed order, defaults left out) so that
load → export → load gives an equal spec; ``dump_yaml`` writes them in block
style, keeping key order. With ``relative_to`` every local path (``code``,
data inputs) is written relative to that folder — pass the folder the YAML
will be saved in; otherwise paths are absolute.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from components.fields import is_remote_path
from components.spec import (
    ComponentRef,
    ComponentSpec,
    EnvironmentSpec,
    ExternalData,
    JobOutput,
    JobSpec,
    LiteralValue,
    ParentInput,
    PipelineSpec,
    Resources,
)
from components.yamlio import MarkedMap

__all__ = ["component_to_dict", "pipeline_to_dict", "dump_yaml", "environment_to_value", "resources_to_dict"]


def _path(path: str | Path, relative_to: str | Path | None) -> str:
    text = str(path)
    if relative_to is None or is_remote_path(text):
        return Path(text).as_posix() if not is_remote_path(text) else text
    rel = os.path.relpath(text, str(relative_to))
    rel = Path(rel).as_posix()
    return rel if rel.startswith(".") else f"./{rel}"


def environment_to_value(env: EnvironmentSpec) -> Any:
    """The ``environment:`` value that loads back to ``env`` (``None`` for the current one)."""
    if env.kind == "current":
        return None
    if env.kind == "pip":
        out: dict[str, Any] = {"pip": list(env.pip)}
    elif env.kind == "conda":
        out = {"conda_file": _plain(env.conda)}
    else:
        return _plain(env.reference)
    if env.reference is not None:
        out = {"image": env.reference, **out}
    return out


def resources_to_dict(res: Resources) -> dict[str, Any]:
    """``{cpus, gpus, memory, custom}`` with memory in bytes; unset fields left out."""
    out: dict[str, Any] = {}
    if res.cpus is not None:
        out["cpus"] = res.cpus
    if res.gpus is not None:
        out["gpus"] = res.gpus
    if res.memory is not None:
        out["memory"] = res.memory
    if res.custom:
        out["custom"] = dict(res.custom)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _identity(type_: str, spec: ComponentSpec | PipelineSpec) -> dict[str, Any]:
    """The leading keys both file kinds share: type, name, version, display name, description, tags."""
    out: dict[str, Any] = {"type": type_, "name": spec.name}
    if spec.version is not None:
        out["version"] = spec.version
    if spec.display_name:
        out["display_name"] = spec.display_name
    if spec.description:
        out["description"] = spec.description
    if spec.tags:
        out["tags"] = dict(spec.tags)
    return out


def component_to_dict(spec: ComponentSpec, *, relative_to: str | Path | None = None) -> dict[str, Any]:
    """A component mapping in the file format (``source`` and ``warnings`` are left out)."""
    out = _identity("command", spec)
    if not spec.is_deterministic:
        out["is_deterministic"] = False
    if spec.inputs:
        inputs: dict[str, Any] = {}
        for name, inp in spec.inputs.items():
            item: dict[str, Any] = {"type": inp.type}
            if inp.default is not None:
                item["default"] = _plain(inp.default)
            if inp.optional:
                item["optional"] = True
            if inp.min is not None:
                item["min"] = inp.min
            if inp.max is not None:
                item["max"] = inp.max
            if inp.enum is not None:
                item["enum"] = list(inp.enum)
            if inp.description:
                item["description"] = inp.description
            inputs[name] = item
        out["inputs"] = inputs
    if spec.outputs:
        out["outputs"] = {
            name: ({"type": o.type, "description": o.description} if o.description else {"type": o.type})
            for name, o in spec.outputs.items()
        }
    if spec.code is not None:
        out["code"] = _path(spec.code, relative_to)
    if spec.function is not None:
        out["function"] = f"{spec.function.module}:{spec.function.qualname}"
    if spec.command is not None:
        out["command"] = spec.command
    env = environment_to_value(spec.environment)
    if env is not None:
        out["environment"] = env
    if spec.compute is not None:
        out["compute"] = spec.compute
    if spec.resources is not None:
        out["resources"] = resources_to_dict(spec.resources)
    return out


def _job_input(value: Any, relative_to: str | Path | None) -> Any:
    if isinstance(value, ParentInput):
        return f"${{{{parent.inputs.{value.name}}}}}"
    if isinstance(value, JobOutput):
        return f"${{{{parent.jobs.{value.job}.outputs.{value.output}}}}}"
    if isinstance(value, ExternalData):
        return {"type": value.type, "path": _path(value.path, relative_to)}
    literal = value.value if isinstance(value, LiteralValue) else value
    if isinstance(literal, (dict, list)):
        return {"value": _plain(literal)}
    return literal


def _job_to_dict(job: JobSpec, relative_to: str | Path | None,
                 component_refs: Callable[[ComponentSpec], str | None] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "command"}
    if job.display_name:
        out["display_name"] = job.display_name
    comp = job.component
    if isinstance(comp, ComponentRef):
        out["component"] = str(comp)
    else:
        ref = component_refs(comp) if component_refs is not None else None
        out["component"] = ref if ref is not None else component_to_dict(comp, relative_to=relative_to)
    if job.compute is not None:
        out["compute"] = job.compute
    if job.inputs:
        out["inputs"] = {name: _job_input(b, relative_to) for name, b in job.inputs.items()}
    if job.outputs:
        out["outputs"] = {
            name: (f"${{{{parent.outputs.{target}}}}}" if target else {}) for name, target in job.outputs.items()
        }
    if job.timeout is not None:
        out["limits"] = {"timeout": job.timeout}
    if job.retries:
        out["retries"] = job.retries
    if job.environment_variables:
        out["environment_variables"] = dict(job.environment_variables)
    if job.force_rerun:
        out["force_rerun"] = True
    return out


def pipeline_to_dict(spec: PipelineSpec, *, relative_to: str | Path | None = None,
                     component_refs: Callable[[ComponentSpec], str | None] | None = None) -> dict[str, Any]:
    """A pipeline mapping in the file format.

    ``component_refs(spec)`` may return ``"name:version"`` to write a job's
    component as a registered reference instead of inline (``None`` keeps it inline).
    """
    out = _identity("pipeline", spec)
    if spec.inputs:
        inputs: dict[str, Any] = {}
        for name, inp in spec.inputs.items():
            if inp.type is None and inp.path is None and not inp.optional and not inp.description:
                inputs[name] = _plain(inp.value)
                continue
            item: dict[str, Any] = {"type": inp.type or "uri_folder"}
            if inp.path is not None:
                item["path"] = _path(inp.path, relative_to)
            if inp.value is not None:
                item["default"] = _plain(inp.value)
            if inp.optional:
                item["optional"] = True
            if inp.description:
                item["description"] = inp.description
            inputs[name] = item
        out["inputs"] = inputs
    if spec.outputs:
        outputs: dict[str, Any] = {}
        for name, o in spec.outputs.items():
            item = {}
            if o.type is not None:
                item["type"] = o.type
            if o.description:
                item["description"] = o.description
            outputs[name] = item
        out["outputs"] = outputs
    settings: dict[str, Any] = {}
    if spec.settings.default_compute is not None:
        settings["default_compute"] = spec.settings.default_compute
    if spec.settings.continue_on_step_failure:
        settings["continue_on_step_failure"] = True
    if spec.settings.force_rerun:
        settings["force_rerun"] = True
    if settings:
        out["settings"] = settings
    out["jobs"] = {name: _job_to_dict(job, relative_to, component_refs) for name, job in spec.jobs.items()}
    return out


class _Dumper(yaml.SafeDumper):
    """Block style; multi-line strings as ``|`` blocks; tuples, paths and marked maps as plain data."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:  # noqa: D102
        return super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(tuple, lambda d, data: d.represent_list(list(data)))
_Dumper.add_representer(MarkedMap, lambda d, data: d.represent_dict(dict(data)))
_Dumper.add_multi_representer(Path, lambda d, data: d.represent_str(str(data)))


def dump_yaml(data: Any) -> str:
    """YAML text in block style with the key order of ``data``."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True,
                     width=100)
