"""Version strings: ordering, "latest", and the next automatic version.

Numeric parts compare as numbers ("10" > "9", "1.10" > "1.9"); text parts compare
as text and sort before numbers ("1.0-rc" < "1.0.1"). Automatic component versions
(``auto-<digest>``) are ordered by age instead, in ``registry.component_store``.
Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["version_key", "next_version"]

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
