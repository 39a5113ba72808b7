"""``ductwork component register|list|show|run``: the reusable units pipelines are made of."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from app.cli.common import JSON_OPTION, console, note, print_json, print_table, warn, workspace

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)


@app.command("register")
def register(
    paths: list[Path] = typer.Argument(..., help="Component YAML files, folders of them, or Python modules."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Register components. Identical content is a no-op; a changed component needs a new version."""
    from app.services import components as service

    results = service.register_paths(workspace(), paths)
    for result in results:
        for message in result.warnings:
            warn(message)
    if as_json:
        print_json([{**service.component_to_json(r.component, with_spec=False), "created": r.created} for r in results])
        return
    for result in results:
        note(result.message)


def summary(record) -> str:
    """A record's display name, else the first line of its description."""
    return record.display_name or (record.description.splitlines() or [""])[0]


@app.command("list")
def list_(
    search: Optional[str] = typer.Option(None, "--search", "-s", help="Only names/descriptions containing this."),  # noqa: UP045
    all_versions: bool = typer.Option(False, "--all-versions", help="Every version, not only the latest."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List registered components (the latest version of each)."""
    from app.services import components as service

    records = service.list_components(workspace(), search=search, all_versions=all_versions)
    if as_json:
        print_json([service.component_to_json(r, with_spec=False) for r in records])
        return
    rows = [
        [r.name, r.version, r.kind, summary(r), r.created_at.strftime("%Y-%m-%d %H:%M")]
        for r in records
    ]
    empty = "no components match" if search else "no components registered yet: ductwork component register PATH"
    print_table(None, ["name", "version", "kind", "description", "registered (UTC)"], rows, empty=empty)


@app.command("show")
def show(
    ref: str = typer.Argument(..., help="NAME, NAME:VERSION or NAME@latest."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a registered component: its inputs, outputs, code snapshot and spec."""
    from app.services import components as service
    from components.serialize import dump_yaml

    ws = workspace()
    record = service.show_component(ws, ref)
    if as_json:
        data = service.component_to_json(record)
        data["versions"] = ws.registry.component_versions(record.name)
        data["snapshot"] = str(ws.snapshots_dir / record.code_digest) if record.code_digest else None
        print_json(data)
        return
    spec = service.get_component_spec(ws, record.ref)
    console.print(f"[bold]{record.ref}[/bold]  ({record.kind})", highlight=False)
    if record.display_name or record.description:
        console.print(record.display_name or record.description, markup=False, highlight=False)
    rows = [
        [name, inp.type, "" if inp.default is None else str(inp.default), "yes" if inp.optional else "", inp.description]
        for name, inp in spec.inputs.items()
    ]
    print_table("inputs", ["name", "type", "default", "optional", "description"], rows, empty="inputs: none")
    rows = [[name, out.type, out.description] for name, out in spec.outputs.items()]
    print_table("outputs", ["name", "type", "description"], rows, empty="outputs: none")
    versions = ", ".join(ws.registry.component_versions(record.name))
    details = [
        ("versions", versions),
        ("digest", record.digest),
        ("code snapshot", str(spec.code) if spec.code else "-"),
        ("registered from", record.source or "-"),
        ("registered at", record.created_at.isoformat(timespec="seconds")),
    ]
    for key, value in details:
        console.print(f"{key}: {value}", markup=False, highlight=False)
    console.print("\n" + dump_yaml(dict(record.spec)), markup=False, highlight=False)


def _call_command(command: Any, **kwargs: Any) -> Any:
    """Call a Typer command function directly: options not given take their declared defaults."""
    import inspect

    for name, param in inspect.signature(command).parameters.items():
        if name not in kwargs:
            default = param.default
            kwargs[name] = getattr(default, "default", default) if isinstance(default, typer.models.ParameterInfo) \
                else default
    return command(**kwargs)


@app.command("run")
def run(
    component: str = typer.Argument(
        ..., help="A component file (YAML, module.py or module.py:function) or a registered NAME[:VERSION]."),
    input_: Optional[list[str]] = typer.Option(  # noqa: UP045
        None, "--input", "-i", help="A data input: NAME=PATH (repeatable)."),
    set_: Optional[list[str]] = typer.Option(  # noqa: UP045
        None, "--set", help="A parameter: NAME=VALUE (repeatable; the value is read as JSON when it parses)."),
    compute: Optional[str] = typer.Option(  # noqa: UP045
        None, "--compute", "-c", help="Compute target of the step (default: the component's, else the workspace's)."),
    force: bool = typer.Option(False, "--force", help="Run the step even when an identical earlier one can be reused."),
    address: Optional[str] = typer.Option(  # noqa: UP045
        None, "--address", envvar="RAY_ADDRESS", help="Join this Ray cluster instead of starting a local Ray."),
    plan_only: bool = typer.Option(False, "--plan", help="Show whether the step would be reused, and why; run nothing."),
    in_process: bool = typer.Option(False, "--in-process", help="Run the step in this process, without Ray (debugging)."),
    as_json: bool = JSON_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No live table; print only the summary."),
) -> None:
    """Run one component alone — the unit test of a step — with the reuse, logs and records of a pipeline step.

    It runs as a one-job pipeline through exactly the path of `ductwork run`; its outputs' paths are printed.
    """
    from app.cli.run import run as run_command
    from app.services.component_run import component_pipeline, parse_input_option
    from app.services.runs import get_run
    from engine.inputs import parse_set_option
    from engine.scheduler import new_run_id

    inputs = dict(parse_input_option(item) for item in input_ or [])
    params = dict(parse_set_option(item) for item in set_ or [])
    spec = component_pipeline(workspace(), component, inputs, params, compute)
    run_id = new_run_id()
    try:
        _call_command(run_command, pipeline=spec, set_=None, force=force, address=address, plan_only=plan_only,
                      in_process=in_process, as_json=as_json, quiet=quiet, run_id=run_id)
    except typer.Exit as done:
        if not as_json and not plan_only:
            try:
                details = get_run(workspace(), run_id)
            except Exception:  # noqa: BLE001 - no record: the run did not start; its error was printed
                raise done from None
            paths = details.output_paths.get(spec.name) or {}
            if paths:
                console.print("outputs:", highlight=False)
                for name, path in paths.items():
                    console.print(f"  {name}: {path}", markup=False, highlight=False)
        raise
