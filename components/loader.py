"""Read Azure ML CLI v2 command components into specs.

``load_component_file`` / ``component_from_dict`` build a :class:`ComponentSpec`;
pipeline jobs are read by :mod:`components.pipeline_loader` (``load_pipeline_file`` /
``pipeline_from_dict``), which builds on ``read_component`` here.
Every problem in a file (and in the component files a pipeline names) is
collected and raised once as ``ValidationError``; Azure-only fields are
accepted and ignored with one warning each (``spec.warnings``).

Decisions:

- ``version`` omitted → ``auto-<first 12 hex of component_digest>``
  (``components.digest.automatic_version``: what decides the component's
  outputs, its code included), so identical behaviour always gets the same
  version, a change of what it computes a new one, and a change of only its
  description, display name, tags, compute or resources none.
- ``code`` naming a single file uses that file's folder (with a warning: the
  whole folder is snapshotted). Remote code (``azureml:``, ``https://``, git) is a problem.
- A string literal for an ``integer``/``number``/``boolean`` input is a
  problem (write ``3``, not ``"3"``); a number for a ``string`` input is
  accepted as its text.
- Pipeline data paths are made absolute relative to the file, except remote
  ones (``azureml:``, ``https://``, ``wasbs://`` …), kept as written and
  reported by validation.
- Cross-references (bindings, component refs, compute names, types across
  jobs) are checked by :mod:`components.validate`, not here.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from components.codefiles import CodeLinkError, component_code_files
from components.digest import automatic_version
from components.errors import Problem, ValidationError
from components.fields import (
    Collector,
    check_literal,
    check_name,
    did_you_mean,
    is_remote_path,
    parse_environment,
    parse_resources,
    plain,
)
from components.spec import (
    DATA_TYPES,
    PARAMETER_TYPES,
    ComponentSpec,
    FunctionEntry,
    InputSpec,
    OutputSpec,
)
from components.validate import validate_component
from components.yamlio import load_yaml_file

__all__ = [
    "load_component_file",
    "component_from_dict",
    "read_component",
    "suggest_type",
]

INPUT_TYPES = PARAMETER_TYPES + DATA_TYPES
UNSUPPORTED_TYPES = ("parallel", "spark", "sweep", "pipeline", "automl", "import", "data_transfer")

COMPONENT_KEYS = ("$schema", "type", "name", "version", "display_name", "description", "tags",
                  "is_deterministic", "inputs", "outputs", "code", "environment", "command", "compute",
                  "resources", "function")
AZURE_COMPONENT_KEYS = ("distribution", "services", "identity", "creation_context", "is_anonymous", "id",
                        "latest_version", "intellectual_property", "properties", "queue_settings",
                        "additional_includes", "environment_variables", "limits")
INPUT_KEYS = ("type", "default", "optional", "min", "max", "enum", "description")
AZURE_INPUT_KEYS = ("mode", "datastore", "path", "is_control")
OUTPUT_KEYS = ("type", "description")
AZURE_OUTPUT_KEYS = ("mode", "path", "datastore", "name", "version", "is_control", "early_available")


_TYPE_ALIASES = {"float": "number", "double": "number", "int": "integer", "str": "string", "bool": "boolean",
                 "path": "uri_folder", "folder": "uri_folder", "file": "uri_file", "model": "mlflow_model"}


def suggest_type(type_: Any, known: tuple[str, ...]) -> str:
    """`` Did you mean 'number'?`` for 'float', 'flaot', 'strng' …"""
    text = str(type_).lower()
    hint = did_you_mean(text, [*known, *(a for a, t in _TYPE_ALIASES.items() if t in known)])
    for alias, real in _TYPE_ALIASES.items():
        hint = hint.replace(f"'{alias}'", f"'{real}'")
    return hint


def _parse_input(name: str, data: Any, col: Collector, where: str, job: str | None) -> InputSpec | None:
    fname = f"inputs.{name}"
    if not isinstance(data, dict):
        col.problem(f"input '{name}' of {where} is {data!r}; expected a mapping such as "
                    "{type: uri_folder} or {type: integer, default: 5}", job=job, field=fname)
        return None
    col.check_keys(data, INPUT_KEYS, AZURE_INPUT_KEYS, f"input '{name}' of {where}", job=job, prefix="")
    type_ = data.get("type")
    if "type" not in data:
        col.missing(f"input '{name}' of {where} has no 'type'; add one of {', '.join(INPUT_TYPES)}", data,
                    "type", (*INPUT_KEYS, *AZURE_INPUT_KEYS), job=job, field=fname)
        return None
    if type_ not in INPUT_TYPES:
        col.problem(f"input '{name}' of {where} has type {type_!r}.{suggest_type(type_, INPUT_TYPES)} "
                    f"Known types: {', '.join(INPUT_TYPES)}", data, "type", job=job, field=fname)
        return None
    optional = data.get("optional", False)
    if not isinstance(optional, bool):
        col.problem(f"input '{name}' of {where}: optional is {optional!r}; expected true or false",
                    data, "optional", job=job, field=fname)
        optional = False
    default = data.get("default")
    if default is not None and type_ in PARAMETER_TYPES:
        default, problem = check_literal(default, type_)
        if problem:
            col.problem(f"input '{name}' of {where}: default {problem}; it is declared {type_}",
                        data, "default", job=job, field=fname)
    bounds: dict[str, float | None] = {"min": None, "max": None}
    for key in ("min", "max"):
        if data.get(key) is None:
            continue
        if type_ not in ("integer", "number"):
            col.problem(f"input '{name}' of {where}: '{key}' only applies to integer and number inputs, "
                        f"not {type_}", data, key, job=job, field=fname)
        elif isinstance(data[key], bool) or not isinstance(data[key], (int, float)):
            col.problem(f"input '{name}' of {where}: {key} {data[key]!r} is not a number", data, key,
                        job=job, field=fname)
        else:
            bounds[key] = data[key]
    if bounds["min"] is not None and bounds["max"] is not None and bounds["min"] > bounds["max"]:
        col.problem(f"input '{name}' of {where}: min {bounds['min']} is greater than max {bounds['max']}",
                    data, "min", job=job, field=fname)
    enum = data.get("enum")
    if enum is not None:
        if not isinstance(enum, list) or not enum:
            col.problem(f"input '{name}' of {where}: enum {enum!r} must be a non-empty list of allowed values",
                        data, "enum", job=job, field=fname)
            enum = None
        elif type_ not in PARAMETER_TYPES:
            col.problem(f"input '{name}' of {where}: enum only applies to parameters, not {type_}",
                        data, "enum", job=job, field=fname)
            enum = None
        else:
            checked = []
            for item in enum:
                item, problem = check_literal(item, type_)
                if problem:
                    col.problem(f"input '{name}' of {where}: enum value {problem}", data, "enum",
                                job=job, field=fname)
                checked.append(item)
            enum = checked
    description = data.get("description") or ""
    return InputSpec(name=name, type=type_, default=plain(default), optional=optional, min=bounds["min"],
                     max=bounds["max"], enum=tuple(enum) if enum is not None else None,
                     description=str(description))


def _parse_output(name: str, data: Any, col: Collector, where: str, job: str | None) -> OutputSpec | None:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        col.problem(f"output '{name}' of {where} is {data!r}; expected a mapping such as {{type: uri_folder}}",
                    job=job, field=f"outputs.{name}")
        return None
    col.check_keys(data, OUTPUT_KEYS, AZURE_OUTPUT_KEYS, f"output '{name}' of {where}", job=job)
    type_ = data.get("type", "uri_folder")
    if type_ not in DATA_TYPES:
        extra = (" Outputs are folders or files; write the value into a file in a uri_folder output."
                 if type_ in PARAMETER_TYPES else suggest_type(type_, DATA_TYPES))
        col.problem(f"output '{name}' of {where} has type {type_!r}.{extra} Known output types: "
                    f"{', '.join(DATA_TYPES)}", data, "type", job=job, field=f"outputs.{name}")
        return None
    return OutputSpec(name=name, type=type_, description=str(data.get("description") or ""))


def _parse_code(data: dict, base_dir: Path, col: Collector, where: str, job: str | None) -> Path | None:
    raw = data.get("code")
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip():
        col.problem(f"'code' of {where} is {raw!r}; expected a folder path relative to the file",
                    data, "code", job=job, field="code")
        return None
    text = raw[5:] if raw.startswith("file:") else raw
    if is_remote_path(text) or text.startswith("git+"):
        col.problem(f"'code' of {where} is '{raw}', which is remote and cannot be read here; "
                    "point it at a local folder", data, "code", job=job, field="code")
        return None
    path = Path(text)
    path = Path(os.path.normpath(path if path.is_absolute() else base_dir / path))
    if not path.exists():
        col.problem(f"'code' of {where} is '{raw}', but '{path}' does not exist; "
                    "create the folder or fix the path (it is relative to the YAML file)",
                    data, "code", job=job, field="code")
        return None
    if path.is_file():
        col.warn(f"'code' of {where} names the file '{raw}'; its whole folder '{path.parent}' is "
                 "snapshotted and hashed")
        return path.parent
    return path


def _parse_function(raw: Any, data: dict, col: Collector, where: str, job: str | None) -> FunctionEntry | None:
    if not isinstance(raw, str) or raw.count(":") != 1 or not all(raw.split(":")):
        col.problem(f"'function' of {where} is {raw!r}; expected 'module:qualname', e.g. 'train:train_model'",
                    data, "function", job=job, field="function")
        return None
    module, qualname = raw.split(":")
    if "<locals>" in qualname or "<lambda>" in qualname:
        col.problem(f"'function' of {where} is '{raw}', a nested function or lambda; a worker can only "
                    "import functions defined at the top level of a module", data, "function",
                    job=job, field="function")
        return None
    return FunctionEntry(module=module.strip(), qualname=qualname.strip())


def _parse_ports(data: dict, col: Collector, where: str, job: str | None
                 ) -> tuple[dict[str, InputSpec], dict[str, OutputSpec]]:
    """A component's ``inputs`` and ``outputs`` (a name may not be both)."""
    inputs: dict[str, InputSpec] = {}
    raw_inputs = data.get("inputs") or {}
    if not isinstance(raw_inputs, dict):
        col.problem(f"'inputs' of {where} must be a mapping of input names", data, "inputs", job=job,
                    field="inputs")
        raw_inputs = {}
    for iname, idata in raw_inputs.items():
        spec = _parse_input(str(iname), idata, col, where, job)
        if spec:
            inputs[str(iname)] = spec
    outputs: dict[str, OutputSpec] = {}
    raw_outputs = data.get("outputs") or {}
    if not isinstance(raw_outputs, dict):
        col.problem(f"'outputs' of {where} must be a mapping of output names", data, "outputs", job=job,
                    field="outputs")
        raw_outputs = {}
    for oname, odata in raw_outputs.items():
        if oname in inputs:
            col.problem(f"'{oname}' of {where} is declared both as an input and as an output; rename one",
                        raw_outputs, oname, job=job, field=f"outputs.{oname}", on_key=True)
        spec_o = _parse_output(str(oname), odata, col, where, job)
        if spec_o:
            outputs[str(oname)] = spec_o
    return inputs, outputs


def _parse_entry(data: dict, base_dir: Path, col: Collector, where: str, job: str | None,
                 known_keys: tuple[str, ...]) -> tuple[Path | None, FunctionEntry | None, Any]:
    """What a component runs: ``(code, function, command)``, a command line or a Python function."""
    code = _parse_code(data, base_dir, col, where, job)
    function = None
    command = data.get("command")
    if "function" in data:
        function = _parse_function(data["function"], data, col, where, job)
        if command is not None:
            col.problem(f"{where} has both 'command' and 'function'; keep one", data, "function", job=job,
                        field="function")
        if code is None and "code" not in data:
            code = Path(os.path.normpath(base_dir))
    elif command is None:
        col.missing(f"{where} has no 'command'; add the command line to run, e.g. "
                    "'command: python train.py --data ${{inputs.training_data}}'", data, "command", known_keys,
                    job=job, field="command")
    elif isinstance(command, str) and not command.strip():
        col.problem(f"{where} has an empty 'command'; write the command line to run, e.g. "
                    "'command: python train.py --data ${{inputs.training_data}}'", data, "command", job=job,
                    field="command")
    elif not isinstance(command, str):
        col.problem(f"'command' of {where} must be a string, not {command!r}", data, "command", job=job,
                    field="command")
    return code, function, command


def read_component(data: Any, base_dir: Path, col: Collector, *, where: str | None = None,
                   job: str | None = None, default_name: str | None = None,
                   source: Path | None = None) -> ComponentSpec | None:
    """Parse one component mapping into ``col``; ``None`` if it has problems."""
    before = len(col.problems)
    if not isinstance(data, dict):
        col.problem(f"a component must be a mapping, not {data!r}", job=job, field="component")
        return None
    name = data.get("name", default_name)
    where = where or (f"component '{name}'" if name else "the component")
    type_ = data.get("type", "command")
    if type_ in UNSUPPORTED_TYPES:
        col.problem(f"{where} has type '{type_}', which Ductwork does not support yet; only 'type: command' "
                    "components (and Python function components) can run here", data, "type", job=job,
                    field="type")
        return None
    if type_ != "command":
        col.problem(f"{where} has type {type_!r}.{did_you_mean(type_, ('command',))} Expected 'command'",
                    data, "type", job=job, field="type")
        return None
    col.check_keys(data, COMPONENT_KEYS, AZURE_COMPONENT_KEYS, where, job=job)
    known_keys = (*COMPONENT_KEYS, *AZURE_COMPONENT_KEYS)
    if "name" not in data and default_name is None:
        col.missing(f"{where} has no 'name'; add one, e.g. 'name: train_model'", data, "name", known_keys,
                    job=job, field="name")
    elif (problem := check_name(name)) is not None:
        col.problem(problem, data, "name" if "name" in data else None, job=job, field="name")
    version = data.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, (str, int, float))):
        col.problem(f"version {version!r} of {where} must be a string or a number", data, "version",
                    job=job, field="version")
        version = None
    inputs, outputs = _parse_ports(data, col, where, job)
    code, function, command = _parse_entry(data, base_dir, col, where, job, known_keys)
    environment = parse_environment(data.get("environment"), base_dir, col, where, job=job)
    resources = parse_resources(data.get("resources"), col, where, job=job)
    compute = data.get("compute")
    if compute is not None and not isinstance(compute, str):
        col.problem(f"'compute' of {where} must be a compute target name, not {compute!r}", data, "compute",
                    job=job, field="compute")
        compute = None
    is_det = data.get("is_deterministic", True)
    if not isinstance(is_det, bool):
        col.problem(f"is_deterministic of {where} is {is_det!r}; expected true or false", data,
                    "is_deterministic", job=job, field="is_deterministic")
        is_det = True
    tags = data.get("tags") or {}
    if not isinstance(tags, dict):
        col.problem(f"'tags' of {where} must be a mapping, not {tags!r}", data, "tags", job=job, field="tags")
        tags = {}
    if len(col.problems) > before:
        return None
    spec = ComponentSpec(
        name=name, version=None if version is None else str(version),
        kind="function" if function else "command",
        display_name=str(data.get("display_name") or ""), description=str(data.get("description") or ""),
        tags={str(k): str(v) for k, v in tags.items()}, is_deterministic=is_det, inputs=inputs,
        outputs=outputs, command=command if not function else None, code=code, function=function,
        environment=environment, compute=compute, resources=resources, source=source)
    component_problems = validate_component(spec)
    if component_problems:
        col.problems.extend(replace(p, job=p.job or job, file=p.file or col.file) for p in component_problems)
        return None
    try:
        component_code_files(spec)  # a link out of the code folder, or a dangling one, is refused here
    except CodeLinkError as err:
        col.problem(str(err), data, "code" if "code" in data else None, job=job, field="code")
        return None
    if spec.version is None:
        spec = replace(spec, version=automatic_version(spec))
    return spec


def component_from_dict(data: Any, base_dir: str | Path, source: str | Path | None = None) -> ComponentSpec:
    """Build a :class:`ComponentSpec` from a parsed component mapping.

    ``base_dir`` is the folder relative paths (``code``, conda files) start
    from; ``source`` is the file it came from, for messages. Raises
    ``ValidationError`` with every problem found.
    """
    col = Collector(str(source) if source else None)
    spec = read_component(data, Path(base_dir), col, source=Path(source) if source else None)
    if col.problems or spec is None:
        raise ValidationError(col.problems or [Problem("the component could not be read", file=col.file)])
    return replace(spec, warnings=col.warnings)


def load_component_file(path: str | Path) -> ComponentSpec:
    """Read a ``type: command`` component YAML file (Azure ML CLI v2 format)."""
    path = Path(path).absolute()
    data = load_yaml_file(path)
    return component_from_dict(data, path.parent, path)

