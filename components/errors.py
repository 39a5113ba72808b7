"""Problems people can act on: every problem in a file is collected, then raised once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Problem", "ValidationError", "DuctworkError"]


class DuctworkError(Exception):
    """Base of every error meant for a person: ``str(err)`` is the whole message.

    The CLI prints it without a traceback and exits 2; the app shows it in place.
    """


@dataclass(frozen=True)
class Problem:
    """One problem, located as precisely as known: file, line/column, job, field."""

    message: str
    file: str | None = None
    job: str | None = None
    field: str | None = None
    line: int | None = None  #: 1-based
    column: int | None = None  #: 1-based
    #: "error" (the default) or "warning"; ``validate_pipeline(..., include_warnings=True)`` returns both
    severity: str = "error"

    def location(self) -> str:
        parts: list[str] = []
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            parts.append(where)
        if self.job:
            parts.append(f"job '{self.job}'")
        if self.field:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        loc = self.location()
        message = f"warning: {self.message}" if self.severity == "warning" else self.message
        return f"{loc}: {message}" if loc else message


class ValidationError(DuctworkError):
    """One or more problems in one or more files, reported together."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]):
        self.problems = tuple(problems)
        super().__init__(self._format())

    def _format(self) -> str:
        files = sorted({p.file for p in self.problems if p.file})
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''}"
        if len(files) == 1:
            head += f" in {Path(files[0]).name}"
        return head + ":\n" + "\n".join(f"  - {p}" for p in self.problems)
