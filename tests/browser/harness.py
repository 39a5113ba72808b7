"""Helpers for the real-browser tests: start/stop the app, seed a workspace, wait for
the app to be idle, drag with the mouse."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from app.cli.ui import streamlit_command

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = Path(__file__).resolve().parent / "resources"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AppServer:
    """A running ``streamlit run app/ui/main.py`` on its own workspace."""

    url: str
    home: Path
    process: subprocess.Popen
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _wait_healthy(server: AppServer, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url + "/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"streamlit did not become healthy in {timeout} s:\n{server.log_tail()}")


def start_app(home: Path) -> AppServer:
    """Start the app on ``home`` (a workspace folder) and wait until it answers."""
    port = _free_port()
    log = home.parent / f"streamlit-{port}.log"
    env = {**os.environ, "DUCTWORK_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    command = [*streamlit_command("127.0.0.1", port), "--server.fileWatcherType", "none"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = AppServer(f"http://127.0.0.1:{port}", home, process, log)
    try:
        _wait_healthy(server)
    except BaseException:
        stop_app(server)
        raise
    return server


def _stop_run_drivers(home: Path) -> None:
    """Interrupt run drivers the app started on this workspace that are still running
    (each is its own detached session; identified by pid and process start time)."""
    import json

    import psutil

    for record in (home / "tmp" / "drivers").glob("*.json"):
        try:
            data = json.loads(record.read_text())
            process = psutil.Process(int(data["pid"]))
            if data.get("created") is not None and abs(process.create_time() - float(data["created"])) > 1:
                continue  # the pid was reused by another process
            process.send_signal(signal.SIGINT)  # the driver cancels its steps and records it
            process.wait(timeout=30)
        except (OSError, ValueError, KeyError, psutil.Error):
            continue


def stop_app(server: AppServer) -> None:
    """Stop the app, its process group, any run driver it started on its workspace, and
    the workspace's warm Ray those runs started."""
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=5)
    _stop_run_drivers(server.home)
    from engine.workspace_ray import WorkspaceRay

    WorkspaceRay(server.home / "ray").stop(force=True)  # the warm Ray the app's runs started


def register_demo_components(home: Path) -> None:
    """Register the three small demo components into the workspace ``home``."""
    from app.services.components import register_paths
    from app.services.workspace import open_workspace

    ws = open_workspace(home)
    register_paths(ws, [RESOURCES / "components"])
    ws.registry.close()


def record_demo_runs(home: Path) -> list[str]:
    """Register the demo pipeline and run it three times in process (fast, no Ray):
    factor 2 and 3 complete, factor 0 in divide mode fails. Returns the run ids."""
    from app.services.pipelines import register_pipeline
    from app.services.runs import start_run
    from app.services.workspace import open_workspace

    ws = open_workspace(home)
    register_pipeline(ws, RESOURCES / "pipelines" / "numbers.yml")
    ids = []
    for params in ({"factor": 2}, {"factor": 3}, {"factor": 0, "mode": "divide"}):
        result = start_run(ws, "numbers:1", params, executor="in-process")
        ids.append(result.run.id)
    ws.registry.close()
    return ids


def wait_idle(page, quiet_s: float = 0.6, timeout_s: float = 60.0) -> None:
    """Wait until the app's script has not been running for ``quiet_s`` (a canvas push is
    followed by the canvas' own reports, each a short rerun)."""
    deadline = time.monotonic() + timeout_s
    app = page.locator(".stApp[data-test-script-state]")
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        state = app.get_attribute("data-test-script-state") if app.count() else None
        now = time.monotonic()
        if state == "notRunning":
            quiet_since = quiet_since or now
            if now - quiet_since >= quiet_s:
                return
        else:
            quiet_since = None
        time.sleep(0.05)
    raise AssertionError(f"the app kept running for {timeout_s} s")


def drag(page, source, target, steps: int = 12) -> None:
    """Press on the centre of ``source``, move to the centre of ``target``, release."""
    a, b = source.bounding_box(), target.bounding_box()
    assert a and b, "both elements must be visible to drag"
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=steps)
    page.mouse.up()
