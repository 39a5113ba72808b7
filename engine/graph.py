"""Compile a pipeline into a graph of steps: validated, components resolved, topological
order, compute target and resource request per step.

Pure: the resolver and the compute targets are handed in; nothing here starts Ray or
opens a database. Validation is components.validate's (every problem, raised once).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from graphlib import CycleError, TopologicalSorter
from typing import Any

from components.errors import ValidationError
from components.spec import ComponentRef, ComponentSpec, EnvironmentSpec, JobOutput, JobSpec, PipelineSpec
from components.validate import compute_for_job, resolve_pipeline, validate_pipeline
from engine.compute import DEFAULT_COMPUTE, ComputeSpec, ResourceRequest, resource_request
from engine.environments import runtime_env_for

__all__ = ["StepNode", "PipelineGraph", "compile_pipeline", "Resolver", "EnvironmentResolver"]

Resolver = Callable[[ComponentRef], ComponentSpec]
#: An environment as written → the one to build: the service layer resolves Azure references
#: to registered environments (``EnvironmentSpec.resolved``); anything else is returned as is.
EnvironmentResolver = Callable[[EnvironmentSpec], EnvironmentSpec]


@dataclass(frozen=True)
class StepNode:
    """One job of a compiled pipeline: its resolved component, upstream jobs and compute."""

    name: str
    job: JobSpec
    component: ComponentSpec
    compute: ComputeSpec
    request: ResourceRequest
    upstream: tuple[str, ...] = ()
    runtime_env: Mapping[str, Any] | None = None  #: Ray ``runtime_env`` of its environment (engine.environments)

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


def _no_registry(ref: ComponentRef) -> ComponentSpec:
    raise KeyError(f"component '{ref}' is a registry reference, but no registry was given; "
                   "register it or refer to its YAML file")


def compile_pipeline(
    spec: PipelineSpec,
    resolve: Resolver | None = None,
    computes: Mapping[str, ComputeSpec] | None = None,
    default_compute: str = DEFAULT_COMPUTE.name,
    validate: bool = True,
    environments: EnvironmentResolver | None = None,
) -> PipelineGraph:
    """Validate ``spec``, resolve its components and compute targets, and order its jobs.

    Raises ``ValidationError`` with every problem (unknown component, binding, compute
    target, cycle ...). Warnings end up in ``PipelineGraph.warnings``. ``validate=False``
    skips validation for a spec the caller has just validated. ``environments`` resolves each
    component's environment (registered environments by name); without it an Azure reference
    runs in the current environment, with a warning.
    """
    computes = dict(computes or {})
    resolve = resolve or _no_registry
    problems = (validate_pipeline(spec, resolve, computes, default_compute=default_compute, include_warnings=True)
                if validate else [])
    errors = [p for p in problems if p.severity != "warning"]
    if errors:
        raise ValidationError(errors)
    warnings = tuple(dict.fromkeys([*spec.warnings, *(str(p) for p in problems if p.severity == "warning")]))
    resolved = resolve_pipeline(spec, resolve)
    upstream = {name: sorted({b.job for b in job.inputs.values() if isinstance(b, JobOutput)})
                for name, job in resolved.jobs.items()}
    steps: dict[str, StepNode] = {}
    with_env: dict[int, ComponentSpec] = {}  # one resolved copy per component object: fingerprinted once
    env_warnings: dict[str, list[str]] = {}  # an environment's warning → the jobs it is about
    for name in _topological_order(upstream):
        job = resolved.jobs[name]
        component = job.component
        assert isinstance(component, ComponentSpec)
        if environments is not None and component.environment.kind == "reference":
            if id(component) not in with_env:
                with_env[id(component)] = replace(component, environment=environments(component.environment))
            component = with_env[id(component)]
        target, _ = compute_for_job(job, component, resolved.settings, computes, default_compute)
        compute = computes.get(target, DEFAULT_COMPUTE)
        env = runtime_env_for(component.environment, _JOB)
        for warning in env.warnings:
            env_warnings.setdefault(warning, []).append(name)
        steps[name] = StepNode(name, job, component, compute, resource_request(compute, component.resources),
                               tuple(upstream[name]), env.runtime_env)
    warnings = (*warnings, *(warning.replace(_JOB, _jobs(jobs), 1) for warning, jobs in env_warnings.items()))
    downstream: dict[str, list[str]] = {name: [] for name in steps}
    for name, node in steps.items():
        for up in node.upstream:
            downstream[up].append(name)
    return PipelineGraph(resolved, steps, {k: tuple(v) for k, v in downstream.items()}, warnings)


#: Stands for the jobs in an environment's warning: five jobs of one component with one Azure
#: reference get one warning that names them all, not five.
_JOB = "\x00jobs\x00"


def _jobs(names: list[str]) -> str:
    return f"job '{names[0]}'" if len(names) == 1 else "jobs " + ", ".join(f"'{n}'" for n in names)


def _topological_order(upstream: Mapping[str, Iterable[str]]) -> list[str]:
    """Jobs in waves (``graphlib``, no recursion): each ``get_ready()`` batch is the jobs whose
    upstream jobs are all in earlier waves, in declaration order within a wave. Linear time."""
    sorter = TopologicalSorter(upstream)
    try:
        sorter.prepare()
    except CycleError as err:  # validate_pipeline reports cycles by name; this is a guard
        raise ValidationError([]) from err
    position = {name: i for i, name in enumerate(upstream)}
    order: list[str] = []
    while sorter.is_active():
        wave = sorted(sorter.get_ready(), key=position.__getitem__)
        order.extend(wave)
        sorter.done(*wave)
    return order
