"""Content digests (blake3, hex) of code folders, specs and function sources.

- ``code_digest(folder)``: every file of a code folder (which files:
  :mod:`components.codefiles`) by relative POSIX path and bytes, in sorted
  order. Per-file hashes are memoised by (path, size, mtime, inode) in this
  process, so re-hashing an unchanged folder costs one ``stat`` per file.
- ``component_digest(spec)``: the component's identity for step signatures:
  the canonical spec **without** what does not decide its outputs — its
  version (the signature carries name and version itself), display name,
  description(s), tags, ``is_deterministic``, compute, resources, the
  ``code`` path and ``source`` — plus the digest of its code (:func:`components.codefiles.component_code_files`: the code
  folder for a command component; for a function component only the
  function's module and the local modules it imports, transitively).
- ``automatic_version(spec)``: ``auto-`` + the first 12 hex digits of
  ``component_digest``, the version of a component that declares none: a
  change of its description, tags, compute or resources keeps its version
  (and its reuse); a change of what it computes gives a new one.
- ``definition_digests(spec)``: one digest per field of what
  ``component_digest`` covers (``command``, ``inputs``, ``outputs`` …), kept
  with each step run so a changed definition can be named.
- ``spec_digest(spec)``: everything ``component_digest`` covers plus the
  metadata shown to people (but not the version): what a
  registry compares to keep an explicit version immutable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import blake3

from components.codefiles import code_files, component_code_files, link_target
from components.serialize import component_to_dict
from components.spec import ComponentSpec

__all__ = [
    "AUTO_VERSION_PREFIX",
    "automatic_version",
    "canonical_json",
    "code_digest",
    "code_file_hash",
    "files_digest",
    "component_digest",
    "definition_digests",
    "file_hash",
    "spec_digest",
]

#: The prefix of a version the loader and the SDK give a component that declares none.
AUTO_VERSION_PREFIX = "auto-"
#: What does not decide a component's outputs: left out of ``component_digest``.
_NOT_BEHAVIOUR = ("display_name", "description", "tags", "is_deterministic", "compute", "resources")

_file_memo: dict[str, tuple[tuple[int, int, int], str]] = {}


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


def file_hash(path: Path) -> str:
    """blake3 hex digest of one file's bytes, memoised by (path, size, mtime, inode)."""
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


def code_file_hash(path: Path) -> str:
    """:func:`file_hash` of a code file; a link (one inside its code folder, see
    :mod:`components.codefiles`) hashes where it points, not what it points to."""
    if path.is_symlink():
        return blake3.blake3(b"link\0" + link_target(path).encode("utf-8")).hexdigest()
    return file_hash(path)


def files_digest(files: Iterable[tuple[str, Path]]) -> str:
    """Digest of ``(relative POSIX name, path)`` pairs: each name with its file's content hash."""
    hasher = blake3.blake3()
    for rel, path in sorted(files):
        hasher.update(rel.encode("utf-8") + b"\0" + code_file_hash(path).encode("ascii") + b"\n")
    return hasher.hexdigest()


def code_digest(folder: str | Path) -> str:
    """Digest of every file of a code folder (see :func:`components.codefiles.code_files`) by
    relative path and bytes; a single file by its name and bytes."""
    return files_digest(code_files(folder))


def _code_part(spec: ComponentSpec) -> str | None:
    return None if spec.code is None else files_digest(component_code_files(spec))


def _canonical(spec: ComponentSpec, *, metadata: bool, code: bool = True) -> dict[str, Any]:
    data = component_to_dict(spec)
    for key in ("version", "code"):
        data.pop(key, None)
    if not metadata:
        for key in _NOT_BEHAVIOUR:
            data.pop(key, None)
        for section in ("inputs", "outputs"):
            for item in data.get(section, {}).values():
                item.pop("description", None)
    if code:
        data["code_digest"] = _code_part(spec)
    return data


def _digest(data: Any) -> str:
    return blake3.blake3(canonical_json(data).encode("utf-8")).hexdigest()


def component_digest(spec: ComponentSpec) -> str:
    """The behavioural identity of a component (see the module docstring)."""
    return _digest(_canonical(spec, metadata=False))


def definition_digests(spec: ComponentSpec) -> dict[str, str]:
    """Field → digest of each part of what :func:`component_digest` covers except the code
    (``code_digest``), whose files the engine's code manifest names one by one."""
    data = _canonical(spec, metadata=False, code=False)
    return {key: _digest(value)[:16] for key, value in data.items()}


def automatic_version(spec: ComponentSpec) -> str:
    """The version of a component that declares none (see the module docstring)."""
    return AUTO_VERSION_PREFIX + component_digest(spec)[:12]


def spec_digest(spec: ComponentSpec) -> str:
    """The full content identity of a component except its version (see the module docstring)."""
    return _digest(_canonical(spec, metadata=True))
