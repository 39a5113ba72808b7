"""Options and error handling shared by every command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from components.errors import DuctworkError

console = Console()
err_console = Console(stderr=True)

_state: dict[str, Any] = {"home": None}


def global_options(
    home: Optional[Path] = typer.Option(
        None, "--home", help="Workspace folder (default: $DUCTWORK_HOME or ./.ductwork).", envvar="DUCTWORK_HOME"
    ),
) -> None:
    """Ductwork: machine-learning pipelines with step reuse and per-step compute on Ray."""
    _state["home"] = home


def workspace():
    """The workspace chosen by --home / DUCTWORK_HOME / ./.ductwork, opened (created on first use)."""
    from app.services.workspace import open_workspace

    return open_workspace(_state["home"])


def print_json(obj: Any) -> None:
    """Machine-clean JSON on stdout (nothing else is printed there with --json)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def run_cli(cli: typer.Typer) -> int:
    try:
        cli(standalone_mode=False)
    except DuctworkError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return 2
        raise
    return 0


TOP_LEVEL: tuple = ()
