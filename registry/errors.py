"""Registry errors: every one is a DuctworkError whose message a person can act on."""

from __future__ import annotations

from components.errors import DuctworkError
from components.fields import did_you_mean

__all__ = ["NotFoundError", "ConflictError", "did_you_mean"]


class NotFoundError(DuctworkError, KeyError):
    """An unknown name or version. Also a ``KeyError``, as the pipeline validator's resolver expects."""

    def __init__(self, message: str):
        DuctworkError.__init__(self, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConflictError(DuctworkError):
    """A write that would change something immutable or duplicate a name."""
