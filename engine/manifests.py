"""Reuse manifests: every reuse record also kept as one small JSON file beside the artifacts.

The run store (DuckDB) keeps reuse records for history and questions; these files are what
makes reuse survive a lost or damaged run store (the action cache beside Bazel's CAS)::

    <home>/reuse/<signature[:2]>/<signature>.json
    {"format": 1, "signature": "…", "run_id": "…", "job": "…",
     "outputs": {"model": {"digest": "…", "size": 123, "file": null}},
     "duration_s": 1.5, "created_at": 1764680000.0, "price_per_hour": 0.0,
     "workspace": "host:/home/ana/.ductwork"}

A manifest is written atomically (a temp file in its folder, then ``os.replace``) after the
artifacts it names are committed and before the run store's record; it is deleted before
the record is evicted. So a crash leaves a manifest and no record (the next run reuses it
and puts the record back) or a record and no manifest (``ductwork doctor --repair`` writes
it) — never a manifest whose record was evicted. A file that cannot be read or parsed is no
manifest (a miss), never an error.

``ReuseManifests`` is path-based with a small interface (put, get, get_many, delete,
records), so that a later store can keep the same files in an object store.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from engine.records import OutputRef, ReuseRecord

__all__ = ["FORMAT", "MANIFESTS_DIR", "ReuseManifests", "manifest_dict", "parse_manifest", "record_from"]

FORMAT = 1  #: the version of a manifest's fields; a file with another is ignored
MANIFESTS_DIR = "reuse"  #: beside the artifact folder: ``<home>/reuse``
_SIGNATURE = re.compile(r"^[0-9A-Za-z_-]{8,128}$")  #: what may name a file (no path parts)
_TMP = ".tmp-"


def manifest_dict(record: ReuseRecord) -> dict[str, Any]:
    """The JSON object a manifest holds."""
    return {"format": FORMAT, "signature": record.signature, "run_id": record.run_id, "job": record.job,
            "outputs": {name: ref.to_dict() for name, ref in record.outputs.items()},
            "duration_s": record.duration_s, "created_at": record.created_at,
            "price_per_hour": record.price_per_hour, "workspace": record.workspace}


def record_from(data: Any) -> ReuseRecord | None:
    """The reuse record a manifest's JSON object describes, or ``None`` if it describes none."""
    try:
        if data.get("format") != FORMAT:
            return None
        outputs = {str(name): OutputRef.from_dict(ref) for name, ref in data["outputs"].items()}
        return ReuseRecord(str(data["signature"]), str(data["run_id"]), str(data["job"]), outputs,
                           float(data.get("duration_s") or 0.0), float(data.get("created_at") or 0.0),
                           float(data.get("price_per_hour") or 0.0), str(data.get("workspace") or ""))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def parse_manifest(data: bytes, signature: str) -> ReuseRecord | None:
    """The record a manifest file named ``signature`` holds; ``None`` when it cannot be parsed, is of
    another format, or names another signature."""
    try:
        record = record_from(json.loads(data))
    except ValueError:
        return None
    return record if record is not None and record.signature == signature else None


class ReuseManifests:
    """Reuse manifests under ``root`` (``None``: none are kept, every call is a no-op)."""

    def __init__(self, root: str | os.PathLike[str] | None):
        self.root = Path(root) if root is not None else None

    @classmethod
    def beside(cls, artifacts: Any) -> ReuseManifests:
        """The manifests of an artifact store: its own (an object store keeps them in the store,
        engine/objectstore.py), or for a local ``artifacts_dir`` ``<its parent>/reuse``."""
        own = getattr(artifacts, "reuse_manifests", None)
        if own is not None:
            return own
        folder = getattr(artifacts, "artifacts_dir", None)
        return cls(Path(folder).parent / MANIFESTS_DIR if folder is not None else None)

    @staticmethod
    def valid(signature: str) -> bool:
        """Whether ``signature`` may name a manifest (no path parts)."""
        return bool(_SIGNATURE.match(signature))

    def path(self, signature: str) -> Path | None:
        if self.root is None or not self.valid(signature):
            return None
        return self.root / signature[:2] / f"{signature}.json"

    def put(self, record: ReuseRecord) -> None:
        """Write (or replace) the manifest of ``record``, atomically."""
        path = self.path(record.signature)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f"{_TMP}{uuid.uuid4().hex}"
        try:
            tmp.write_text(json.dumps(manifest_dict(record), sort_keys=True))
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def get(self, signature: str) -> ReuseRecord | None:
        """The record of ``signature``'s manifest; ``None`` when there is none or it is unreadable."""
        path = self.path(signature)
        if path is None:
            return None
        try:
            return parse_manifest(path.read_bytes(), signature)
        except OSError:
            return None

    def get_many(self, signatures: Iterable[str]) -> dict[str, ReuseRecord]:
        """The manifests' records of those signatures that have a readable one (one read each)."""
        found = {}
        for signature in dict.fromkeys(signatures):
            if (record := self.get(signature)) is not None:
                found[signature] = record
        return found

    def delete(self, signatures: Iterable[str]) -> int:
        """Remove these signatures' manifests; how many there were."""
        removed = 0
        for signature in dict.fromkeys(signatures):
            path = self.path(signature)
            if path is not None:
                try:
                    path.unlink()
                    removed += 1
                except FileNotFoundError:
                    pass
        return removed

    def files(self) -> Iterator[Path]:
        """Every manifest file (readable or not), temp files left by a crash excluded."""
        if self.root is None or not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir():
                yield from sorted(p for p in folder.glob("*.json") if not p.name.startswith(_TMP))

    def records(self) -> Iterator[tuple[Path, ReuseRecord | None]]:
        """Every manifest file with its record (``None``: unreadable, another format, or a name
        that is not its signature)."""
        for path in self.files():
            try:
                record = parse_manifest(path.read_bytes(), path.stem)
            except OSError:
                record = None
            yield path, record

    def leftovers(self) -> list[Path]:
        """Temp files a crash left between writing a manifest and renaming it into place."""
        if self.root is None or not self.root.is_dir():
            return []
        return sorted(self.root.glob(f"*/{_TMP}*"))
