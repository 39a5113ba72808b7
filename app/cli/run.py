"""``ductwork run``: compile, plan and execute a pipeline, with a live table of its steps."""

from __future__ import annotations

import time
from typing import Any, Optional

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from app.cli.common import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    JSON_OPTION,
    STORE_OPTION,
    console,
    err_console,
    print_json,
    stdout_reserved_for_json,
    use_store,
    warn,
    workspace,
)
from engine.leases import WAITS_FOR_RUN

__all__ = ["TOP_LEVEL", "run", "RunDisplay"]

STATUS_STYLE = {"completed": "green", "reused": "cyan", "running": "yellow", "failed": "bold red",
                "skipped": "dim", "cancelled": "magenta", "pending": "dim", "waiting": "blue"}
MAX_ROWS = 40
EXIT_CANCELLED = 130


class RunDisplay:
    """A Rich live table of the run's steps: status, compute, reused/why, duration."""

    def __init__(self, console_) -> None:
        self.console = console_
        self.steps: dict[str, Any] = {}
        self.run: Any = None
        self.live: Live | None = None
        self.started = time.monotonic()

    def __enter__(self) -> RunDisplay:
        self.live = Live(self.render(), console=self.console, refresh_per_second=4, transient=False)
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.update(self.render())
            self.live.__exit__(*exc)

    def on_event(self, event: Any) -> None:
        self.run = event.run
        if event.step is not None:
            self.steps[event.step.job] = event.step
        if self.live is not None:
            self.live.update(self.render())

    def render(self) -> Any:
        table = Table(title=f"run {self.run.id} · {self.run.pipeline}" if self.run else "planning…",
                      title_justify="left")
        for col in ("step", "status", "compute", "why", "duration"):
            table.add_column(col, overflow="fold")
        steps = list(self.steps.values())
        if len(steps) > MAX_ROWS:
            rank = {"running": 0, "failed": 1, "pending": 3}
            steps = sorted(steps, key=lambda s: rank.get(s.status, 2))[:MAX_ROWS]
        for s in steps:
            if s.status == "running" and s.started_at:
                duration = f"{time.time() - s.started_at:.1f}s"
            else:
                duration = f"{s.duration_s:.2f}s" if s.duration_s else ""
            why = s.error if s.status == "failed" else (s.reason or "")
            # a pending step whose lease another run holds: shown waiting (its why names that run)
            shown = "waiting" if s.status == "pending" and (s.reason or "").startswith(WAITS_FOR_RUN) else s.status
            table.add_row(s.job, Text(shown, style=STATUS_STYLE.get(shown, "")), s.compute or "", why, duration)
        hidden = len(self.steps) - len(steps)
        counts = {}
        for s in self.steps.values():
            counts[s.status] = counts.get(s.status, 0) + 1
        line = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        footer = Text(f"{line}  ({hidden} more steps not shown)" if hidden else line, style="dim")
        return Group(table, footer)


def _print_summary(ws, result: Any, wall: float) -> None:
    from app.services.runs import log_tail
    from engine.costs import describe_costs, run_costs

    out = console
    for step in result.steps:
        if step.status != "failed":
            continue
        out.print(Text.assemble(("\nstep failed: ", "bold red"), f"job '{step.job}' (component '{step.component}'), ",
                                f"exit code {step.exit_code}" if step.exit_code is not None else "no exit code",
                                f": {step.error}"))
        tail = log_tail(ws, result.run.id, step)  # none: it failed before it started
        if tail:
            out.print(Text(f"last log lines ({step.log_path}):", style="dim"))
            out.print(Text("\n".join(tail)), highlight=False)
    if result.error:
        out.print(Text.assemble(("\nerror: ", "bold red"), result.error))
    ran = result.count("completed")
    style = {"completed": "green", "failed": "bold red", "cancelled": "magenta"}.get(result.run.status, "")
    out.print(Text.assemble(
        (f"\nrun {result.run.id} {result.run.status}", style),
        f": {ran} run, {result.count('reused')} reused, {result.count('failed')} failed, "
        f"{result.count('skipped')} skipped in {wall:.1f} s"))
    out.print(describe_costs(run_costs(result.steps)), highlight=False)
    if result.run.status == "failed":
        out.print(Text(f"rerun the same command to execute only what is left; logs: "
                       f"ductwork runs logs {result.run.id} JOB", style="dim"))


def _print_plan(ws, pipeline: str, params: dict[str, Any], force: bool, verify: bool, address: str | None,
                as_json: bool) -> None:
    """``run --plan``: per step what is reused or run and why, its estimated duration (from its
    component version's history) and whether the machine can place it; nothing runs, no Ray."""
    from app.services.runs import preview_run
    from engine.costs import format_hours

    preview = preview_run(ws, pipeline, params, force, verify, address)
    forecast = preview.forecast
    if as_json:
        print_json({"steps": preview.rows(), "placement": forecast.where,
                    "estimate": {"to_run_s": forecast.to_run_s, "steps_to_run": forecast.to_run,
                                 "without_history": forecast.unknown}})
        return
    table = Table(title="plan", title_justify="left")
    for col in ("step", "action", "compute", "resources", "estimate", "placeable", "why"):
        table.add_column(col, overflow="fold")
    for d in preview.plan.steps.values():
        f = forecast.steps[d.job]
        placeable = {True: Text("yes", style="green"), None: Text("?", style="dim")}.get(
            f.placeable, Text(f.placement, style="bold red"))
        table.add_row(d.job, d.action, d.compute, d.resources,
                      format_hours(f.estimate_s) if f.estimate_s is not None else "—", placeable, d.reason)
    console.print(table)
    console.print(Text(forecast.describe(), style="dim"))
    blocked = forecast.unplaceable()
    if blocked:
        warn(f"{len(blocked)} step(s) cannot be placed on {forecast.where}: {', '.join(blocked)}; choose a "
             "smaller compute target (`ductwork compute list`) or run on a cluster that offers it (--address)")


def run(
    pipeline: str = typer.Argument(..., help="Pipeline YAML file, or a registered pipeline NAME[:VERSION]."),
    set_: Optional[list[str]] = typer.Option(  # noqa: UP045
        None, "--set", help="Override a pipeline input: NAME=VALUE (repeatable)."),
    force: bool = typer.Option(False, "--force", help="Run every step, reusing nothing."),
    address: Optional[str] = typer.Option(  # noqa: UP045
        None, "--address", envvar="RAY_ADDRESS", help="Join this Ray cluster instead of starting a local Ray."),
    plan_only: bool = typer.Option(False, "--plan", help="Show what would be reused and run, and why; run nothing."),
    verify: bool = typer.Option(False, "--verify", help="Re-hash every reused output; a corrupt one is evicted and "
                                "its step reruns (default: existence and size are checked)."),
    in_process: bool = typer.Option(False, "--in-process", help="Run steps in this process, without Ray (debugging)."),
    warm: Optional[bool] = typer.Option(  # noqa: UP045
        None, "--warm/--no-warm", show_default=False,
        help="Run on the workspace's warm Ray, starting it if none is up (the default: later runs skip Ray's "
             "start-up; it stops after 15 idle minutes, 'ductwork ray stop' sooner), or --no-warm: a Ray of its "
             "own unless a warm one is already up. Default: $DUCTWORK_WARM, else --no-warm when $CI is set, "
             "else the workspace setting 'warm', else --warm."),
    store: Optional[str] = STORE_OPTION,  # noqa: UP045
    as_json: bool = JSON_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No live table; print only the summary."),
    run_id: Optional[str] = typer.Option(None, "--run-id", hidden=True),  # noqa: UP045
) -> None:
    """Run a pipeline: reuse every unchanged step, execute the rest on Ray with per-step compute."""
    from engine.inputs import parse_set_option

    use_store(store)
    params = dict(parse_set_option(item) for item in set_ or [])
    with stdout_reserved_for_json(as_json, exiting=True):  # Ray, steps, warnings: never on the JSON's stdout
        _run(pipeline, params, force, address, plan_only, verify, in_process, warm, as_json, quiet, run_id)


def _run(pipeline: str, params: dict[str, Any], force: bool, address: str | None, plan_only: bool, verify: bool,
         in_process: bool, warm: bool | None, as_json: bool, quiet: bool, run_id: str | None) -> None:
    from app.services.runs import prepare_run, run_to_json, start_run
    from app.services.warm_ray import warm_by_default

    ws = workspace()
    if warm is None:
        warm = warm_by_default(ws)[0]
    if plan_only:
        _print_plan(ws, pipeline, params, force, verify, address, as_json)
        return
    try:
        prepared = prepare_run(ws, pipeline, params)
    except KeyboardInterrupt as exc:  # before the run exists: there is nothing to record
        err_console.print(f"interrupted ({getattr(exc, 'name', 'SIGINT')}) while the pipeline was loaded: "
                          "no run was started")
        raise typer.Exit(EXIT_CANCELLED) from None
    for message in prepared.graph.warnings:
        warn(message)
    started = time.monotonic()
    live = not as_json and not quiet and console.is_terminal
    display = RunDisplay(console)
    kwargs = dict(force=force, address=address, run_id=run_id, prepared=prepared, verify=verify, warm=warm,
                  executor="in-process" if in_process else "ray", exiting=True,  # main() exits after
                  on_notice=lambda message: (console if live else err_console).print(Text(message, style="dim")))
    if live:
        with display:
            result = start_run(ws, pipeline, params, on_event=display.on_event, **kwargs)
    else:
        result = start_run(ws, pipeline, params, **kwargs)
    wall = time.monotonic() - started
    if as_json:
        print_json(run_to_json(ws, result.run, result.steps))
        if result.error:
            err_console.print(Text.assemble(("error: ", "bold red"), result.error))
    else:
        if not live and not quiet:  # --quiet: the summary (and failed steps) only
            for s in result.steps:
                console.print(Text.assemble(f"{s.job}: ", (s.status, STATUS_STYLE.get(s.status, "")),
                                            f" — {s.error if s.status == 'failed' else s.reason or ''}"))
        _print_summary(ws, result, wall)
    status = result.run.status
    raise typer.Exit(EXIT_OK if status == "completed" else EXIT_CANCELLED if status == "cancelled"
                     else EXIT_RUN_FAILED)


def _register(cli: typer.Typer) -> None:
    cli.command("run")(run)


TOP_LEVEL = (_register,)
