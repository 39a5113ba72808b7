"""Memory sizes for people: bytes → "8GB" / "512MiB" (parsing lives in components.fields.parse_memory)."""

from __future__ import annotations

__all__ = ["format_memory"]

_SUFFIXES = (
    ("TB", 1000**4), ("TiB", 1024**4), ("GB", 1000**3), ("GiB", 1024**3),
    ("MB", 1000**2), ("MiB", 1024**2), ("KB", 1000), ("KiB", 1024),
)


def format_memory(size: int | None) -> str:
    """``8000000000`` → ``"8GB"``, ``536870912`` → ``"512MiB"``, ``None`` → ``""``.

    Uses the largest unit that divides the size exactly, else two decimals of GB/MB.
    """
    if size is None:
        return ""
    exact = [(factor, suffix) for suffix, factor in _SUFFIXES if size >= factor and size % factor == 0]
    if exact:
        factor, suffix = max(exact)
        return f"{size // factor}{suffix}"
    for suffix, factor in (("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)):
        if size >= factor:
            return f"{size / factor:.2f}{suffix}"
    return f"{size}B"
