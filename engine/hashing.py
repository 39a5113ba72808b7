"""Content digests (blake3) of files and folders, and the cheap stat key that memoises them.

A folder's digest covers its sorted (relative path, bytes) pairs, so two folders with the
same files hash alike wherever they live. Nothing here touches a database.
"""

from __future__ import annotations

import os

import blake3

__all__ = ["content_digest", "file_digest", "stat_key", "tree_size"]

_MMAP_THRESHOLD = 4 * 2**20


def file_digest(path: str | os.PathLike[str]) -> str:
    """blake3 hex digest of one file's bytes (memory-mapped and multi-threaded when large)."""
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    if os.path.getsize(path) >= _MMAP_THRESHOLD:
        hasher.update_mmap(os.fspath(path))
    else:
        with open(path, "rb") as fh:
            hasher.update(fh.read())
    return hasher.hexdigest()


def _walk(root: str) -> list[tuple[str, str, os.stat_result]]:
    """Every entry under ``root`` as (relative posix path, kind 'd'/'f', stat), sorted by path."""
    out: list[tuple[str, str, os.stat_result]] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(root, rel) if rel else root) as it:
            for entry in it:
                child = f"{rel}/{entry.name}" if rel else entry.name
                if entry.is_dir(follow_symlinks=True):
                    out.append((child, "d", entry.stat(follow_symlinks=True)))
                    stack.append(child)
                else:
                    out.append((child, "f", entry.stat(follow_symlinks=True)))
    out.sort(key=lambda item: item[0])
    return out


def content_digest(path: str | os.PathLike[str]) -> tuple[str, int]:
    """(digest, size in bytes) of a file or a folder's content, independent of where it lives."""
    p = os.fspath(path)
    hasher = blake3.blake3()
    if not os.path.isdir(p):
        hasher.update(b"file\0")
        hasher.update(bytes.fromhex(file_digest(p)))
        return hasher.hexdigest(), os.path.getsize(p)
    total = 0
    hasher.update(b"folder\0")
    for rel, kind, st in _walk(p):
        if kind == "d":
            hasher.update(b"d\0" + rel.encode() + b"\0")
        else:
            total += st.st_size
            hasher.update(b"f\0" + rel.encode() + b"\0" + st.st_size.to_bytes(8, "little"))
            hasher.update(bytes.fromhex(file_digest(os.path.join(p, rel))))
    return hasher.hexdigest(), total


def tree_size(path: str | os.PathLike[str]) -> int | None:
    """Total bytes of the files of a file or folder; ``None`` when it does not exist."""
    p = os.fspath(path)
    try:
        if not os.path.isdir(p):
            return os.stat(p).st_size
        return sum(st.st_size for _, kind, st in _walk(p) if kind == "f")
    except FileNotFoundError:
        return None


def stat_key(path: str | os.PathLike[str]) -> str:
    """A key that changes whenever a file or any file in a folder changes: path, size, mtime_ns, inode.

    Used to memoise the digest of external inputs, so an unchanged 10 GB input is
    re-checked by ``stat`` alone.
    """
    p = os.path.abspath(os.fspath(path))
    st = os.stat(p)
    if not os.path.isdir(p):
        return f"file:{p}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
    hasher = blake3.blake3()
    for rel, kind, est in _walk(p):
        hasher.update(f"{kind}\0{rel}\0{est.st_size}\0{est.st_mtime_ns}\0{est.st_ino}\n".encode())
    return f"folder:{p}:{st.st_ino}:{hasher.hexdigest()}"
