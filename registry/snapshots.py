"""Code snapshots: a registered component's code folder, copied once per code digest.

``<snapshots>/<code digest>/`` is written to a temporary sibling and renamed into
place, so a crash never leaves half a snapshot under its final name, and two
processes registering the same code at once both end up with one complete copy.
A snapshot holds exactly the files the code digest covers
(:func:`components.codefiles.code_files`: caches, VCS folders and what ``.amlignore`` /
``.gitignore`` exclude are left out).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

from components.codefiles import code_files, component_code_files, copy_code_files
from components.digest import files_digest
from components.errors import DuctworkError
from components.spec import ComponentSpec

__all__ = ["snapshot_code", "snapshot_component"]


def snapshot_code(folder: Path, snapshots_dir: Path, code_digest: str, files: Iterable[str] | None = None) -> Path:
    """Copy the code files of ``folder`` (or only ``files``, paths relative to it) to
    ``snapshots_dir/code_digest`` unless it is already there; return that path. The snapshots
    folder itself is never copied, even when it lies inside ``folder``."""
    target = snapshots_dir / code_digest
    if target.is_dir():
        return target
    folder = Path(folder)
    if not folder.is_dir():
        raise DuctworkError(
            f"code folder '{folder}' does not exist or is not a folder. "
            "Fix 'code:' in the component (it is relative to the component file)."
        )
    snapshots_dir.mkdir(parents=True, exist_ok=True)
    staging = snapshots_dir / f".tmp-{code_digest}-{uuid.uuid4().hex[:8]}"
    if files is None:
        inside = snapshots_dir.resolve()
        nested = inside.is_relative_to(folder.resolve())
        files = [rel for rel, path in code_files(folder) if not (nested and path.resolve().is_relative_to(inside))]
    copy_code_files(folder, files, staging)
    try:
        os.rename(staging, target)
    except OSError:
        # Another process renamed its complete copy first: keep theirs.
        shutil.rmtree(staging, ignore_errors=True)
        if not target.is_dir():
            raise
    return target


def snapshot_component(spec: ComponentSpec, snapshots_dir: Path) -> tuple[str, Path]:
    """(code digest, snapshot folder) of a component that has ``code``: the files
    :func:`components.codefiles.component_code_files` says make up its code (a command's
    code folder; a function's module and the local modules it imports, since its folder is
    often a whole project)."""
    code = Path(str(spec.code))
    pairs = component_code_files(spec)
    digest = files_digest(pairs)
    files = [rel for rel, _ in pairs] if spec.kind == "function" else None
    return digest, snapshot_code(code, snapshots_dir, digest, files)
