"""Placeholder sub-app; filled in by its owner."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)
TOP_LEVEL: tuple = ()
