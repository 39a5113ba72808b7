"""``ductwork ray start|stop|status``: the workspace's warm Ray, kept running between runs so
that a rerun skips Ray's start-up (see engine/workspace_ray.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

import typer

from app.cli.common import JSON_OPTION, console, note, print_json, workspace

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)


def _show(status: dict[str, Any]) -> None:
    if not status["running"]:
        console.print("no warm Ray is running for this workspace: the next run that has a step to execute "
                      "starts one (unless --no-warm, DUCTWORK_WARM=0, CI or the setting 'warm' says no), "
                      "as does 'ductwork ray start'")
        return
    started = dt.datetime.fromtimestamp(status["started_at"]).strftime("%Y-%m-%d %H:%M:%S")
    drivers = status["drivers"]
    console.print(f"warm Ray at [bold]{status['address']}[/bold] · keeper pid {status['pid']} · "
                  f"{status['num_cpus']} CPUs · up since {started} · stops after {status['idle_s']:g} s idle")
    console.print(f"runs using it now: {len(drivers)}" + (f" (driver pids {', '.join(map(str, drivers))})"
                                                          if drivers else ""))
    standby = status.get("standby")
    console.print(f"standby driver: pid {standby}, joined, takes the next `ductwork run`" if standby else
                  "standby driver: none listening now (one starts when no run is on it; DUCTWORK_STANDBY=0: never)")
    console.print(f"log: {status['log']}", style="dim")


@app.command("start")
def start(
    idle: str = typer.Option("15m", "--idle", help="Stop after this long without runs: 90s, 15m, 1h."),
    cpus: Optional[int] = typer.Option(None, "--cpus", help="CPUs Ray may use (default: all of them)."),  # noqa: UP045
    as_json: bool = JSON_OPTION,
) -> None:
    """Start the workspace's warm Ray (or show the running one). Runs join it instead of
    starting their own Ray until it has been idle for --idle."""
    from app.services.warm_ray import start_warm_ray

    status = start_warm_ray(workspace(), idle, cpus)
    if as_json:
        print_json(status)
    else:
        _show(status)


@app.command("stop")
def stop(
    force: bool = typer.Option(False, "--force", help="Stop it even while runs use it (their running steps fail)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Stop the workspace's warm Ray and every Ray process it started."""
    from app.services.warm_ray import stop_warm_ray

    stopped = stop_warm_ray(workspace(), force=force)
    if as_json:
        print_json({"stopped": stopped})
    else:
        note("stopped the warm Ray" if stopped else "no warm Ray was running")


@app.command("status")
def status(as_json: bool = JSON_OPTION) -> None:
    """Whether the workspace's warm Ray is running, where, and which runs use it."""
    from app.services.warm_ray import warm_ray_status

    info = warm_ray_status(workspace())
    if as_json:
        print_json(info)
    else:
        _show(info)
