"""Placeholder; filled in by its owner. ``TOP_LEVEL`` lists functions that add top-level commands."""

from __future__ import annotations

TOP_LEVEL: tuple = ()
