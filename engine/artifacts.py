"""The artifact store: fresh output folders, atomic content-addressed commits, existence checks.

A step writes into fresh, empty folders under the store's temp area. Only after it succeeds
is each output hashed and moved with one ``rename`` into ``artifacts/<digest>``; the caller
writes the reuse record after that. A crash at any point leaves no record, or a complete
artifact — never a record pointing at half a folder. Identical outputs are stored once.

``ArtifactStore`` is the interface; ``LocalArtifactStore`` keeps everything in two local
folders (the embedded default), ``engine.objectstore.ObjectArtifactStore`` in a URL (S3, a
shared folder) as blobs and trees that every node and workspace on it share.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from engine.hashing import content_digest, tree_size

__all__ = ["NODE_ROOT", "ArtifactInfo", "ArtifactStore", "LocalArtifactStore"]

#: the prefix of every path a driver hands a task of a store-backed run (engine/objectstore.py):
#: the task maps it to its node's cache
NODE_ROOT = "/@ductwork-node"
_STAGING = ".staging-"  #: under artifacts/: a copy from another file system, renamed into place when complete
_EVICTED = ".evicted-"  #: under tmp/: an evicted artifact, renamed out of the way before it is removed


@dataclass(frozen=True)
class ArtifactInfo:
    """A committed output: its content digest, size in bytes, and whether this commit
    created it (``False``: identical content was already stored)."""

    digest: str
    size: int
    created: bool = False


class ArtifactStore(Protocol):
    """Where outputs are written, committed and found again."""

    def new_step_area(self, run_id: str, job: str) -> Path:
        """A fresh, empty scratch folder for one attempt of one step."""
        ...

    def commit(self, path: Path, dispose: Callable[[Path], None] | None = None) -> ArtifactInfo:
        """Hash ``path`` and move it atomically under its digest; identical content is kept once
        (the duplicate at ``path`` is removed, or handed to ``dispose``)."""
        ...

    def path(self, digest: str) -> Path:
        """Where the artifact ``digest`` lives."""
        ...

    def exists(self, digest: str, size: int | None = None) -> bool:
        """Whether the artifact is present (and, when given, has ``size`` bytes)."""
        ...

    def verify(self, digest: str) -> bool:
        """Full check: the artifact's content still hashes to ``digest``."""
        ...

    def rehash(self, digest: str) -> str | None:
        """The content digest of what is stored under ``digest`` now (``None`` when absent)."""
        ...

    def evict(self, digest: str) -> None:
        """Remove an artifact: a missing or corrupt one (so that it is produced again), or one that
        no kept record references (``ductwork gc``)."""
        ...

    def discard(self, path: Path) -> None:
        """Remove a step's scratch folder (what was not committed)."""
        ...

    def stored(self) -> dict[str, int]:
        """Every stored artifact: digest → size in bytes (for ``ductwork verify`` and ``gc``)."""
        ...

    def scratch_of(self, run_id: str) -> Path:
        """The folder holding the scratch areas of one run's steps."""
        ...

    def leftovers(self) -> list[Path]:
        """Scratch the store itself left behind: evicted artifacts a crash kept from removing."""
        ...

    def size_of(self, digest: str) -> int | None:
        """Bytes of the stored artifact (``None``: not stored)."""
        ...

    def changed_at(self, digest: str) -> float:
        """When the artifact was stored (``gc`` keeps what a live run may have made)."""
        ...


class LocalArtifactStore:
    """Artifacts in ``artifacts_dir/<digest>``, scratch in ``tmp_dir`` (same file system for rename)."""

    def __init__(self, artifacts_dir: str | os.PathLike[str], tmp_dir: str | os.PathLike[str], workspace: str = ""):
        self.artifacts_dir = Path(artifacts_dir)
        self.tmp_dir = Path(tmp_dir)
        self.workspace = workspace  #: the reuse records this store's runs write name it
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def new_step_area(self, run_id: str, job: str) -> Path:
        area = self.scratch_of(run_id) / f"{job}-{uuid.uuid4().hex[:8]}"
        area.mkdir(parents=True)
        return area

    def commit(self, path: Path, dispose: Callable[[Path], None] | None = None) -> ArtifactInfo:
        digest, size = content_digest(path)
        target = self.artifacts_dir / digest
        if target.exists():
            if tree_size(target) == size:
                (dispose or _remove)(path)
                return ArtifactInfo(digest, size, created=False)
            self.evict(digest)  # damaged copy: replace it with the fresh one
        _make_read_only(path)
        try:
            os.rename(path, target)
        except OSError:
            if target.exists():  # another process committed the same content first
                _remove(path)
                return ArtifactInfo(digest, size, created=False)
            else:  # a different file system: copy beside the target, then rename
                staging = self.artifacts_dir / f"{_STAGING}{uuid.uuid4().hex}"
                shutil.copytree(path, staging) if path.is_dir() else shutil.copy2(path, staging)
                os.rename(staging, target)
                _remove(path)
        return ArtifactInfo(digest, size, created=True)

    def path(self, digest: str) -> Path:
        return self.artifacts_dir / digest

    def exists(self, digest: str, size: int | None = None) -> bool:
        found = tree_size(self.artifacts_dir / digest)
        return found is not None and (size is None or found == size)

    def verify(self, digest: str) -> bool:
        return self.rehash(digest) == digest

    def rehash(self, digest: str) -> str | None:
        target = self.artifacts_dir / digest
        return content_digest(target)[0] if target.exists() else None

    def evict(self, digest: str) -> None:
        target = self.artifacts_dir / digest
        if target.exists():
            trash = self.tmp_dir / f"{_EVICTED}{uuid.uuid4().hex}"
            os.rename(target, trash)
            _remove(trash)

    def discard(self, path: Path) -> None:
        _remove(path)

    def stored(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for entry in os.scandir(self.artifacts_dir):
            if not entry.name.startswith(_STAGING) and (size := tree_size(entry.path)) is not None:
                found[entry.name] = size
        return found

    def scratch_of(self, run_id: str) -> Path:
        return self.tmp_dir / run_id

    def size_of(self, digest: str) -> int | None:
        return tree_size(self.artifacts_dir / digest)

    def changed_at(self, digest: str) -> float:
        st = os.stat(self.artifacts_dir / digest)
        return max(st.st_mtime, st.st_ctime)  # a rename into artifacts/ sets ctime

    def leftovers(self) -> list[Path]:
        return sorted(self.tmp_dir.glob(f"{_EVICTED}*"))


def _make_read_only(path: Path) -> None:
    """Files of a committed artifact are read-only, so a careless step cannot change its inputs."""
    ro = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
    if path.is_file():
        os.chmod(path, ro)
        return
    for folder, _dirs, files in os.walk(path):
        for name in files:
            os.chmod(os.path.join(folder, name), ro)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()
