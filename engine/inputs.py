"""A run's pipeline inputs: values given on the command line, external data and its digests.

External data is hashed once and memoised by (path, size, mtime, inode) in the run store,
so an unchanged 10 GB input is re-checked with ``stat`` calls alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.errors import DuctworkError
from components.fields import GivenText
from components.spec import PipelineSpec
from engine.hashing import content_digest, stat_key
from engine.runstore import RunStore
from engine.signature import coerce_parameter

__all__ = ["PipelineValues", "bind_pipeline_inputs", "parse_set_option", "ExternalDigests"]


@dataclass(frozen=True)
class PipelineValues:
    """Effective pipeline inputs of a run: literal parameters and absolute data paths."""

    literals: Mapping[str, Any] = field(default_factory=dict)
    paths: Mapping[str, str | None] = field(default_factory=dict)

    def as_params(self) -> dict[str, Any]:
        """What the run records as its parameters (and what a clone starts from)."""
        return {**dict(self.literals), **{k: v for k, v in self.paths.items()}}


def parse_set_option(text: str) -> tuple[str, GivenText]:
    """``name=value`` from ``--set``. The value stays text until the input it sets reads it
    (``components.fields.read_given``): exactly the text for a string or data input, else JSON
    when it parses, else the text."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise DuctworkError(f"--set '{text}' is not of the form NAME=VALUE, e.g. --set learning_rate=0.02")
    return name.strip(), GivenText(raw)


def bind_pipeline_inputs(spec: PipelineSpec, given: Mapping[str, Any] | None = None,
                         base_dir: str | None = None) -> PipelineValues:
    """Apply ``given`` values over the pipeline's declared inputs; data paths become absolute."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(spec.inputs))
    if unknown:
        known = ", ".join(sorted(spec.inputs)) or "none"
        raise DuctworkError(f"pipeline '{spec.name}' has no input '{unknown[0]}' (its inputs: {known}). "
                            "Use --set NAME=VALUE with one of those names.")
    literals: dict[str, Any] = {}
    paths: dict[str, str | None] = {}
    for name, pin in spec.inputs.items():
        if pin.is_data:
            raw = given.get(name, pin.path)
            if raw is None:
                paths[name] = None
                continue
            path = os.path.abspath(os.path.join(base_dir or os.getcwd(), os.path.expanduser(str(raw))))
            if not os.path.exists(path):
                raise DuctworkError(f"pipeline input '{name}' points at '{path}', which does not exist. "
                                    f"Pass an existing file or folder with --set {name}=PATH.")
            paths[name] = path
        else:
            value = given.get(name, pin.value)
            if pin.type:
                value = coerce_parameter(pin.type, value)
                if pin.type == "integer" and isinstance(value, str) and value.lstrip("-").isdigit():
                    value = int(value)
                elif pin.type == "number" and isinstance(value, str):
                    try:
                        value = float(value)
                    except ValueError:
                        raise DuctworkError(f"pipeline input '{name}' expects a number, got {value!r}. "
                                            f"Use e.g. --set {name}=0.1") from None
            literals[name] = value
    return PipelineValues(literals, paths)


class ExternalDigests:
    """Content digests of external data, memoised in the run store by stat key."""

    def __init__(self, store: RunStore):
        self.store = store
        self.digests: dict[str, tuple[str, int]] = {}
        self.new_memo: dict[str, tuple[str, int]] = {}

    def prepare(self, paths: list[str]) -> None:
        """Digest every path (one memo query for all; hashing only what changed)."""
        todo = sorted({p for p in paths if p and p not in self.digests})
        if not todo:
            return
        keys = {p: stat_key(p) for p in todo}
        memo = self.store.get_memo(keys.values())
        for path, key in keys.items():
            if key in memo:
                self.digests[path] = memo[key]
            else:
                self.digests[path] = content_digest(path)
                self.new_memo[key] = self.digests[path]

    def digest(self, path: str) -> str:
        if path not in self.digests:
            self.prepare([path])
        return self.digests[path][0]
