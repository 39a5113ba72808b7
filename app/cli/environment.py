"""``ductwork environment add|list|show``: registered environments (a conda file or pip requirements)
that components name as ``environment: azureml:NAME:VERSION`` (app/services/environments.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from app.cli.common import JSON_OPTION, console, note, print_json, print_table, warn, workspace

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)

_COLUMNS = ["name", "version", "kind", "hash", "created", "description"]


def _row(record) -> list[str]:
    return [record.name, record.version, record.kind, record.content_hash[:12],
            record.created_at.strftime("%Y-%m-%d %H:%M"), record.description]


@app.command("add")
def add(
    name: str = typer.Argument(..., help="The name components use: environment: azureml:NAME:VERSION."),
    conda: Optional[Path] = typer.Option(None, "--conda", help="A conda environment YAML file."),  # noqa: UP045
    pip: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--pip", help="A pip requirements file (one requirement per line)."),
    version: Optional[str] = typer.Option(  # noqa: UP045
        None, "--version",
        help="Version to register (default: the next one, or the latest if its content is the same)."),
    description: str = typer.Option("", "--description", help="What this environment is for."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Register an environment from a conda file or a pip requirements file."""
    from app.services import environments as service

    result = service.add_environment(workspace(), name, conda=conda, pip=pip, version=version,
                                     description=description)
    for message in result.warnings:
        warn(message)
    if as_json:
        print_json(service.environment_to_json(result.environment) | {"created": result.created})
    else:
        note(result.message)


@app.command("list")
def list_(
    all_versions: bool = typer.Option(False, "--all-versions", help="Every version, not only the latest."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List registered environments (the latest version of each)."""
    from app.services import environments as service

    records = service.list_environments(workspace(), all_versions=all_versions)
    if as_json:
        print_json([service.environment_to_json(r, with_content=False) for r in records])
    else:
        print_table(None, _COLUMNS, [_row(r) for r in records],
                    empty="No environments are registered yet: "
                          "'ductwork environment add NAME --pip requirements.txt'.")


@app.command("show")
def show(ref: str = typer.Argument(..., help="NAME or NAME:VERSION (default: the latest)."),
         as_json: bool = JSON_OPTION) -> None:
    """Show one registered environment and its file."""
    from app.services import environments as service

    record = service.get_environment(workspace(), ref)
    if as_json:
        print_json(service.environment_to_json(record))
        return
    print_table(None, _COLUMNS, [_row(record)])
    note(f"content hash: {record.content_hash}")
    if record.source:
        note(f"registered from: {record.source}")
    console.print(record.content.rstrip("\n"), markup=False, highlight=False)
