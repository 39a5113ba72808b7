"""Content digests (blake3) of files and folders, and the cheap stat key that memoises them.

A folder's digest covers its sorted (relative path, bytes) pairs, so two folders with the
same files hash alike wherever they live. Nothing here touches a database.
"""

from __future__ import annotations

import os

import blake3

__all__ = ["content_digest", "file_digest", "listing_digest", "stat_key", "tree_listing", "tree_size"]

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


def tree_listing(path: str | os.PathLike[str]) -> tuple[str, list[tuple]]:
    """(kind, entries) of a file or folder: ``"file"`` with one ``("", "f", size, digest)`` entry,
    or ``"folder"`` with ``(rel, "d")`` and ``(rel, "f", size, digest)`` entries sorted by path.
    The listing is what an object store's manifest of an output keeps (engine/objectstore.py),
    and :func:`listing_digest` of it is the output's content digest."""
    p = os.fspath(path)
    if not os.path.isdir(p):
        return "file", [("", "f", os.path.getsize(p), file_digest(p))]
    entries: list[tuple] = []
    for rel, kind, st in _walk(p):
        entries.append((rel, "d") if kind == "d" else (rel, "f", st.st_size, file_digest(os.path.join(p, rel))))
    return "folder", entries


def listing_digest(kind: str, entries: list) -> tuple[str, int]:
    """(digest, size in bytes) of a :func:`tree_listing` — the same as :func:`content_digest` of
    the file or folder it lists, wherever its bytes are kept."""
    hasher = blake3.blake3()
    if kind == "file":
        (_rel, _f, size, digest), = entries
        hasher.update(b"file\0")
        hasher.update(bytes.fromhex(digest))
        return hasher.hexdigest(), int(size)
    total = 0
    hasher.update(b"folder\0")
    for entry in entries:
        rel = entry[0]
        if entry[1] == "d":
            hasher.update(b"d\0" + rel.encode() + b"\0")
        else:
            size = int(entry[2])
            total += size
            hasher.update(b"f\0" + rel.encode() + b"\0" + size.to_bytes(8, "little"))
            hasher.update(bytes.fromhex(entry[3]))
    return hasher.hexdigest(), total


def content_digest(path: str | os.PathLike[str]) -> tuple[str, int]:
    """(digest, size in bytes) of a file or a folder's content, independent of where it lives."""
    return listing_digest(*tree_listing(path))


def tree_size(path: str | os.PathLike[str]) -> int | None:
    """Total bytes of the files of a file or folder; ``None`` when it does not exist.

    Called for every output of every reused step (existence and size are checked on each
    reuse), so a folder is listed without sorting or keeping its entries, and without a
    separate ``isdir`` call: ``scandir`` says whether the path is a folder."""
    try:
        return _size(os.fspath(path))
    except FileNotFoundError:
        return None


def _size(path: str) -> int:
    try:
        it = os.scandir(path)
    except NotADirectoryError:
        return os.stat(path).st_size
    total = 0
    folders: list[str] = []
    while True:
        with it:
            for entry in it:
                if entry.is_dir(follow_symlinks=True):
                    folders.append(entry.path)
                else:
                    total += entry.stat(follow_symlinks=True).st_size
        if not folders:
            return total
        it = os.scandir(folders.pop())


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
