"""The artifact store as a URL: content-addressed blobs and a manifest per output, shared by
every node and every workspace that points at it (an S3 bucket, a shared folder, or any
fsspec URL; engine/backends.py moves the bytes)::

    <store>/store.json                      {"format": 1, "layout": "blobs+trees"} (written on first use)
    <store>/blobs/<b3[:2]>/<b3>             one file's bytes, named by their blake3 digest
    <store>/trees/<digest[:2]>/<digest>.json   an output: its kind, size and listing (path, size, blob)
    <store>/reuse/<signature[:2]>/<signature>.json   reuse manifests (engine/manifests.py)
    <store>/logs/<run>/<job>.log            a step's log, uploaded while it runs

A tree's digest is the output's content digest (engine/hashing.py ``listing_digest`` of its
listing), so the same bytes are the same artifact in every store and identical files are
stored once across artifacts. Commit order stays crash-safe: the blobs, then the tree, then
(by the driver) the reuse manifest, then the run store's record. A tree is written only
after every blob it names; a blob's name is its content, and every download is re-hashed.

Nothing assumes a shared disk. The driver hands a task *virtual* paths under
:data:`NODE_ROOT`; the task (engine/runtime.py ``run_step``) maps them to its node's own
cache (:func:`node_cache_dir`), fetches the trees it reads into that cache (a second read on
that node costs nothing), links them into its scratch area, runs, uploads its outputs and
returns their digests. The driver only records.

Endpoint and credentials are the standard AWS ones (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, ``AWS_REGION``,
``AWS_PROFILE``); a task gets the driver's values of them (:data:`STORE_ENV`) so that a node
reaches the store the driver checked, and falls back to its own environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3

from components.errors import DuctworkError
from engine.artifacts import NODE_ROOT, ArtifactInfo
from engine.backends import Backend, open_backend
from engine.hashing import file_digest, listing_digest, tree_listing
from engine.manifests import ReuseManifests, manifest_dict, parse_manifest
from engine.records import ReuseRecord

__all__ = ["NODE_ROOT", "NODE_CACHE_ENV", "STORE_ENV", "ObjectArtifactStore", "ObjectReuseManifests",
           "NodeCache", "is_store_url", "node_cache_dir", "store_env"]

NODE_CACHE_ENV = "DUCTWORK_NODE_CACHE"
#: what a task needs of the driver's environment to reach the store (never handed to the step itself)
STORE_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
             "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE")
LAYOUT = {"format": 1, "layout": "blobs+trees"}
TREE_FORMAT = 1
LIST_FROM = 16  #: from this many trees at once, one listing answers whether they are stored
_TMP = ".tmp-"


def is_store_url(value: str | None) -> bool:
    """Whether a store setting names an object store or shared folder (``s3://…``, ``file://…``,
    or any fsspec URL) rather than the workspace's own local folder."""
    return bool(value) and "://" in str(value)


def store_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The store-related variables of ``env`` (the driver's environment by default)."""
    env = os.environ if env is None else env
    return {k: env[k] for k in STORE_ENV if env.get(k)}


def node_cache_dir() -> Path:
    """This node's cache of blobs and trees: ``$DUCTWORK_NODE_CACHE``, else ``~/.cache/ductwork/node``."""
    given = os.environ.get(NODE_CACHE_ENV)
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ductwork" / "node"


def _read_only(path: str) -> None:
    os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


@dataclass(frozen=True)
class Tree:
    """The manifest of one stored output: kind (``file``/``folder``), size and listing."""

    digest: str
    kind: str
    size: int
    entries: tuple[tuple, ...]

    def blobs(self) -> dict[str, int]:
        """Blob digest → size of every file in it."""
        return {e[3]: int(e[2]) for e in self.entries if e[1] == "f"}

    def to_bytes(self) -> bytes:
        return json.dumps({"format": TREE_FORMAT, "digest": self.digest, "kind": self.kind, "size": self.size,
                           "entries": [list(e) for e in self.entries]}, separators=(",", ":")).encode()

    @classmethod
    def parse(cls, data: bytes, digest: str) -> Tree | None:
        """The tree ``data`` holds, or ``None`` when it is unreadable or not the tree of ``digest``."""
        try:
            obj = json.loads(data)
            if obj.get("format") != TREE_FORMAT or obj.get("digest") != digest:
                return None
            tree = cls(digest, str(obj["kind"]), int(obj["size"]), tuple(tuple(e) for e in obj["entries"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        return tree if listing_digest(tree.kind, list(tree.entries))[0] == digest else None


class NodeCache:
    """A node's own content-addressed cache: ``blobs/<b3>`` and ``trees/<digest>`` (a folder of
    hard links to those blobs, or for a file output one hard link), plus the scratch areas and
    logs of the steps that run on the node. It is the folder :data:`NODE_ROOT` stands for."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.trees = self.root / "trees"
        self.tmp = self.root / "tmp"
        for folder in (self.blobs, self.trees, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)

    def blob(self, b3: str) -> Path:
        return self.blobs / b3

    def tree(self, digest: str) -> Path:
        return self.trees / digest

    def has_tree(self, digest: str) -> bool:
        return os.path.lexists(self.trees / digest)

    def assemble(self, tree: Tree) -> Path:
        """Build ``trees/<digest>`` from blobs already in the cache (atomic: staged, then renamed)."""
        target = self.tree(tree.digest)
        if os.path.lexists(target):
            return target
        staging = self.tmp / f"tree-{uuid.uuid4().hex}"
        try:
            if tree.kind == "file":
                os.link(self.blob(tree.entries[0][3]), staging)
            else:
                staging.mkdir()
                for entry in tree.entries:
                    dest = staging / entry[0]
                    if entry[1] == "d":
                        dest.mkdir(parents=True, exist_ok=True)
                    else:
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        os.link(self.blob(entry[3]), dest)
            try:
                os.rename(staging, target)
            except OSError:
                if not os.path.lexists(target):
                    raise
        finally:
            _remove(staging)
        return target

    def adopt(self, path: Path, tree: Tree) -> None:
        """Keep a step's just-uploaded output as the cached tree (its files become the blobs):
        a downstream step on this node then reads it without a download."""
        target = self.tree(tree.digest)
        files = [(path / e[0] if tree.kind == "folder" else path, e[3]) for e in tree.entries if e[1] == "f"]
        for file, b3 in files:
            _read_only(str(file))
            if not os.path.exists(self.blob(b3)):
                with contextlib.suppress(OSError):
                    os.link(file, self.blob(b3))
        if os.path.lexists(target):
            _remove(path)
            return
        try:
            os.rename(path, target)
        except OSError:
            _remove(path)


class ObjectArtifactStore:
    """An :class:`engine.artifacts.ArtifactStore` in an fsspec URL (``s3://bucket/prefix``, a shared
    folder), for the driver (paths are virtual, under :data:`NODE_ROOT`) and for tasks (which
    fetch into and publish from their node's :class:`NodeCache`)."""

    remote = True  #: the scheduler hands tasks virtual paths and takes their outputs' digests

    def __init__(self, url: str, cache_dir: str | os.PathLike[str] | None = None, *, workspace: str = "",
                 env: Mapping[str, str] | None = None):
        self.url = url.rstrip("/")
        self.env = dict(env) if env is not None else store_env()
        self.backend: Backend = open_backend(self.url, self.env)
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._cache: NodeCache | None = None
        self.workspace = workspace
        self._trees: dict[str, Tree | None] = {}
        self._present: set[str] = set()  #: trees a listing showed, not read yet
        self._code: dict[str, str] = {}  #: code folder key → tree digest, uploaded once per store object
        self.reuse_manifests = ObjectReuseManifests(self.backend, "reuse")

    # ---------------------------------------------------------------- layout
    def blob_path(self, b3: str) -> str:
        return f"blobs/{b3[:2]}/{b3}"

    def tree_path(self, digest: str) -> str:
        return f"trees/{digest[:2]}/{digest}.json"

    def log_path(self, run_id: str, job: str) -> str:
        return f"logs/{run_id}/{job}.log"

    @property
    def cache(self) -> NodeCache:
        if self._cache is None:
            self._cache = NodeCache(self._cache_dir or node_cache_dir())
        return self._cache

    def check(self) -> None:
        """Fail with a clear message, before anything runs, when the store cannot be reached,
        read or written (writes its layout file on first use)."""
        marker = "store.json"
        try:
            try:
                data = self.backend.read(marker)
            except (FileNotFoundError, NotADirectoryError):
                self.backend.write(marker, json.dumps(LAYOUT).encode())
                data = self.backend.read(marker)
            layout = json.loads(data)
        except Exception as exc:  # noqa: BLE001 - every way a store can be unreachable
            detail = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise DuctworkError(
                f"the artifact store '{self.url}' cannot be reached: {type(exc).__name__}: {detail}. Check the URL, "
                "that the bucket exists, AWS_ENDPOINT_URL and the credentials (AWS_ACCESS_KEY_ID, "
                "AWS_SECRET_ACCESS_KEY or AWS_PROFILE); or unset --store / DUCTWORK_STORE to use the "
                "workspace's own folder.") from None
        if not isinstance(layout, dict) or layout.get("format") != LAYOUT["format"]:
            raise DuctworkError(f"'{self.url}' is not a Ductwork store of format {LAYOUT['format']} "
                                f"(its store.json says {layout!r}); point --store at another prefix")

    # ---------------------------------------------------------------- the driver's interface
    def new_step_area(self, run_id: str, job: str) -> Path:
        return Path(NODE_ROOT) / "scratch" / run_id / f"{job}-{uuid.uuid4().hex[:8]}"

    def scratch_of(self, run_id: str) -> Path:
        return Path(NODE_ROOT) / "scratch" / run_id

    def path(self, digest: str) -> Path:
        return Path(NODE_ROOT) / "trees" / digest

    def discard(self, path: Path) -> None:
        if not str(path).startswith(NODE_ROOT):
            _remove(Path(path))

    def leftovers(self) -> list[Path]:
        return []

    def manifest(self, digest: str) -> Tree | None:
        """The tree of ``digest`` (read once per store object; ``None``: not stored)."""
        if digest not in self._trees:
            self._read_trees([digest])
        return self._trees.get(digest)

    def prefetch(self, digests: Iterable[str]) -> None:
        """Learn which of these trees are stored, in one batch (the reuse checks of a whole run at
        once): for a few, their objects are read concurrently; for many, one listing of the
        store's trees answers them all (a listing page holds 1,000 names, where each read is a
        request of its own: a fully reused 100-step run made 100 requests, now one or two). A
        tree only listed is read when a task or ``verify`` needs its files."""
        wanted = [d for d in dict.fromkeys(digests) if d not in self._trees and d not in self._present]
        if len(wanted) >= LIST_FROM:
            listed = self._listed()
            for digest in wanted:
                if digest in listed:
                    self._present.add(digest)
                else:
                    self._trees[digest] = None
            return
        self._read_trees(wanted)

    def _read_trees(self, digests: list[str]) -> None:
        paths = {self.tree_path(d): d for d in digests}
        got = self.backend.read_many(list(paths))
        for path, digest in paths.items():
            self._trees[digest] = Tree.parse(got[path], digest) if path in got else None

    def _listed(self) -> dict[str, str]:
        """Digest → key of every tree in the store (one paginated listing)."""
        return {_name(p): p for p in self.backend.list("trees") if p.endswith(".json")}

    def exists(self, digest: str, size: int | None = None) -> bool:
        """Whether the tree is stored (a listed tree's size is its digest's: the digest covers every
        file's size; ``verify`` reads and re-hashes it all)."""
        if digest in self._present and digest not in self._trees:
            return True
        tree = self.manifest(digest)
        return tree is not None and (size is None or tree.size == size)

    def rehash(self, digest: str) -> str | None:
        """The digest of the stored bytes now: every blob of the tree is read and hashed."""
        self._trees.pop(digest, None)
        self._present.discard(digest)
        tree = self.manifest(digest)
        if tree is None:
            return None
        entries = []
        for entry in tree.entries:
            if entry[1] == "d":
                entries.append(entry)
                continue
            try:
                hasher = blake3.blake3()
                for chunk in self.backend.chunks(self.blob_path(entry[3])):
                    hasher.update(chunk)
                entries.append((entry[0], "f", entry[2], hasher.hexdigest()))
            except FileNotFoundError:
                return f"missing-blob-{entry[3][:12]}"
        return listing_digest(tree.kind, entries)[0]

    def verify(self, digest: str) -> bool:
        return self.rehash(digest) == digest

    def evict(self, digest: str) -> None:
        """Remove the tree (its blobs go with ``gc`` once no tree names them)."""
        self._trees[digest] = None
        self._present.discard(digest)
        self.backend.delete([self.tree_path(digest)])

    def stored(self) -> dict[str, int]:
        trees = {}
        listed = self._listed()
        got = self.backend.read_many(list(listed.values()))
        for digest, path in listed.items():
            tree = Tree.parse(got[path], digest) if path in got else None
            if tree is not None:
                trees[digest] = tree.size
                self._trees[digest] = tree
        return trees

    def size_of(self, digest: str) -> int | None:
        tree = self.manifest(digest)
        return tree.size if tree is not None else None

    def changed_at(self, digest: str) -> float:
        return self.backend.modified(self.tree_path(digest))

    def collect_blobs(self, keep_after: float, dry_run: bool = False, gone: Iterable[str] = ()) -> dict[str, int]:
        """Remove the blobs no stored tree names (``gc``, after it evicted trees; with ``dry_run``,
        the trees in ``gone`` count as evicted); a blob changed after ``keep_after`` is kept: it
        may belong to an upload whose tree is not written yet."""
        gone = set(gone)
        named: set[str] = set()
        self.stored()
        for digest, tree in self._trees.items():
            if tree is not None and digest not in gone:
                named.update(tree.blobs())
        freed = {}
        for path, (size, modified) in self.backend.list("blobs").items():
            if _name(path) in named:
                continue
            with contextlib.suppress(FileNotFoundError):
                if (modified if modified is not None else self.backend.modified(path)) < keep_after:
                    freed[path] = size
        if freed and not dry_run:
            self.backend.delete(freed)
        return {_name(path): size for path, size in freed.items()}

    # ---------------------------------------------------------------- publishing (tasks and driver)
    def commit(self, path: Path, dispose: Callable[[Path], None] | None = None) -> ArtifactInfo:
        """Upload a local output (blobs, then its tree) and keep it as this node's cached tree."""
        info, tree = self.publish(path)
        self.cache.adopt(Path(path), tree)
        return info

    def publish(self, path: str | os.PathLike[str], listing: tuple[str, list] | None = None) -> tuple[ArtifactInfo, Tree]:
        """Upload the file or folder at ``path`` unless its tree is stored already; the local copy stays."""
        kind, entries = listing or tree_listing(path)
        digest, size = listing_digest(kind, entries)
        tree = Tree(digest, kind, size, tuple(tuple(e) for e in entries))
        self._trees.pop(digest, None)
        if self.exists(digest, size):
            return ArtifactInfo(digest, size, created=False), tree
        root = Path(path)
        pairs = {}
        for entry in entries:
            if entry[1] == "f":
                pairs.setdefault(entry[3], str(root / entry[0]) if kind == "folder" else str(root))
        self.backend.upload([(local, self.blob_path(b3)) for b3, local in pairs.items()])
        self.backend.write(self.tree_path(digest), tree.to_bytes())  # after every blob it names
        self._trees[digest] = tree
        return ArtifactInfo(digest, size, created=True), tree

    def upload_input(self, path: str, digest: str) -> None:
        """Put an external file or folder of this machine into the store, unless its tree is there."""
        if self.exists(digest):
            return
        info, _tree = self.publish(path)
        if info.digest != digest:
            raise DuctworkError(f"input '{path}' changed while the run read it (its digest went from "
                                f"{digest[:12]} to {info.digest[:12]}); run again")

    def put_code(self, code_dir: str | os.PathLike[str], files: list[str]) -> str:
        """Upload the files of a component's code folder (the ones its digest covers) as a tree; its digest."""
        key = f"{os.path.abspath(code_dir)}\0{len(files)}\0" + "\0".join(
            f"{f}:{os.stat(os.path.join(code_dir, f)).st_mtime_ns}" for f in files)
        if key in self._code:
            return self._code[key]
        dirs: set[str] = set()
        for rel in files:
            parts = rel.split("/")[:-1]
            dirs.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
        entries = [(d, "d") for d in dirs] + [(rel, "f", os.path.getsize(os.path.join(code_dir, rel)),
                                               file_digest(os.path.join(code_dir, rel))) for rel in files]
        entries.sort(key=lambda e: e[0])
        info, _tree = self.publish(code_dir, ("folder", entries))
        self._code[key] = info.digest
        return info.digest

    # ---------------------------------------------------------------- fetching (tasks)
    def materialize(self, digest: str) -> Path:
        """The local path of tree ``digest`` in this node's cache, downloaded if it is not there yet
        (each blob re-hashed on arrival)."""
        cache = self.cache
        if cache.has_tree(digest):
            return cache.tree(digest)
        tree = self.manifest(digest)
        if tree is None:
            raise DuctworkError(f"artifact {digest[:12]} is not in the store {self.url} (evicted or never uploaded)")
        missing = [b3 for b3 in tree.blobs() if not os.path.exists(cache.blob(b3))]
        staged = {b3: cache.tmp / f"blob-{uuid.uuid4().hex}" for b3 in missing}
        try:
            self.backend.download([(self.blob_path(b3), str(local)) for b3, local in staged.items()])
            for b3, local in staged.items():
                if file_digest(local) != b3:
                    raise DuctworkError(f"blob {b3[:12]} of artifact {digest[:12]} in {self.url} is corrupt "
                                        "(its bytes do not hash to its name); run `ductwork verify`")
                _read_only(str(local))
                with contextlib.suppress(OSError):
                    os.rename(local, cache.blob(b3))
        finally:
            for local in staged.values():
                _remove(local)
        return cache.assemble(tree)

    # ---------------------------------------------------------------- logs
    def push_log(self, run_id: str, job: str, local: str) -> None:
        with open(local, "rb") as fh:
            data = fh.read()
        self.backend.write(self.log_path(run_id, job), data)

    def pull_log(self, run_id: str, job: str, local: str | os.PathLike[str]) -> bool:
        """Copy the step's uploaded log over ``local`` when it grew; whether it did."""
        try:
            data = self.backend.read(self.log_path(run_id, job))
        except Exception:  # noqa: BLE001 - not uploaded yet, or the store hiccuped: the next pull copies it
            return False
        try:
            if os.path.getsize(local) == len(data):
                return False
        except OSError:
            pass
        os.makedirs(os.path.dirname(local), exist_ok=True)
        tmp = f"{local}.{uuid.uuid4().hex[:8]}"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, local)
        return True


class LogStreamer:
    """Uploads a running step's log to the store every ``every`` seconds when it grew, and once at the end."""

    def __init__(self, store: ObjectArtifactStore, run_id: str, job: str, local: str, every: float = 1.0):
        self.store, self.run_id, self.job, self.local, self.every = store, run_id, job, local, every
        self._stop = threading.Event()
        self._sent = -1
        self._thread = threading.Thread(target=self._loop, name="ductwork-log-upload", daemon=True)

    def __enter__(self) -> LogStreamer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._send()

    def _send(self) -> None:
        try:
            size = os.path.getsize(self.local)
            if size != self._sent:
                self.store.push_log(self.run_id, self.job, self.local)
                self._sent = size
        except Exception:  # noqa: BLE001 - a log upload never fails the step
            pass

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._send()


class ObjectReuseManifests(ReuseManifests):
    """Reuse manifests in the store (``<store>/reuse``): the action cache every workspace on the
    store shares. Same interface as the local ones; reads are batched."""

    def __init__(self, backend: Backend, prefix: str):
        super().__init__(None)
        self.backend, self.prefix = backend, prefix

    def _object(self, signature: str) -> str | None:
        return f"{self.prefix}/{signature[:2]}/{signature}.json" if self.valid(signature) else None

    def put(self, record: ReuseRecord) -> None:
        path = self._object(record.signature)
        if path is not None:
            self.backend.write(path, json.dumps(manifest_dict(record), sort_keys=True).encode())

    def get(self, signature: str) -> ReuseRecord | None:
        return self.get_many([signature]).get(signature)

    def get_many(self, signatures: Iterable[str]) -> dict[str, ReuseRecord]:
        paths = {p: s for s in dict.fromkeys(signatures) if (p := self._object(s)) is not None}
        found = {}
        for path, data in self.backend.read_many(list(paths)).items():
            if (record := parse_manifest(data, paths[path])) is not None:
                found[record.signature] = record
        return found

    def delete(self, signatures: Iterable[str]) -> int:
        """Remove these signatures' manifests in one batch; how many were asked for (S3 does not say
        which existed)."""
        paths = [p for s in dict.fromkeys(signatures) if (p := self._object(s)) is not None]
        self.backend.delete(paths)
        return len(paths)

    def records(self):
        paths = sorted(p for p in self.backend.list(self.prefix) if p.endswith(".json"))
        got = self.backend.read_many(paths)
        for path in paths:
            record = parse_manifest(got[path], _name(path)) if path in got else None
            yield Path(path), record

    def files(self):
        for path, _record in self.records():
            yield path

    def leftovers(self) -> list[Path]:
        return []


def _name(key: str) -> str:
    """What an object's key names: its last part without ``.json`` (a digest, a signature)."""
    name = key.rsplit("/", 1)[-1]
    return name[:-len(".json")] if name.endswith(".json") else name


def _remove(path: Path) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        with contextlib.suppress(OSError):
            os.unlink(path)
