"""The placeholder grammar: one definition for validation, substitution and pipeline bindings.

In a component's command:

- ``${{inputs.NAME}}`` is a parameter's value or a data input's path;
- ``${{outputs.NAME}}`` is the path of an output (a folder, or a file inside one);
- ``$[[ … ]]`` is an optional block, dropped when an input inside it has no value.

In a pipeline's job fields:

- ``${{parent.inputs.NAME}}`` binds a job input to a pipeline input;
- ``${{parent.jobs.JOB.outputs.NAME}}`` binds it to another job's output;
- ``${{parent.outputs.NAME}}`` (only as a job output's value) names a pipeline output.

Names are those Azure ML accepts for inputs, outputs and jobs: they start with a letter
or ``_``, then letters, digits, ``_``, ``-`` and ``.`` (Azure's own key pattern allows
``.`` between identifiers, as group inputs use; some Azure examples use ``-``), and do not
end with ``-`` or ``.``. Whitespace inside the braces is allowed, as in Azure.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from components.fields import did_you_mean
from components.spec import Binding, JobOutput, LiteralValue, ParentInput

__all__ = [
    "NAME",
    "PLACEHOLDER",
    "OPTIONAL_BLOCK",
    "Placeholder",
    "find_placeholders",
    "optional_blocks",
    "placeholder_problem",
    "parse_binding",
    "parse_parent_output",
]

#: An input, output or job name inside a placeholder.
NAME = r"[A-Za-z_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?"
#: Any ``${{ … }}``; what is inside is checked by :func:`find_placeholders` / :func:`parse_binding`.
PLACEHOLDER = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.S)
#: An optional block ``$[[ … ]]``.
OPTIONAL_BLOCK = re.compile(r"\$\[\[(.*?)\]\]", re.S)

_COMMAND_REF = re.compile(rf"(inputs|outputs)\.({NAME})")
_PARENT_INPUT = re.compile(rf"parent\.inputs\.({NAME})")
_JOB_OUTPUT = re.compile(rf"parent\.jobs\.({NAME})\.outputs\.({NAME})")
_PARENT_OUTPUT = re.compile(rf"parent\.outputs\.({NAME})")
_BINDING_FORMS = "${{parent.inputs.NAME}} or ${{parent.jobs.JOB.outputs.NAME}}"
_NAME_RULE = ("names start with a letter or '_' and contain letters, digits, '_', '-' and '.' "
              "(not at the end)")


@dataclass(frozen=True)
class Placeholder:
    """One ``${{ … }}`` in a command: where it is, and what it names (``section`` is
    ``"inputs"`` or ``"outputs"``, or ``None`` when the expression is not a placeholder)."""

    start: int
    end: int
    text: str  #: as written, braces included
    expression: str  #: inside the braces, stripped
    section: str | None
    name: str | None

    @property
    def key(self) -> tuple[str, str] | None:
        return (self.section, self.name) if self.section and self.name else None


def find_placeholders(command: str) -> Iterator[Placeholder]:
    """Every ``${{ … }}`` in ``command``, in order, whether it is a valid placeholder or not."""
    for match in PLACEHOLDER.finditer(command):
        expr = match.group(1)
        ref = _COMMAND_REF.fullmatch(expr)
        yield Placeholder(match.start(), match.end(), match.group(0), expr,
                          ref.group(1) if ref else None, ref.group(2) if ref else None)


def optional_blocks(command: str) -> list[tuple[int, int]]:
    """The spans of the ``$[[ … ]]`` blocks of ``command``."""
    return [m.span() for m in OPTIONAL_BLOCK.finditer(command)]


def placeholder_problem(placeholder: Placeholder, inputs: Any, outputs: Any) -> str | None:
    """Why ``placeholder`` names nothing the component declares, with the fix, as the end of
    a sentence ("[the command] uses '${{inputs.nope}}', but …"); ``None`` when it is fine.

    ``inputs`` and ``outputs`` are the declared names (any container of strings)."""
    shown = f"uses '{placeholder.text}'"
    if placeholder.key is None:
        return f"{shown}, which is not a placeholder. {_command_hint(placeholder.expression, inputs, outputs)}"
    section, name = placeholder.section, placeholder.name
    declared, other = (inputs, outputs) if section == "inputs" else (outputs, inputs)
    if name in declared:
        return None
    other_section = "outputs" if section == "inputs" else "inputs"
    if name in other:
        return (f"{shown}, but '{name}' is declared as an {other_section[:-1]}, not an {section[:-1]}; "
                f"write ${{{{{other_section}.{name}}}}}")
    hint = did_you_mean(name, declared)
    if not hint:
        hint = (f" Declared {section}: {', '.join(map(str, declared))}." if declared
                else f" Declare it under '{section}'.")
    return f"{shown}, but {section[:-1]} '{name}' is not declared.{hint}"


def _command_hint(expr: str, inputs: Any, outputs: Any) -> str:
    forms = "Use ${{inputs.NAME}} or ${{outputs.NAME}}"
    head, _, rest = expr.partition(".")
    if expr in ("inputs", "outputs"):
        names = inputs if expr == "inputs" else outputs
        example = next(iter(names), "NAME")
        return f"Name the {expr[:-1]}: ${{{{{expr}.{example}}}}}"
    if head in ("input", "output") and rest:
        return f"Write '{head}s', plural: ${{{{{head}s.{rest}}}}}"
    if head == "parent":
        return ("${{parent...}} binds a job in a pipeline file; a component's command uses "
                "${{inputs.NAME}} or ${{outputs.NAME}}")
    if head in ("inputs", "outputs"):
        return f"'{rest}' is not a valid name: {_NAME_RULE}"
    close = difflib.get_close_matches(head, ("inputs", "outputs"), n=1, cutoff=0.6)
    if close and rest:
        return f"Did you mean ${{{{{close[0]}.{rest}}}}}?"
    return f"{forms}."


def parse_binding(value: Any) -> tuple[Binding | None, str | None]:
    """A job input value → (binding, problem). Strings with ``${{`` must be a whole binding."""
    if not isinstance(value, str) or "${{" not in value:
        return LiteralValue(value), None
    match = PLACEHOLDER.fullmatch(value.strip())
    if not match or "${{" in match.group(1):
        return None, (f"'{value}' mixes text and a binding; a bound value must be exactly one of "
                      f"{_BINDING_FORMS}")
    expr = match.group(1)
    if m := _PARENT_INPUT.fullmatch(expr):
        return ParentInput(m.group(1)), None
    if m := _JOB_OUTPUT.fullmatch(expr):
        return JobOutput(m.group(1), m.group(2)), None
    if _PARENT_OUTPUT.fullmatch(expr):
        return None, (f"'{value}' binds a pipeline output; that is only allowed as the value of a job "
                      f"output. Bind an input to {_BINDING_FORMS}")
    hint = ""
    if expr.startswith("parent.job."):
        hint = " (write 'parent.jobs', plural)"
    elif expr.startswith("parent.input."):
        hint = " (write 'parent.inputs', plural)"
    elif expr.startswith(("inputs.", "outputs.")):
        hint = " ('inputs.x' is for a component's command; in a pipeline write 'parent.inputs.x')"
    elif expr.startswith(("parent.inputs.", "parent.jobs.")):
        hint = f" ({_NAME_RULE})"
    return None, f"'{value}' is not a binding Ductwork understands{hint}; use {_BINDING_FORMS}"


def parse_parent_output(value: Any) -> tuple[str | None, str | None]:
    """A job output value ``${{parent.outputs.NAME}}`` → (NAME, problem)."""
    match = PLACEHOLDER.fullmatch(value.strip()) if isinstance(value, str) else None
    if match and (m := _PARENT_OUTPUT.fullmatch(match.group(1))):
        return m.group(1), None
    return None, (f"'{value}' is not a valid job output binding; a job output may only be bound to "
                  "${{parent.outputs.NAME}}")
