"""Code snapshots: a registered component's code folder, copied once per code digest.

``<snapshots>/<code digest>/`` is written to a temporary sibling and renamed into
place, so a crash never leaves half a snapshot under its final name, and two
processes registering the same code at once both end up with one complete copy.
Caches and VCS folders are left out, exactly as the code digest leaves them out.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

from components.digest import IGNORED_NAMES
from components.errors import DuctworkError

__all__ = ["snapshot_code", "IGNORED_SUFFIXES"]

#: File endings left out of snapshots, as ``components.digest`` leaves them out of code digests.
IGNORED_SUFFIXES = (".pyc", ".pyo")


def _ignored(_dir: str, names: list[str]) -> list[str]:
    return [n for n in names if n in IGNORED_NAMES or n.endswith(IGNORED_SUFFIXES)]


def snapshot_code(folder: Path, snapshots_dir: Path, code_digest: str, files: Iterable[str] | None = None) -> Path:
    """Copy ``folder`` (or only ``files``, paths relative to it) to ``snapshots_dir/code_digest``
    unless it is already there; return that path. The snapshots folder itself is never copied,
    even when it lies inside ``folder``."""
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

        def ignore(directory: str, names: list[str]) -> list[str]:
            skipped = _ignored(directory, names)
            return skipped + [n for n in names if (Path(directory) / n).resolve() == inside]

        shutil.copytree(folder, staging, ignore=ignore, symlinks=False, ignore_dangling_symlinks=True)
    else:
        for rel in files:
            target_file = staging / rel
            target_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(folder / rel, target_file)
    try:
        os.rename(staging, target)
    except OSError:
        # Another process renamed its complete copy first: keep theirs.
        shutil.rmtree(staging, ignore_errors=True)
        if not target.is_dir():
            raise
    return target
