"""Step signatures: the hash of everything that decides a step's outputs, and why two differ.

signature = hash(component identity and digest, parameters after defaults, input data
digests, environment fingerprint, the job's environment variables). Not in it: compute
target, resources, names shown to people, descriptions, tags. The ingredients are kept as structured data with every step run, so a miss is
explained by ``diff_ingredients`` against the closest earlier step run. Pure: no I/O.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import blake3

from components.digest import AUTO_VERSION_PREFIX
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
#: 2: job environment variables are ingredients; automatic versions follow the component
#: digest (descriptions, compute and resources left out); the environment fingerprint is that
#: of the environment that runs (a fallback to the current one is fingerprinted as that).
CACHE_FORMAT = 2


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


def _content(kind: str, value: Any) -> str:
    return f"/{kind}-" + blake3.blake3(canonical_json(value).encode()).hexdigest()[:32]


def _pip_packages(value: Any) -> list[str]:
    """The packages of a ``runtime_env["pip"]``: a list, or Ray's ``{"packages": [...], …}`` form
    (whose install options do not change what is installed, so they are not fingerprinted)."""
    return list(value["packages"]) if isinstance(value, Mapping) else list(value)


def environment_fingerprint(env: EnvironmentSpec, runtime_env: Mapping[str, Any] | None) -> tuple[str, str]:
    """The environment part of a signature and its description in words, for the environment
    that actually runs: ``runtime_env`` as ``engine.environments.runtime_env_for`` chose it for
    ``env`` (``None``: the current environment).

    A built pip or conda environment is fingerprinted by its content; the current
    environment by Python version and cache format, also where it stands in for an Azure
    reference, a Docker image or a conda file that cannot be built here — and the
    description then says so, e.g. ``current (fallback from azureml:foo:1)``.

    A registered environment (an Azure reference resolved by name) is fingerprinted by what it
    builds, its kind and content, never by its name or version: registering other content as
    a new version changes the signature, registering the same content again (or under another
    name) does not. Its description names it and its content hash, so a miss says
    ``environment changed: registered environment sk:1 (pip, 1a2b3c4d5e6f) → … sk:2 (…)``.
    """
    base = f"python-{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}/cache-{CACHE_FORMAT}"
    registered = env.resolved if env.kind == "reference" else None
    if registered is not None:
        words = f"registered environment {registered.ref} ({registered.kind}, {registered.content_hash[:12]})"
        if runtime_env and "conda" in runtime_env:
            return base + _content("conda", runtime_env["conda"]), words
        if runtime_env and "pip" in runtime_env:
            return base + _content("pip", _pip_packages(runtime_env["pip"])), words
        return base, f"current (fallback from {words}: conda is not installed)"
    if runtime_env and "conda" in runtime_env:
        return base + _content("conda", runtime_env["conda"]), "conda file"
    if runtime_env and "pip" in runtime_env:
        what = "pip packages of the conda file (conda not installed)" if env.kind == "conda" else "pip requirements"
        return base + _content("pip", _pip_packages(runtime_env["pip"])), what
    if env.kind == "conda":
        return base, "current (fallback from the conda file: conda is not installed)"
    if env.kind in ("unsupported", "reference"):
        origin = env.reference if isinstance(env.reference, str) else canonical_json(env.reference)
        return base, f"current (fallback from {origin})"
    return base, "current"


@dataclass(frozen=True)
class StepIngredients:
    """Everything a signature is made of, kept as data so a miss can be explained.

    ``code_manifest`` (relative path → file digest), ``definition`` (field of the component
    definition → digest), ``input_sources`` (input → where its data came from) and
    ``environment_source`` (the environment in words) are for explanations only: the code
    and the definition are already covered by ``component_digest``, the data by ``inputs``
    and the environment by ``environment``.
    """

    component: str
    version: str | None
    component_digest: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, str | None] = field(default_factory=dict)
    environment: str = ""
    environment_variables: Mapping[str, str] = field(default_factory=dict)
    code_manifest: Mapping[str, str] = field(default_factory=dict)
    input_sources: Mapping[str, str] = field(default_factory=dict)
    definition: Mapping[str, str] = field(default_factory=dict)
    environment_source: str = ""

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
            "environment_variables": dict(self.environment_variables),
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
            "environment_variables": dict(self.environment_variables),
            "code_manifest": dict(self.code_manifest),
            "input_sources": dict(self.input_sources),
            "definition": dict(self.definition),
            "environment_source": self.environment_source,
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
            environment_variables=dict(data.get("environment_variables") or {}),
            code_manifest=dict(data.get("code_manifest") or {}),
            input_sources=dict(data.get("input_sources") or {}),
            definition=dict(data.get("definition") or {}),
            environment_source=data.get("environment_source", ""),
        )


def parameters_after_defaults(component: ComponentSpec, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared parameter's value: the bound value, else the default, canonically typed.

    A value bound to nothing (``None``: an unset optional pipeline input, a ``null`` literal)
    is unset, so the component's default applies: never ``None`` over a default.
    """
    out: dict[str, Any] = {}
    for name, spec in component.inputs.items():
        if not spec.is_parameter:
            continue
        value = given.get(name)
        out[name] = coerce_parameter(spec.type, spec.default if value is None else value)
    return out


def _fmt(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value, default=str) if isinstance(value, str) else str(value)


def diff_ingredients(old: StepIngredients, new: StepIngredients, max_files: int = 5) -> list[str]:
    """Why ``new`` differs from ``old``, in words: one reason per changed ingredient.

    Two automatic versions (``auto-…``) are not named: they only follow the code and the
    definition, which are named instead ("code changed: x.py", "component definition
    changed: command"). Environment variables are named, never their values.
    """
    reasons: list[str] = []
    automatic = all((ing.version or "").startswith(AUTO_VERSION_PREFIX) for ing in (old, new))
    if old.component != new.component or (old.version != new.version and not automatic):
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
    # the name is said above, and a changed environment below when it changes what runs
    said = {"name", "environment"} if old.environment != new.environment else {"name"}
    fields = sorted(key for key in set(old.definition) | set(new.definition)
                    if key not in said and old.definition.get(key) != new.definition.get(key))
    if old.definition and new.definition:
        if fields:
            reasons.append(f"component definition changed: {', '.join(fields)}")
    elif old.component_digest != new.component_digest and not changed and old.component == new.component:
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
    for name in sorted(set(old.environment_variables) | set(new.environment_variables)):
        if name not in old.environment_variables:
            reasons.append(f"environment variable {name} added")
        elif name not in new.environment_variables:
            reasons.append(f"environment variable {name} removed")
        elif old.environment_variables[name] != new.environment_variables[name]:
            reasons.append(f"environment variable {name} changed")
    if old.environment != new.environment:
        reasons.append(_environment_change(old, new))
    return reasons


_CACHE_FORMAT_RE = re.compile(r"/cache-(\d+)")


def _environment_change(old: StepIngredients, new: StepIngredients) -> str:
    formats = [m.group(1) if (m := _CACHE_FORMAT_RE.search(ing.environment)) else None for ing in (old, new)]
    if formats[0] != formats[1] and None not in formats:
        return f"cache format changed ({formats[0]} → {formats[1]}: a Ductwork upgrade reruns every step once)"
    if old.environment_source and new.environment_source and old.environment_source != new.environment_source:
        return f"environment changed: {old.environment_source} → {new.environment_source}"
    return "environment changed"


def _ref(ing: StepIngredients) -> str:
    return f"{ing.component}:{ing.version}" if ing.version is not None else ing.component
