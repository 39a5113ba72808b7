"""Check components and pipelines, reporting every problem at once.

- ``validate_component(spec)``: a component on its own (command placeholders,
  optional inputs outside ``$[[…]]``, defaults against min/max/enum,
  resources, function entry point). The loader runs it on every file.
- ``validate_pipeline(spec, resolve, compute_names)``: a pipeline with its
  components resolved: unknown components, undeclared/missing inputs and
  outputs (with "did you mean"), type mismatches, min/max/enum, dangling
  bindings, cycles, compute targets, remote or missing data paths.
  It returns errors only; pass ``include_warnings=True`` to also get
  ``Problem(severity="warning")`` items (Azure-only fields, ``azureml:``
  compute names that fall back, environments that cannot be built).
- ``resolve_pipeline(spec, resolve)``: every ``ComponentRef`` replaced by
  its ``ComponentSpec``.
- ``compute_for_job(...)``: the one compute-resolution rule (job → component
  → pipeline default → workspace default), shared with the engine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from components.errors import DuctworkError, Problem, ValidationError
from components.fields import check_literal, check_name, did_you_mean, is_remote_path, read_given
from components.placeholders import find_placeholders, optional_blocks, placeholder_problem
from components.spec import (
    PARAMETER_TYPES,
    ComponentRef,
    ComponentSpec,
    ExternalData,
    InputSpec,
    JobOutput,
    JobSpec,
    LiteralValue,
    ParentInput,
    PipelineInput,
    PipelineSettings,
    PipelineSpec,
)

__all__ = [
    "Resolver",
    "validate_component",
    "validate_pipeline",
    "resolve_pipeline",
    "compute_for_job",
    "check_value",
    "check_pipeline_values",
    "read_pipeline_values",
    "with_pipeline_values",
    "MAX_VALUE_BYTES",
    "MAX_STEP_VALUES_BYTES",
]

Resolver = Callable[[ComponentRef], ComponentSpec]

#: The largest parameter value. Values reach a command in its environment (engine/command.py),
#: where Linux takes at most 128 KiB per variable; bigger data belongs in a file.
MAX_VALUE_BYTES = 64 * 1024
#: The most the values of one step may add up to (environment and arguments share ARG_MAX, 2 MiB).
MAX_STEP_VALUES_BYTES = 512 * 1024
_AS_FILE = "put it in a file and pass the file as a uri_file input instead"


def _describe(value: Any) -> str:
    text = f"'{value}'" if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else f"{text[:60]}… ({_kib(_value_bytes(value))})"


def _value_bytes(value: Any) -> int:
    return 0 if value is None else len(str(value).encode("utf-8", "surrogatepass"))


def _kib(size: int) -> str:
    return f"{size / 1024:.1f} KiB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MiB"


def _too_big(value: Any, what: str) -> str | None:
    """Why ``value`` is too big to be a parameter (its size, never its text), or ``None``."""
    size = _value_bytes(value)
    if size <= MAX_VALUE_BYTES:
        return None
    return f"{what} is {_kib(size)}, above the limit of {MAX_VALUE_BYTES // 1024} KiB for a parameter value; {_AS_FILE}"


def _step_values_problem(job: JobSpec, comp: ComponentSpec, spec: PipelineSpec) -> str | None:
    """Why the values of ``job`` together are more than one process can be given, or ``None``."""
    total = 0
    for iname, inp in comp.inputs.items():
        binding = job.inputs.get(iname)
        if isinstance(binding, LiteralValue):
            total += _value_bytes(binding.value)
        elif isinstance(binding, ParentInput) and (pin := spec.inputs.get(binding.name)) is not None:
            total += _value_bytes(pin.value if pin.value is not None else pin.path)
        elif binding is None:
            total += _value_bytes(inp.default)
    if total <= MAX_STEP_VALUES_BYTES:
        return None
    return (f"job '{job.name}': its values add up to {_kib(total)}, above the limit of "
            f"{MAX_STEP_VALUES_BYTES // 1024} KiB for one step; pass the largest as files (uri_file inputs)")


def check_value(value: Any, inp: InputSpec) -> str | None:
    """Why a literal cannot be the value of parameter ``inp`` (type, min/max, enum), or ``None``."""
    if (big := _too_big(value, "the value")) is not None:
        return big
    given = value
    value, problem = check_literal(value, inp.type)
    if problem:
        problem = problem.replace(repr(given), _describe(given))  # a long value is not shown whole
        return f"{problem}; expected {'an' if inp.type == 'integer' else 'a'} {inp.type}"
    if inp.min is not None and isinstance(value, (int, float)) and value < inp.min:
        return f"{value!r} is below the minimum {inp.min}"
    if inp.max is not None and isinstance(value, (int, float)) and value > inp.max:
        return f"{value!r} is above the maximum {inp.max}"
    if inp.enum is not None and value not in inp.enum:
        return f"{_describe(value)} is not one of {', '.join(_describe(e) for e in inp.enum)}"
    return None


def validate_component(spec: ComponentSpec) -> list[Problem]:
    """Problems of one component on its own (no registry needed)."""
    file = str(spec.source) if spec.source else None
    where = f"component '{spec.ref}'" if spec.version else f"component '{spec.name}'"
    problems: list[Problem] = []

    def add(message: str, field: str | None = None) -> None:
        problems.append(Problem(message, file=file, field=field))

    if (name_problem := check_name(spec.name)) is not None:
        add(f"{where}: {name_problem}", "name")
    for inp in spec.inputs.values():
        if big := _too_big(inp.default, f"{where} input '{inp.name}': the default"):
            add(big, f"inputs.{inp.name}")
        elif inp.default is not None and inp.is_parameter and (why := check_value(inp.default, inp)):
            add(f"{where} input '{inp.name}': default {why}", f"inputs.{inp.name}")
    if spec.kind == "command":
        if not spec.command:
            add(f"{where} has no command", "command")
        else:
            problems.extend(_command_problems(spec, where, file))
    else:
        problems.extend(_function_problems(spec, where, file))
    res = spec.resources
    if res is not None:
        for key in ("cpus", "gpus", "memory"):
            value = getattr(res, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                add(f"{where} resources.{key} is {value!r}; expected a number that is 0 or more", f"resources.{key}")
        for name, amount in res.custom.items():
            if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
                add(f"{where} resources.custom '{name}' is {amount!r}; expected a number that is 0 or more",
                    f"resources.custom.{name}")
    return problems


def _command_problems(spec: ComponentSpec, where: str, file: str | None) -> list[Problem]:
    """The command's placeholders against the component's inputs and outputs (the grammar is
    components/placeholders.py, which substitution uses too)."""
    problems: list[Problem] = []
    command = spec.command or ""

    def add(message: str) -> None:
        problems.append(Problem(f"{where} command {message}", file=file, field="command"))

    spans = optional_blocks(command)
    found = list(find_placeholders(command))
    for placeholder in found:
        if (problem := placeholder_problem(placeholder, spec.inputs, spec.outputs)) is not None:
            add(problem)
            continue
        name = placeholder.name or ""
        inside = any(a <= placeholder.start and placeholder.end <= b for a, b in spans)
        if placeholder.section == "inputs" and spec.inputs[name].optional and not inside:
            add(f"uses optional input '{name}' outside '$[[ ... ]]'; wrap the part that needs it, e.g. "
                f"$[[--{name} ${{{{inputs.{name}}}}}]], so it is dropped when no value is given")
    rest = command
    for placeholder in reversed(found):
        rest = rest[:placeholder.start] + rest[placeholder.end:]
    if "${{" in rest:
        start = rest.index("${{")
        add(f"has '{rest[start:start + 24].splitlines()[0]}…' with no closing '}}}}'; "
            "write ${{inputs.NAME}} or ${{outputs.NAME}}")
    return problems


def _function_problems(spec: ComponentSpec, where: str, file: str | None) -> list[Problem]:
    if spec.function is None:
        return [Problem(f"{where} is a function component without a function entry", file=file, field="function")]
    if spec.code is None or not Path(spec.code).is_dir():
        return [Problem(f"{where}: code folder '{spec.code}' does not exist", file=file, field="code")]
    base = Path(spec.code).joinpath(*spec.function.module.split("."))
    if not base.with_suffix(".py").is_file() and not (base / "__init__.py").is_file():
        return [Problem(f"{where}: module '{spec.function.module}' is not in the code folder '{spec.code}' "
                        f"(looked for '{base.with_suffix('.py')}')", file=file, field="function")]
    return []


def compute_for_job(job: JobSpec, component: ComponentSpec | None, settings: PipelineSettings,
                    compute_names: Iterable[str], default_compute: str = "local") -> tuple[str, list[Problem]]:
    """The compute target a job runs on, and problems (errors or warnings) found choosing it.

    Order: job ``compute`` → component ``compute`` → ``settings.default_compute``
    → ``default_compute``. An ``azureml:NAME`` that is defined locally as NAME
    is used; one that is not is skipped with a warning (so Azure files run
    unchanged). Any other unknown name is an error listing the known targets.
    """
    names = list(compute_names)
    problems: list[Problem] = []
    chain = [(job.compute, "compute"), (component.compute if component else None, "component compute"),
             (settings.default_compute, "settings.default_compute")]
    for name, label in chain:
        if name is None:
            continue
        if name in names:
            return name, problems
        if name.startswith("azureml:"):
            short = name[len("azureml:"):]
            if short in names:
                return short, problems
            pipeline_level = label.startswith("settings")
            problems.append(Problem(
                f"{'' if pipeline_level else f'job {job.name!r} '}{label} '{name}' is an Azure compute target "
                f"that is not defined here; using the default instead (define '{short}' with "
                "'ductwork compute add' to use it)",
                job=None if pipeline_level else job.name, field=label if pipeline_level else "compute",
                severity="warning"))
            continue
        known = ", ".join(sorted(names)) or "none"
        pipeline_level = label.startswith("settings")
        problems.append(Problem(
            f"{'' if pipeline_level else f'job {job.name!r} '}{label} '{name}' is not a known compute target."
            f"{did_you_mean(name, names)} Known targets: {known}",
            job=None if pipeline_level else job.name, field=label if pipeline_level else "compute"))
        return default_compute, problems
    return default_compute, problems


def _resolve(job: JobSpec, resolve: Resolver) -> tuple[ComponentSpec | None, str | None]:
    comp = job.component
    if isinstance(comp, ComponentSpec):
        return comp, None
    try:
        return resolve(comp), None
    except KeyError as err:
        message = err.args[0] if err.args else f"component '{comp}' is not registered"
        return None, f"job '{job.name}' component '{comp}' cannot be found: {message}"
    except DuctworkError as err:
        return None, f"job '{job.name}' component '{comp}' cannot be loaded: {err}"


def _path_problem(path: str, subject: str, set_name: str | None) -> str | None:
    fix = f"pass a local path with --set {set_name}=PATH" if set_name else "use a local path"
    if is_remote_path(path):
        return f"{subject} has the remote data path '{path}', which cannot be read here; {fix}"
    if not os.path.exists(path):
        return f"{subject} path '{path}' does not exist; create it or {fix}"
    return None


def _cycles(spec: PipelineSpec) -> list[list[str]]:
    """Every cycle among the jobs, each in the direction data flows and starting at its
    first-declared job. ``graphlib`` reports one cycle at a time (without recursion, so a
    chain of any depth is fine): drop one edge of it and ask again until none is left."""
    deps = {name: {b.job for b in job.inputs.values() if isinstance(b, JobOutput) and b.job in spec.jobs}
            for name, job in spec.jobs.items()}
    order = {name: i for i, name in enumerate(spec.jobs)}
    found: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()
    while True:
        try:
            TopologicalSorter(deps).prepare()
        except CycleError as err:
            loop = list(err.args[1])  # [a, b, ..., a]: each job feeds the next
            flow = loop[:-1]
            deps[flow[1 % len(flow)]].discard(flow[0])
            if frozenset(flow) not in seen_sets:
                seen_sets.add(frozenset(flow))
                first = min(range(len(flow)), key=lambda i: order[flow[i]])
                found.append(flow[first:] + flow[:first])
            continue
        return found


def _check_binding(job: JobSpec, name: str, inp: InputSpec, binding: Any, spec: PipelineSpec,
                   components: dict[str, ComponentSpec | None], comp_ref: str) -> list[str]:
    subject = f"job '{job.name}' input '{name}'"
    if inp.is_data:
        kind = f"a data input ({inp.type})"
    else:
        kind = f"{'an' if inp.type == 'integer' else 'a'} {inp.type} parameter"
    if isinstance(binding, ExternalData):
        if not inp.is_data:
            return [f"{subject} is {kind} but is bound to the data path '{binding.path}'; give it a value"]
        problem = _path_problem(binding.path, subject, None)
        return [problem] if problem else []
    if isinstance(binding, LiteralValue):
        value = binding.value
        if inp.is_data:
            return [f"{subject} is {kind} but is bound to the literal {_describe(value)}; bind it to data "
                    "({type: uri_folder, path: ./data}), a pipeline input or an upstream output"]
        why = check_value(value, inp)
        return [f"{subject} of component '{comp_ref}': {why}"] if why else []
    if isinstance(binding, ParentInput):
        parent = spec.inputs.get(binding.name)
        if parent is None:
            return [f"{subject} is bound to pipeline input '{binding.name}', which the pipeline does not declare."
                    f"{did_you_mean(binding.name, spec.inputs) or ' Declare it under the pipeline inputs.'}"]
        return _check_parent(subject, kind, inp, parent, comp_ref)
    if isinstance(binding, JobOutput):
        upstream = spec.jobs.get(binding.job)
        if upstream is None:
            return [f"{subject} is bound to an output of job '{binding.job}', which the pipeline does not have."
                    f"{did_you_mean(binding.job, spec.jobs)}"]
        up = components.get(binding.job)
        problems = []
        if up is not None and binding.output not in up.outputs:
            known = ", ".join(up.outputs) or "none"
            problems.append(
                f"{subject} is bound to output '{binding.output}' of job '{binding.job}', which component "
                f"'{up.ref}' does not declare.{did_you_mean(binding.output, up.outputs)} Its outputs: {known}")
        if not inp.is_data:
            problems.append(f"{subject} is {kind} but is bound to output '{binding.output}' of job "
                            f"'{binding.job}', which is a folder or file; bind it to a value or a pipeline input")
        return problems
    return [f"{subject} has an unknown binding {binding!r}"]


def _check_parent(subject: str, kind: str, inp: InputSpec, parent: PipelineInput, comp_ref: str) -> list[str]:
    if _too_big(parent.value, ""):  # reported at the pipeline input
        return []
    if inp.is_data != parent.is_data:
        what = "data (a path)" if parent.is_data else f"the value {_describe(parent.value)}"
        return [f"{subject} is {kind} but is bound to pipeline input '{parent.name}', which holds {what}"]
    if inp.is_data:
        return []
    if parent.type is not None and parent.type != inp.type and not (parent.type == "integer" and inp.type == "number"):
        return [f"{subject} is {kind} but pipeline input '{parent.name}' is declared {parent.type}"]
    if parent.value is not None and (why := check_value(parent.value, inp)):
        return [f"{subject} of component '{comp_ref}' is bound to pipeline input '{parent.name}': {why}"]
    return []


def validate_pipeline(spec: PipelineSpec, resolve: Resolver, compute_names: Iterable[str], *,
                      default_compute: str = "local", include_warnings: bool = False) -> list[Problem]:
    """Every problem of a pipeline, in job order (errors only unless ``include_warnings``)."""
    file = str(spec.source) if spec.source else None
    names = list(compute_names)
    out: list[Problem] = []

    def add(message: str, job: str | None = None, field: str | None = None, severity: str = "error") -> None:
        out.append(Problem(message, file=file, job=job, field=field, severity=severity))

    for warning in spec.warnings:
        add(warning, severity="warning")
    for pinp in spec.inputs.values():
        if big := _too_big(pinp.value, f"the value of pipeline input '{pinp.name}'"):
            add(big, field=f"inputs.{pinp.name}")
        if pinp.path is not None and (why := _path_problem(pinp.path, f"pipeline input '{pinp.name}'", pinp.name)):
            add(why, field=f"inputs.{pinp.name}")
    components: dict[str, ComponentSpec | None] = {}
    for job in spec.jobs.values():
        comp, problem = _resolve(job, resolve)
        components[job.name] = comp
        if problem:
            add(problem, job.name, "component")
    published: dict[str, str] = {}
    for job in spec.jobs.values():
        comp = components[job.name]
        _, compute_problems = compute_for_job(job, comp, spec.settings, names, default_compute)
        out.extend(replace(p, file=file) for p in compute_problems if replace(p, file=file) not in out)
        for oname, target in job.outputs.items():
            if target is None:
                continue
            if target not in spec.outputs:
                add(f"job '{job.name}' output '{oname}' is bound to pipeline output '{target}', which the pipeline "
                    f"does not declare.{did_you_mean(target, spec.outputs) or ' Declare it under the pipeline outputs.'}",
                    job.name, f"outputs.{oname}")
            elif target in published:
                add(f"pipeline output '{target}' is bound twice (by job '{published[target]}' and job '{job.name}'); "
                    "bind it once", job.name, f"outputs.{oname}")
            published[target] = job.name
        if comp is None:
            continue
        ref = comp.ref
        sizes_ok = True
        for iname, binding in job.inputs.items():
            if isinstance(binding, LiteralValue) and (big := _too_big(
                    binding.value, f"the value of job '{job.name}' input '{iname}'")):
                add(big, job.name, f"inputs.{iname}")
                sizes_ok = False
                continue
            if iname not in comp.inputs:
                add(f"job '{job.name}' input '{iname}' is not declared by component '{ref}'."
                    f"{did_you_mean(iname, comp.inputs) or ' Its inputs: ' + (', '.join(comp.inputs) or 'none')}",
                    job.name, f"inputs.{iname}")
                continue
            for message in _check_binding(job, iname, comp.inputs[iname], binding, spec, components, ref):
                add(message, job.name, f"inputs.{iname}")
        if sizes_ok and (too_many := _step_values_problem(job, comp, spec)):
            add(too_many, job.name, "inputs")
        for oname in job.outputs:
            if oname not in comp.outputs:
                add(f"job '{job.name}' output '{oname}' is not declared by component '{ref}'."
                    f"{did_you_mean(oname, comp.outputs) or ' Its outputs: ' + (', '.join(comp.outputs) or 'none')}",
                    job.name, f"outputs.{oname}")
        for iname, inp in comp.inputs.items():
            if inp.required and iname not in job.inputs:
                add(f"job '{job.name}' does not bind required input '{iname}' ({inp.type}) of component '{ref}'; "
                    "bind it under the job's inputs", job.name, f"inputs.{iname}")
        if comp.environment.kind == "unsupported" and isinstance(job.component, ComponentRef):
            add(f"job '{job.name}' component '{ref}' has an environment that cannot be built here "
                f"({comp.environment.reference!r}); it runs in the current environment", job.name,
                "environment", "warning")
    for pinp in spec.inputs.values():
        if pinp.value is not None or pinp.path is not None or pinp.optional:
            continue
        users = [f"'{job.name}'" for job in spec.jobs.values() for b in job.inputs.values()
                 if isinstance(b, ParentInput) and b.name == pinp.name]
        if users:
            add(f"pipeline input '{pinp.name}' has no value but job {', '.join(users)} uses it; give it a "
                f"{'path' if pinp.is_data else 'default'} or pass --set {pinp.name}=VALUE", field=f"inputs.{pinp.name}")
    for cycle in _cycles(spec):
        path = " → ".join([*cycle, cycle[0]])
        add(f"cycle: {path}; a job cannot depend on its own output, directly or through other jobs",
            cycle[0], "inputs")
    bound = set(published)
    for oname in spec.outputs:
        if oname not in bound:
            add(f"pipeline output '{oname}' is not bound by any job; bind a job output to "
                f"${{{{parent.outputs.{oname}}}}} or remove it", field=f"outputs.{oname}", severity="warning")
    return out if include_warnings else [p for p in out if p.severity != "warning"]


def resolve_pipeline(spec: PipelineSpec, resolve: Resolver) -> PipelineSpec:
    """``spec`` with every ``ComponentRef`` replaced by its ``ComponentSpec`` (``ValidationError`` if unknown)."""
    file = str(spec.source) if spec.source else None
    jobs: dict[str, JobSpec] = {}
    problems: list[Problem] = []
    for name, job in spec.jobs.items():
        comp, problem = _resolve(job, resolve)
        if problem:
            problems.append(Problem(problem, file=file, job=name, field="component"))
            continue
        jobs[name] = job if comp is job.component else replace(job, component=comp)
    if problems:
        raise ValidationError(problems)
    return replace(spec, jobs=jobs)


def _feeds(spec: PipelineSpec, resolve: Resolver | None) -> dict[str, list[tuple[str, str, InputSpec]]]:
    """Per pipeline input: the (job, input, its spec) it is bound to, where the component is known."""
    feeds: dict[str, list[tuple[str, str, InputSpec]]] = {}
    for job in spec.jobs.values():
        comp = job.component if isinstance(job.component, ComponentSpec) else (
            _resolve(job, resolve)[0] if resolve is not None else None)
        if comp is None:
            continue
        for iname, binding in job.inputs.items():
            if isinstance(binding, ParentInput) and iname in comp.inputs:
                feeds.setdefault(binding.name, []).append((job.name, iname, comp.inputs[iname]))
    return feeds


def _read_values(spec: PipelineSpec, values: Mapping[str, Any],
                 feeds: Mapping[str, list[tuple[str, str, InputSpec]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        pin = spec.inputs.get(name)
        type_ = pin.type if pin is not None else None
        if pin is not None and pin.is_data:
            type_ = pin.type or "uri_folder"
        elif type_ is None and feeds.get(name) and all(inp.type == "string" for _, _, inp in feeds[name]):
            type_ = "string"
        out[name] = read_given(value, type_)
    return out


def read_pipeline_values(spec: PipelineSpec, values: Mapping[str, Any],
                         resolve: Resolver | None = None) -> dict[str, Any]:
    """``values`` with each :class:`~components.fields.GivenText` (``--set``) read for the input
    it sets: the pipeline input's declared type, else ``string`` when every component input it
    feeds is a string (so they get exactly the text given), else JSON when it parses. Other
    values are kept as they are."""
    return _read_values(spec, values, _feeds(spec, resolve))


def _given_path(value: Any, base_dir: str | None) -> str | None:
    """A data value given for a run as an absolute path (remote paths as written); ``None`` if not a path."""
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        return None
    text = str(value)
    if is_remote_path(text):
        return text
    return os.path.abspath(os.path.join(base_dir or os.getcwd(), os.path.expanduser(text)))


def check_pipeline_values(spec: PipelineSpec, values: Mapping[str, Any], resolve: Resolver | None = None, *,
                          base_dir: str | None = None) -> list[Problem]:
    """Every problem of the values given for a run of ``spec`` (``--set``, ``run(params=...)``), at once.

    - a name the pipeline does not declare (with a "did you mean");
    - a parameter value against the pipeline input's declared type, then against the type,
      min/max and enum of EVERY component input it feeds (one pipeline input may feed
      several jobs, each with its own constraints);
    - a data value that is not a path, is remote, or does not exist (relative to ``base_dir``,
      default the current folder).

    ``--set`` text (``GivenText``) is read first, as :func:`read_pipeline_values` does. ``None``
    is no value: it is left to :func:`validate_pipeline` with the values in place (an input
    that needs a value and has none is reported there).

    Each problem is located at the file and ``field="inputs.NAME"`` of the pipeline input it
    sets. Jobs whose component is a ``ComponentRef`` are resolved with ``resolve``; one that
    cannot be resolved is left to :func:`validate_pipeline`, which reports it.
    """
    file = str(spec.source) if spec.source else None
    problems: list[Problem] = []
    feeds = _feeds(spec, resolve)
    for name, value in _read_values(spec, values, feeds).items():
        if big := _too_big(value, f"the value of input '{name}'"):
            problems.append(Problem(f"--set {name}=…: {big}", file=file, field=f"inputs.{name}"))
            continue
        for message in _value_problems(spec, name, value, feeds.get(name, []), base_dir):
            problems.append(Problem(f"--set {name}={_describe(value)}: {message}", file=file, field=f"inputs.{name}"))
    return problems


def _value_problems(spec: PipelineSpec, name: str, value: Any, feeds: list[tuple[str, str, InputSpec]],
                    base_dir: str | None) -> list[str]:
    pin = spec.inputs.get(name)
    if pin is None:
        return [f"pipeline '{spec.name}' has no input '{name}'.{did_you_mean(name, spec.inputs)} "
                f"Its inputs: {', '.join(spec.inputs) or 'none'}"]
    if value is None:  # no value (a rerun of a run that left an optional input unset): validation decides
        return []
    if pin.is_data:
        path = _given_path(value, base_dir)
        if path is None:
            return [f"pipeline input '{name}' is data ({pin.type or 'uri_folder'}); give a path"]
        why = _path_problem(path, f"pipeline input '{name}'", name)
        return [why] if why else []
    if pin.type in PARAMETER_TYPES:
        value, why = check_literal(value, pin.type)
        if why:
            return [f"pipeline input '{name}' is declared {pin.type}: {why}"]
    return [f"pipeline input '{name}' feeds job '{job}' input '{iname}' ({inp.type}): {why}"
            for job, iname, inp in feeds if inp.is_parameter and (why := check_value(value, inp))]


def with_pipeline_values(spec: PipelineSpec, values: Mapping[str, Any], *,
                         base_dir: str | None = None) -> PipelineSpec:
    """``spec`` with the given values (as :func:`read_pipeline_values` reads them) as its pipeline
    inputs' values, data values as absolute paths, so that validating it checks the run as it
    will be; unknown names are left out."""
    inputs = dict(spec.inputs)
    for name, value in values.items():
        pin = inputs.get(name)
        if pin is None:
            continue
        if pin.is_data:
            inputs[name] = replace(pin, path=_given_path(value, base_dir), value=None)
        else:
            inputs[name] = replace(pin, value=check_literal(value, pin.type)[0] if pin.type else value)
    return replace(spec, inputs=inputs)
