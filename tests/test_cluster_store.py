"""Issue #12 with real parts: a loopback Ray cluster of three ``ray start`` nodes whose workers
cannot see the driver's workspace (tests/clusterkit.py), and an S3-compatible server (moto).

Every driver is the real ``ductwork`` CLI in its own process, joined to the cluster through
``RAY_ADDRESS`` and to the bucket through ``DUCTWORK_STORE`` and the standard ``AWS_*``
variables: a step on a worker can only read what its task fetched from the bucket."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clusterkit import free_port, ray_cluster, s3_server  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parent.parent
RES = Path(__file__).parent / "resources"

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def team(ray_cluster, s3_server):  # noqa: F811
    """What every driver of this module uses: the cluster, a bucket, and the env that joins both."""
    store = s3_server.make_bucket("team-artifacts") + "/ductwork"
    env = {**ray_cluster.env, **s3_server.env, "DUCTWORK_STORE": store}
    return {"cluster": ray_cluster, "s3": s3_server, "store": store, "env": env}


def dw(team, home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300,
       drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """The real CLI on workspace ``home``, with the team's variables (``env`` added, ``drop`` left out)."""
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("DUCTWORK_", "RAY_", "AWS_")) or k == "DUCTWORK_NODE_CACHE"}
    environment.update({"PYTHONPATH": str(REPO), "COLUMNS": "200", "NO_COLOR": "1", "DUCTWORK_SEED": "0",
                        **team["env"], **(env or {})})
    for name in drop:
        environment.pop(name, None)
    return subprocess.run([sys.executable, "-m", "app.cli", "--home", str(home), *args], capture_output=True,
                          text=True, env=environment, timeout=timeout, cwd=home.parent)


def targets(team, home: Path) -> None:
    for args in (["cpu-highmem", "--cpus", "1", "--resource", "highmem=1"], ["gpu", "--cpus", "1", "--gpus", "1"]):
        done = dw(team, home, "compute", "add", *args)
        assert done.returncode == 0, done.stderr


def run_json(team, home: Path, *args: str, env: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> dict:
    done = dw(team, home, "run", *args, "--json", env=env, drop=drop)
    assert done.stdout, done.stderr[-3000:]
    return json.loads(done.stdout)


def bucket_keys(team) -> list[str]:
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=team["s3"].endpoint_url, key="testing", secret="testing",
                           use_listings_cache=False)
    return fs.find(team["store"].removeprefix("s3://"))


def test_steps_run_on_the_nodes_their_targets_name_and_a_second_workspace_reuses_them(team):
    cluster = team["cluster"]
    project = Path(shutil.copytree(RES / "basic", cluster.hidden / "project-a"))
    ana, ben = cluster.hidden / "ana", cluster.hidden / "ben"
    for home in (ana, ben):
        targets(team, home)
    first = run_json(team, ana, str(project / "pipeline.yml"))
    assert first["status"] == "completed", json.dumps(first, indent=1)[-3000:]
    steps = {s["name"]: s for s in first["steps"]}
    assert steps["prep"]["node_id"] == cluster.node_ids["highmem"]
    assert steps["train"]["node_id"] == cluster.node_ids["gpu"]
    # the outputs (and the external input and code the steps read) are in the bucket, not the workspace
    keys = bucket_keys(team)
    for step in steps.values():
        for url in step["outputs"].values():
            assert url.split("/trees/")[1] in "\n".join(keys), url
    assert any("/blobs/" in k for k in keys) and any("/reuse/" in k for k in keys)
    assert not any((ana / "artifacts").iterdir())
    # each worker cached what it fetched; the step's log reached the driver's workspace
    assert any((cluster.node_cache["highmem"] / "trees").iterdir())
    log = dw(team, ana, "runs", "logs", first["id"], "train")
    assert '"epochs": 20' in log.stdout, log.stdout + log.stderr

    # a teammate's workspace (another driver, its own DuckDB) on the same store reuses every step;
    # this one keeps the store and the cluster in its settings instead of the environment
    assert dw(team, ben, "settings", "set", "store", team["store"]).returncode == 0
    assert dw(team, ben, "settings", "set", "address", cluster.address).returncode == 0
    unset = ("DUCTWORK_STORE", "RAY_ADDRESS")
    second = run_json(team, ben, str(Path(shutil.copytree(RES / "basic", cluster.hidden / "project-b"))
                                      / "pipeline.yml"), drop=unset)
    assert [s["status"] for s in second["steps"]] == ["reused", "reused"], second
    assert all(f"reused from run {first['id']} of workspace " in s["reason"] for s in second["steps"])
    forced = run_json(team, ben, str(cluster.hidden / "project-b" / "pipeline.yml"), "--force", drop=unset)
    assert forced["status"] == "completed", forced  # joined the cluster through the 'address' setting
    assert {s["name"]: s["node_id"] for s in forced["steps"]} == {"prep": cluster.node_ids["highmem"],
                                                                   "train": cluster.node_ids["gpu"]}


SLOW = """\
type: command
name: slow_prep
version: 1
inputs:
  seconds: {type: integer, default: 1}
outputs:
  out: {type: uri_folder}
command: >-
  echo started && sleep ${{inputs.seconds}} && echo done > ${{outputs.out}}/done.txt
"""


def slow_pipeline(folder: Path, seconds: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "slow.yml").write_text(SLOW)
    (folder / "pipeline.yml").write_text(
        "type: pipeline\nname: slow_on_highmem\njobs:\n  prep:\n    type: command\n    component: ./slow.yml\n"
        f"    compute: cpu-highmem\n    inputs: {{seconds: {seconds}}}\n")
    return folder / "pipeline.yml"


def wait_running(team, home: Path, run_id: str, job: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        shown = dw(team, home, "runs", "show", run_id, "--json")
        if shown.returncode == 0:
            step = next(s for s in json.loads(shown.stdout)["steps"] if s["name"] == job)
            log = dw(team, home, "runs", "logs", run_id, job)
            if step["status"] == "running" and "started" in log.stdout:
                return
        time.sleep(1.0)
    raise AssertionError(f"step {job} of run {run_id} did not start within {timeout} s")


def test_a_worker_killed_mid_step_fails_that_step_clearly_and_the_rerun_completes(team):
    cluster = team["cluster"]
    home = cluster.hidden / "kill"
    targets(team, home)
    pipeline = slow_pipeline(cluster.hidden / "slow", 120)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DUCTWORK_", "RAY_", "AWS_"))
                   or k == "DUCTWORK_NODE_CACHE"}
    environment.update(PYTHONPATH=str(REPO), DUCTWORK_SEED="0", **team["env"])
    run_id = "20261203-120000-k1ll3d"
    driver = subprocess.Popen([sys.executable, "-m", "app.cli", "--home", str(home), "run", str(pipeline), "--json",
                               "--run-id", run_id], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=environment, cwd=home.parent)
    try:
        wait_running(team, home, run_id, "prep")
        cluster.kill_node("highmem")
        out, err = driver.communicate(timeout=180)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        cluster.restart_node("highmem")
    result = json.loads(out)
    prep = result["steps"][0]
    assert result["status"] == "failed" and prep["status"] == "failed", (result, err[-2000:])
    assert prep["error"].startswith("worker crashed: the"), prep["error"]
    assert "died" in prep["error"]
    # the node is back (a rebooted machine): the rerun runs the step there and completes
    rerun = run_json(team, home, str(slow_pipeline(cluster.hidden / "slow", 1)))
    assert rerun["status"] == "completed", rerun
    assert rerun["steps"][0]["node_id"] == cluster.node_ids["highmem"]


def test_a_store_that_cannot_be_reached_is_an_error_before_anything_runs(team):
    cluster = team["cluster"]
    home = cluster.hidden / "unreachable"
    targets(team, home)
    dead = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    started = time.monotonic()
    done = dw(team, home, "run", str(slow_pipeline(cluster.hidden / "slow2", 1)), env=dead)
    took = time.monotonic() - started
    assert done.returncode != 0
    assert "artifact store" in done.stderr and "cannot be reached" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    listed = dw(team, home, "runs", "list", "--json", env=dead)
    assert json.loads(listed.stdout) == []  # nothing was recorded, nothing ran
    assert took < 60, f"the unreachable store took {took:.0f} s to report"
