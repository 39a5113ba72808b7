"""``ductwork pipeline register|list|show|export|fork``: versioned graphs of jobs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from app.cli.common import JSON_OPTION, console, note, print_json, print_table, warn, workspace

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)


@app.command("register")
def register(
    file: Path = typer.Argument(..., help="A pipeline YAML file."),
    name: Optional[str] = typer.Option(None, "--name", help="Register under this name instead of the file's."),  # noqa: UP045
    as_json: bool = JSON_OPTION,
) -> None:
    """Register a pipeline (and the components it names by file) as its next version."""
    from app.services import pipelines as service

    result = service.register_pipeline(workspace(), file, name=name)
    for message in result.warnings:
        warn(message)
    if as_json:
        print_json({**service.pipeline_to_json(result.pipeline, with_spec=False), "created": result.created})
    else:
        note(result.message)


@app.command("list")
def list_(
    search: Optional[str] = typer.Option(None, "--search", "-s", help="Only names/descriptions containing this."),  # noqa: UP045
    all_versions: bool = typer.Option(False, "--all-versions", help="Every version, not only the latest."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List registered pipelines (the latest version of each)."""
    from app.cli.component import summary
    from app.services import pipelines as service

    records = service.list_pipelines(workspace(), search=search, all_versions=all_versions)
    if as_json:
        print_json([service.pipeline_to_json(r, with_spec=False) for r in records])
        return
    rows = [
        [r.name, r.version, len(r.spec.get("jobs") or {}), summary(r), r.forked_from or "",
         r.created_at.strftime("%Y-%m-%d %H:%M")]
        for r in records
    ]
    empty = "no pipelines match" if search else "no pipelines registered yet: ductwork pipeline register FILE"
    print_table(None, ["name", "version", "jobs", "description", "forked from", "registered (UTC)"], rows, empty=empty)


@app.command("show")
def show(ref: str = typer.Argument(..., help="NAME or NAME:VERSION."), as_json: bool = JSON_OPTION) -> None:
    """Show a registered pipeline version: its jobs, components and compute."""
    from app.services import pipelines as service

    record = service.get_pipeline(workspace(), ref)
    if as_json:
        print_json(service.pipeline_to_json(record))
        return
    console.print(f"[bold]{record.ref}[/bold]", highlight=False)
    if record.display_name or record.description:
        console.print(record.display_name or record.description, markup=False, highlight=False)
    jobs = record.spec.get("jobs") or {}
    default = (record.spec.get("settings") or {}).get("default_compute") or "(workspace default)"
    rows = [[name, job.get("component", ""), job.get("compute") or default] for name, job in jobs.items()]
    print_table("jobs", ["job", "component", "compute"], rows)
    for key, value in (
        ("forked from", record.forked_from),
        ("cloned from run", record.cloned_from_run),
        ("registered at", record.created_at.isoformat(timespec="seconds")),
    ):
        if value:
            console.print(f"{key}: {value}", markup=False, highlight=False)


@app.command("export")
def export(
    ref: str = typer.Argument(..., help="NAME or NAME:VERSION."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),  # noqa: UP045
) -> None:
    """Print a registered pipeline as YAML that 'validate' and 'pipeline register' accept again."""
    from app.services import pipelines as service

    text = service.export_pipeline(workspace(), ref)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    note(f"wrote {output}")


@app.command("fork")
def fork(
    ref: str = typer.Argument(..., help="What to copy: a pipeline NAME or NAME:VERSION, or a template NAME."),
    new_name: str = typer.Argument(..., help="Name of the new pipeline."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Copy a registered pipeline, or a template, under a new name (it remembers what it was forked from)."""
    from app.services import pipelines as service

    result = service.fork_pipeline(workspace(), ref, new_name)
    if as_json:
        print_json({**service.pipeline_to_json(result.pipeline, with_spec=False), "created": result.created})
    elif result.created:
        note(f"forked '{result.pipeline.forked_from}' as '{result.pipeline.ref}'")
    else:
        warn(f"'{result.pipeline.ref}' already has this content; nothing new was registered")
