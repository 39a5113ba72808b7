"""The engine on a real Ray runtime (one ``ray.init(num_cpus=2)`` for the module): placement
records, log capture, worker crashes, force-cancelled timeouts, infeasible requests."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import psutil
import pytest
from test_engine_support import (
    Harness,
    chain_pipeline,
    command,
    copy_code,
    function,
    make_data,
    single_job,
    statuses,
    step,
)

from components.spec import InputSpec, OutputSpec
from engine.compute import ComputeSpec
from engine.executors import RayExecutor

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_runtime(tmp_path_factory):
    import ray

    temp_dir = f"/tmp/dw-test-{uuid.uuid4().hex[:6]}"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=temp_dir)
    yield ray
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)  # Ray leaves its session folder (logs, sockets) behind


def harness(tmp_path, **kw) -> Harness:
    return Harness(tmp_path, executor_factory=RayExecutor, **kw)


def test_steps_run_as_ray_tasks_and_record_their_node(ray_runtime, tmp_path):
    h = harness(tmp_path)
    result = h.run(chain_pipeline(copy_code(tmp_path), make_data(tmp_path)))
    assert result.run.status == "completed", [s.error for s in result.steps]
    node_ids = {n["NodeID"] for n in ray_runtime.nodes() if n["Alive"]}
    assert all(s.node_id in node_ids for s in result.steps)
    log = Path(step(result, "train").log_path).read_text()
    assert "trained with lr 0.1" in log and "to stderr" in log
    assert h.run(chain_pipeline(tmp_path / "src", tmp_path / "data")).count("reused") == 4


def test_function_output_is_captured_from_the_worker_descriptors(ray_runtime, tmp_path):
    h = harness(tmp_path)
    comp = function("add", "add", copy_code(tmp_path, "fn"),
                    {"x": InputSpec("x", "integer"), "y": InputSpec("y", "integer", default=1)},
                    {"output": OutputSpec("output")})
    only = h.run(single_job(comp, {"x": 4})).steps[0]
    assert only.status == "completed", only.error
    assert "adding 4 1" in Path(only.log_path).read_text()


def test_a_killed_worker_ends_as_worker_crashed(ray_runtime, tmp_path):
    h = harness(tmp_path)
    comp = command("crash", "echo before; kill -9 $PPID; sleep 20", None)  # the worker: the shell's parent
    started = time.monotonic()
    only = h.run(single_job(comp)).steps[0]
    assert only.status == "failed" and only.error.startswith("worker crashed: the Ray worker running it died")
    assert time.monotonic() - started < 30


def _processes_with(marker: str) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]


def test_a_timeout_force_cancels_the_task_and_its_processes(ray_runtime, tmp_path):
    h = harness(tmp_path)
    marker = f"{40 + uuid.uuid4().int % 1000 / 1000:.3f}"
    started = time.monotonic()
    cmd = h.run(single_job(command("slow", f"sleep {marker}", None), timeout=1.5)).steps[0]
    fn = h.run(single_job(function("nap", "nap", copy_code(tmp_path, "fn"), {"seconds": InputSpec("seconds", "number")}),
                          {"seconds": 60}, timeout=1.5)).steps[0]
    assert time.monotonic() - started < 30
    for st in (cmd, fn):
        assert st.status == "failed" and st.error.startswith("timed out after 1.5 s")
    deadline = time.monotonic() + 5
    while _processes_with(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with(f"sleep {marker}") == []


def test_an_impossible_request_fails_before_anything_starts_listing_the_offer(ray_runtime, tmp_path):
    big = ComputeSpec("huge", cpus=1, custom={"highmem": 1})
    h = harness(tmp_path, computes={"huge": big})
    spec = chain_pipeline(copy_code(tmp_path), make_data(tmp_path), jobs_kw={"train": {"compute": "huge"}})
    started = time.monotonic()
    result = h.run(spec)
    assert time.monotonic() - started < 10
    assert result.run.status == "failed"
    assert "job 'train' asks for 1 CPU, highmem=1" in result.error
    assert "The cluster offers:" in result.error and "2 CPU" in result.error
    assert set(statuses(result).values()) == {"skipped"}
    assert not (tmp_path / "logs").exists()
