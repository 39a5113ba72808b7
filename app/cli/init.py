"""``ductwork init``: create the workspace, or write a project folder from a template.

``ductwork init`` alone creates (or shows) the workspace, as before; with a folder,
``ductwork init DIR --template NAME`` writes a project a team checks into git
(``pipeline.yml``, one folder per step, a README saying who edits what).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from app.cli import common
from app.cli.common import JSON_OPTION, note, print_json, print_table

__all__ = ["TOP_LEVEL", "init", "register"]


def init(
    folder: Optional[Path] = typer.Argument(  # noqa: UP045 - Typer needs Optional here
        None, help="Project folder to write (new or empty). Omit it to create the workspace only."),
    template: Optional[str] = typer.Option(  # noqa: UP045
        None, "--template", "-t", help="Template to start from (see --list)."),
    list_templates: bool = typer.Option(False, "--list", help="List the built-in templates and exit."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create the workspace, or write a project folder from a template (ductwork init DIR --template NAME)."""
    from components.errors import DuctworkError
    from components.library import find_template
    from components.library import list_templates as templates
    from components.library.project import write_project

    if list_templates:
        found = templates()
        if as_json:
            print_json([{"name": t.name, "title": t.title, "description": t.description, "tags": dict(t.tags)}
                        for t in found])
        else:
            print_table("templates", ["name", "title", "description"], [(t.name, t.title, t.description) for t in found])
        return
    if folder is None:
        if template is not None:
            raise DuctworkError(f"--template '{template}' needs a project folder: ductwork init DIR --template {template}")
        common.init(as_json=as_json)
        return
    if template is None:
        names = ", ".join(t.name for t in templates())
        raise DuctworkError(
            f"ductwork init '{folder}' needs --template NAME to know what to write. Templates: {names}"
        )
    project = write_project(find_template(template), folder)
    if as_json:
        print_json({"folder": str(project.root), "template": project.template, "data": project.data,
                    "steps": [{"folder": s.folder, "component": s.component, "jobs": list(s.jobs),
                               "compute": s.compute} for s in project.steps]})
        return
    note(f"wrote project '{project.root}' from template '{project.template}':")
    note("  pipeline.yml, pipeline.py, README.md (who edits what), .gitignore")
    for step in project.steps:
        note(f"  {step.folder}/  {step.component}  jobs: {', '.join(step.jobs)}  compute: {step.compute}")
    for data in project.data:
        note(f"  {data}/  sample data")
    note(f"next: cd {folder} && ductwork run pipeline.yml")


def register(cli: typer.Typer) -> None:
    """Add the top-level ``init`` command to ``cli`` (replacing a plain workspace ``init``)."""
    cli.command("init")(init)


TOP_LEVEL = (register,)
