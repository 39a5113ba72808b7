"""Turn a command component's template into the script one step runs, values kept as data.

``${{inputs.x}}`` stands for a parameter's value or a data input's path, ``${{outputs.y}}``
for the path of the step's empty output folder (a file inside it for ``uri_file``), and a
``$[[ … ]]`` block is dropped when an optional input inside it has no value (the grammar is
:mod:`components.placeholders`, shared with validation).

How a value reaches the command: it is passed in the step's environment as
``DUCTWORK_VALUE_<n>`` and the placeholder becomes a reference to that variable, quoted for
its place in the script (:mod:`engine.shell` finds the place):

- bare: ``"${DUCTWORK_VALUE_1}"`` — one word, never split or globbed, kept even when empty;
- inside ``"…"``: ``${DUCTWORK_VALUE_1}``;
- inside ``'…'``: ``'"${DUCTWORK_VALUE_1}"'`` (close the quote, insert, reopen);
- inside ``$'…'``: ``'"${DUCTWORK_VALUE_1}"$'``;
- in an unquoted here-document: ``${DUCTWORK_VALUE_1}``; in a quoted one (``<<'EOF'``),
  where bash expands nothing, the command is refused with a message saying so;
- in a comment: left as written.

Why references rather than quoting each value into the script: bash expands a variable's
value without ever parsing it as code, so a value is data whatever it contains (quotes,
``;``, ``$( … )``, backticks, newlines), even where the scanner misjudged a place — a
misjudged place can only mis-quote the value, never run it. Values are named by number, not
by input name: input names such as ``my-data`` are not valid variable names, and the
reserved ``DUCTWORK_`` prefix cannot collide with a job's ``environment_variables``.

:attr:`RenderedCommand.display` is the same command with each value quoted in place
(``shlex`` style), for the step log and for people; it means what the script does.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.errors import DuctworkError
from components.placeholders import OPTIONAL_BLOCK, find_placeholders
from engine.shell import Position, Site, sites

__all__ = ["RenderedCommand", "render_command", "format_value", "VALUE_ENV_PREFIX"]

#: Environment variables ``DUCTWORK_VALUE_1``, ``DUCTWORK_VALUE_2`` … carry a step's values.
VALUE_ENV_PREFIX = "DUCTWORK_VALUE_"


@dataclass(frozen=True)
class RenderedCommand:
    """A step's command: the ``script`` bash runs, the ``values`` its environment must carry
    (variable name → value), and a ``display`` of it for people."""

    script: str
    values: dict[str, str] = field(default_factory=dict)
    display: str = ""


def format_value(value: Any) -> str:
    """A parameter as Azure ML puts it on a command line (``True``, ``0.01``, text as is)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def render_command(template: str, inputs: Mapping[str, Any], outputs: Mapping[str, str],
                   paths: frozenset[str] | set[str] = frozenset(), job: str = "",
                   component: str = "") -> RenderedCommand:
    """Substitute ``template``. ``inputs`` maps every input with a value (unset ones absent);
    names in ``paths`` are data inputs (their value is a path), the others parameters."""

    def value_of(section: str | None, name: str | None) -> str | None:
        if section == "outputs":
            return outputs.get(name or "")
        if section != "inputs" or inputs.get(name or "") is None:
            return None
        value = inputs[name or ""]
        return str(value) if name in paths else format_value(value)

    def optional_block(match: re.Match[str]) -> str:
        body = match.group(1)
        if any(value_of(p.section, p.name) is None for p in find_placeholders(body)):
            return ""
        return body

    text = OPTIONAL_BLOCK.sub(optional_block, template).strip()
    where = f"job '{job}' (component '{component}')"
    found = list(find_placeholders(text))
    missing = [p.text for p in found if value_of(p.section, p.name) is None]
    if missing:
        raise DuctworkError(
            f"{where}: the command refers to {', '.join(dict.fromkeys(missing))}, which "
            "has no value. Bind the input in the pipeline, give it a default, or wrap the option in "
            "$[[ ... ]] so it is dropped when the input is not set.")
    names: dict[tuple[str, str], str] = {}
    values: dict[str, str] = {}
    for p in found:
        if p.key not in names:
            value = value_of(p.section, p.name) or ""
            if "\0" in value:
                raise DuctworkError(f"{where}: the value of {p.text} contains a NUL byte, which no command "
                                    "line can carry; remove it from the value")
            names[p.key] = f"{VALUE_ENV_PREFIX}{len(names) + 1}"
            values[names[p.key]] = value
    places = sites(text, [(p.start, p.end) for p in found])
    script, display, at = [], [], 0
    for p, site in zip(found, places, strict=True):
        value = values[names[p.key]]
        before = text[at:p.start - 1] if site.escaped else text[at:p.start]
        backslash = "\\" if site.escaped else ""
        if site.position == Position.HEREDOC_QUOTED:
            raise DuctworkError(
                f"{where}: the command uses {p.text} inside a quoted here-document (<<'{site.delimiter}'), "
                f"where bash expands nothing, so no value can reach it as data. Write <<{site.delimiter} "
                "(unquoted) and the value is passed there as it is")
        script.append(before + _reference(names[p.key], site, backslash, p.text))
        display.append(before + _literal(value, site, backslash, p.text))
        at = p.end
    script.append(text[at:])
    display.append(text[at:])
    return RenderedCommand(script="".join(script), values=values, display="".join(display))


def _reference(var: str, site: Site, backslash: str, written: str) -> str:
    """The reference to ``var`` for ``site``. A backslash the template put right before the
    placeholder stays a literal backslash inside quotes and here-documents (as bash would
    leave it before most characters) and is dropped in bare code (as bash would drop it)."""
    ref = "${" + var + "}"
    match site.position:
        case Position.BARE:
            return f'"{ref}"'
        case Position.DOUBLE | Position.HEREDOC:
            return backslash * 2 + ref
        case Position.SINGLE:
            return f"'\"{ref}\"'"
        case Position.ANSI:
            return backslash * 2 + f"'\"{ref}\"$'"
    return written  # a comment: left as written


def _literal(value: str, site: Site, backslash: str, written: str) -> str:
    """``value`` quoted in place, as the display shows it."""
    match site.position:
        case Position.BARE:
            return shlex.quote(value)
        case Position.DOUBLE:
            return backslash * 2 + re.sub(r'([\\"$`])', r"\\\1", value)
        case Position.HEREDOC:
            return backslash * 2 + re.sub(r"([\\$`])", r"\\\1", value)
        case Position.SINGLE:
            return value.replace("'", "'\\''")
        case Position.ANSI:
            return backslash * 2 + value.replace("\\", "\\\\").replace("'", "\\'")
    return written
