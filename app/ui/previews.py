"""Previews of step outputs: tables as data frames, images, text and JSON, bounded in
size so a 10 GB output never reaches the browser."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

__all__ = ["PreviewItem", "preview_kind", "output_files", "render_output"]

MAX_FILES = 8
MAX_TEXT = 20_000
MAX_ROWS = 200
MAX_IMAGE = 10_000_000
MAX_TABLE_FILE = 200_000_000

_TABLE = {".csv", ".tsv", ".parquet"}
_IMAGE = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}
_JSON = {".json"}
_TEXT = {".txt", ".log", ".md", ".yaml", ".yml", ".py", ".jsonl", ".out", ".ini", ".toml", ".cfg"}


@dataclass(frozen=True)
class PreviewItem:
    path: Path
    kind: str  #: table, image, json, text or binary
    size: int


def preview_kind(path: Path) -> str:
    """How a file is previewed, by its suffix."""
    suffix = path.suffix.lower()
    if suffix in _TABLE:
        return "table"
    if suffix in _IMAGE:
        return "image"
    if suffix in _JSON:
        return "json"
    if suffix in _TEXT or not suffix:
        return "text"
    return "binary"


def output_files(path: Path) -> tuple[list[PreviewItem], int]:
    """The first previewable files of an output (a file, or a folder walked in order) and the total count."""
    if path.is_file():
        return [PreviewItem(path, preview_kind(path), path.stat().st_size)], 1
    if not path.is_dir():
        return [], 0
    files = sorted((p for p in path.rglob("*") if p.is_file()), key=lambda p: (len(p.parts), str(p)))
    items = [PreviewItem(p, preview_kind(p), p.stat().st_size) for p in files[:MAX_FILES]]
    return items, len(files)


def _table(item: PreviewItem) -> None:
    import pandas as pd

    if item.size > MAX_TABLE_FILE:
        st.caption(f"{item.path.name}: {item.size / 1e6:.0f} MB, too large to preview.")
        return
    if item.path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        table = pq.ParquetFile(item.path)
        frame = next(table.iter_batches(batch_size=MAX_ROWS)).to_pandas() if table.metadata.num_rows else pd.DataFrame()
        total = table.metadata.num_rows
    else:
        frame = pd.read_csv(item.path, sep="\t" if item.path.suffix.lower() == ".tsv" else ",", nrows=MAX_ROWS)
        total = None
    st.dataframe(frame, hide_index=True, width="stretch", height=min(38 + 35 * len(frame), 320))
    if total is not None and total > MAX_ROWS:
        st.caption(f"first {MAX_ROWS} of {total} rows")


def _render_item(item: PreviewItem, root: Path) -> None:
    name = str(item.path.relative_to(root)) if item.path != root and root in item.path.parents else item.path.name
    st.markdown(f"`{name}` · {item.size:,} bytes")
    try:
        if item.kind == "table":
            _table(item)
        elif item.kind == "image" and item.size <= MAX_IMAGE:
            st.image(str(item.path))
        elif item.kind == "json" and item.size <= MAX_TEXT:
            st.json(json.loads(item.path.read_text(errors="replace")), expanded=1)
        elif item.kind in ("json", "text"):
            text = item.path.read_bytes()[:MAX_TEXT].decode("utf-8", errors="replace")
            st.code(text + ("\n…" if item.size > MAX_TEXT else ""), language=None)
        else:
            st.caption("binary file; no preview")
    except Exception as exc:  # noqa: BLE001 - a broken file is described, not raised
        st.caption(f"cannot preview: {type(exc).__name__}: {exc}")


def render_output(name: str, path_text: str) -> None:
    """One output of a step: its path and previews of its first files."""
    path = Path(path_text)
    st.markdown(f"**{name}** — `{path}`")
    items, total = output_files(path)
    if total == 0:
        st.caption("missing or empty" if not path.exists() else "empty folder")
        return
    root = path if path.is_dir() else path.parent
    for item in items:
        _render_item(item, root)
    if total > len(items):
        st.caption(f"… and {total - len(items)} more files")
