"""The ``ductwork`` command line: one Typer sub-app per noun, thin over app.services."""

from __future__ import annotations

import sys

import typer

from app.cli import (
    common,
    component,
    compute,
    doctor,
    environment,
    init,
    pipeline,
    run,
    runs,
    settings,
    store,
    ui,
    validate,
    warm,
)
from app.standby import flush_and_leave, hand_over, leave_now

__all__ = ["cli", "flush_and_leave", "main"]

cli = typer.Typer(
    name="ductwork",
    help="Ductwork: machine-learning pipelines with step reuse and per-step compute on Ray.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
cli.callback()(common.global_options)
cli.add_typer(component.app, name="component", help="Register and inspect components.")
cli.add_typer(pipeline.app, name="pipeline", help="Register, list, export and fork pipelines.")
cli.add_typer(compute.app, name="compute", help="Manage compute targets.")
cli.add_typer(environment.app, name="environment", help="Register and inspect environments (conda file, pip).")
cli.add_typer(runs.app, name="runs", help="Browse, inspect and clone previous runs.")
cli.add_typer(warm.app, name="ray", help="The workspace's warm Ray: start, stop, status.")
cli.add_typer(settings.app, name="settings", help="The workspace's settings: its store, Ray cluster and name.")
for module in (common, validate, component, pipeline, compute, run, runs, store, doctor, ui, init):
    for register in getattr(module, "TOP_LEVEL", ()):
        register(cli)


def main(*, standby: bool = True, whole_program: bool | None = None) -> None:
    """Console-script entry point: every error meant for a person exits 2 without a traceback.

    ``standby``: a ``run`` goes to the warm Ray's standby driver when one listens
    (``app.standby``; ``app.launch`` has tried that already). ``whole_program``: ``main()`` is
    the whole program (see :func:`_called_as_the_command`, which decides when ``None``)."""
    code = hand_over() if standby else None
    if code is not None:
        flush_and_leave(code)
    code = common.run_cli(cli)
    if "ray" in sys.modules:
        _exit_now(code)
    if whole_program if whole_program is not None else _called_as_the_command():
        _exit_after_atexit(code)
    sys.exit(code)


def _called_as_the_command() -> bool:
    """Whether ``main()`` is the whole program: called from the top level of a ``__main__``
    that is a file (``python -m app.cli``), so nothing runs after it but the interpreter's own
    exit. Code that calls ``main()`` otherwise (``python -c``, a test, a script's function) gets
    its ``SystemExit`` as before."""
    top = sys.modules.get("__main__")
    caller = sys._getframe(2)  # main() -> this -> the caller of main()
    return (top is not None and getattr(top, "__file__", None) is not None and getattr(top, "main", None) is main
            and caller.f_globals is vars(top) and caller.f_code.co_name == "<module>")


def _exit_after_atexit(code: int) -> None:
    """End the command as a normal exit does — other threads, then the ``atexit`` callbacks
    (logging's, the C extensions'), then the output buffers — without tearing the interpreter
    down: freeing every module and object took ≈ 40–50 ms of a fully reused ``ductwork run``'s
    ≈ 0.4 s of CPU here. When a thread is still running, or a library registered a threading
    exit hook, the normal exit is taken (it knows how to wait for them)."""
    import atexit
    import threading

    if any(t is not threading.main_thread() and not t.daemon for t in threading.enumerate()) or \
            getattr(threading, "_threading_atexits", None):
        sys.exit(code)
    atexit._run_exitfuncs()
    flush_and_leave(code)


def _exit_now(code: int) -> None:
    """Leave a process that loaded Ray without finalising the interpreter.

    Finalising it (module teardown, the destructors of Ray's core worker) took ≈ 0.3 s after a
    run, paid on every `ductwork run` that executed a step. By now everything Ductwork owns is
    closed: the workspace by ``run_cli``, the run's records and an embedded Ray by the engine;
    a joined Ray is left by this exit (``RayExecutor(leave_by_exit=True)``). What is left is
    done here in the order a normal exit would: threads, log handlers, output buffers.
    """
    leave_now(code)
