"""``ductwork ui``: start the Streamlit app on this workspace."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import typer

from app.cli.common import note, workspace

__all__ = ["TOP_LEVEL", "streamlit_command"]

MAIN = Path(__file__).resolve().parent.parent / "ui" / "main.py"


def streamlit_command(host: str, port: int) -> list[str]:
    """The command line that serves the app (headless, no usage statistics)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(MAIN),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        # no Deploy button and no developer menu in the header: this is an app, not a notebook
        "--client.toolbarMode", "minimal",
        # the inspector passes each widget its model value as default and also sets it
        # through session state (see app/ui/views/inspector.py); that is deliberate
        "--global.disableWidgetStateDuplicationWarning", "true",
    ]


def ui(
    port: int = typer.Option(8501, "--port", help="Port to serve the app on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (0.0.0.0 to share on the network)."),
) -> None:
    """Start the web app (designer, components, runs, compute) on this workspace."""
    from components.errors import DuctworkError

    if not MAIN.is_file():
        raise DuctworkError(f"the app's entry point '{MAIN}' is missing; reinstall Ductwork")
    ws = workspace()
    env = {**os.environ, "DUCTWORK_HOME": str(ws.home)}
    note(f"Ductwork on http://{host}:{port}  (workspace {ws.home}; Ctrl+C stops it)")
    process = subprocess.Popen(streamlit_command(host, port), env=env)
    # stopping `ductwork ui` (Ctrl+C or a plain SIGTERM to this process) stops the app with it
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        code = 0
    from app.services.warm_ray import stop_warm_ray_if_idle

    if stop_warm_ray_if_idle(ws):  # the app's runs started it; runs still going keep it (it idles out)
        note("stopped the workspace's warm Ray")
    if code:
        raise typer.Exit(code)


def _register(cli: typer.Typer) -> None:
    cli.command("ui")(ui)


TOP_LEVEL = (_register,)
