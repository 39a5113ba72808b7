"""``ductwork settings show|set|unset``: the workspace's settings (store, address, name)."""

from __future__ import annotations

import typer

from app.cli.common import JSON_OPTION, note, print_json, print_table, workspace

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)


@app.command("show")
def show(as_json: bool = JSON_OPTION) -> None:
    """Every setting: the value saved in the workspace, the one in effect, and where it comes from."""
    from app.services.settings import show_settings

    rows = show_settings(workspace())
    if as_json:
        print_json(rows)
        return
    print_table("workspace settings", ["name", "in effect", "from", "what it is"],
                [[r["name"], str(r["effective"]), str(r["source"]), str(r["help"])] for r in rows])


@app.command("set")
def set_(name: str = typer.Argument(..., help="store, address or name."),
         value: str = typer.Argument(..., help="e.g. s3://team-bucket/ductwork, 10.0.0.5:6379")) -> None:
    """Save a setting in the workspace. A store is reached (and its layout written) before it is saved."""
    from app.services.settings import set_setting

    set_setting(workspace(), name, value)
    note(f"{name} = {value}")


@app.command("unset")
def unset(name: str = typer.Argument(..., help="store, address or name.")) -> None:
    """Go back to the default of a setting."""
    from app.services.settings import unset_setting

    unset_setting(workspace(), name)
    note(f"{name}: back to its default")
