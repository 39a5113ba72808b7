"""Placement on a simulated multi-node Ray cluster (``ray.cluster_utils.Cluster``): every step
lands on a node that offers its compute target's resources, and the node id is recorded."""

from __future__ import annotations

import pytest
from test_engine_support import Harness, chain_pipeline, copy_code, make_data, statuses, step

from engine.compute import ComputeSpec
from engine.executors import RayExecutor

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def cluster():
    import ray
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"head": 1}})
    highmem = c.add_node(num_cpus=1, resources={"highmem": 1})
    gpu = c.add_node(num_cpus=1, num_gpus=1)
    ray.init(address=c.address, log_to_driver=False)
    c.wait_for_nodes()
    yield {"cluster": c, "highmem": highmem.node_id, "gpu": gpu.node_id, "head": c.head_node.node_id}
    ray.shutdown()
    c.shutdown()


def test_each_step_runs_on_a_node_offering_its_target(cluster, tmp_path):
    computes = {"highmem": ComputeSpec("highmem", cpus=1, custom={"highmem": 1}),
                "gpu": ComputeSpec("gpu", cpus=1, gpus=1),
                "head": ComputeSpec("head", cpus=1, custom={"head": 1})}
    h = Harness(tmp_path, executor_factory=RayExecutor, computes=computes)
    spec = chain_pipeline(copy_code(tmp_path), make_data(tmp_path),
                          jobs_kw={"prep": {"compute": "highmem"}, "train": {"compute": "gpu"},
                                   "evaluate": {"compute": "head"}, "report": {"compute": "highmem"}})
    result = h.run(spec)
    assert result.run.status == "completed", [s.error for s in result.steps]
    assert statuses(result) == dict.fromkeys(["prep", "train", "evaluate", "report"], "completed")
    assert step(result, "prep").node_id == cluster["highmem"]
    assert step(result, "report").node_id == cluster["highmem"]
    assert step(result, "train").node_id == cluster["gpu"]
    assert step(result, "evaluate").node_id == cluster["head"]
    assert step(result, "train").resources == {"cpus": 1.0, "gpus": 1.0}
    assert step(result, "prep").resources == {"cpus": 1.0, "gpus": 0.0, "custom": {"highmem": 1}}
    # reuse ignores compute: moving every step to the head node still reuses them all
    moved = chain_pipeline(tmp_path / "src", tmp_path / "data", jobs_kw={j: {"compute": "head"} for j in spec.jobs})
    assert set(statuses(h.run(moved)).values()) == {"reused"}
