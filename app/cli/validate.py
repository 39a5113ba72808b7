"""``ductwork validate FILE...``: check components and pipelines, every problem at once."""

from __future__ import annotations

from pathlib import Path

import typer

from app.cli.common import EXIT_INVALID, JSON_OPTION, note, print_error, print_json, warn, workspace

__all__ = ["TOP_LEVEL"]


def validate(
    files: list[Path] = typer.Argument(..., help="Component or pipeline YAML files, folders, or Python modules."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Validate components and pipelines (pipelines against registered components and compute targets).

    Exit code 0 when every file is valid, 2 otherwise.
    """
    from app.services.validation import validate_paths
    from components.errors import ValidationError

    reports = validate_paths(workspace(), files)
    if as_json:
        print_json([r.to_json() for r in reports])
    else:
        for report in reports:
            for message in report.warnings:
                warn(message)
            if report.ok:
                kind = "component" if report.kind == "python" else report.kind
                what = ", ".join(f"{kind} '{ref}'" for ref in report.refs) or kind
                note(f"ok: {report.path} ({what})")
            else:
                message = str(ValidationError(report.problems))
                if {p.file for p in report.problems} != {str(report.path)}:  # problems in a file it names
                    message = f"{report.path}: {message}"
                print_error(message)
    if any(not r.ok for r in reports):
        raise typer.Exit(EXIT_INVALID)


def _register(cli: typer.Typer) -> None:
    cli.command("validate")(validate)


TOP_LEVEL = (_register,)
