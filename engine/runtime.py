"""What runs inside a task: one ``StepTask`` in, one ``StepOutcome`` out.

A command step runs as one process (its shell) in a fresh scratch copy of its code, in its
own process group that dies with its worker (the worker's reaper, engine/processes.py); a
function step is imported from its code folder and called in the worker. Either way stdout and stderr go to the step's own log file, and
metrics come back in the outcome: a task never opens the run store.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import importlib
import importlib.machinery
import inspect
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from components.codefiles import code_files, copy_code_files
from components.metrics import METRICS_ENV, current_metrics_file
from engine.metrics import read_metrics
from engine.processes import process_alive, step_ended, step_lifeline
from engine.steplog import StepLog

__all__ = ["StepTask", "StepOutcome", "run_step", "kill_step_processes", "node_id", "RETURN_FILE"]

#: A function component's returned value, as JSON in its output folder ``output`` (see components/sdk.py).
RETURN_FILE = "output.json"


@dataclass(frozen=True)
class StepTask:
    """Everything a worker needs to run one attempt of one step (plain data, picklable)."""

    run_id: str
    job: str
    kind: str  #: "command" or "function"
    area: str  #: the attempt's scratch folder (code copy, metrics, process-group file)
    log_path: str
    code_dir: str | None = None
    command: str | None = None  #: the script bash runs; values are references to ``values`` (engine/command.py)
    module: str | None = None
    qualname: str | None = None
    code_digest: str = ""  #: a function module is re-imported when this changes
    arguments: dict[str, Any] = field(default_factory=dict)  #: function keyword arguments
    output_dirs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    attempt: int = 1
    capture_fds: bool = True  #: redirect descriptors 1 and 2 (a Ray worker; not in-process threads)
    mark_start: bool = True  #: write ``<area>/started`` (the driver's timeout clock; only steps with a timeout)
    #: the run's driver: a command step on the driver's machine stops when that process is gone
    #: (a Ray that outlives its drivers — the warm Ray, a cluster — may take a while to notice)
    driver_pid: int | None = None
    driver_host: str | None = None
    values: dict[str, str] = field(default_factory=dict)  #: ``DUCTWORK_VALUE_<n>`` → a value of the command
    display: str | None = None  #: the command with its values quoted in place, for the log
    #: a store-backed run (engine/objectstore.py): the store's URL; the paths above are then
    #: virtual (under ``NODE_ROOT``) and the task fetches, links and uploads (engine/storetask.py)
    store: str | None = None
    store_env: dict[str, str] = field(default_factory=dict)  #: how the driver reached the store
    fetch: tuple[tuple[str, str], ...] = ()  #: (tree digest, link in the scratch area or "") to fetch first
    file_outputs: tuple[str, ...] = ()  #: ``uri_file`` outputs: the file must exist

    @property
    def metrics_path(self) -> str:
        return os.path.join(self.area, "metrics.jsonl")

    @property
    def pgid_path(self) -> str:
        return os.path.join(self.area, "pgid")


@dataclass(frozen=True)
class StepOutcome:
    """How an attempt ended. ``error`` is a one-line summary; details are in the log."""

    ok: bool
    exit_code: int | None = None
    error: str | None = None
    node_id: str | None = None
    started_at: float = 0.0
    ended_at: float = 0.0
    metrics: tuple[dict[str, Any], ...] = ()
    #: a store-backed run: each output's (digest, size, created) as the task uploaded it
    outputs: dict[str, tuple[str, int, bool]] = field(default_factory=dict)


def run_step(task: StepTask) -> StepOutcome:
    """Run one attempt; never raises for a failure of the step itself."""
    if task.store:
        from engine.storetask import run_with_store

        return run_with_store(task)
    started = time.time()
    node = node_id()
    if task.mark_start:
        with open(os.path.join(task.area, "started"), "w") as fh:
            fh.write(str(started))
    os.makedirs(os.path.dirname(task.log_path), exist_ok=True)
    with StepLog(task.log_path) as log:  # the step's output in it is capped (engine/steplog.py)
        log.write(f"# ductwork: job '{task.job}' of run {task.run_id}, attempt {task.attempt}, "
                  f"node {node}, {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        if task.command:
            log.write(f"# command: {task.display or task.command}\n")
        for line in environment_build_log():
            log.write(line)
        try:
            log.start_output()
            if task.kind == "command":
                with log.pipe() as output:  # its stdout and stderr, read into the capped log
                    exit_code, error = _run_command(task, log, output)
            else:
                exit_code, error = _run_function(task, log)
        except Exception as exc:  # noqa: BLE001 - the step failed; say how, in its log
            log.end_output()
            log.write(traceback.format_exc())
            exit_code, error = None, f"{type(exc).__name__}: {exc}"
        log.end_output()
        metrics, notes = read_metrics(task.metrics_path)
        for note in notes:
            log.write(f"# ductwork: {note}\n")
    return StepOutcome(ok=error is None, exit_code=exit_code, error=error, node_id=node,
                       started_at=started, ended_at=time.time(), metrics=tuple(metrics))


_worker_node: list[str] = []  #: a Ray worker's node id, asked once per worker process


_RUNTIME_ENV = re.compile(r"runtime_resources/(pip|conda|uv)/([0-9a-f]{16,})")
_BUILD_LOG_LINES = 400


def environment_build_log() -> list[str]:
    """How this step's environment was built, for its log: in a Ray worker running in a runtime
    environment (``sys.prefix`` under Ray's ``runtime_resources/<kind>/<hash>``), the part of
    Ray's ``runtime_env_setup-*.log`` on this node that built it — pip's output included — or a
    line saying it was built before and reused from the node's cache. Elsewhere: nothing."""
    found = _RUNTIME_ENV.search(sys.prefix.replace(os.sep, "/"))
    ray = sys.modules.get("ray")
    if found is None or ray is None:
        return []
    kind, digest = found.groups()
    if digest not in _build_logs:  # once per worker: its environment is the same for all its steps
        lines = _environment_build_log(ray, kind, digest)
        if lines is None:
            return []
        _build_logs[digest] = lines
    return _build_logs[digest]


_build_logs: dict[str, list[str]] = {}  #: runtime environment digest → what each step's log says of it


def _environment_build_log(ray: Any, kind: str, digest: str) -> list[str] | None:
    try:
        logs = ray._private.worker.global_worker.node.get_logs_dir_path()
        files = sorted(glob.glob(os.path.join(logs, "runtime_env_setup-*.log")), key=os.path.getmtime)
    except Exception:  # noqa: BLE001 - not a worker of a live node: nothing to tell
        return None
    for path in reversed(files):
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                lines = fh.readlines()
        except OSError:
            continue
        hits = [i for i, line in enumerate(lines) if digest in line]
        if hits:
            block = lines[hits[0]:hits[-1] + 1]
            if len(block) > _BUILD_LOG_LINES:
                cut = len(block) - _BUILD_LOG_LINES
                block = block[:_BUILD_LOG_LINES // 2] + [f"... {cut} lines cut ...\n"] + block[-_BUILD_LOG_LINES // 2:]
            return ([f"# ductwork: environment {kind}:{digest[:12]} built on this node by Ray "
                     f"({os.path.basename(path)}):\n"] + [f"#   {line}" if line.endswith("\n") else f"#   {line}\n"
                                                         for line in block])
    return [f"# ductwork: environment {kind}:{digest[:12]}: built earlier on this node, reused from its cache\n"]


def node_id() -> str:
    if _worker_node:
        return _worker_node[0]
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        try:
            node = ray.get_runtime_context().get_node_id()
        except Exception:  # noqa: BLE001 - outside a task
            return "local"
        if ray.get_runtime_context().worker.mode == ray.WORKER_MODE:  # a worker never changes node
            _worker_node.append(node)
        return node
    return "local"


def _step_env(task: StepTask) -> dict[str, str]:
    env = dict(os.environ)
    env.update(task.env)
    bin_dir = os.path.dirname(sys.executable)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env[METRICS_ENV] = task.metrics_path
    env["PYTHONUNBUFFERED"] = "1"
    env["DUCTWORK_RUN_ID"] = task.run_id
    env["DUCTWORK_JOB"] = task.job
    env.update(task.values)  # last: the command's values, under names no job variable may take
    return env


#: The first words of every step's script, on its first line (line numbers stay the user's): the
#: shell tells this worker's reaper its process group (its own pid) through its standard input —
#: the reaper's pipe (engine/processes.py) — and then reads /dev/null, as steps always did. It
#: is the step's shell that says so, not the worker after the start: a worker killed between the
#: two would leave the step unlisted, while the reaper cannot reach the pipe's end before this
#: line has run. A reaper gone meanwhile costs nothing (no SIGPIPE, no message).
ANNOUNCE = "{ trap '' PIPE; echo \"+$$\" >&0; trap - PIPE; } 2>/dev/null; exec </dev/null; "


def _run_command(task: StepTask, log: StepLog, output: int) -> tuple[int | None, str | None]:
    cwd = os.path.join(task.area, "code")
    if task.code_dir:  # exactly the files the code digest covers (components.codefiles)
        copy_code_files(task.code_dir, [rel for rel, _ in code_files(task.code_dir)], cwd)
    else:
        os.mkdir(cwd)
    lifeline = step_lifeline()
    try:
        # One process: the shell, started with vfork (no preexec_fn), in a session of its own.
        proc = subprocess.Popen(
            [_SHELL, "-c", ANNOUNCE + (task.command or "")], cwd=cwd, env=_step_env(task),
            stdin=lifeline, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
    except OSError as err:  # the command never started: say why in one line, no traceback, no command
        return None, _spawn_error(task, err)
    with open(task.pgid_path, "w") as fh:
        fh.write(str(proc.pid))
    # the driver on this machine, if it is another process (in-process steps run in the driver itself)
    watch = task.driver_pid if task.driver_pid not in (None, os.getpid()) and task.driver_host == _HOST else None
    try:
        code = _wait(proc, watch)
        if code is None:
            log.write(f"\n# ductwork: the run's driver (pid {watch}) is gone: stopping the step\n")
            log.flush()
            kill_process_group(proc.pid)
            proc.wait()
            return None, "the run's driver died; the step was stopped"
    finally:
        kill_process_group(proc.pid)  # whatever the command left running in its group
        step_ended(proc.pid)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(task.pgid_path)
    if code == 0:
        return 0, None
    if code < 0:
        return code, f"killed by signal {signal.Signals(-code).name}"
    if 128 < code < 128 + signal.NSIG:
        with contextlib.suppress(ValueError):
            return code, f"exit code {code} (killed by signal {signal.Signals(code - 128).name})"
    return code, f"exit code {code}"


_SHELL = shutil.which("bash") or "/bin/sh"  #: once per worker: the PATH lookup is not the step's business
_HOST = socket.gethostname()


def _wait(proc: subprocess.Popen, watch: int | None) -> int | None:
    """The step's exit status, or ``None`` when the driver ``watch`` died first. Both are waited
    for exactly, with pidfds (Linux ≥ 5.3): ``Popen.wait(timeout)`` polls with sleeps that double
    up to 50 ms, which made a 5 ms step take 10–30 ms."""
    if watch is None:
        return proc.wait()
    try:
        child = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        return _wait_polling(proc, watch)
    try:
        try:
            driver = os.pidfd_open(watch)
        except ProcessLookupError:
            return None if proc.poll() is None else proc.returncode
        except OSError:
            return _wait_polling(proc, watch)
        try:
            poller = select.poll()
            poller.register(child, select.POLLIN)
            poller.register(driver, select.POLLIN)
            while True:
                ready = {fd for fd, _ in poller.poll()}
                if child in ready:
                    return proc.wait()
                if driver in ready and not process_alive(watch):
                    return None
        finally:
            os.close(driver)
    finally:
        os.close(child)


def _wait_polling(proc: subprocess.Popen, watch: int) -> int | None:
    """:func:`_wait` without pidfds: look for the driver every ``DRIVER_CHECK_S``."""
    while True:
        try:
            return proc.wait(timeout=DRIVER_CHECK_S)
        except subprocess.TimeoutExpired:
            if not process_alive(watch):
                return None


def _spawn_error(task: StepTask, err: OSError) -> str:
    if err.errno == errno.E2BIG:
        size = sum(len(v) for v in task.values.values()) + len(task.command or "")
        return (f"the command could not start: its command line and values ({size / 1024:.0f} KiB) are more than "
                "the operating system passes to a program (Argument list too long); pass large values as "
                "files (a uri_file input) instead")
    return f"the command could not start: {err.strerror or err}"


DRIVER_CHECK_S = 1.0  #: how often a command step looks for its run's driver


def kill_process_group(pgid: int) -> None:
    """SIGKILL a whole process group, if it still exists."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def kill_step_processes(area: str) -> bool:
    """Kill the process group of a command step started in ``area`` (on timeout or cancel)."""
    try:
        with open(os.path.join(area, "pgid")) as fh:
            pgid = int(fh.read().strip())
    except (FileNotFoundError, ValueError):
        return False
    kill_process_group(pgid)
    return True


# ---------------------------------------------------------------- function components
_loaded: dict[tuple[str, str], tuple[str, Any]] = {}
_code_dirs: set[str] = set()
_call_lock = threading.Lock()


class _SourceOnlyLoader(importlib.machinery.SourceFileLoader):
    """Compiles a component's module from its source every time it is imported. A ``.pyc`` is
    trusted by its source's mtime in whole seconds and its size, so a helper rewritten within
    a second at the same size (a script, ``git checkout``) would run as its old bytecode while
    the signature (by content) says it changed: a stale output under a new signature. Without
    ``path_stats`` the import system neither reads nor writes bytecode for the module."""

    def path_stats(self, path: str) -> dict[str, Any]:
        raise OSError("bytecode is not used for component code")


_source_only_finder = importlib.machinery.FileFinder.path_hook(
    (_SourceOnlyLoader, importlib.machinery.SOURCE_SUFFIXES))


def _component_code_hook(path: str) -> Any:
    """``sys.path_hooks`` entry: component code folders (and packages in them) import from source."""
    folder = os.path.abspath(path)
    if not any(folder == d or folder.startswith(d + os.sep) for d in _code_dirs):
        raise ImportError("not a component code folder")
    return _source_only_finder(path)


_import_lock = threading.Lock()


def _import_function(task: StepTask):
    """The step's function, imported from its code folder (once per code digest). One import at
    a time: two function steps starting together in one process (in-process threads) would
    each clear the other's freshly imported modules from ``sys.modules`` (``KeyError``)."""
    with _import_lock:
        return _import_function_locked(task)


def _import_function_locked(task: StepTask):
    code_dir = os.path.abspath(task.code_dir or ".")
    key = (code_dir, f"{task.module}:{task.qualname}")
    cached = _loaded.get(key)
    if cached and cached[0] == task.code_digest:
        return cached[1]
    if _component_code_hook not in sys.path_hooks:
        sys.path_hooks.insert(0, _component_code_hook)
    _code_dirs.add(code_dir)
    for cached_path in [p for p in sys.path_importer_cache
                        if p and (os.path.abspath(p) + os.sep).startswith(code_dir + os.sep)]:
        del sys.path_importer_cache[cached_path]  # found again through the hook above
    # Forget every module loaded from any component's code folder: two components may each have a
    # local `helpers` module, and a worker runs many components. Functions already loaded keep
    # their own module globals, so this only affects what the import below resolves.
    prefixes = tuple(d + os.sep for d in _code_dirs)
    for name, mod in list(sys.modules.items()):
        if (getattr(mod, "__file__", None) or "").startswith(prefixes):
            del sys.modules[name]
    # …and a module of the same name as one of this folder's own, imported from elsewhere (a test
    # runner's, another tool's `helpers`): the step's import must find its own, as in a fresh
    # process where its folder comes first (the standard library's names are left alone)
    for name in _own_module_names(code_dir):
        mod = sys.modules.get(name)
        if mod is not None and name not in sys.stdlib_module_names \
                and not (getattr(mod, "__file__", None) or "").startswith(code_dir + os.sep):
            for loaded in [n for n in sys.modules if n == name or n.startswith(name + ".")]:
                del sys.modules[loaded]
    if code_dir in sys.path:
        sys.path.remove(code_dir)
    sys.path.insert(0, code_dir)
    importlib.invalidate_caches()
    obj: Any = importlib.import_module(task.module or "")
    for part in (task.qualname or "").split("."):
        obj = getattr(obj, part)
    obj = getattr(obj, "__wrapped__", obj)  # the plain function under @command_component
    _loaded[key] = (task.code_digest, obj)
    return obj


def _own_module_names(code_dir: str) -> list[str]:
    """The top-level modules and packages a component's code folder holds."""
    names = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(code_dir):
            if entry.name.endswith(".py") and entry.is_file():
                names.append(entry.name[:-3])
            elif entry.is_dir() and os.path.exists(os.path.join(entry.path, "__init__.py")):
                names.append(entry.name)
    return names


@contextlib.contextmanager
def _captured(log: StepLog, capture_fds: bool):
    """Send this process's stdout/stderr (descriptors 1 and 2 in a worker) to the step log."""
    if not capture_fds:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):  # type: ignore[type-var]
            yield
        return
    with _descriptors_to(log.descriptor()):  # straight to the file: a worker's crash loses nothing
        yield


@contextlib.contextmanager
def _descriptors_to(output: int):
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    try:
        os.dup2(output, 1)
        os.dup2(output, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _run_function(task: StepTask, log: StepLog) -> tuple[int | None, str | None]:
    func = _import_function(task)
    arguments = dict(task.arguments)
    if "output" in task.output_dirs and "output" not in inspect.signature(func).parameters:
        arguments.pop("output", None)  # output "output" holds the returned value
    token = current_metrics_file.set(task.metrics_path)
    env_before = {k: os.environ.get(k) for k in task.env}
    lock = contextlib.nullcontext() if task.capture_fds else _call_lock
    try:
        with lock, _captured(log, task.capture_fds):
            os.environ.update(task.env)
            result = func(**arguments)
            sys.stdout.flush()
    finally:
        current_metrics_file.reset(token)
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if result is not None and "output" in task.output_dirs:
        with open(os.path.join(task.output_dirs["output"], RETURN_FILE), "w", encoding="utf-8") as fh:
            json.dump(result, fh, default=str)
    return 0, None
