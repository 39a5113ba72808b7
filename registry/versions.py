"""Version strings (ordering, "latest", the next automatic version) and listing helpers.

Numeric parts compare as numbers ("10" > "9", "1.10" > "1.9"); text parts compare
as text and sort before numbers ("1.0-rc" < "1.0.1"). Automatic component versions
(``auto-<digest>``) are ordered by age instead, in ``registry.component_store``.
Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

R = TypeVar("R")

__all__ = ["version_key", "next_version", "select_versions", "search_filter"]

_PART = re.compile(r"\d+|[^\d.\-_+]+")


def version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """A sort key under which numeric parts compare numerically: ``"10"`` sorts after ``"9"``."""
    parts: list[tuple[int, int, str]] = []
    for token in _PART.findall(str(version)):
        if token.isdigit():
            parts.append((1, int(token), ""))
        else:
            parts.append((0, 0, token))
    return tuple(parts)


def next_version(versions: Iterable[str]) -> str:
    """The next automatic version: one more than the largest plain integer version, or ``"1"``."""
    numbers = [int(v) for v in versions if str(v).isdigit()]
    return str(max(numbers) + 1) if numbers else "1"


def select_versions(records: Iterable[R], newest_first: Callable[[list[R]], list[R]], all_versions: bool) -> list[R]:
    """Records grouped by ``name`` (sorted), each group newest first; only the newest unless ``all_versions``."""
    by_name: dict[str, list[R]] = {}
    for record in records:
        by_name.setdefault(record.name, []).append(record)  # type: ignore[attr-defined]
    out: list[R] = []
    for name in sorted(by_name):
        ordered = newest_first(by_name[name])
        out.extend(ordered if all_versions else ordered[:1])
    return out


def search_filter(records: list[R], search: str | None) -> list[R]:
    """Records whose name, display name or description contains ``search`` (case-insensitive)."""
    if not search:
        return records
    needle = search.lower()
    return [r for r in records if needle in " ".join(_get(r, f) for f in ("name", "display_name", "description")).lower()]


def _get(record: Any, field: str) -> str:
    return str(getattr(record, field, "") or "")
