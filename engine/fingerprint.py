"""A component's identity for signatures: its digest (components.digest) and a per-file code
manifest kept with each step run, so that "code changed: train.py" can be said later."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from components.digest import IGNORED_NAMES, component_digest, function_source_files
from components.spec import ComponentSpec
from engine.hashing import file_digest

__all__ = ["ComponentFingerprint", "ComponentFingerprints", "code_manifest"]


@dataclass(frozen=True)
class ComponentFingerprint:
    digest: str
    manifest: dict[str, str] = field(default_factory=dict)


def code_manifest(spec: ComponentSpec) -> dict[str, str]:
    """Relative path → file digest of the code that decides a component's behaviour: every file
    of a command component's code folder (caches and VCS ignored); for a function component,
    its module and the local modules it imports."""
    if spec.code is None:
        return {}
    code = Path(spec.code)
    if spec.kind == "function":
        files = function_source_files(spec)
    elif code.is_file():
        return {code.name: file_digest(code)}
    else:
        files = []
        for root, dirs, names in os.walk(code):
            dirs[:] = [d for d in dirs if d not in IGNORED_NAMES]
            files += [Path(root) / n for n in names
                      if n not in IGNORED_NAMES and not n.endswith((".pyc", ".pyo"))]
    return {p.relative_to(code).as_posix(): file_digest(p) for p in sorted(files) if p.is_file()}


class ComponentFingerprints:
    """Fingerprints computed once per component object and code folder within one run."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[ComponentSpec, ComponentFingerprint]] = {}
        self._manifests: dict[tuple[str, str, str], dict[str, str]] = {}

    def of(self, spec: ComponentSpec) -> ComponentFingerprint:
        hit = self._by_id.get(id(spec))
        if hit is not None and hit[0] is spec:
            return hit[1]
        key = (spec.kind, str(spec.code), f"{spec.function.module}:{spec.function.qualname}" if spec.function else "")
        manifest = self._manifests.get(key)
        if manifest is None:
            manifest = self._manifests[key] = code_manifest(spec)
        fp = ComponentFingerprint(component_digest(spec), manifest)
        self._by_id[id(spec)] = (spec, fp)
        return fp
