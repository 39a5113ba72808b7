"""The warm Ray is the default of a plain ``ductwork run`` (issue #13): the first run that has
steps to execute starts the workspace's warm Ray and says so once, with how to stop it; later
runs join it; ``CI``, ``--no-warm``, ``DUCTWORK_WARM=0`` and the ``warm`` setting keep a Ray of
the run's own that leaves nothing behind; a fully reused run starts no Ray at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli_run import ENTRY, _processes_with, _wait_for, engine_copy, statuses

from engine.workspace_ray import WorkspaceRay

pytestmark = pytest.mark.ray

NOTICE = "started the workspace's warm Ray"


def _cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """The real CLI with the default's inputs under the test's control: no DUCTWORK_WARM and no
    CI unless given."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DUCTWORK_WARM", "CI")}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", ENTRY, "--home", str(home), *args], capture_output=True,
                          text=True, timeout=300, env=environment)


def _json(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(done.stdout)


def test_a_plain_run_starts_the_warm_ray_once_says_so_and_later_runs_join_it(warm, tmp_path):
    home, wr = warm
    chain = str(engine_copy(tmp_path) / "chain.yml")
    first = _cli(home, "run", chain, "--json")
    assert set(statuses(_json(first)).values()) == {"completed"}
    head = wr.head()
    assert head is not None, "a plain run did not start the warm Ray"
    assert first.stderr.count(NOTICE) == 1 and "ray stop" in first.stderr and head.address in first.stderr
    assert NOTICE not in first.stdout  # --json stays machine-clean
    second = _cli(home, "run", chain, "--force", "--json")
    assert set(statuses(_json(second)).values()) == {"completed"}
    assert NOTICE not in second.stderr and wr.head().pid == head.pid  # joined, not started again
    human = _cli(home, "run", chain, "--force")  # the human output says nothing about it either
    assert human.returncode == 0 and NOTICE not in human.stdout + human.stderr
    stopped = _cli(home, "ray", "stop")
    assert stopped.returncode == 0 and wr.head() is None
    assert _wait_for(lambda: not _processes_with(head.temp_dir), 30), "Ray processes outlived the keeper"


@pytest.mark.parametrize("how", ["CI", "--no-warm", "DUCTWORK_WARM=0", "setting"])
def test_ci_no_warm_and_the_setting_leave_nothing_behind(warm, tmp_path, how):
    home, wr = warm
    chain = str(engine_copy(tmp_path) / "chain.yml")
    env, args = {}, []
    if how == "CI":
        env["CI"] = "true"
    elif how == "--no-warm":
        args.append("--no-warm")
    elif how == "DUCTWORK_WARM=0":
        env["DUCTWORK_WARM"] = "0"
    else:
        assert _cli(home, "settings", "set", "warm", "no").returncode == 0
        shown = {r["name"]: r for r in _json(_cli(home, "settings", "show", "--json"))}
        assert shown["warm"]["value"] == "false" and shown["warm"]["effective"] == "false"
    done = _cli(home, "run", chain, *args, "--json", **env)
    assert set(statuses(_json(done)).values()) == {"completed"}
    assert NOTICE not in done.stderr
    assert wr.head() is None and not (home / "ray" / "head.json").exists()
    assert not _processes_with(str((home / "ray").resolve())), "a keeper was started"


def test_a_fully_reused_run_starts_no_ray_on_the_default_path(warm, tmp_path):
    home, wr = warm
    chain = str(engine_copy(tmp_path) / "chain.yml")
    assert _cli(home, "run", chain, "--json", CI="1").returncode == 0  # first run: a Ray of its own
    again = _cli(home, "run", chain, "--json")  # the default path, everything reused
    assert set(statuses(_json(again)).values()) == {"reused"}
    assert wr.head() is None and NOTICE not in again.stderr


def test_bad_switches_are_refused_with_what_to_write(warm, tmp_path):
    home, wr = warm
    chain = str(engine_copy(tmp_path) / "chain.yml")
    bad_env = _cli(home, "run", chain, DUCTWORK_WARM="maybe")
    assert bad_env.returncode != 0 and "DUCTWORK_WARM is 'maybe'" in bad_env.stderr
    assert "write true or false" in bad_env.stderr and "Traceback" not in bad_env.stderr
    bad_setting = _cli(home, "settings", "set", "warm", "sometimes")
    assert bad_setting.returncode != 0 and "'sometimes'" in bad_setting.stderr
    shown = {r["name"]: r for r in _json(_cli(home, "settings", "show", "--json"))}
    assert shown["warm"]["value"] is None  # nothing was kept
    assert wr.head() is None


def test_joining_sets_the_keepers_auth_mode_only_until_the_driver_leaves(tmp_path, monkeypatch):
    import psutil

    wr = WorkspaceRay(tmp_path / "ray")
    me = psutil.Process()
    wr.folder.mkdir(parents=True)
    (wr.folder / "head.json").write_text(json.dumps({
        "address": "127.0.0.1:1", "pid": me.pid, "created": me.create_time(), "started_at": 0.0, "idle_s": 60.0,
        "num_cpus": 1, "temp_dir": "/tmp/none", "auth_mode": "token", "host": __import__("socket").gethostname()}))
    for before in (None, "disabled"):
        if before is None:
            monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
        else:
            monkeypatch.setenv("RAY_AUTH_MODE", before)
        assert wr.join() == "127.0.0.1:1" and os.environ["RAY_AUTH_MODE"] == "token"
        wr.leave()
        assert os.environ.get("RAY_AUTH_MODE") == before  # a later embedded Ray starts as it would have
        wr.leave()  # twice: nothing more
        assert os.environ.get("RAY_AUTH_MODE") == before
