"""The plan's estimates (from a component version's history) and placement (against what
this machine offers), without Ray: engine/forecast.py and engine/placement.py."""

from __future__ import annotations

import os

import psutil
import pytest
from test_engine_support import Harness, chain_pipeline, copy_code, make_data, step

from components.errors import DuctworkError
from engine.compute import ComputeSpec, ResourceRequest
from engine.costs import format_hours
from engine.executors import check_feasible
from engine.forecast import estimate, forecast_plan
from engine.graph import compile_pipeline
from engine.inputs import bind_pipeline_inputs
from engine.placement import EMBEDDED_OBJECT_STORE_MEMORY, describe_offer, fits, local_offer, shortfall
from engine.plan import plan_run

GPU = ComputeSpec("gpu", cpus=1, gpus=1, memory=2 * 2**30)
OFFER = {"CPU": 2.0, "GPU": 0.0, "memory": 8.0 * 2**30}


def test_a_request_fits_a_node_offering_at_least_each_resource_and_says_what_is_short():
    assert fits(ResourceRequest(cpus=2, memory=2**30), OFFER)
    big = ResourceRequest(cpus=4, gpus=1, custom={"highmem": 1})
    assert not fits(big, OFFER)
    assert shortfall(big, OFFER) == ["4 CPU (offers 2)", "1 GPU (offers 0)", "1 highmem (offers 0)"]
    assert shortfall(ResourceRequest(cpus=1), OFFER) == []
    assert describe_offer(OFFER) == "2 CPU, 0 GPU, 8.0 GiB memory"


def test_the_executor_and_the_plan_judge_a_request_by_the_same_rule():
    node = {"Alive": True, "NodeID": "n1", "Resources": OFFER}
    check_feasible({"a": ResourceRequest(cpus=2)}, [node])
    with pytest.raises(DuctworkError, match="job 'b' asks for 1 CPU, 1 GPU"):
        check_feasible({"b": ResourceRequest(cpus=1, gpus=1)}, [node])


def test_this_machine_offers_its_cpus_the_gpus_ray_would_see_and_its_free_memory_less_the_object_store(
        monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    offer = local_offer()
    assert offer["CPU"] == float(os.cpu_count()) and offer["GPU"] == 2.0
    assert 0 < offer["memory"] < psutil.virtual_memory().total - EMBEDDED_OBJECT_STORE_MEMORY
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert local_offer(num_cpus=1)["GPU"] == 0.0 and local_offer(num_cpus=1)["CPU"] == 1.0


def test_estimates_are_the_median_of_recent_completed_runs_of_the_same_component_version(tmp_path):
    assert estimate([]) is None and estimate([3.0, 1.0, 2.0]) == 2.0 and estimate([1.0, 4.0]) == 2.5
    h = Harness(tmp_path, computes={"gpu": GPU})
    spec = chain_pipeline(copy_code(tmp_path), make_data(tmp_path), jobs_kw={"train": {"compute": "gpu"}})
    graph = compile_pipeline(spec, computes=h.computes)

    def forecast(params=None, offer=OFFER):
        plan = plan_run(graph, bind_pipeline_inputs(spec, params), h.store, h.artifacts)
        return forecast_plan(graph, plan, h.store, offer, "this machine")

    before = forecast()
    assert {f.estimate_s for f in before.steps.values()} == {None} and before.unknown == 4
    first = h.run(spec)
    second = h.run(spec, {"lr": 0.3})
    after = forecast({"lr": 0.7})
    for job in ("prep", "train", "evaluate", "report"):
        runs = [s.duration_s for s in (step(first, job), step(second, job)) if s.status == "completed"]
        assert after.steps[job].estimate_s == estimate(runs) and after.steps[job].history == len(runs)
    assert after.to_run_s == round(after.steps["train"].estimate_s + after.steps["evaluate"].estimate_s, 3)
    assert (after.unknown, after.to_run) == (0, 2)
    assert after.describe() == f"≈ {format_hours(after.to_run_s)} to run 2 step(s) one after another"
    assert before.describe() == "4 step(s) without history"
    train = after.steps["train"]
    assert (train.placeable, train.placement) == (False, "this machine cannot place it: needs 1 GPU (offers 0)")
    assert after.steps["prep"].placeable is True and after.unplaceable() == ["train"]
    unknown = forecast(offer=None).steps["train"]
    assert unknown.placeable is None and unknown.placement == "not known before the run (this machine)"
