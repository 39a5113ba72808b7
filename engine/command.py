"""Turn a command component's template into the command line one step runs.

``${{inputs.x}}`` becomes a parameter's value or a data input's path, ``${{outputs.y}}``
the path of the step's empty output folder (a file inside it for ``uri_file``), and a
``$[[ … ]]`` block is dropped when an optional input inside it has no value.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from components.errors import DuctworkError

__all__ = ["render_command", "format_value"]

_REF = re.compile(r"\$\{\{\s*(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_OPTIONAL = re.compile(r"\$\[\[(.*?)\]\]", re.S)


def format_value(value: Any) -> str:
    """A parameter as Azure ML puts it on a command line (``True``, ``0.01``, text as is)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def render_command(template: str, inputs: Mapping[str, Any], outputs: Mapping[str, str],
                   paths: frozenset[str] | set[str] = frozenset(), job: str = "", component: str = "") -> str:
    """Substitute ``template``. ``inputs`` maps every input with a value (unset ones absent);
    names in ``paths`` are data paths and are shell-quoted when needed."""

    def value_of(kind: str, name: str) -> str | None:
        if kind == "outputs":
            return shlex.quote(outputs[name]) if name in outputs else None
        if name not in inputs or inputs[name] is None:
            return None
        return shlex.quote(str(inputs[name])) if name in paths else format_value(inputs[name])

    def optional_block(match: re.Match[str]) -> str:
        body = match.group(1)
        for ref in _REF.finditer(body):
            if value_of(ref.group(1), ref.group(2)) is None:
                return ""
        return body

    text = _OPTIONAL.sub(optional_block, template)
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        value = value_of(match.group(1), match.group(2))
        if value is None:
            missing.append(match.group(0))
            return match.group(0)
        return value

    text = _REF.sub(replace, text)
    if missing:
        raise DuctworkError(
            f"job '{job}' (component '{component}'): the command refers to {', '.join(missing)}, which "
            "has no value. Bind the input in the pipeline, give it a default, or wrap the option in "
            "$[[ ... ]] so it is dropped when the input is not set.")
    return text.strip()
