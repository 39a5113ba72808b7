"""Options, output helpers and error handling shared by every command.

Output rules: tables and messages go through Rich; with ``--json`` only JSON is written
to stdout and everything else (warnings, notes) goes to stderr. Every
``DuctworkError`` is printed without a traceback and exits 2; usage errors exit 2.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from components.errors import DuctworkError
from engine.signals import Stopped, stop_on_signals

if TYPE_CHECKING:
    from app.services.workspace import Workspace

__all__ = [
    "console",
    "err_console",
    "global_options",
    "workspace",
    "print_json",
    "stdout_reserved_for_json",
    "print_table",
    "print_error",
    "warn",
    "note",
    "JSON_OPTION",
    "run_cli",
    "EXIT_OK",
    "EXIT_RUN_FAILED",
    "EXIT_INVALID",
]

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_INVALID = 2

# A pipe or file gets wide lines (Rich would assume 80 columns and fold every table).
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, soft_wrap=True)

_state: dict[str, Any] = {"home": None, "workspace": None, "json_out": None}
STORE_OPTION = typer.Option(
    None, "--store", metavar="URL", help="The artifact store: s3://bucket/prefix or a shared folder, which every "
    "node and workspace on it shares (default: $DUCTWORK_STORE, the workspace's 'store' setting, else its own "
    "artifacts/ folder).")

JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON on stdout (nothing else).")


def global_options(
    home: Optional[Path] = typer.Option(  # noqa: UP045  (Typer reads the annotation at runtime)
        None, "--home", help="Workspace folder (default: $DUCTWORK_HOME or ./.ductwork).", envvar="DUCTWORK_HOME"
    ),
    store: Optional[str] = STORE_OPTION,  # noqa: UP045
) -> None:
    """Ductwork: machine-learning pipelines with step reuse and per-step compute on Ray."""
    _state["home"] = home
    _state["workspace"] = None
    use_store(store)


def use_store(store: str | None) -> None:
    """``--store``: this process and the drivers it starts use that store (``DUCTWORK_STORE``)."""
    if store:
        os.environ["DUCTWORK_STORE"] = store


def workspace() -> Workspace:
    """The workspace chosen by --home / DUCTWORK_HOME / ./.ductwork, opened once per process
    (created on first use)."""
    if _state["workspace"] is None:
        from app.services.workspace import open_workspace

        _state["workspace"] = open_workspace(_state["home"])
    return _state["workspace"]


def print_json(obj: Any) -> None:
    """Machine-clean JSON on stdout (nothing else is printed there with --json)."""
    out = _state["json_out"] or sys.stdout
    out.write(json.dumps(obj, indent=2, default=str) + "\n")
    out.flush()


@contextlib.contextmanager
def stdout_reserved_for_json(enabled: bool = True, *, exiting: bool = False) -> Iterator[None]:
    """While it lasts, this process's stdout — descriptor 1 and ``sys.stdout`` — is stderr, and
    only :func:`print_json` writes to the real stdout: nothing Ray, a C library, an in-process
    step or a warning prints can get in front of the JSON. ``exiting``: the process ends right
    after, so descriptor 1 is left on stderr (Ray's threads and exit hooks print late)."""
    if not enabled:
        yield
        return
    real = sys.stdout
    sys.stdout.flush()
    try:
        is_fd1 = real.fileno() == 1
    except (AttributeError, OSError, ValueError):  # a captured stream (tests): no descriptor to move
        is_fd1 = False
    saved = os.dup(1) if is_fd1 else None
    if saved is not None:
        os.dup2(2, 1)
    _state["json_out"] = open(saved, "w", encoding="utf-8", closefd=False) if saved is not None else real
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        out, _state["json_out"] = _state["json_out"], None
        out.flush()
        if saved is not None:
            out.close()  # not its descriptor (closefd=False)
            sys.stderr.flush()
            if not exiting:
                os.dup2(saved, 1)
            os.close(saved)


_PROSE_COLUMNS = frozenset({"description", "why", "outputs", "custom resources"})


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "") -> None:
    """A Rich table on stdout; ``empty`` is printed instead when there are no rows."""
    rows = list(rows)
    if not rows and empty:
        console.print(empty, highlight=False)
        return
    table = Table(title=title, title_justify="left", show_lines=False)
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    for index, column in enumerate(columns):
        # Names, ids and statuses keep their full width (so they can be copied); free text and paths fold.
        if column in _PROSE_COLUMNS:
            table.add_column(column, overflow="fold", ratio=1)
        else:
            widest = max((len(row[index]) for row in cells), default=0)
            table.add_column(column, overflow="fold", min_width=min(max(widest, len(column)), 40))
    for row in cells:
        table.add_row(*row)
    console.print(table)


def print_error(message: str) -> None:
    """``error: <message>`` on stderr, never interpreted as Rich markup."""
    err_console.print(Text.assemble(("error: ", "bold red"), message))


def warn(message: str) -> None:
    """``warning: <message>`` on stderr."""
    err_console.print(Text.assemble(("warning: ", "yellow"), message))


def note(message: str, *, as_json: bool = False) -> None:
    """A human message: stdout normally, stderr when stdout carries JSON."""
    (err_console if as_json else console).print(Text(message))


def run_cli(cli: typer.Typer, args: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 ok, 1 failed run, 2 invalid input or usage."""
    try:
        with stop_on_signals():  # SIGTERM and SIGHUP end a command as Ctrl-C does (engine/signals.py)
            rc = cli(args=list(args) if args is not None else None, standalone_mode=False, prog_name="ductwork")
    except DuctworkError as exc:
        print_error(str(exc))
        return EXIT_INVALID
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except KeyboardInterrupt as exc:
        err_console.print(f"interrupted ({exc.name})" if isinstance(exc, Stopped) else "interrupted")
        return 130
    except typer.TyperException as exc:  # usage errors: bad option, missing argument, bad value
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            print_error(str(exc))
        return EXIT_INVALID
    finally:
        ws = _state.get("workspace")
        if ws is not None:
            ws.close()
            _state["workspace"] = None
    return rc if isinstance(rc, int) else EXIT_OK


def init(as_json: bool = JSON_OPTION) -> None:
    """Create the workspace (if needed) and show where everything lives."""
    ws = workspace()
    paths = {
        "home": ws.home, "registry": ws.db_url, "runs": ws.runs_db, "artifacts": ws.artifacts_dir,
        "snapshots": ws.snapshots_dir, "logs": ws.logs_dir,
    }
    if as_json:
        print_json({k: str(v) for k, v in paths.items()} | {"created": ws.created})
        return
    note(f"{'created' if ws.created else 'workspace'} {ws.home}")
    for key, value in list(paths.items())[1:]:
        note(f"  {key}: {value}")


def _register(cli: typer.Typer) -> None:
    cli.command("init")(init)


TOP_LEVEL = (_register,)
