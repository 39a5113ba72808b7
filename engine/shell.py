"""Where a place in a bash script stands: bare, inside ``"…"``, ``'…'`` or ``$'…'``, a comment,
or the body of a here-document.

A small scanner, not a parser: it follows quotes, backslashes, ``$( … )``, ``( … )``,
``(( … ))``, backticks, comments and here-documents, which is all that decides how a
reference substituted at that place must be quoted (see :mod:`engine.command`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Position", "Site", "sites"]


class Position(StrEnum):
    BARE = "bare"  #: a word of shell code (also inside ``$( … )``, ``( … )``, ``(( … ))`` and backticks)
    DOUBLE = "double"  #: inside ``"…"``
    SINGLE = "single"  #: inside ``'…'``
    ANSI = "ansi"  #: inside ``$'…'``
    COMMENT = "comment"  #: after a ``#`` that starts a word, up to the end of the line
    HEREDOC = "heredoc"  #: the body of ``<<EOF``: expansions happen, quotes are plain text
    HEREDOC_QUOTED = "heredoc-quoted"  #: the body of ``<<'EOF'``: nothing is expanded


@dataclass(frozen=True)
class Site:
    """The position of one span; ``escaped``: a backslash right before it quotes its first
    character (it is ``script[start - 1]``); ``delimiter``: of the here-document it is in."""

    position: Position
    escaped: bool = False
    delimiter: str | None = None


_CODE = {"top", "paren", "arith", "backtick"}
_POSITION = {"top": Position.BARE, "paren": Position.BARE, "arith": Position.BARE, "backtick": Position.BARE,
             "double": Position.DOUBLE, "single": Position.SINGLE, "ansi": Position.ANSI,
             "comment": Position.COMMENT}
_WORD_START = " \t\n;&|()<>"
_WORD_END = " \t\n;&|()<>"


@dataclass(frozen=True)
class _Heredoc:
    delimiter: str
    quoted: bool
    strip_tabs: bool


def sites(script: str, spans: Sequence[tuple[int, int]]) -> list[Site]:
    """The :class:`Site` of each ``(start, end)`` span of ``script`` (spans do not overlap; the
    scanner treats each as one opaque word part)."""
    starts = {start: (k, end) for k, (start, end) in enumerate(spans)}
    found: list[Site] = [Site(Position.BARE)] * len(spans)
    stack = ["top"]
    pending: list[_Heredoc] = []
    i, n = 0, len(script)
    while i < n:
        top = stack[-1]
        if i in starts:
            k, i = starts[i]
            found[k] = Site(_POSITION[top])
            continue
        c = script[i]
        if top == "single":
            if c == "'":
                stack.pop()
            i += 1
            continue
        if top == "comment":
            if c != "\n":
                i += 1
                continue
            stack.pop()  # the newline ends the comment, and the line (here-documents start after it)
            top = stack[-1]
        if c == "\\":
            if i + 1 in starts:
                k, i = starts[i + 1]
                found[k] = Site(_POSITION[top], escaped=True)
            else:
                i += 2
            continue
        if top == "ansi":
            if c == "'":
                stack.pop()
            i += 1
            continue
        if top == "double":
            if c == '"':
                stack.pop()
            elif c == "`":
                stack.append("backtick")
            elif script.startswith("$(", i):
                stack.append("arith" if script.startswith("$((", i) else "paren")
                i += 3 if stack[-1] == "arith" else 2
                continue
            i += 1
            continue
        i = _code(script, i, stack, pending)
        if c == "\n" and pending:
            i = _bodies(script, i, pending, starts, found)
            pending = []
    return found


def _code(script: str, i: int, stack: list[str], pending: list[_Heredoc]) -> int:
    """One step in shell code at ``script[i]``; returns where to go on."""
    c, top = script[i], stack[-1]
    if c == "'":
        stack.append("single")
    elif c == '"':
        stack.append("double")
    elif script.startswith("$'", i):
        stack.append("ansi")
        return i + 2
    elif c == "`":
        if top == "backtick":
            stack.pop()
        else:
            stack.append("backtick")
    elif script.startswith("((", i):
        stack.append("arith")
        return i + 2
    elif top == "arith" and script.startswith("))", i):
        stack.pop()
        return i + 2
    elif c == "(":
        stack.append("paren")
    elif c == ")" and top == "paren":
        stack.pop()
    elif c == "#" and (i == 0 or script[i - 1] in _WORD_START):
        stack.append("comment")
    elif script.startswith("<<", i) and not script.startswith("<<<", i) and top != "arith":
        heredoc, i = _heredoc_word(script, i + 2)
        if heredoc is not None:
            pending.append(heredoc)
        return i
    return i + 1


def _heredoc_word(script: str, i: int) -> tuple[_Heredoc | None, int]:
    """The here-document operator's word after ``<<`` at ``i`` → (the here-document, the index after it)."""
    strip = script.startswith("-", i)
    i += strip
    while i < len(script) and script[i] in " \t":
        i += 1
    word: list[str] = []
    quoted = False
    while i < len(script) and script[i] not in _WORD_END:
        c = script[i]
        if c in "'\"":
            close = script.find(c, i + 1)
            close = len(script) if close < 0 else close
            word.append(script[i + 1:close])
            quoted, i = True, close + 1
        elif c == "\\":
            word.append(script[i + 1:i + 2])
            quoted, i = True, i + 2
        else:
            word.append(c)
            i += 1
    delimiter = "".join(word)
    return (_Heredoc(delimiter, quoted, strip) if delimiter else None), i


def _bodies(script: str, i: int, pending: list[_Heredoc], starts: dict[int, tuple[int, int]],
            found: list[Site]) -> int:
    """Mark the spans in the bodies of the ``pending`` here-documents, which start at ``i``."""
    for doc in pending:
        position = Position.HEREDOC_QUOTED if doc.quoted else Position.HEREDOC
        while i < len(script):
            end = script.find("\n", i)
            end = len(script) if end < 0 else end
            line = script[i:end]
            if (line.lstrip("\t") if doc.strip_tabs else line) == doc.delimiter:
                i = end + 1
                break
            for start in range(i, end):
                if start in starts:
                    escaped = not doc.quoted and start > 0 and script[start - 1] == "\\"
                    found[starts[start][0]] = Site(position, escaped=escaped, delimiter=doc.delimiter)
            i = end + 1
    return i
