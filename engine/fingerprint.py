"""A component's identity for signatures: its digest (components.digest), a per-file code
manifest and a per-field definition digest kept with each step run, so that "code changed:
train.py" or "component definition changed: command" can be said later."""

from __future__ import annotations

from dataclasses import dataclass, field

from components.codefiles import component_code_files
from components.digest import code_file_hash, component_digest, definition_digests
from components.spec import ComponentSpec

__all__ = ["ComponentFingerprint", "ComponentFingerprints", "code_manifest"]


@dataclass(frozen=True)
class ComponentFingerprint:
    digest: str
    manifest: dict[str, str] = field(default_factory=dict)
    definition: dict[str, str] = field(default_factory=dict)  #: field → digest (``definition_digests``)


def code_manifest(spec: ComponentSpec) -> dict[str, str]:
    """Relative path → file digest of the code that decides a component's behaviour
    (:func:`components.codefiles.component_code_files`), each hashed as the code digest hashes
    it (memoised by stat: an unchanged file is not read again)."""
    return {rel: code_file_hash(path) for rel, path in component_code_files(spec)}


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
        fp = ComponentFingerprint(component_digest(spec), manifest, definition_digests(spec))
        self._by_id[id(spec)] = (spec, fp)
        return fp
