"""The warm Ray's standby driver (app/standby.py) through the real CLI: a `ductwork run` is
handed to it whole and runs there as the CLI would; signals reach it; a killed CLI takes the
run's steps along; a killed standby is reported; what must not be handed over is not."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli_run import _processes_with, _wait_for, engine_copy, statuses
from test_workspace_ray import _gone

from app import standby
from engine.workspace_ray import WorkspaceRay

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parent.parent
#: the console script's first step, with what this process imported told on stderr
CLIENT = ("import sys; from app.standby import hand_over; code = hand_over(sys.argv[1:]); "
          "print('handed:', code is not None, 'ray' in sys.modules, 'app.cli' in sys.modules, file=sys.stderr); "
          "from app.cli import main; main(standby=False) if code is None else sys.exit(code)")


def _env(**changes: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", "NO_COLOR": "1", "DUCTWORK_WARM": "0",
            "DUCTWORK_STANDBY": "1", **changes}


def _cli(home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLIENT, "--home", str(home), *args], capture_output=True, text=True,
                          timeout=timeout, env=env or _env())


def _spawn(home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CLIENT, "--home", str(home), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())


@pytest.fixture
def warm_standby(tmp_path: Path):
    """A workspace whose warm Ray keeps a standby driver; stopped (keeper, standby, Ray) at the end."""
    home = tmp_path / "ws"
    wr = WorkspaceRay(home / "ray")
    started = _cli(home, "ray", "start", timeout=300)
    assert started.returncode == 0, started.stderr
    try:
        yield home, wr
    finally:
        wr.stop(force=True)
        keeper_gone = _wait_for(lambda: not _processes_with(f"app.standby {home / 'ray'}"), 30)
        assert keeper_gone, "the standby outlived its warm Ray"


def _ready(wr: WorkspaceRay, not_this: int | None = None) -> int:
    assert _wait_for(lambda: wr.standby_pid() not in (None, not_this), 120), "no standby driver got ready"
    return wr.standby_pid()


def test_a_run_is_handed_to_the_standby_and_runs_there_as_in_the_cli(warm_standby, tmp_path):
    home, wr = warm_standby
    chain = engine_copy(tmp_path) / "chain.yml"
    first = _ready(wr)
    status = _cli(home, "ray", "status")
    assert f"standby driver: pid {first}" in status.stdout, status.stdout
    done = _cli(home, "run", str(chain), "--json")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "handed: True False False" in done.stderr  # the CLI process: neither Ray nor the CLI's modules
    data = json.loads(done.stdout)  # stdout is the run's JSON, nothing else
    assert set(statuses(data).values()) == {"completed"}
    assert _wait_for(lambda: _gone(first), 30)  # one standby serves one command…
    second = _ready(wr, not_this=first)  # …and the keeper starts the next
    # the next run is handed over too, and a fully reused one is answered there as well
    again = _cli(home, "run", str(chain), "--json")
    assert again.returncode == 0 and set(statuses(json.loads(again.stdout)).values()) == {"reused"}
    assert "handed: True False False" in again.stderr
    # a failing run's status comes back: exit 1, and its message on the CLI's own stderr
    _ready(wr, not_this=second)
    failing = _cli(home, "run", str(chain), "--set", "no_such_input=1")
    assert failing.returncode == 2 and "no_such_input" in failing.stderr, failing.stderr
    assert "handed: True False False" in failing.stderr


def test_signals_reach_the_run_and_a_killed_cli_takes_its_steps_along(warm_standby, tmp_path):
    home, wr = warm_standby
    nap = engine_copy(tmp_path) / "nap.yml"
    # SIGTERM to the CLI: the run is cancelled where it runs, its step stopped, exit 130
    driver = _ready(wr)
    proc = _spawn(home, "run", str(nap), "--set", "seconds=71.37", "--json")
    assert _wait_for(lambda: _processes_with("sleep 71.37"), 90), "the step never started"
    assert wr.drivers() == [driver]  # the standby is the run's driver, not the CLI process
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert json.loads(out)["status"] == "cancelled"
    assert _wait_for(lambda: not _processes_with("sleep 71.37"), 30), "a cancelled step's process is still there"
    # SIGKILL to the CLI: the standby ends itself as a killed driver would, and its step goes too
    driver = _ready(wr, not_this=driver)
    proc = _spawn(home, "run", str(nap), "--set", "seconds=72.41")
    assert _wait_for(lambda: _processes_with("sleep 72.41"), 90), "the step never started"
    proc.kill()
    proc.communicate(timeout=30)
    assert _wait_for(lambda: _gone(driver), 30), "the standby outlived the CLI it served"
    assert _wait_for(lambda: not _processes_with("sleep 72.41"), 30), "the step's process outlived its driver"
    runs = json.loads(_cli(home, "runs", "list", "--json").stdout)
    assert runs[0]["status"] == "interrupted", runs[0]
    # SIGKILL to the standby: the CLI says so and exits 1; the warm Ray goes on serving
    driver = _ready(wr, not_this=driver)
    proc = _spawn(home, "run", str(nap), "--set", "seconds=73.59")
    assert _wait_for(lambda: _processes_with("sleep 73.59"), 90), "the step never started"
    os.kill(driver, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and f"the run's driver (pid {driver}, the warm Ray's standby) ended" in err, err
    assert _wait_for(lambda: not _processes_with("sleep 73.59"), 30)
    after = _cli(home, "run", str(nap), "--set", "seconds=0.1", "--json")
    assert after.returncode == 0 and set(statuses(json.loads(after.stdout)).values()) == {"completed"}


def test_what_must_not_be_handed_over_runs_in_the_cli(warm_standby, tmp_path):
    home, wr = warm_standby
    chain = engine_copy(tmp_path) / "chain.yml"
    waiting = _ready(wr)
    for args, env in ((["--in-process"], None), ([], _env(DUCTWORK_STANDBY="0"))):
        done = _cli(home, "run", str(chain), "--json", "--force", *args, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "handed: False False False" in done.stderr
        assert wr.standby_pid() == waiting  # still waiting: nothing was handed to it
    listing = _cli(home, "runs", "list", "--json")
    assert listing.returncode == 0 and "handed: False False False" in listing.stderr


def test_which_commands_may_be_handed_over(tmp_path, monkeypatch):
    monkeypatch.delenv("DUCTWORK_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    ws = tmp_path / "w"
    assert standby._ray_dir_of(["--home", str(ws), "run", "p.yml", "--force"]) == ws / "ray"
    assert standby._ray_dir_of([f"--home={ws}", "--store", "s3://b/p", "run", "p.yml"]) == ws / "ray"
    assert standby._ray_dir_of(["run", "p.yml"]) == tmp_path / ".ductwork" / "ray"
    monkeypatch.setenv("DUCTWORK_HOME", str(ws))
    assert standby._ray_dir_of(["run", "p.yml"]) == ws / "ray"
    for argv in (["runs", "list"], ["--home"], ["--version"], ["run", "p.yml", "--address", "x:1"],
                 ["run", "p.yml", "--address=x:1"], ["run", "p.yml", "--in-process"], []):
        assert standby._ray_dir_of(argv) is None, argv
    ws.mkdir()
    (ws / "settings.json").write_text(json.dumps({"address": "10.0.0.1:6379"}))  # runs join a cluster
    assert standby._ray_dir_of(["run", "p.yml"]) is None
    monkeypatch.setenv("DUCTWORK_STANDBY", "0")
    (ws / "settings.json").write_text("{}")
    assert standby.hand_over(["run", "p.yml"]) is None


def test_a_peer_of_another_user_or_workspace_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "ray"
    folder.mkdir()
    (folder / "head.json").write_text("{}")

    def ask(request: dict) -> dict | None:
        here, there = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        data = json.dumps(request).encode()
        socket.send_fds(there, [struct.pack("!I", len(data)) + data], [0, 1, 2])
        taken = standby._take(here, folder)
        here.close()
        there.settimeout(1)
        try:
            answer = there.recv(4096)
        except (TimeoutError, ConnectionResetError):  # closed unread: nothing was said
            answer = b""
        there.close()
        return taken, answer

    good = {"argv": ["run"], "cwd": str(tmp_path), "env": {}, "umask": 18, "pid": os.getpid(), "folder": str(folder)}
    taken, answer = ask({**good, "folder": str(tmp_path / "other")})
    assert taken is None and b"another workspace" in answer
    taken, answer = ask({**good, "pid": 1})  # not the process at the other end
    assert taken is None and b"not a hand-over" in answer
    monkeypatch.setattr(os, "getuid", lambda: os.geteuid() + 1)
    taken, answer = ask(good)
    assert taken is None and answer == b""  # another user's process: not a word
    monkeypatch.undo()
    taken, answer = ask(good)
    assert taken is not None and json.loads(answer) == {"ok": os.getpid()}
    for fd in taken[0]["fds"]:
        os.close(fd)
    assert (folder / "drivers" / str(os.getpid())).exists()  # a run driver from the hand-over on


def test_the_standby_takes_the_clis_environment_changing_only_what_differs(monkeypatch):
    monkeypatch.setenv("DW_T_SAME", "1")
    monkeypatch.setenv("DW_T_GONE", "x")
    monkeypatch.setenv("DW_T_CHANGED", "old")
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # the warm Ray's, inherited from the keeper
    wanted = {k: v for k, v in os.environ.items() if k not in ("DW_T_GONE", "RAY_AUTH_MODE")}
    wanted.update(DW_T_CHANGED="new", DW_T_NEW="2")
    standby._adopt_environment(wanted)
    assert dict(os.environ) == {**wanted, "RAY_AUTH_MODE": "token"}
    standby._adopt_environment({**wanted, "RAY_AUTH_MODE": "disabled"})  # the CLI's own, when it has one
    assert os.environ["RAY_AUTH_MODE"] == "disabled"
