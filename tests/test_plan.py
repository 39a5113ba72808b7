"""Plans: what is reused, what runs and why — computed without running anything."""

from __future__ import annotations

import dataclasses
import json
import shutil

from test_engine_support import Harness, chain_pipeline, copy_code, function, make_data

from components.spec import (
    InputSpec,
    JobSpec,
    LiteralValue,
    OutputSpec,
    ParentInput,
    PipelineInput,
    PipelineSettings,
    PipelineSpec,
)
from engine.compute import ComputeSpec
from engine.graph import compile_pipeline
from engine.inputs import bind_pipeline_inputs
from engine.plan import plan_run


def plan(h: Harness, spec, params=None, force=False, computes=None):
    graph = compile_pipeline(spec, computes=computes or {})
    return plan_run(graph, bind_pipeline_inputs(spec, params), h.store, h.artifacts, force)


def actions(p) -> dict[str, tuple[str, str]]:
    return {name: (d.action, d.reason) for name, d in p.steps.items()}


def test_first_plan_runs_roots_and_waits_for_the_rest(tmp_path):
    h = Harness(tmp_path)
    spec = chain_pipeline(copy_code(tmp_path), make_data(tmp_path))
    p = plan(h, spec)
    assert actions(p) == {"prep": ("run", "first run"), "train": ("wait", "waits for prep"),
                          "evaluate": ("wait", "waits for train"), "report": ("wait", "waits for prep")}
    assert p.steps["prep"].compute == "local" and p.steps["prep"].resources == "1 CPU"
    assert not (tmp_path / "logs").exists(), "planning must not run anything"


def test_after_a_run_everything_is_reused_and_the_compute_target_does_not_matter(tmp_path):
    h = Harness(tmp_path)
    spec = chain_pipeline(copy_code(tmp_path), make_data(tmp_path))
    first = h.run(spec)
    assert first.run.status == "completed"
    p = plan(h, spec)
    assert p.fully_reused
    assert all(d.reason == f"reused from run {first.run.id}" for d in p.steps.values())
    # moving train to a GPU target must not force a rerun
    gpu = ComputeSpec("gpu", cpus=1, gpus=1)
    jobs = dict(spec.jobs)
    jobs["train"] = dataclasses.replace(jobs["train"], compute="gpu")
    moved = dataclasses.replace(spec, jobs=jobs)
    p2 = plan(h, moved, computes={"gpu": gpu})
    assert p2.fully_reused and p2.steps["train"].compute == "gpu"


def test_a_changed_parameter_reruns_that_step_and_waits_downstream(tmp_path):
    h = Harness(tmp_path)
    spec = chain_pipeline(copy_code(tmp_path), make_data(tmp_path))
    h.run(spec)
    p = plan(h, spec, {"lr": 0.2})
    assert actions(p)["train"] == ("run", "parameter lr 0.1 → 0.2")
    assert p.steps["prep"].action == "reuse" and p.steps["report"].action == "reuse"
    assert actions(p)["evaluate"] == ("wait", "waits for train")


def test_a_missing_output_is_a_miss_and_is_evicted(tmp_path):
    h = Harness(tmp_path)
    spec = chain_pipeline(copy_code(tmp_path), make_data(tmp_path))
    first = h.run(spec)
    clean = next(s for s in first.steps if s.job == "prep").outputs["clean"]
    shutil.rmtree(h.artifacts.path(clean.digest))
    p = plan(h, spec)
    assert actions(p)["prep"] == ("run", "cached output missing (clean)")
    assert p.evicted == (p.steps["prep"].signature,)


def test_a_changed_size_is_a_miss(tmp_path):
    h = Harness(tmp_path)
    spec = chain_pipeline(copy_code(tmp_path), make_data(tmp_path))
    first = h.run(spec)
    model = next(s for s in first.steps if s.job == "train").outputs["model"]
    target = h.artifacts.path(model.digest) / "model.txt"
    target.chmod(0o644)
    target.write_text("truncated")
    assert actions(plan(h, spec))["train"] == ("run", "cached output missing (model)")


def test_force_flags_cover_exactly_what_they_name(tmp_path):
    h = Harness(tmp_path)
    code, data = copy_code(tmp_path), make_data(tmp_path)
    spec = chain_pipeline(code, data)
    h.run(spec)
    assert all(d.action == "run" for d in plan(h, spec, force=True).steps.values() if d.action != "wait")
    assert actions(plan(h, spec, force=True))["prep"] == ("run", "forced (--force)")
    forced_job = chain_pipeline(code, data, jobs_kw={"train": {"force_rerun": True}})
    a = actions(plan(h, forced_job))
    assert a["train"] == ("run", "forced (force_rerun on the job)")
    assert a["prep"][0] == "reuse" and a["report"][0] == "reuse"
    nondet = chain_pipeline(code, data, train_kw={"is_deterministic": False})
    a = actions(plan(h, nondet))
    assert a["train"] == ("run", "not deterministic") and a["prep"][0] == "reuse"
    settings = chain_pipeline(code, data, settings=PipelineSettings(force_rerun=True))
    assert actions(plan(h, settings))["prep"] == ("run", "forced (settings.force_rerun)")


def test_a_new_job_in_the_pipeline_is_a_first_run(tmp_path):
    h = Harness(tmp_path)
    spec = chain_pipeline(copy_code(tmp_path), make_data(tmp_path))
    h.run(spec)
    jobs = dict(spec.jobs)
    jobs["report2"] = JobSpec("report2", jobs["report"].component, jobs["report"].inputs)
    p = plan(h, dataclasses.replace(spec, jobs=jobs))
    # same component and inputs as "report": its result is found by signature
    assert p.steps["report2"].action == "reuse"


def test_an_unset_optional_pipeline_input_gives_the_component_default_to_signature_and_function(tmp_path):
    h = Harness(tmp_path)
    comp = function("add", "add", copy_code(tmp_path, "fn"),
                    {"x": InputSpec("x", "integer"), "y": InputSpec("y", "integer", default=4, optional=True)},
                    {"output": OutputSpec("output")})
    jobs = {"only": JobSpec("only", comp, {"x": LiteralValue(2), "y": ParentInput("y")})}
    spec = PipelineSpec(name="unset", inputs={"y": PipelineInput("y", "integer", optional=True)}, jobs=jobs)
    only = h.run(spec).steps[0]
    assert only.status == "completed", only.error
    assert only.ingredients["parameters"] == {"x": 2, "y": 4}  # the default, not None over it
    assert json.loads((h.artifacts.path(only.outputs["output"].digest) / "output.json").read_text()) == 6
    # the same step with y given as its default is the same step
    assert plan(h, spec, {"y": 4}).steps["only"].action == "reuse"
