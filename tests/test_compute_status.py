"""``ductwork compute status`` and the Compute page's Cluster section (#12 item 4), against a
real loopback cluster (tests/clusterkit.py): every node with its id, resources and the compute
targets it can serve; the targets none can serve, with the ``ray start`` line that would; an
unreachable cluster; this machine alone when there is no cluster. And a run whose job asks for
a target no node can serve fails before anything runs, listing what the cluster offers."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from clusterkit import free_port, ray_cluster  # noqa: F401  (the fixture, by name)
from streamlit.testing.v1 import AppTest

from engine.processes import process_started

RES = Path(__file__).parent / "resources"
REPO = Path(__file__).resolve().parent.parent

#: the targets of these tests: the ones the loopback nodes serve and two that none can
TARGETS = {"cpu-highmem": ["--resource", "highmem=1"], "gpu": ["--gpus", "1"],
           "tpu": ["--resource", "tpu=1"], "big": ["--cpus", "4"]}


def _add_targets(cli, home: Path) -> None:
    for name, args in TARGETS.items():
        done = cli("compute", "add", name, *args, home=home)
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def status_home(ray_cluster) -> Path:  # noqa: F811
    """A workspace (under the folder the workers cannot see) with :data:`TARGETS` registered."""
    home = ray_cluster.hidden / "ws-status"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
    for name, args in TARGETS.items():
        done = subprocess.run([sys.executable, "-m", "app.cli", "--home", str(home), "compute", "add", name, *args],
                              capture_output=True, text=True, timeout=120,
                              env={**env, "PYTHONPATH": str(REPO), "DUCTWORK_SEED": "0"})
        assert done.returncode == 0, done.stderr
    return home


@pytest.mark.ray
def test_status_lists_every_node_its_resources_and_the_targets_it_serves(ray_cluster, status_home, cli):  # noqa: F811
    done = cli("compute", "status", "--json", home=status_home, env=ray_cluster.env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)  # machine-clean: nothing else on stdout
    assert (data["is_cluster"], data["address"], data["source"]) == (True, ray_cluster.address, "RAY_ADDRESS")
    nodes = {n["name"]: n for n in data["nodes"]}
    assert {name: n["node_id"] for name, n in nodes.items()} == ray_cluster.node_ids
    assert all(n["alive"] and n["short_id"] == n["node_id"][:12] for n in nodes.values())
    assert {k: v for k, v in nodes["head"]["resources"].items() if k != "memory"} == {"CPU": 1, "head": 1}
    assert {k: v for k, v in nodes["highmem"]["resources"].items() if k != "memory"} == {"CPU": 1, "highmem": 1}
    assert {k: v for k, v in nodes["gpu"]["resources"].items() if k != "memory"} == {"CPU": 1, "GPU": 1}
    assert all(n["resources"]["memory"] > 0 for n in nodes.values())  # Ray's bookkeeping resources are left out
    assert {name: n["serves"] for name, n in nodes.items()} == {
        "head": ["local"], "highmem": ["local", "cpu-highmem"], "gpu": ["local", "gpu"]}
    targets = {t["name"]: t for t in data["targets"]}
    assert targets["cpu-highmem"]["served_by"] == [ray_cluster.node_ids["highmem"]]
    assert targets["gpu"]["served_by"] == [ray_cluster.node_ids["gpu"]]
    assert sorted(targets["local"]["served_by"]) == sorted(ray_cluster.node_ids.values())
    assert sorted(data["unserved"]) == ["big", "tpu"]
    assert targets["tpu"]["missing"] == "1 tpu (offers 0)"
    assert targets["tpu"]["hint"] == f"ray start --address {ray_cluster.address} --num-cpus 1 --resources '{{\"tpu\": 1}}'"
    assert targets["big"]["missing"] == "4 CPU (offers 1)" and "--num-cpus 4" in targets["big"]["hint"]

    # the table, with --address instead of RAY_ADDRESS (the token still comes from the environment)
    auth = {k: v for k, v in ray_cluster.env.items() if k != "RAY_ADDRESS"}
    table = cli("compute", "status", "--address", ray_cluster.address, home=status_home, env=auth)
    assert table.returncode == 0, table.stderr
    assert f"Ray cluster at {ray_cluster.address} (--address): 3 live node(s) of 3" in table.stdout
    for name, node_id in ray_cluster.node_ids.items():
        row = next(line for line in table.stdout.splitlines() if node_id[:12] in line)
        assert name in row, row
    assert re.search(r"highmem=1\s.*local, cpu-highmem", table.stdout)
    assert "no live node can serve compute target 'tpu' (1 CPU, tpu=1; missing 1 tpu (offers 0))" in table.stderr
    assert "Add a node: ray start --address" in table.stderr and "Traceback" not in table.stderr


@pytest.mark.ray
def test_status_finds_the_workspaces_warm_ray_when_nothing_else_is_given(ray_cluster, cli, tmp_path):  # noqa: F811
    # The warm Ray's record (engine/workspace_ray.py head.json), pointed at the loopback cluster
    # and "kept" by this test's process: the status must join what the record names.
    home = tmp_path / "warm"
    (home / "ray").mkdir(parents=True)
    head = {"address": ray_cluster.address, "pid": os.getpid(), "created": process_started(os.getpid()),
            "started_at": 0.0, "idle_s": 900.0, "num_cpus": 1, "temp_dir": str(tmp_path), "auth_mode": "token",
            "host": socket.gethostname()}
    (home / "ray" / "head.json").write_text(json.dumps(head))
    done = cli("compute", "status", "--json", home=home, env={"RAY_ADDRESS": "", "RAY_AUTH_TOKEN": ray_cluster.token})
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["source"] == "the workspace's warm Ray" and data["address"] == ray_cluster.address
    assert sorted(n["node_id"] for n in data["nodes"]) == sorted(ray_cluster.node_ids.values())


@pytest.mark.ray
def test_a_client_without_the_clusters_token_is_told_how_to_give_it(ray_cluster, status_home, cli):  # noqa: F811
    # Ray retries a refused token for ≈ 20 s before it gives up; its final ConnectionError alone
    # would read like a wrong address
    done = cli("compute", "status", "--address", ray_cluster.address, home=status_home,
               env={"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 32})
    assert done.returncode == 1
    assert (f"cannot reach the Ray cluster at '{ray_cluster.address}': it refused this client's authentication "
            "token (InvalidAuthToken: Authentication token is missing or incorrect; RAY_AUTH_MODE is token). "
            "Give this process the cluster's token: RAY_AUTH_MODE=token and RAY_AUTH_TOKEN=") in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_cluster_is_a_clear_error_exit_1(cli):
    port = free_port()  # nothing listens there
    done = cli("compute", "status", "--address", f"127.0.0.1:{port}", "--json")
    assert done.returncode == 1 and done.stdout == ""
    assert (f"error: cannot reach the Ray cluster at '127.0.0.1:{port}': connection refused. Check that "
            "`ray start --head` runs there") in done.stderr
    assert "Traceback" not in done.stderr
    from_env = cli("compute", "status", env={"RAY_ADDRESS": f"127.0.0.1:{port}"})
    assert from_env.returncode == 1
    assert f"cannot reach the Ray cluster at '127.0.0.1:{port}' (from RAY_ADDRESS): connection refused" in from_env.stderr


def test_without_a_cluster_it_shows_this_machine_and_does_not_import_ray(cli, tmp_path):
    home = tmp_path / "local"
    _add_targets(cli, home)
    env = {"RAY_ADDRESS": "", "CUDA_VISIBLE_DEVICES": ""}  # no cluster; and no GPU, wherever this runs
    done = cli("compute", "status", "--json", home=home, env=env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["is_cluster"], data["address"], data["source"]) == (False, None, "this machine")
    [node] = data["nodes"]
    assert (node["node_id"], node["name"], node["alive"]) == ("this-machine", "this machine", True)
    assert node["resources"]["CPU"] == os.cpu_count() and node["resources"]["GPU"] == 0
    assert "local" in node["serves"] and "gpu" not in node["serves"] and "tpu" not in node["serves"]
    assert "gpu" in data["unserved"] and "tpu" in data["unserved"]
    table = cli("compute", "status", home=home, env=env)
    assert table.returncode == 0 and "no cluster: this machine" in table.stdout
    assert "ray start --address HEAD_HOST:6379 --num-cpus 1 --num-gpus 1" in table.stderr

    probe = ("import sys; from app.services.workspace import open_workspace; from app.services.compute import "
             f"cluster_status; s = cluster_status(open_workspace({str(home)!r})); print(s.is_cluster, 'ray' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUCTWORK_", "RAY_"))}
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                           env={**env, "PYTHONPATH": str(REPO), "DUCTWORK_SEED": "0"})
    assert shown.stdout.split() == ["False", "False"], shown.stderr


@pytest.mark.ray
def test_a_run_asking_for_a_target_no_node_serves_fails_before_anything_runs(ray_cluster, cli):  # noqa: F811
    home = ray_cluster.hidden / "ws-run"  # DUCTWORK_HOME where the workers cannot see it
    source = Path(shutil.copytree(RES / "engine", ray_cluster.hidden / "src-infeasible"))
    chain = source / "chain.yml"
    chain.write_text(chain.read_text().replace("    component: ./train.yml\n",
                                               "    component: ./train.yml\n    compute: tpu\n"))
    assert cli("compute", "add", "tpu", "--resource", "tpu=1", home=home).returncode == 0
    done = cli("run", str(chain), "--json", home=None, env={**ray_cluster.env, "DUCTWORK_HOME": str(home)})
    assert done.returncode == 1, done.stderr
    run = json.loads(done.stdout)
    # prep, which any node could run, did not run either: the check comes before the first step
    assert run["status"] == "failed"
    assert {s["name"]: s["status"] for s in run["steps"]} == dict.fromkeys(["prep", "train", "evaluate"], "skipped")
    assert "no node of the Ray cluster can ever satisfy these resource requests" in done.stderr, done.stderr
    assert "job 'train' asks for 1 CPU, tpu=1" in done.stderr
    offers = done.stderr.split("The cluster offers:", 1)[1]
    for name, node_id in ray_cluster.node_ids.items():
        assert f"node {node_id[:12]}" in offers, (name, offers)
    assert "1 highmem" in offers and "1 GPU" in offers and "1 head" in offers
    assert "ray start --resources" in done.stderr and "Traceback" not in done.stderr
    shown = json.loads(cli("runs", "show", run["id"], "--json", home=home).stdout)
    assert all(s["node_id"] is None and s["status"] == "skipped" for s in shown["steps"])


# ----------------------------------------------------------------------------- the Compute page
def _compute_page() -> None:
    from app.ui.views import compute_page

    compute_page.render()


def test_compute_page_checks_this_machine_only_when_asked(home, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    at = AppTest.from_function(_compute_page, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    frames = len(at.dataframe)
    assert not any("No cluster" in i.value for i in at.info)  # nothing asked on a plain rerun
    at.button(key="cluster_check").click().run()
    assert not at.exception, at.exception
    assert any("No cluster: this machine alone" in i.value for i in at.info)
    nodes, targets = at.dataframe[frames].value, at.dataframe[frames + 1].value
    assert nodes["node"].tolist() == ["this-machine"] and "local" in nodes["serves"].iloc[0]
    assert targets["compute target"].tolist() == ["local"] and targets["served by"].tolist() == ["this-machine"]

    port = free_port()
    at.text_input(key="cluster_address_input").set_value(f"127.0.0.1:{port}")
    at.button(key="cluster_check").click().run()
    assert not at.exception, at.exception
    assert any(f"cannot reach the Ray cluster at '127.0.0.1:{port}': connection refused" in e.value for e in at.error)
    assert len(at.dataframe) == frames  # the last answer is not shown as if it were this one's


@pytest.mark.ray
def test_compute_page_lists_the_clusters_nodes_and_what_no_node_serves(ray_cluster, status_home, monkeypatch):  # noqa: F811
    monkeypatch.setenv("DUCTWORK_HOME", str(status_home))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    for key, value in ray_cluster.env.items():  # the probe process inherits the token
        if key != "RAY_ADDRESS":
            monkeypatch.setenv(key, value)
    at = AppTest.from_function(_compute_page, default_timeout=120)
    at.run()
    frames = len(at.dataframe)
    at.text_input(key="cluster_address_input").set_value(ray_cluster.address)
    at.button(key="cluster_check").click().run()
    assert not at.exception, at.exception
    assert any(f"Ray cluster at `{ray_cluster.address}` (--address): 3 live node(s) of 3" in s.value
               for s in at.success)
    nodes = at.dataframe[frames].value.set_index("name")
    assert nodes.loc["highmem", "node"] == ray_cluster.node_ids["highmem"][:12]
    assert nodes.loc["gpu", "GPU"] == 1 and nodes.loc["highmem", "custom resources"] == "highmem=1"
    assert nodes.loc["highmem", "serves"] == "local, cpu-highmem" and nodes.loc["gpu", "serves"] == "local, gpu"
    warnings = " ".join(w.value for w in at.warning)
    assert "No live node can serve **tpu**" in warnings and "No live node can serve **big**" in warnings


@pytest.mark.ray
def test_a_dead_node_is_listed_as_dead_and_its_targets_as_unserved(ray_cluster, status_home, cli):  # noqa: F811
    # last in the module: it kills the gpu worker (and starts it again)
    dead = ray_cluster.node_ids["gpu"]
    ray_cluster.kill_node("gpu")
    try:
        done = cli("compute", "status", "--json", home=status_home, env=ray_cluster.env)
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        node = next(n for n in data["nodes"] if n["node_id"] == dead)
        assert (node["alive"], node["serves"]) == (False, [])
        assert data["nodes"][-1]["node_id"] == dead  # the live nodes first
        assert sorted(data["unserved"]) == ["big", "gpu", "tpu"]
        gpu = next(t for t in data["targets"] if t["name"] == "gpu")
        assert gpu["missing"] == "1 GPU (offers 0)" and "--num-gpus 1" in gpu["hint"]
    finally:
        ray_cluster.restart_node("gpu")
