"""Compile a pipeline into a graph of steps: resolved components, topological order, compute.

Pure: the resolver and the compute targets are handed in; nothing here reads a file,
starts Ray or opens a database.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from components.errors import Problem, ValidationError
from components.spec import ComponentRef, ComponentSpec, JobOutput, JobSpec, ParentInput, PipelineSpec
from engine.compute import DEFAULT_COMPUTE, ComputeSpec, ResourceRequest, resource_request

__all__ = ["StepNode", "PipelineGraph", "compile_pipeline", "Resolver"]

Resolver = Callable[[ComponentRef], ComponentSpec]
AZURE_PREFIX = "azureml:"


@dataclass(frozen=True)
class StepNode:
    """One job of a compiled pipeline: its resolved component, upstream jobs and compute."""

    name: str
    job: JobSpec
    component: ComponentSpec
    compute: ComputeSpec
    request: ResourceRequest
    upstream: tuple[str, ...] = ()

    @property
    def force_rerun(self) -> bool:
        return self.job.force_rerun


@dataclass(frozen=True)
class PipelineGraph:
    """A validated pipeline: steps in topological order and who depends on whom."""

    pipeline: PipelineSpec
    steps: Mapping[str, StepNode]
    downstream: Mapping[str, tuple[str, ...]]
    warnings: tuple[str, ...] = field(default=())

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(self.steps)

    def descendants(self, job: str) -> set[str]:
        """Every step that depends on ``job``, directly or not."""
        seen: set[str] = set()
        stack = list(self.downstream.get(job, ()))
        while stack:
            name = stack.pop()
            if name not in seen:
                seen.add(name)
                stack.extend(self.downstream.get(name, ()))
        return seen


def _resolve_component(job: JobSpec, resolve: Resolver | None, problems: list[Problem], file: str | None):
    if isinstance(job.component, ComponentSpec):
        return job.component
    if resolve is None:
        problems.append(Problem(f"component '{job.component}' is a registry reference, but no registry "
                                "was given; register it or refer to its YAML file", file=file,
                                job=job.name, field="component"))
        return None
    try:
        return resolve(job.component)
    except KeyError as exc:
        message = exc.args[0] if exc.args else f"component '{job.component}' is not registered"
        problems.append(Problem(str(message), file=file, job=job.name, field="component"))
        return None


def _choose_compute(
    names: list[str | None], computes: Mapping[str, ComputeSpec], default: str | None,
    warnings: list[str], problems: list[Problem], file: str | None, job: str,
) -> ComputeSpec:
    for raw in names:
        if not raw:
            continue
        name = raw[len(AZURE_PREFIX):] if raw.startswith(AZURE_PREFIX) else raw
        if name in computes:
            return computes[name]
        if raw.startswith(AZURE_PREFIX):
            fallback = default if default in computes else None
            warnings.append(f"job '{job}': compute '{raw}' is not defined here; using "
                            f"'{fallback or DEFAULT_COMPUTE.name}' instead")
            return computes[fallback] if fallback else DEFAULT_COMPUTE
        known = ", ".join(sorted(computes)) or "none"
        hint = difflib.get_close_matches(name, list(computes), n=1)
        problems.append(Problem(
            f"compute target '{name}' is not defined (known targets: {known})."
            + (f" Did you mean '{hint[0]}'?" if hint else " Add it with `ductwork compute add`."),
            file=file, job=job, field="compute"))
        return DEFAULT_COMPUTE
    if default and default in computes:
        return computes[default]
    return DEFAULT_COMPUTE


def compile_pipeline(
    spec: PipelineSpec,
    resolve: Resolver | None = None,
    computes: Mapping[str, ComputeSpec] | None = None,
    default_compute: str | None = None,
) -> PipelineGraph:
    """Resolve every job's component and compute target, check the bindings, order the jobs.

    Every problem is collected and raised once as ``ValidationError``; a cycle lists its jobs.
    """
    computes = dict(computes or {})
    file = str(spec.source) if spec.source else None
    problems: list[Problem] = []
    warnings: list[str] = list(spec.warnings)
    resolved: dict[str, ComponentSpec] = {}
    for name, job in spec.jobs.items():
        component = _resolve_component(job, resolve, problems, file)
        if component is not None:
            resolved[name] = component
            warnings.extend(component.warnings)

    upstream: dict[str, set[str]] = {name: set() for name in spec.jobs}
    for name, job in spec.jobs.items():
        component = resolved.get(name)
        for input_name, binding in job.inputs.items():
            if component is not None and input_name not in component.inputs:
                hint = difflib.get_close_matches(input_name, list(component.inputs), n=1)
                problems.append(Problem(
                    f"input '{input_name}' is not declared by component '{component.ref}'."
                    + (f" Did you mean '{hint[0]}'?" if hint else ""),
                    file=file, job=name, field=f"inputs.{input_name}"))
            if isinstance(binding, JobOutput):
                if binding.job not in spec.jobs:
                    problems.append(Problem(
                        f"binding refers to job '{binding.job}', which is not in the pipeline",
                        file=file, job=name, field=f"inputs.{input_name}"))
                    continue
                producer = resolved.get(binding.job)
                if producer is not None and binding.output not in producer.outputs:
                    problems.append(Problem(
                        f"job '{binding.job}' has no output '{binding.output}' "
                        f"(outputs: {', '.join(producer.outputs) or 'none'})",
                        file=file, job=name, field=f"inputs.{input_name}"))
                upstream[name].add(binding.job)
            elif isinstance(binding, ParentInput) and binding.name not in spec.inputs:
                problems.append(Problem(
                    f"binding refers to pipeline input '{binding.name}', which is not declared",
                    file=file, job=name, field=f"inputs.{input_name}"))
        if component is not None:
            for input_name, ispec in component.inputs.items():
                if ispec.required and input_name not in job.inputs:
                    problems.append(Problem(
                        f"required input '{input_name}' of component '{component.ref}' is not bound",
                        file=file, job=name, field="inputs"))

    order = _topological_order(upstream, problems, file)
    steps: dict[str, StepNode] = {}
    for name in order:
        job, component = spec.jobs[name], resolved.get(name)
        if component is None:
            continue
        compute = _choose_compute([job.compute, component.compute], computes,
                                  spec.settings.default_compute or default_compute,
                                  warnings, problems, file, name)
        steps[name] = StepNode(
            name=name, job=job, component=component, compute=compute,
            request=resource_request(compute, component.resources),
            upstream=tuple(sorted(upstream[name])),
        )
    if problems:
        raise ValidationError(problems)
    downstream: dict[str, list[str]] = {name: [] for name in steps}
    for name, node in steps.items():
        for up in node.upstream:
            downstream[up].append(name)
    return PipelineGraph(spec, steps, {k: tuple(v) for k, v in downstream.items()}, tuple(warnings))


def _topological_order(upstream: Mapping[str, set[str]], problems: list[Problem], file: str | None) -> list[str]:
    """Kahn's algorithm in declaration order; a cycle becomes one problem listing its jobs."""
    remaining = {name: {u for u in ups if u in upstream} for name, ups in upstream.items()}
    order: list[str] = []
    while True:
        ready = [name for name, ups in remaining.items() if not ups]
        if not ready:
            break
        for name in ready:
            order.append(name)
            del remaining[name]
        for ups in remaining.values():
            ups.difference_update(ready)
    if remaining:
        problems.append(Problem(f"the jobs form a cycle: {' → '.join(sorted(remaining))}", file=file))
    return order
