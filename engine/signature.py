"""Step signatures: the hash of everything that decides a step's outputs, and why two differ.

signature = hash(component identity and digest, parameters after defaults, input data
digests, environment fingerprint). Not in it: compute target, resources, names shown to
people. The ingredients are kept as structured data with every step run, so a miss is
explained by ``diff_ingredients`` against the closest earlier step run. Pure: no I/O.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import blake3

from components.spec import ComponentSpec, EnvironmentSpec

__all__ = [
    "CACHE_FORMAT",
    "StepIngredients",
    "canonical_json",
    "coerce_parameter",
    "diff_ingredients",
    "environment_fingerprint",
]

#: Bump when the meaning of a signature or the artifact layout changes: every step reruns once.
CACHE_FORMAT = 1


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, non-JSON values as strings."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def coerce_parameter(type_: str, value: Any) -> Any:
    """A parameter value in the canonical form of its declared type (``1`` for a number is ``1.0``)."""
    if value is None:
        return None
    if type_ == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if type_ == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if type_ == "string" and not isinstance(value, str):
        return str(value)
    return value


def environment_fingerprint(env: EnvironmentSpec) -> str:
    """The environment part of a signature: the spec's content, or Python version + cache format."""
    base = f"python-{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}/cache-{CACHE_FORMAT}"
    if env.kind == "pip":
        return base + "/pip-" + blake3.blake3(canonical_json(list(env.pip)).encode()).hexdigest()[:32]
    if env.kind == "conda":
        return base + "/conda-" + blake3.blake3(canonical_json(env.conda).encode()).hexdigest()[:32]
    return base


@dataclass(frozen=True)
class StepIngredients:
    """Everything a signature is made of, kept as data so a miss can be explained.

    ``code_manifest`` (relative path → file digest) and ``input_sources`` (input → where
    its data came from) are for explanations only: the code is already covered by
    ``component_digest`` and the data by ``inputs``.
    """

    component: str
    version: str | None
    component_digest: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, str | None] = field(default_factory=dict)
    environment: str = ""
    code_manifest: Mapping[str, str] = field(default_factory=dict)
    input_sources: Mapping[str, str] = field(default_factory=dict)

    @functools.cached_property
    def signature(self) -> str:
        """The step's signature (blake3 hex), computed once per ingredients value."""
        core = {
            "component": self.component,
            "version": self.version,
            "digest": self.component_digest,
            "parameters": dict(self.parameters),
            "inputs": dict(self.inputs),
            "environment": self.environment,
        }
        return blake3.blake3(canonical_json(core).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored with the step run."""
        return {
            "component": self.component,
            "version": self.version,
            "component_digest": self.component_digest,
            "parameters": dict(self.parameters),
            "inputs": dict(self.inputs),
            "environment": self.environment,
            "code_manifest": dict(self.code_manifest),
            "input_sources": dict(self.input_sources),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepIngredients:
        return cls(
            component=data["component"],
            version=data.get("version"),
            component_digest=data["component_digest"],
            parameters=dict(data.get("parameters") or {}),
            inputs=dict(data.get("inputs") or {}),
            environment=data.get("environment", ""),
            code_manifest=dict(data.get("code_manifest") or {}),
            input_sources=dict(data.get("input_sources") or {}),
        )


def parameters_after_defaults(component: ComponentSpec, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared parameter's value: the bound value, else the default, canonically typed."""
    out: dict[str, Any] = {}
    for name, spec in component.inputs.items():
        if not spec.is_parameter:
            continue
        value = given.get(name, spec.default)
        out[name] = coerce_parameter(spec.type, value)
    return out


def _fmt(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value, default=str) if isinstance(value, str) else str(value)


def diff_ingredients(old: StepIngredients, new: StepIngredients, max_files: int = 5) -> list[str]:
    """Why ``new`` differs from ``old``, in words: one reason per changed ingredient."""
    reasons: list[str] = []
    if (old.component, old.version) != (new.component, new.version):
        reasons.append(f"component changed: {_ref(old)} → {_ref(new)}")
    changed = sorted(
        path
        for path in set(old.code_manifest) | set(new.code_manifest)
        if old.code_manifest.get(path) != new.code_manifest.get(path)
    )
    if changed:
        shown = ", ".join(
            path if path in old.code_manifest and path in new.code_manifest
            else (f"+{path}" if path in new.code_manifest else f"-{path}")
            for path in changed[:max_files]
        )
        more = f" and {len(changed) - max_files} more" if len(changed) > max_files else ""
        reasons.append(f"code changed: {shown}{more}")
    elif old.component_digest != new.component_digest:
        reasons.append("component definition changed")
    for name in sorted(set(old.parameters) | set(new.parameters)):
        before, after = old.parameters.get(name), new.parameters.get(name)
        if before != after:
            reasons.append(f"parameter {name} {_fmt(before)} → {_fmt(after)}")
    for name in sorted(set(old.inputs) | set(new.inputs)):
        if old.inputs.get(name) == new.inputs.get(name):
            continue
        source = new.input_sources.get(name, "")
        if source.startswith("job:"):
            upstream = source[4:].split(".", 1)[0]
            reasons.append(f"input {name} changed (upstream {upstream} re-ran)")
        elif source.startswith("path:"):
            reasons.append(f"input {name} changed (data at {source[5:]})")
        else:
            reasons.append(f"input {name} changed")
    if old.environment != new.environment:
        reasons.append("environment changed")
    return reasons


def _ref(ing: StepIngredients) -> str:
    return f"{ing.component}:{ing.version}" if ing.version is not None else ing.component
