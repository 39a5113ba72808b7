"""Graphs of any depth: a 5,000-job chain declared last-first validates, compiles, plans and
lays out without recursion; a cycle deep in a long chain is still named job by job."""

from __future__ import annotations

import dataclasses

from app.ui.designer_model import auto_layout
from components.spec import (
    ComponentSpec,
    InputSpec,
    JobOutput,
    JobSpec,
    LiteralValue,
    OutputSpec,
    PipelineSpec,
)
from components.validate import validate_pipeline
from engine.artifacts import LocalArtifactStore
from engine.graph import compile_pipeline
from engine.inputs import bind_pipeline_inputs
from engine.plan import plan_run
from engine.runstore import InMemoryRunStore

STEP = ComponentSpec(
    name="step", version="1", command="echo ${{inputs.i}} > ${{outputs.out}}/i.txt $[[; cat ${{inputs.prev}}/i.txt]]",
    inputs={"i": InputSpec("i", "integer"), "prev": InputSpec("prev", "uri_folder", optional=True)},
    outputs={"out": OutputSpec("out")})


def chain_last_first(n: int) -> PipelineSpec:
    jobs: dict[str, JobSpec] = {}
    for i in reversed(range(n)):
        inputs = {"i": LiteralValue(i), **({"prev": JobOutput(f"s{i - 1}", "out")} if i else {})}
        jobs[f"s{i}"] = JobSpec(f"s{i}", STEP, inputs)
    return PipelineSpec(name="deep", jobs=jobs)


def _no_registry(ref):
    raise KeyError(ref)


def test_a_5000_job_chain_declared_last_first_validates_compiles_and_plans(tmp_path):
    spec = chain_last_first(5000)
    assert validate_pipeline(spec, _no_registry, {}) == []
    graph = compile_pipeline(spec)
    assert list(graph.steps)[:3] == ["s0", "s1", "s2"] and list(graph.steps)[-1] == "s4999"
    assert len(graph.descendants("s0")) == 4999
    plan = plan_run(graph, bind_pipeline_inputs(spec, {}), InMemoryRunStore(),
                    LocalArtifactStore(tmp_path / "artifacts", tmp_path / "tmp"))
    assert plan.steps["s0"].action == "run" and plan.count("wait") == 4999
    assert plan.steps["s4999"].reason == "waits for s4998"
    layout = auto_layout(spec)
    assert layout["s4999"][0] > layout["s0"][0]


def test_a_cycle_at_the_end_of_a_long_chain_is_named_job_by_job():
    spec = chain_last_first(3000)
    jobs = dict(spec.jobs)
    jobs["s0"] = dataclasses.replace(jobs["s0"], inputs={"i": LiteralValue(0), "prev": JobOutput("s2", "out")})
    problems = validate_pipeline(dataclasses.replace(spec, jobs=jobs), _no_registry, {})
    assert [p.message for p in problems] == [
        "cycle: s2 → s0 → s1 → s2; a job cannot depend on its own output, directly or through other jobs"]
