"""``python -m app.cli``: the same as the ``ductwork`` command."""

from __future__ import annotations

from app.cli import main

main()
