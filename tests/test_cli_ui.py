"""``ductwork ui``: serves the Streamlit app on the chosen host/port with the workspace passed on."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop the CLI and everything it started (its own process group), whatever state the test left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=20)
            time.sleep(0.5)
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


def test_ui_serves_the_app_with_the_workspace(tmp_path: Path) -> None:
    port = _free_port()
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--home", str(home), "ui", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        health = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:
                    health = resp.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert health == "ok", f"app did not come up: {proc.poll()=}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
            assert resp.status == 200 and "<html" in resp.read().decode().lower()
        streamlit = [c for c in psutil.Process(proc.pid).children(recursive=True) if "streamlit" in " ".join(c.cmdline())]
        assert streamlit, "no streamlit child process"
        child_env = streamlit[0].environ()
        assert child_env["DUCTWORK_HOME"] == str(home)
        cmdline = streamlit[0].cmdline()
        assert cmdline[cmdline.index("--server.address") + 1] == "127.0.0.1"
        assert cmdline[cmdline.index("--browser.gatherUsageStats") + 1] == "false"
        assert (home / "registry.db").is_file()  # the workspace was created before the app started
    finally:
        _kill_group(proc)


def test_stopping_ui_stops_the_app(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--home", str(tmp_path / "home"), "ui", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        children: list[psutil.Process] = []
        deadline = time.monotonic() + 60
        while not children and time.monotonic() < deadline:
            children = [c for c in psutil.Process(proc.pid).children() if "streamlit" in " ".join(c.cmdline())]
            time.sleep(0.2)
        assert children
        proc.send_signal(signal.SIGTERM)  # only the CLI process, as a supervisor would
        proc.wait(timeout=30)
        gone, alive = psutil.wait_procs(children, timeout=20)
        assert not alive, "streamlit outlived 'ductwork ui'"
    finally:
        _kill_group(proc)
