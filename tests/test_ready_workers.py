"""ReadyWorkers' counting and failure handling, with the raylet's answers faked (the real
raylet is exercised in test_workspace_ray.py)."""

from __future__ import annotations

from types import SimpleNamespace

import psutil
import pytest
from ray.core.generated import common_pb2, node_manager_pb2

from engine.workspace_ray import ReadyWorkers, _is_nil

NIL = b"\xff\xff\xff\xff"
JOB = b"\x02\x00\x00\x00"
WORKER = "/venv/lib/python3.11/site-packages/ray/_private/workers/default_worker.py"


class FakeStub:
    def __init__(self, workers, fail_prestart: bool = False):
        self.workers, self.fail_prestart, self.prestarted = workers, fail_prestart, []

    def GetNodeStats(self, request, timeout):  # noqa: N802 - the gRPC method's name
        stats = [common_pb2.CoreWorkerStats(pid=pid, job_id=job, worker_type=kind, actor_id=actor)
                 for pid, job, kind, actor in self.workers]
        return node_manager_pb2.GetNodeStatsReply(core_workers_stats=stats)

    def PrestartWorkers(self, request, timeout):  # noqa: N802
        if self.fail_prestart:
            raise RuntimeError("raylet went away")
        self.prestarted.append(request.num_workers)


class FakeChild:
    def __init__(self, pid, cmdline):
        self.pid, self._cmdline = pid, cmdline

    def cmdline(self):
        if self._cmdline is None:
            raise psutil.NoSuchProcess(self.pid)
        return self._cmdline


def _ready(workers, children, target=3, **stub_options):
    raylet = SimpleNamespace(children=lambda: children)
    stub = FakeStub(workers, **stub_options)
    return ReadyWorkers(raylet, stub, (node_manager_pb2, common_pb2), target), stub


def test_only_workers_bound_to_no_job_and_starting_worker_processes_count():
    workers = [(11, NIL, common_pb2.WORKER, b""),  # ready
               (12, JOB, common_pb2.WORKER, b""),  # a finished run's worker, not yet ended by Ray
               (13, NIL, common_pb2.WORKER, b"actor"),  # an actor's worker
               (14, JOB, common_pb2.DRIVER, b"")]  # the keeper itself
    children = [FakeChild(11, ["ray::IDLE"]), FakeChild(12, ["ray::IDLE"]),
                FakeChild(21, ["python", "setup_worker.py", WORKER, "--runtime-env-hash=0"]),  # starting
                FakeChild(22, ["python", WORKER, "--worker-type=SPILL_WORKER"]),  # a spill worker
                FakeChild(23, None),  # ended while being looked at
                FakeChild(24, ["ray::DashboardAgent"])]
    ready, stub = _ready(workers, children)
    assert ready.count() == 2
    ready.top_up()
    assert stub.prestarted == [1]  # the one missing worker is asked for


def test_nothing_is_started_when_enough_are_ready():
    ready, stub = _ready([(11, NIL, common_pb2.WORKER, b""), (12, b"", common_pb2.WORKER, b"")], [], target=2)
    ready.top_up()
    assert stub.prestarted == []


def test_a_refused_prestart_stops_further_tries_and_says_so(capsys):
    ready, stub = _ready([], [], target=2, fail_prestart=True)
    ready.top_up()
    assert ready.target == 0 and "could not keep idle workers started" in capsys.readouterr().out
    stub.fail_prestart = False
    ready.top_up()
    assert stub.prestarted == []


@pytest.mark.parametrize("target", [0, -1])
def test_no_target_means_no_ready_workers(target):
    assert ReadyWorkers.open(object(), target) is None


def test_a_ray_without_the_needed_calls_is_reported_once_and_runs_go_on(capsys):
    assert ReadyWorkers.open(SimpleNamespace(), 2) is None
    assert "idle workers will not be kept started between runs" in capsys.readouterr().out


def test_nil_job_ids():
    assert _is_nil(b"") and _is_nil(NIL) and not _is_nil(JOB)
