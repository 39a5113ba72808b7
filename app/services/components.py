"""Components: register, list, show, resolve and validate — shared by the CLI and the app.

Paths given to :func:`register_paths` / :func:`validate_paths` may be component YAML
files, pipeline YAML files (validate only), folders of them, or Python modules with
``@command_component`` functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.services.workspace import Workspace
from components.errors import DuctworkError, Problem, ValidationError
from components.fields import suggest_name
from components.spec import ComponentRef, ComponentSpec

if TYPE_CHECKING:  # the registry (SQLModel) is imported only when a function needs it
    from registry import ComponentPublic
    from registry.component_store import ComponentRegistration

__all__ = [
    "SourceFile",
    "classify_file",
    "collect_files",
    "load_component_source",
    "load_python_components",
    "register_paths",
    "register_spec",
    "list_components",
    "show_component",
    "get_component_spec",
    "component_resolver",
    "parse_ref",
    "warning_text",
    "component_to_json",
]

YAML_SUFFIXES = (".yml", ".yaml")
_SKIPPED_DIRS = {"__pycache__", ".git", ".hg", ".svn", ".venv", "venv", "node_modules", ".ductwork", ".ipynb_checkpoints"}


@dataclass(frozen=True)
class SourceFile:
    """A file found under a path the user named, with its kind guessed from its content."""

    path: Path
    kind: str  #: "component", "pipeline", "python", or "other" (a YAML file that is neither)
    data: Any = None  #: the parsed YAML mapping, when it is YAML


def warning_text(problem: Problem) -> str:
    """A warning-severity problem as one line: ``location: message`` (no "warning:" prefix)."""
    location = problem.location()
    return f"{location}: {problem.message}" if location else problem.message


def parse_ref(text: str, what: str = "component") -> tuple[str, str | None]:
    """``name``, ``name:3``, ``name@latest`` (``azureml:`` prefix accepted) → ``(name, version or None)``."""
    from components.pipeline_loader import parse_component_ref

    if not text.isascii():  # a name as written (日本): stored under its folded name (components.fields.suggest_name)
        name, suffix = re.match(r"^(.*?)((?::[A-Za-z0-9_.-]+)|@latest)?$", text.strip()).groups()
        text = suggest_name(name) + (suffix or "")
    ref = parse_component_ref(text)
    if ref is None:
        raise DuctworkError(
            f"'{text}' is not a {what} reference. Write NAME, NAME:VERSION or NAME@latest (e.g. train_model:3)."
        )
    return ref.name, ref.version


def _yaml_kind(data: Any) -> str:
    if not isinstance(data, dict):
        return "other"
    kind = data.get("type")
    if kind == "pipeline" or (kind is None and "jobs" in data):
        return "pipeline"
    if kind is not None or "command" in data or "inputs" in data or "function" in data:
        return "component"
    return "other"


def classify_file(path: Path) -> SourceFile:
    from components.yamlio import load_yaml_file

    if path.suffix == ".py":
        return SourceFile(path, "python")
    data = load_yaml_file(path)  # raises ValidationError with line and column
    return SourceFile(path, _yaml_kind(data), data)


def collect_files(paths: Sequence[str | Path], exclude: Path | None = None) -> tuple[list[Path], list[Problem]]:
    """Expand ``paths`` (files and folders; folders searched recursively for YAML files) into files,
    leaving out caches, virtual environments and the ``exclude`` folder (the workspace).

    Missing paths and unsupported file types become problems, reported with the rest.
    """
    files: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.suffix in YAML_SUFFIXES and p.is_file() and not _SKIPPED_DIRS.intersection(p.relative_to(path).parts)
                and not (exclude is not None and p.resolve().is_relative_to(exclude))
            )
            if not found:
                problems.append(Problem(f"folder '{raw}' holds no .yml or .yaml files", file=str(raw)))
            files.extend(p.absolute() for p in found)
        elif path.is_file():
            if path.suffix not in (*YAML_SUFFIXES, ".py"):
                problems.append(Problem(
                    f"'{raw}' is neither a YAML file (.yml, .yaml) nor a Python module (.py)", file=str(raw)
                ))
            else:
                files.append(path.absolute())
        else:
            problems.append(Problem(f"'{raw}' does not exist; check the path", file=str(raw)))
    return list(dict.fromkeys(files)), problems


def load_component_source(source: SourceFile) -> list[ComponentSpec]:
    """The components a file defines: one for a component YAML file, one per decorated function
    for a Python module. Raises ValidationError with every problem."""
    if source.kind == "python":
        return load_python_components(source.path)
    from components.loader import component_from_dict

    return [component_from_dict(source.data, source.path.parent, source.path)]


def load_python_components(path: Path) -> list[ComponentSpec]:
    """The components a Python module defines at its top level (``@command_component`` functions and
    ``load_component(...)`` results). The module is imported with its folder on ``sys.path``;
    an import that fails becomes a problem naming the file and line, never a traceback."""
    import hashlib
    import importlib.util
    import os
    import sys
    import traceback

    from components.sdk import Component

    path = Path(path).absolute()
    module_name = "_ductwork_module_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ValidationError([Problem(f"'{path.name}' cannot be imported as a Python module", file=str(path))])
    module = importlib.util.module_from_spec(module_spec)
    folder = str(path.parent) + os.sep
    loaded_before = set(sys.modules)
    sys.path.insert(0, str(path.parent))
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except ValidationError:
        raise
    except DuctworkError as exc:
        raise ValidationError([Problem(str(exc), file=str(path))]) from None
    except (Exception, SystemExit) as exc:
        line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
        if line is None:
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
            line = frames[-1].lineno if frames else None
        raise ValidationError([Problem(
            f"importing '{path.name}' failed with {type(exc).__name__}: {exc}. Fix the module so that "
            "it imports cleanly", file=str(path), line=line,
        )]) from None
    finally:
        sys.modules.pop(module_name, None)
        # and the module's own local imports (a `helpers` next to it): left in sys.modules, they
        # would be what a later `import helpers` of another folder's function gets in this process
        for name in set(sys.modules) - loaded_before:
            if (getattr(sys.modules.get(name), "__file__", None) or "").startswith(folder):
                sys.modules.pop(name, None)
        if str(path.parent) in sys.path:
            sys.path.remove(str(path.parent))
    specs = list({v.spec.ref: v.spec for v in vars(module).values() if isinstance(v, Component)}.values())
    if not specs:
        raise ValidationError([Problem(
            f"'{path.name}' defines no components; decorate top-level functions with @command_component "
            "(from components.sdk import command_component)", file=str(path),
        )])
    return specs


def register_spec(ws: Workspace, spec: ComponentSpec) -> ComponentRegistration:
    """Register one loaded component (code snapshotted; identical content is a no-op)."""
    return ws.registry.register_component(spec)


def register_paths(ws: Workspace, paths: Sequence[str | Path]) -> list[ComponentRegistration]:
    """Register every component in ``paths`` (YAML files, folders of them, Python modules).

    All files are read first: if any has a problem, nothing is registered and every
    problem is raised at once. Pipeline files inside a folder are skipped.
    """
    files, problems = collect_files(paths, exclude=ws.home)
    specs: list[ComponentSpec] = []
    explicit = {Path(p).expanduser().absolute() for p in paths}
    for path in files:
        try:
            source = classify_file(path)
            if source.kind != "component" and source.kind != "python":
                if path in explicit:
                    what = "a pipeline; register it with 'ductwork pipeline register'" if source.kind == "pipeline" \
                        else "not a component (no 'type: command', 'command' or 'inputs')"
                    problems.append(Problem(f"'{path.name}' is {what}", file=str(path)))
                continue
            specs.extend(load_component_source(source))
        except ValidationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ValidationError(problems)
    if not specs:
        raise DuctworkError(f"no components found in {', '.join(map(str, paths))}")
    conflicts = [msg for spec in specs if (msg := ws.registry.component_conflict(spec))]
    if conflicts:
        raise DuctworkError("\n".join(conflicts))
    return [register_spec(ws, spec) for spec in specs]


def list_components(ws: Workspace, search: str | None = None, all_versions: bool = False) -> list[ComponentPublic]:
    """Registered components (latest version of each unless ``all_versions``), filtered by ``search``."""
    return ws.registry.list_components(search=search, all_versions=all_versions)


def show_component(ws: Workspace, ref: str) -> ComponentPublic:
    """One registered component version from ``NAME``, ``NAME:VERSION`` or ``NAME@latest``."""
    name, version = parse_ref(ref)
    return ws.registry.get_component(name, version)


def get_component_spec(ws: Workspace, ref: str | ComponentRef) -> ComponentSpec:
    """A registered component as a spec whose ``code`` is its snapshot."""
    if isinstance(ref, str):
        name, version = parse_ref(ref)
    else:
        name, version = ref.name, ref.version
    return ws.registry.component_spec(name, version)


def component_resolver(ws: Workspace) -> Callable[[ComponentRef], ComponentSpec]:
    """``ComponentRef → ComponentSpec`` over the registry, memoised for the resolver's lifetime.

    Unknown names or versions raise ``NotFoundError``, a ``KeyError`` with a "did you mean".
    """
    memo: dict[tuple[str, str | None], ComponentSpec] = {}

    def resolve(ref: ComponentRef) -> ComponentSpec:
        key = (ref.name, ref.version)
        if key not in memo:
            memo[key] = ws.registry.component_spec(ref.name, ref.version)
        return memo[key]

    return resolve


def component_to_json(record: ComponentPublic, *, with_spec: bool = True) -> dict[str, Any]:
    """JSON-ready form of a registered component (``--json``)."""
    data = record.model_dump(mode="json", exclude={"spec"} if not with_spec else None)
    data["ref"] = record.ref
    return data
