"""The designer's palette entries: registered components (latest version), grouped by
tag. The canvas draws them (search, groups, drag onto the canvas or click to add)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.ui.canvas_model import PaletteEntry

__all__ = ["palette_entries", "GROUP_TAGS"]

#: The tags that name a component's palette group, first found wins (else its first tag).
GROUP_TAGS = ("domain", "category", "group", "area")


def _entry(record: Any) -> PaletteEntry:
    spec = dict(record.spec or {})
    tags = {str(k): str(v) for k, v in dict(spec.get("tags") or {}).items()}
    group = next((tags[k] for k in GROUP_TAGS if k in tags), next(iter(tags.values()), "other"))
    description = record.description or ""
    if tags:
        description = (description + "\n" if description else "") + " · ".join(f"{k}: {v}" for k, v in tags.items())
    if spec.get("compute"):
        description += f"\ncompute: {spec['compute']}"
    return PaletteEntry(name=record.name, version=str(record.version), title=record.display_name or record.name,
                        description=description.strip(), group=group)


def palette_entries(records: Iterable[Any]) -> list[PaletteEntry]:
    """One entry per component record, sorted by group then title."""
    return sorted(map(_entry, records), key=lambda e: (e.group, e.title.lower(), e.name))
