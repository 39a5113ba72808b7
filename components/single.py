"""One component as a one-job pipeline: what ``ductwork component run`` hands to the engine.

Running a component alone is the unit test of a step while a script is being split into
steps, so it must behave exactly like a step of a pipeline: same signature (and so the same
reuse, both ways: a component run reuses a pipeline's step and the other way round), same
logs, records, compute and live display. Rather than a special path through the engine,
:func:`single_job_pipeline` wraps the component in an ordinary pipeline:

- every data input given (``--input NAME=PATH``) becomes a pipeline input with that path;
- every parameter becomes a pipeline input holding the given value, else the component's
  default, so the run records all of them and ``ductwork runs clone`` gets them back;
- the one job is named after the component and binds each of its inputs to ``${{parent.inputs.X}}``;
- every output of the component is published as a pipeline output of the same name.

Pure: no registry, no engine. Every mistake in what was given is collected and raised once
as a :class:`ValidationError` naming the component file and the option.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.errors import Problem, ValidationError
from components.fields import check_literal, did_you_mean, read_given
from components.spec import (
    ComponentRef,
    ComponentSpec,
    JobSpec,
    ParentInput,
    PipelineInput,
    PipelineOutput,
    PipelineSettings,
    PipelineSpec,
)
from components.validate import check_value

__all__ = ["single_job_pipeline", "check_component_values"]


def _origin(spec: ComponentSpec, ref: ComponentRef | None) -> str:
    if spec.source is not None:
        return str(spec.source)
    return f"component {ref or spec.ref}"


def check_component_values(
    spec: ComponentSpec,
    inputs: Mapping[str, str],
    params: Mapping[str, Any],
    *,
    base_dir: str | Path | None = None,
    origin: str | None = None,
) -> tuple[dict[str, str], dict[str, Any]]:
    """Check what was given for ``spec``'s inputs and parameters; return absolute paths and checked values.

    Raises ValidationError listing every problem: an unknown name (with a "did you mean"),
    a data input given with ``--set`` or a parameter with ``--input``, a missing required
    input, a path that does not exist, a value of the wrong type or out of range.
    """
    where = origin or _origin(spec, None)
    data_names = [n for n, i in spec.inputs.items() if not i.is_parameter]
    param_names = [n for n, i in spec.inputs.items() if i.is_parameter]
    problems: list[Problem] = []
    paths: dict[str, str] = {}
    values: dict[str, Any] = {}
    base = Path(base_dir or os.getcwd())
    for name, raw in inputs.items():
        field = f"--input {name}"
        if name in param_names:
            problems.append(Problem(f"'{name}' is a parameter ({spec.inputs[name].type}), not data; "
                                    f"use --set {name}=VALUE", file=where, field=field))
            continue
        if name not in data_names:
            known = ", ".join(data_names) or "none"
            problems.append(Problem(f"component '{spec.name}' has no data input '{name}'."
                                    f"{did_you_mean(name, data_names)} Its data inputs: {known}",
                                    file=where, field=field))
            continue
        path = (base / os.path.expanduser(str(raw))).absolute()
        if not path.exists():
            problems.append(Problem(f"'{raw}' does not exist ({path}); pass an existing file or folder",
                                    file=where, field=field))
            continue
        if spec.inputs[name].type == "uri_file" and path.is_dir():
            problems.append(Problem(f"'{raw}' is a folder but input '{name}' is a uri_file; pass a file",
                                    file=where, field=field))
            continue
        paths[name] = os.path.normpath(str(path))
    for name, value in params.items():
        field = f"--set {name}"
        if name in data_names:
            problems.append(Problem(f"'{name}' is a data input ({spec.inputs[name].type}); "
                                    f"use --input {name}=PATH", file=where, field=field))
            continue
        if name not in param_names:
            known = ", ".join(param_names) or "none"
            problems.append(Problem(f"component '{spec.name}' has no parameter '{name}'."
                                    f"{did_you_mean(name, param_names)} Its parameters: {known}",
                                    file=where, field=field))
            continue
        value = read_given(value, spec.inputs[name].type)  # --set text: exactly the text for a string
        problem = check_value(value, spec.inputs[name])
        if problem:
            problems.append(Problem(f"parameter '{name}': {problem}", file=where, field=field))
            continue
        values[name] = _coerced(value, spec.inputs[name].type)
    for name in data_names:
        inp = spec.inputs[name]
        if name not in inputs and not inp.optional:
            problems.append(Problem(f"required data input '{name}' ({inp.type}) was not given; "
                                    f"add --input {name}=PATH", file=where, field=f"--input {name}"))
    for name in param_names:
        inp = spec.inputs[name]
        if name not in params and inp.default is None and not inp.optional:
            problems.append(Problem(f"required parameter '{name}' ({inp.type}) has no default; "
                                    f"add --set {name}=VALUE", file=where, field=f"--set {name}"))
    if problems:
        raise ValidationError(problems)
    return paths, values


def _coerced(value: Any, type_: str) -> Any:
    return check_literal(value, type_)[0]


def single_job_pipeline(
    spec: ComponentSpec,
    inputs: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    ref: ComponentRef | None = None,
    compute: str | None = None,
    base_dir: str | Path | None = None,
) -> PipelineSpec:
    """A one-job pipeline running ``spec`` with the given data ``inputs`` (paths) and ``params``.

    ``ref`` names a registered component to use instead of the spec itself (the spec is then
    only used to check what was given); ``compute`` is the job's compute target (``None``:
    the component's own, else the workspace default). Relative paths are read against
    ``base_dir`` (default: the current directory). See the module doc for the shape.
    """
    paths, values = check_component_values(spec, inputs or {}, params or {}, base_dir=base_dir,
                                           origin=_origin(spec, ref))
    pipeline_inputs: dict[str, PipelineInput] = {}
    bindings: dict[str, ParentInput] = {}
    for name, inp in spec.inputs.items():
        if inp.is_parameter:
            value = values.get(name, inp.default)
            if value is None:
                continue  # optional parameter without a value: the component's $[[ ]] drops it
            pipeline_inputs[name] = PipelineInput(name=name, type=inp.type, value=value,
                                                  description=inp.description)
        else:
            if name not in paths:
                continue  # optional data input not given
            pipeline_inputs[name] = PipelineInput(name=name, type=inp.type, path=paths[name],
                                                  description=inp.description)
        bindings[name] = ParentInput(name)
    job = JobSpec(name=spec.name, component=ref or spec, inputs=bindings,
                  outputs={name: name for name in spec.outputs}, compute=compute)
    outputs = {name: PipelineOutput(name=name, type=out.type, description=out.description)
               for name, out in spec.outputs.items()}
    return PipelineSpec(
        name=spec.name,
        display_name=f"component {spec.display_name or spec.name}",
        description=f"`ductwork component run` of {ref or spec.ref}",
        tags={"component_run": str(ref or spec.ref)},
        inputs=pipeline_inputs,
        outputs=outputs,
        settings=PipelineSettings(),
        jobs={spec.name: job},
        source=spec.source,
    )
