"""``ductwork component register|list|show``: the reusable units pipelines are made of."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

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
