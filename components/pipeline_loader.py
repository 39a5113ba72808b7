"""Read an Azure ML CLI v2 pipeline job (``type: pipeline``) into a :class:`PipelineSpec`.

``load_pipeline_file`` reads a file, ``pipeline_from_dict`` a parsed mapping; the
component files and inline components a pipeline names are read by
:func:`components.loader.read_component`. Structural problems (unknown
fields, malformed bindings, component files that do not load) are collected
here; cross-references are checked by :mod:`components.validate`.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from components.errors import Problem, ValidationError
from components.fields import (
    Collector,
    check_literal,
    did_you_mean,
    is_remote_path,
    plain,
    suggest_name,
)
from components.loader import (
    AZURE_OUTPUT_KEYS,
    INPUT_TYPES,
    UNSUPPORTED_TYPES,
    read_component,
    suggest_type,
)
from components.placeholders import parse_binding, parse_parent_output
from components.spec import (
    DATA_TYPES,
    PARAMETER_TYPES,
    Binding,
    ComponentRef,
    ComponentSpec,
    ExternalData,
    JobOutput,
    JobSpec,
    LiteralValue,
    ParentInput,
    PipelineInput,
    PipelineOutput,
    PipelineSettings,
    PipelineSpec,
)
from components.yamlio import MarkedMap, ParsedCache, load_yaml_file

__all__ = ["load_pipeline_file", "pipeline_from_dict", "parse_component_ref"]

PIPELINE_KEYS = ("$schema", "type", "name", "version", "display_name", "description", "tags", "inputs",
                 "outputs", "settings", "jobs", "compute")
AZURE_PIPELINE_KEYS = ("experiment_name", "identity", "properties", "services", "status",
                       "creation_context", "id", "schedule")
SETTINGS_KEYS = ("default_compute", "continue_on_step_failure", "force_rerun")
AZURE_SETTINGS_KEYS = ("default_datastore", "on_init", "on_finalize")
JOB_KEYS = ("type", "component", "compute", "inputs", "outputs", "limits", "retries",
            "environment_variables", "force_rerun", "display_name")
INLINE_JOB_KEYS = ("command", "code", "environment", "resources", "is_deterministic", "description", "tags")
AZURE_JOB_KEYS = ("name", "experiment_name", "distribution", "services", "identity", "properties",
                  "queue_settings", "description", "tags", "resources", "is_deterministic")
PIPELINE_INPUT_KEYS = ("type", "default", "value", "path", "optional", "description")
AZURE_DATA_KEYS = ("mode", "datastore", "path_on_compute")
JOB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REF = re.compile(r"^(?:azureml:)?([A-Za-z0-9_.-]+)(?:(?::([A-Za-z0-9_.-]+))|(@latest))?$")


def parse_component_ref(text: str) -> ComponentRef | None:
    """``name:version``, ``name@latest``, ``name`` (latest), each with or without ``azureml:``."""
    match = _REF.match(text.strip())
    if not match:
        return None
    return ComponentRef(match.group(1), match.group(2))


def _data_path(raw: Any, base_dir: Path) -> str:
    text = str(raw)
    if is_remote_path(text) and not text.startswith("file:"):
        return text
    text = text[5:] if text.startswith("file:") else text
    path = Path(text)
    return os.path.normpath(path if path.is_absolute() else base_dir / path)


def _pipeline_input(name: str, data: Any, base_dir: Path, col: Collector) -> PipelineInput | None:
    where = f"pipeline input '{name}'"
    if not isinstance(data, dict):
        if isinstance(data, (list, dict)) or (isinstance(data, str) and "${{" in data):
            col.problem(f"{where} is {data!r}; expected a literal value or a mapping such as "
                        "{type: uri_folder, path: ./data}", field=f"inputs.{name}")
            return None
        return PipelineInput(name=name, value=data)
    col.check_keys(data, PIPELINE_INPUT_KEYS, AZURE_DATA_KEYS, where, prefix="")
    type_ = data.get("type")
    if type_ is None and "path" in data:
        type_ = "uri_folder"
    if type_ is not None and type_ not in INPUT_TYPES:
        col.problem(f"{where} has type {type_!r}.{suggest_type(type_, INPUT_TYPES)} Known types: "
                    f"{', '.join(INPUT_TYPES)}", data, "type", field=f"inputs.{name}")
        return None
    value = data.get("value", data.get("default"))
    if value is not None and type_ in PARAMETER_TYPES:
        value, problem = check_literal(value, type_)
        if problem:
            col.problem(f"{where}: {problem}; it is declared {type_}", data,
                        "value" if "value" in data else "default", field=f"inputs.{name}")
    path = None
    if data.get("path") is not None:
        if type_ in PARAMETER_TYPES:
            col.problem(f"{where} is a {type_} parameter but has a 'path'; use 'default' for a value",
                        data, "path", field=f"inputs.{name}")
        path = _data_path(data["path"], base_dir)
    elif type_ in DATA_TYPES and isinstance(value, str):
        path, value = _data_path(value, base_dir), None
    optional = data.get("optional", False)
    return PipelineInput(name=name, type=type_, value=plain(value), path=path, optional=bool(optional),
                         description=str(data.get("description") or ""))


def _pipeline_output(name: str, data: Any, col: Collector) -> PipelineOutput | None:
    if data is None:
        return PipelineOutput(name)
    if not isinstance(data, dict):
        col.problem(f"pipeline output '{name}' is {data!r}; expected {{}} or {{type: uri_folder}}",
                    field=f"outputs.{name}")
        return None
    col.check_keys(data, ("type", "description"), AZURE_OUTPUT_KEYS, f"pipeline output '{name}'")
    type_ = data.get("type")
    if type_ is not None and type_ not in DATA_TYPES:
        col.problem(f"pipeline output '{name}' has type {type_!r}; expected one of {', '.join(DATA_TYPES)}",
                    data, "type", field=f"outputs.{name}")
        return None
    return PipelineOutput(name, type=type_, description=str(data.get("description") or ""))


def _settings(data: Any, col: Collector) -> PipelineSettings:
    if data is None:
        return PipelineSettings()
    if not isinstance(data, dict):
        col.problem(f"'settings' is {data!r}; expected a mapping such as {{default_compute: cpu}}",
                    field="settings")
        return PipelineSettings()
    col.check_keys(data, SETTINGS_KEYS, AZURE_SETTINGS_KEYS, "settings", prefix="settings.")
    compute = data.get("default_compute")
    if compute is not None and not isinstance(compute, str):
        col.problem(f"settings.default_compute is {compute!r}; expected a compute target name", data,
                    "default_compute", field="settings.default_compute")
        compute = None
    flags = {}
    for key in ("continue_on_step_failure", "force_rerun"):
        value = data.get(key, False)
        if not isinstance(value, bool):
            col.problem(f"settings.{key} is {value!r}; expected true or false", data, key, field=f"settings.{key}")
            value = False
        flags[key] = value
    return PipelineSettings(default_compute=compute, **flags)


#: Component files already read in one pipeline load, by path: (spec, its collector). Never kept
#: across loads: a component's automatic version follows its code folder, not only its file.
ComponentFiles = dict[str, tuple[ComponentSpec | None, Collector]]


def _component_of(job: str, data: MarkedMap, base_dir: Path, col: Collector,
                  inline: ComponentSpec | None, files: ComponentFiles) -> ComponentSpec | ComponentRef | None:
    if inline is not None:
        return inline
    raw = data.get("component")
    if raw is None:
        col.missing(f"job '{job}' has neither 'component' nor 'command'; name a component file "
                    "(component: ./train.yml), a registered one (component: train_model:3), or write an "
                    "inline command.", data, "component", (*JOB_KEYS, *INLINE_JOB_KEYS, *AZURE_JOB_KEYS),
                    job=job, field="component")
        return None
    if isinstance(raw, dict):
        return read_component(raw, base_dir, col, where=f"the inline component of job '{job}'", job=job,
                              default_name=suggest_name(job), source=Path(col.file) if col.file else None)
    if not isinstance(raw, str):
        col.problem(f"job '{job}' component is {raw!r}; expected a file path, 'name:version' or a mapping",
                    data, "component", job=job, field="component")
        return None
    text = raw.strip()
    if text.startswith("azureml://"):
        col.problem(f"job '{job}' component '{raw}' is an Azure registry URI, which cannot be read here; "
                    "register the component locally and write 'name:version'", data, "component", job=job,
                    field="component")
        return None
    is_file = text.startswith(("file:", "./", "../", "/")) or text.endswith((".yml", ".yaml"))
    if is_file:
        rel = text[5:] if text.startswith("file:") else text
        path = Path(os.path.normpath(base_dir / rel))
        if not path.exists():  # a folder, device or huge file: load_yaml_file says what it is, unread
            col.problem(f"job '{job}' component file '{rel}' does not exist (looked for '{path}')",
                        data, "component", job=job, field="component")
            return None
        key = str(path)
        if key not in files:  # a file used by many jobs is read once
            sub = Collector(str(path))
            try:
                comp_data = load_yaml_file(path)
            except ValidationError as err:
                col.problems.extend(replace(p, job=p.job or job) for p in err.problems)
                return None
            spec = read_component(comp_data, path.parent, sub, source=path)
            # one spec object for every job of the file: what is computed per component object
            # (its digest and fingerprint, engine.fingerprint) is then computed once, not per job
            files[key] = (replace(spec, warnings=sub.warnings) if spec is not None else None, sub)
        spec, sub = files[key]
        col.problems.extend(replace(p, job=p.job or job) for p in sub.problems)
        for warning in sub.warnings:
            col.warn(f"{path.name}: {warning}")
        return spec
    ref = parse_component_ref(text)
    if ref is None:
        col.problem(f"job '{job}' component '{raw}' is neither a file path (./name.yml) nor a registered "
                    "reference (name:version, name@latest)", data, "component", job=job, field="component")
    return ref


def _inline_component(job: str, data: MarkedMap, inputs: dict[str, Any], pipeline_inputs: dict[str, PipelineInput],
                      base_dir: Path, col: Collector) -> ComponentSpec | None:
    """Synthesise the component of an inline command job (``command:`` written in the job)."""
    declared: dict[str, Any] = {}
    for name, value in inputs.items():
        if isinstance(value, dict):
            declared[name] = {k: v for k, v in value.items() if k in ("type", "optional", "description")}
            declared[name].setdefault("type", "uri_folder")
            continue
        binding, _ = parse_binding(value)
        if isinstance(binding, ParentInput):
            parent = pipeline_inputs.get(binding.name)
            type_ = parent.type if parent and parent.type else (
                "uri_folder" if parent and parent.path else _literal_type(parent.value if parent else ""))
            declared[name] = {"type": type_}
        elif isinstance(binding, JobOutput):
            declared[name] = {"type": "uri_folder"}
        else:
            declared[name] = {"type": _literal_type(value)}
    outputs: dict[str, Any] = {}
    for name, value in (data.get("outputs") or {}).items():
        outputs[name] = {"type": value["type"]} if isinstance(value, dict) and "type" in value else {}
    comp: dict[str, Any] = {"type": "command", "name": suggest_name(job), "inputs": declared, "outputs": outputs}
    for key in INLINE_JOB_KEYS:
        if key in data:
            comp[key] = data[key]
    return read_component(comp, base_dir, col, where=f"inline command job '{job}'", job=job,
                          source=Path(col.file) if col.file else None)


def _literal_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def _job_inputs(job: str, raw: dict, base_dir: Path, col: Collector) -> dict[str, Binding]:
    out: dict[str, Binding] = {}
    for name, value in raw.items():
        field = f"inputs.{name}"
        if isinstance(value, dict):
            col.check_keys(value, ("type", "path", "value", "default", "optional", "description"),
                           AZURE_DATA_KEYS, f"input '{name}' of job '{job}'", job=job)
            if "path" in value:
                binding, problem = parse_binding(value["path"])
                if isinstance(binding, LiteralValue):
                    type_ = value.get("type", "uri_folder")
                    if type_ not in DATA_TYPES:
                        binding, problem = None, (f"has a 'path' but type {type_!r}; a path needs a data type "
                                                  f"({', '.join(DATA_TYPES)})")
                    else:
                        binding = ExternalData(path=_data_path(value["path"], base_dir), type=type_)
            elif "value" in value or "default" in value:
                binding, problem = parse_binding(value.get("value", value.get("default")))
            else:
                binding, problem = None, (f"input '{name}' of job '{job}' is a mapping without 'path' or "
                                          "'value'; write the value directly or {type: uri_folder, path: ./data}")
        elif isinstance(value, list):
            binding, problem = None, f"input '{name}' of job '{job}' is a list {value!r}; expected a single value"
        else:
            binding, problem = parse_binding(value)
        if problem:
            col.problem(f"job '{job}' input '{name}': {problem}", raw, name, job=job, field=field)
        elif binding is not None:
            out[str(name)] = binding
    return out


def _job_outputs(job: str, raw: dict, col: Collector) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name, value in raw.items():
        target = None
        if isinstance(value, str):
            target, problem = parse_parent_output(value)
            if problem:
                col.problem(f"job '{job}' output '{name}': {problem}", raw, name, job=job, field=f"outputs.{name}")
                continue
        elif isinstance(value, dict):
            col.check_keys(value, ("type", "description"), AZURE_OUTPUT_KEYS, f"output '{name}' of job '{job}'",
                           job=job)
        elif value is not None:
            col.problem(f"job '{job}' output '{name}' is {value!r}; expected {{}} or ${{{{parent.outputs.NAME}}}}",
                        raw, name, job=job, field=f"outputs.{name}")
            continue
        out[str(name)] = target
    return out


def _job(job: str, data: Any, base_dir: Path, pipeline_inputs: dict[str, PipelineInput],
         col: Collector, files: ComponentFiles) -> JobSpec | None:
    if not isinstance(data, dict):
        col.problem(f"job '{job}' is {data!r}; expected a mapping with 'component' or 'command'", job=job)
        return None
    before = len(col.problems)
    type_ = data.get("type", "command")
    if type_ in UNSUPPORTED_TYPES:
        col.problem(f"job '{job}' has type '{type_}', which Ductwork does not support yet; only command jobs "
                    "can run here", data, "type", job=job, field="type")
        return None
    if type_ != "command":
        col.problem(f"job '{job}' has type {type_!r}.{did_you_mean(type_, ('command',))} Expected 'command'",
                    data, "type", job=job, field="type")
        return None
    is_inline = "command" in data
    allowed = JOB_KEYS + INLINE_JOB_KEYS if is_inline else JOB_KEYS
    if is_inline and "component" in data:
        col.problem(f"job '{job}' has both 'component' and 'command'; keep one", data, "command", job=job,
                    field="command")
    col.check_keys(data, allowed, AZURE_JOB_KEYS, f"job '{job}'", job=job)
    if not JOB_NAME.match(str(job)):
        col.problem(f"job name '{job}' may contain only letters, digits and underscores; use "
                    f"'{re.sub(r'[^A-Za-z0-9_]', '_', str(job))}'", job=job)
    raw_inputs = data.get("inputs") or {}
    raw_outputs = data.get("outputs") or {}
    for key, raw in (("inputs", raw_inputs), ("outputs", raw_outputs)):
        if not isinstance(raw, dict):
            col.problem(f"'{key}' of job '{job}' must be a mapping, not {raw!r}", data, key, job=job, field=key)
    raw_inputs = raw_inputs if isinstance(raw_inputs, dict) else {}
    raw_outputs = raw_outputs if isinstance(raw_outputs, dict) else {}
    inputs = _job_inputs(job, raw_inputs, base_dir, col)
    outputs = _job_outputs(job, raw_outputs, col)
    inline = None
    if is_inline and len(col.problems) == before:
        inline = _inline_component(job, data, raw_inputs, pipeline_inputs, base_dir, col)
        if inline is None:
            return None
    component = _component_of(job, data, base_dir, col, inline, files)
    timeout = None
    limits = data.get("limits")
    if limits is not None:
        if not isinstance(limits, dict):
            col.problem(f"'limits' of job '{job}' must be a mapping such as {{timeout: 3600}}", data, "limits",
                        job=job, field="limits")
        else:
            col.check_keys(limits, ("timeout",), ("max_iterations",), f"limits of job '{job}'", job=job,
                           prefix="limits.")
            timeout = limits.get("timeout")
            if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                        or timeout <= 0):
                col.problem(f"job '{job}' limits.timeout is {timeout!r}; expected a number of seconds above 0",
                            limits, "timeout", job=job, field="limits.timeout")
                timeout = None
    retries = data.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        col.problem(f"job '{job}' retries is {retries!r}; expected a whole number, 0 or more", data, "retries",
                    job=job, field="retries")
        retries = 0
    env_vars = data.get("environment_variables") or {}
    if not isinstance(env_vars, dict) or any(isinstance(v, (dict, list)) for v in env_vars.values()):
        col.problem(f"job '{job}' environment_variables must map names to text values", data,
                    "environment_variables", job=job, field="environment_variables")
        env_vars = {}
    force = data.get("force_rerun", False)
    if not isinstance(force, bool):
        col.problem(f"job '{job}' force_rerun is {force!r}; expected true or false", data, "force_rerun",
                    job=job, field="force_rerun")
    compute = data.get("compute")
    if compute is not None and not isinstance(compute, str):
        col.problem(f"job '{job}' compute is {compute!r}; expected a compute target name", data, "compute",
                    job=job, field="compute")
    if len(col.problems) > before or component is None:
        return None
    return JobSpec(
        name=str(job), component=component, inputs=inputs, outputs=outputs, compute=compute,
        timeout=float(timeout) if timeout is not None else None, retries=retries,
        environment_variables={str(k): "" if v is None else str(v) for k, v in env_vars.items()},
        force_rerun=force, display_name=str(data.get("display_name") or ""))


def pipeline_from_dict(data: Any, base_dir: str | Path, source: str | Path | None = None) -> PipelineSpec:
    """Build a :class:`PipelineSpec`; raises ``ValidationError`` with every problem found."""
    base_dir = Path(base_dir)
    col = Collector(str(source) if source else None)
    if not isinstance(data, dict):
        raise ValidationError([Problem(f"a pipeline must be a mapping, not {data!r}", file=col.file)])
    type_ = data.get("type")
    if type_ != "pipeline":
        hint = (" (this looks like a component; run it inside a pipeline, or validate it as a component)"
                if type_ == "command" else "")
        col.problem(f"the file has type {type_!r}; a pipeline file needs 'type: pipeline'{hint}", data,
                    "type" if "type" in data else None, field="type")
        raise ValidationError(col.problems)
    col.check_keys(data, PIPELINE_KEYS, AZURE_PIPELINE_KEYS, "the pipeline")
    stem = Path(str(source)).stem if source else "pipeline"
    raw_name = data.get("name") or data.get("display_name") or stem
    name = suggest_name(str(raw_name))
    inputs: dict[str, PipelineInput] = {}
    raw_inputs = data.get("inputs") or {}
    if not isinstance(raw_inputs, dict):
        col.problem("'inputs' of the pipeline must be a mapping of input names", data, "inputs", field="inputs")
        raw_inputs = {}
    for iname, idata in raw_inputs.items():
        parsed = _pipeline_input(str(iname), idata, base_dir, col)
        if parsed:
            inputs[str(iname)] = parsed
    outputs: dict[str, PipelineOutput] = {}
    raw_outputs = data.get("outputs") or {}
    if not isinstance(raw_outputs, dict):
        col.problem("'outputs' of the pipeline must be a mapping of output names", data, "outputs",
                    field="outputs")
        raw_outputs = {}
    for oname, odata in raw_outputs.items():
        parsed_o = _pipeline_output(str(oname), odata, col)
        if parsed_o:
            outputs[str(oname)] = parsed_o
    settings = _settings(data.get("settings"), col)
    top_compute = data.get("compute")
    if top_compute is not None:
        # Azure's pipeline-level `compute:` is the default for every job; settings win when both are set.
        if not isinstance(top_compute, str):
            col.problem(f"'compute' of the pipeline is {top_compute!r}; expected a compute target name", data,
                        "compute", field="compute")
        elif settings.default_compute is None:
            settings = replace(settings, default_compute=top_compute)
    jobs: dict[str, JobSpec] = {}
    raw_jobs = data.get("jobs")
    if "jobs" not in data:
        hint = (" This file has a 'command': it looks like a component; validate it as one, or make it a job "
                "under 'jobs:'." if "command" in data else "")
        col.missing(f"the pipeline has no jobs; add a 'jobs:' mapping with at least one job.{hint}", data, "jobs",
                    (*PIPELINE_KEYS, *AZURE_PIPELINE_KEYS), field="jobs")
        raw_jobs = {}
    elif not isinstance(raw_jobs, dict) or not raw_jobs:
        col.problem("the pipeline has no jobs; add a 'jobs:' mapping with at least one job", data, "jobs",
                    field="jobs")
        raw_jobs = {}
    files: ComponentFiles = {}
    for jname, jdata in raw_jobs.items():
        job = _job(str(jname), jdata, base_dir, inputs, col, files)
        if job:
            jobs[str(jname)] = job
    tags = data.get("tags") or {}
    if not isinstance(tags, dict):
        col.problem(f"'tags' of the pipeline must be a mapping, not {tags!r}", data, "tags", field="tags")
        tags = {}
    if col.problems:
        raise ValidationError(col.problems)
    version = data.get("version")
    return PipelineSpec(
        name=name, version=None if version is None else str(version),
        display_name=str(data.get("display_name") or ("" if str(raw_name).isascii() else raw_name)),
        description=str(data.get("description") or ""),
        tags={str(k): str(v) for k, v in tags.items()}, inputs=inputs, outputs=outputs, settings=settings,
        jobs=jobs, source=Path(source) if source else None, warnings=col.warnings)


def load_pipeline_file(path: str | Path, cache: ParsedCache | None = None) -> PipelineSpec:
    """Read a ``type: pipeline`` YAML file (Azure ML CLI v2 pipeline job format); ``cache``: a
    large file parsed before is not parsed again (``components.yamlio.ParsedCache``)."""
    path = Path(path).absolute()
    return pipeline_from_dict(load_yaml_file(path, cache=cache), path.parent, path)
