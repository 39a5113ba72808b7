"""The real parts of tests/clusterkit.py do what the cluster tests rely on: each node of the
loopback Ray cluster advertises its own resources, has its own node cache and temp folder,
the workers cannot see the driver's folder, a killed node is dead to the cluster and a
restarted one joins again; the S3 server stores objects and, once stopped, refuses."""

from __future__ import annotations

import os
import socket
import sys
import urllib.request

import pytest
from clusterkit import S3Server, ray_cluster, s3_server  # noqa: F401  (fixtures by name)

ray_test = pytest.mark.ray


def _on(ray, name: str, fn):
    """``fn`` as a Ray task pinned to node ``name`` of the loopback cluster by its resource."""
    # the workers cannot import this test module: its functions travel by value
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    pin = {"head": {"resources": {"head": 1}}, "highmem": {"resources": {"highmem": 1}}, "gpu": {"num_gpus": 1}}
    return ray.remote(num_cpus=1, max_retries=0, **pin[name])(fn)


def _where(probe: str | None = None) -> dict:
    import ray

    return {"node": ray.get_runtime_context().get_node_id(), "cache": os.environ.get("DUCTWORK_NODE_CACHE"),
            "sees": os.path.exists(probe) if probe else None}


@ray_test
def test_each_node_advertises_its_own_resources_and_temp_folder(ray_cluster) -> None:  # noqa: F811
    with ray_cluster.connected() as ray:
        nodes = {n["NodeID"]: n for n in ray.nodes() if n["Alive"]}
    assert set(nodes) == set(ray_cluster.node_ids.values())
    resources = {name: nodes[node_id]["Resources"] for name, node_id in ray_cluster.node_ids.items()}
    assert resources["head"]["head"] == 1 and resources["head"]["CPU"] == 1 and "GPU" not in resources["head"]
    assert resources["highmem"]["highmem"] == 1 and resources["highmem"]["CPU"] == 1
    assert "GPU" not in resources["highmem"]
    assert resources["gpu"]["GPU"] == 1 and resources["gpu"]["CPU"] == 1 and "highmem" not in resources["gpu"]
    assert all(r["object_store_memory"] == 100_000_000 for r in resources.values())
    for name, node_id in ray_cluster.node_ids.items():
        assert nodes[node_id]["NodeName"] == name
        assert nodes[node_id]["ObjectStoreSocketName"].startswith(str(ray_cluster.temp_dirs[name]) + "/")


@ray_test
def test_a_pinned_task_runs_on_its_node_and_sees_that_nodes_cache(ray_cluster) -> None:  # noqa: F811
    with ray_cluster.connected() as ray:
        seen = {name: ray.get(_on(ray, name, _where).remote(), timeout=120) for name in ray_cluster.node_ids}
    for name, where in seen.items():
        assert where["node"] == ray_cluster.node_ids[name], name
        assert where["cache"] == str(ray_cluster.node_cache[name]), name
    assert len({where["cache"] for where in seen.values()}) == 3


@ray_test
def test_workers_cannot_see_the_hidden_folder_but_the_head_can(ray_cluster) -> None:  # noqa: F811
    # The head is not hidden: like a head on a team's login machine, it may share the driver's
    # disk. What must not rely on a shared disk is a step on a worker.
    probe = ray_cluster.hidden / "ws" / "driver-only.txt"
    probe.parent.mkdir(parents=True, exist_ok=True)
    probe.write_text("only the driver's machine has this")
    try:
        with ray_cluster.connected() as ray:
            sees = {name: ray.get(_on(ray, name, _where).remote(str(probe)), timeout=120)["sees"]
                    for name in ray_cluster.node_ids}
    finally:
        probe.unlink()
    assert sees == {"head": True, "highmem": False, "gpu": False}


@ray_test
def test_a_killed_node_is_dead_and_a_restarted_one_joins_again(ray_cluster) -> None:  # noqa: F811
    old = ray_cluster.node_ids["gpu"]
    ray_cluster.kill_node("gpu")
    with ray_cluster.connected() as ray:
        state = {n["NodeID"]: n["Alive"] for n in ray.nodes()}
    assert state[old] is False
    assert not ray_cluster.nodes["gpu"].running
    new = ray_cluster.restart_node("gpu")
    assert new != old
    with ray_cluster.connected() as ray:
        alive = {n["NodeID"]: n for n in ray.nodes() if n["Alive"]}
        where = ray.get(_on(ray, "gpu", _where).remote(), timeout=120)
    assert alive[new]["Resources"]["GPU"] == 1 and old not in alive
    assert where == {"node": new, "cache": str(ray_cluster.node_cache["gpu"]), "sees": None}


def test_s3_server_stores_objects_through_s3fs_with_its_env(s3_server, monkeypatch) -> None:  # noqa: F811
    import s3fs

    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    bucket = s3_server.make_bucket("clusterkit")
    assert bucket == "s3://clusterkit" and s3_server.make_bucket("clusterkit") == bucket  # twice is fine
    fs = s3fs.S3FileSystem(skip_instance_cache=True)  # endpoint and keys from the environment only
    fs.pipe(f"{bucket}/a/b.txt", b"hello")
    assert fs.cat(f"{bucket}/a/b.txt") == b"hello"
    assert fs.ls(f"{bucket}/a") == ["clusterkit/a/b.txt"]


def test_a_stopped_or_killed_s3_server_refuses_connections(tmp_path) -> None:
    server = S3Server(tmp_path).start()
    try:
        with urllib.request.urlopen(server.endpoint_url, timeout=5) as answer:
            assert answer.status == 200
        server.kill()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=5)
        server.start()  # a fresh one, on a new port
        server.make_bucket("again")
    finally:
        server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5)


def test_where_no_mount_namespace_can_be_made_the_cluster_is_skipped_with_the_reason(tmp_path, monkeypatch,
                                                                                      capsys) -> None:
    import clusterkit

    assert clusterkit.unshare_problem(tmp_path) is None  # here, as root, it can
    monkeypatch.setattr(clusterkit, "unshare_problem", lambda folder: "mount -t tmpfs is not permitted here")
    cluster = clusterkit.LoopbackCluster()
    with pytest.raises(pytest.skip.Exception, match="needs a mount namespace per worker: mount -t tmpfs is not permitted"):
        cluster.start()
    cluster.stop()
    assert "clusterkit: cannot hide the driver's folder from the workers: mount -t tmpfs" in capsys.readouterr().err
    assert not cluster.base.exists() and all(node.popen is None for node in cluster.nodes.values())
