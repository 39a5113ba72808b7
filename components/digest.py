"""Content digests (blake3, hex) of code folders, specs and function sources.

- ``code_digest(folder)``: every file's relative POSIX path and bytes, in
  sorted order, ignoring caches and VCS folders (:data:`IGNORED_NAMES`,
  ``*.pyc``). Per-file hashes are memoised by (path, size, mtime, inode) in
  this process, so re-hashing an unchanged folder costs one ``stat`` per file.
- ``component_digest(spec)``: the component's identity for step signatures:
  the canonical spec **without** what does not decide its outputs — its
  version (the signature carries name and version itself), display name,
  description(s), tags, ``is_deterministic``, compute, resources, the
  ``code`` path and ``source`` — plus the digest of its code: the code folder
  for a command component; for a function component only the function's
  module and the local modules it imports, transitively (see
  :func:`function_source_files`), so editing an unrelated file in the folder
  keeps reuse while editing an imported helper does not.
- ``spec_digest(spec)``: everything ``component_digest`` covers plus the
  metadata shown to people (but not the version): what the automatic version
  is made from, and what a registry compares to keep a version immutable.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import blake3

from components.spec import ComponentSpec

__all__ = [
    "IGNORED_NAMES",
    "canonical_json",
    "code_digest",
    "files_digest",
    "component_digest",
    "spec_digest",
    "function_source_files",
]

#: Folder and file names never hashed (caches, VCS folders, editor junk).
IGNORED_NAMES = frozenset({
    "__pycache__", ".git", ".hg", ".svn", ".ipynb_checkpoints", ".DS_Store", ".pytest_cache", ".mypy_cache",
    ".ruff_cache", ".ductwork",
})
_IGNORED_SUFFIXES = (".pyc", ".pyo")

_file_memo: dict[str, tuple[tuple[int, int, int], str]] = {}
_imports_memo: dict[str, tuple[tuple[int, int, int], tuple[str, ...]]] = {}


def _default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return obj.as_posix()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if hasattr(obj, "items"):
        return dict(obj.items())
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} {obj!r} canonically")


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, tuples as lists, paths as POSIX text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default,
                      allow_nan=False)


def _stat_key(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _file_hash(path: Path) -> str:
    st = path.stat()
    key = str(path)
    memo = _file_memo.get(key)
    if memo and memo[0] == _stat_key(st):
        return memo[1]
    hasher = blake3.blake3()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            hasher.update(chunk)
    digest = hasher.hexdigest()
    _file_memo[key] = (_stat_key(st), digest)
    return digest


def _walk(folder: Path) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in IGNORED_NAMES]
        for name in files:
            if name in IGNORED_NAMES or name.endswith(_IGNORED_SUFFIXES):
                continue
            path = Path(root) / name
            if path.is_file():
                found.append((path.relative_to(folder).as_posix(), path))
    return sorted(found)


def files_digest(files: Iterable[tuple[str, Path]]) -> str:
    """Digest of ``(relative POSIX name, path)`` pairs: each name with its file's content hash."""
    hasher = blake3.blake3()
    for rel, path in sorted(files):
        hasher.update(rel.encode("utf-8") + b"\0" + _file_hash(path).encode("ascii") + b"\n")
    return hasher.hexdigest()


def code_digest(folder: str | Path) -> str:
    """Digest of every file under ``folder`` by relative path and bytes (caches and VCS ignored)."""
    folder = Path(folder)
    if folder.is_file():
        return files_digest([(folder.name, folder)])
    return files_digest(_walk(folder))


def _module_file(code: Path, dotted: str) -> Path | None:
    base = code.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, code: Path) -> tuple[str, ...]:
    """Dotted names a module imports (absolute, with relative ones resolved), memoised by stat."""
    st = path.stat()
    key = str(path)
    memo = _imports_memo.get(key)
    if memo and memo[0] == _stat_key(st):
        return memo[1]
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError):
        tree = ast.Module(body=[], type_ignores=[])
    rel = path.relative_to(code).with_suffix("")
    package = list(rel.parts[:-1])
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                up = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                base = ".".join([*up, node.module] if node.module else up)
            else:
                base = node.module or ""
            if base:
                names.append(base)
            names.extend(f"{base}.{alias.name}" if base else alias.name for alias in node.names)
    unique = tuple(dict.fromkeys(n for n in names if n))
    _imports_memo[key] = (_stat_key(st), unique)
    return unique


def function_source_files(spec: ComponentSpec) -> list[Path]:
    """The function's module file and the local modules it imports, transitively.

    Only modules whose files live under the component's ``code`` folder count
    (the standard library and installed packages are the environment's
    business); a package's ``__init__.py`` counts when a module inside it is
    imported. Sorted, absolute paths.
    """
    if spec.function is None or spec.code is None:
        return []
    code = Path(spec.code)
    start = _module_file(code, spec.function.module)
    if start is None:
        return []
    seen: set[Path] = set()
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for dotted in _imports(path, code):
            parts = dotted.split(".")
            for i in range(1, len(parts) + 1):
                found = _module_file(code, ".".join(parts[:i]))
                if found is not None and found not in seen:
                    todo.append(found)
    return sorted(seen)


def _code_part(spec: ComponentSpec) -> str | None:
    if spec.code is None:
        return None
    if spec.kind == "function":
        code = Path(spec.code)
        return files_digest((p.relative_to(code).as_posix(), p) for p in function_source_files(spec))
    return code_digest(spec.code)


def _canonical(spec: ComponentSpec, *, metadata: bool) -> dict[str, Any]:
    from components.serialize import component_to_dict

    data = component_to_dict(spec)
    for key in ("version", "code"):
        data.pop(key, None)
    if not metadata:
        for key in ("display_name", "description", "tags", "is_deterministic", "compute", "resources"):
            data.pop(key, None)
        for section in ("inputs", "outputs"):
            for item in data.get(section, {}).values():
                item.pop("description", None)
    data["code_digest"] = _code_part(spec)
    return data


def component_digest(spec: ComponentSpec) -> str:
    """The behavioural identity of a component (see the module docstring)."""
    return blake3.blake3(canonical_json(_canonical(spec, metadata=False)).encode("utf-8")).hexdigest()


def spec_digest(spec: ComponentSpec) -> str:
    """The full content identity of a component except its version (see the module docstring)."""
    return blake3.blake3(canonical_json(_canonical(spec, metadata=True)).encode("utf-8")).hexdigest()
