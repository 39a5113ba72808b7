"""Environments: register (from a conda file or a pip requirements file), list, show, and resolve
the Azure environment references of components to registered environments for a run.

The CLI's ``environment`` commands and the Components page call these. A run hands the engine
:func:`environment_resolver` (``compile_pipeline(..., environments=...)``): a component whose
``environment:`` is ``azureml:NAME:VERSION``, ``azureml:NAME@latest`` or
``azureml://registries/REG/environments/NAME/versions/V`` (``…/labels/latest``) runs in the
registered environment ``NAME`` — that version when it is registered, else the latest, with a
note — and without one in the current environment with one warning (engine.environments).
The registry is opened only when a component names such a reference, so a run of components
without one never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.services.workspace import Workspace
from components.errors import DuctworkError
from components.fields import parse_environment_reference
from components.spec import EnvironmentRef, EnvironmentSpec, RegisteredEnvironment
from engine.environments import worker_conflict

if TYPE_CHECKING:  # the registry (SQLModel) is imported only when a function needs it
    from registry import EnvironmentPublic
    from registry.environments import EnvironmentContent, EnvironmentRegistration

__all__ = [
    "MAX_ENVIRONMENT_FILE_BYTES",
    "read_environment_file",
    "add_environment",
    "list_environments",
    "get_environment",
    "parse_environment_ref",
    "environment_to_json",
    "environment_resolver",
    "registered_environment",
]

#: The largest conda or requirements file registered (they are a few hundred bytes).
MAX_ENVIRONMENT_FILE_BYTES = 1024 * 1024


def read_environment_file(kind: str, path: str | Path) -> EnvironmentContent:
    """Read and parse a conda file (``kind="conda"``) or a pip requirements file (``"pip"``); every
    problem is a one-line DuctworkError naming the file."""
    from registry.environments import parse_conda_file, parse_requirements

    what = "conda file" if kind == "conda" else "requirements file"
    option = "--conda" if kind == "conda" else "--pip"
    file = Path(path)
    if not file.is_file():
        hint = "it is a folder" if file.is_dir() else "no such file"
        raise DuctworkError(f"{what} '{path}' ({option}) cannot be read: {hint}; give the path of a "
                            f"{'conda YAML file' if kind == 'conda' else 'requirements.txt'}")
    if file.stat().st_size > MAX_ENVIRONMENT_FILE_BYTES:
        raise DuctworkError(f"{what} '{path}' is larger than {MAX_ENVIRONMENT_FILE_BYTES // 1024} KiB; "
                            "an environment file lists packages, it does not contain them")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DuctworkError(f"{what} '{path}' is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise DuctworkError(f"{what} '{path}' cannot be read: {exc.strerror}") from None
    return parse_conda_file(text, str(path)) if kind == "conda" else parse_requirements(text, str(path))


def add_environment(ws: Workspace, name: str, *, conda: str | Path | None = None,
                    pip: str | Path | None = None, version: str | None = None,
                    description: str = "") -> EnvironmentRegistration:
    """Register the conda file ``conda`` or the requirements file ``pip`` (exactly one) as ``name``.
    Everything is read and checked before the registry is written."""
    if (conda is None) == (pip is None):
        given = "both --conda and --pip" if conda is not None else "neither --conda nor --pip"
        raise DuctworkError(f"environment '{name}': {given} given; give exactly one: "
                            f"ductwork environment add {name} --conda conda.yml  or  --pip requirements.txt")
    from registry.environments import check_environment_name

    check_environment_name(name)
    kind, path = ("conda", conda) if conda is not None else ("pip", pip)
    content = read_environment_file(kind, path)
    result = ws.registry.add_environment(name, content, version=version, description=description,
                                         source=str(Path(path).absolute()))
    conflict = worker_conflict(_pip_packages(content.spec), f"environment '{result.environment.ref}'")
    return replace(result, warnings=(conflict,)) if conflict else result


def _pip_packages(spec: Mapping[str, Any]) -> list[str]:
    """The packages pip installs for an environment: its list, or its conda file's pip section."""
    if "pip" in spec:
        return list(spec["pip"])
    deps = (spec.get("conda") or {}).get("dependencies") or []
    return [str(p) for dep in deps if isinstance(dep, Mapping) for p in dep.get("pip") or []]


def list_environments(ws: Workspace, search: str | None = None,
                      all_versions: bool = False) -> list[EnvironmentPublic]:
    """Registered environments: the latest version of each (every version with ``all_versions``)."""
    return ws.registry.list_environments(search, all_versions)


def parse_environment_ref(text: str) -> EnvironmentRef:
    """``NAME``, ``NAME:VERSION``, ``NAME@latest`` or an Azure reference (``azureml:…``) → what it names."""
    text = text.strip()
    ref = parse_environment_reference(text if text.lower().startswith("azureml:") else f"azureml:{text}")
    if ref is None:
        raise DuctworkError(f"'{text}' is not an environment reference. Write NAME, NAME:VERSION or "
                            "NAME@latest (e.g. AzureML-sklearn-1.5:1)")
    return ref


def get_environment(ws: Workspace, text: str) -> EnvironmentPublic:
    """One registered environment by ``NAME[:VERSION]`` (the latest without a version)."""
    ref = parse_environment_ref(text)
    return ws.registry.get_environment(ref.name, ref.version)


def environment_to_json(record: EnvironmentPublic, *, with_content: bool = True) -> dict[str, Any]:
    """JSON-ready form of a registered environment (``--json``)."""
    data = record.model_dump(mode="json", exclude=None if with_content else {"content", "spec"})
    data["ref"] = record.ref
    return data


def registered_environment(record: EnvironmentPublic, note: str = "") -> RegisteredEnvironment:
    """What a step built from ``record`` needs: its kind and content, and how it was chosen."""
    conda = record.conda
    return RegisteredEnvironment(name=record.name, version=record.version, kind=record.kind,  # type: ignore[arg-type]
                                 content_hash=record.content_hash, pip=tuple(record.pip),
                                 conda=dict(conda) if conda is not None else None, note=note)


def environment_resolver(ws: Workspace) -> Callable[[EnvironmentSpec], EnvironmentSpec]:
    """``EnvironmentSpec → EnvironmentSpec`` over the registry for one run (memoised per reference):
    an Azure reference gets ``resolved`` set when an environment of its name is registered; any
    other environment, and an unknown name, is returned unchanged (the engine warns once per step)."""
    memo: dict[tuple[str, str | None, str | None], RegisteredEnvironment | None] = {}

    def resolve(env: EnvironmentSpec) -> EnvironmentSpec:
        if env.kind != "reference" or env.asset is None:
            return env
        asset = env.asset
        key = (asset.name, asset.version, asset.label)
        if key not in memo:
            record, note = ws.registry.find_environment(asset.name, asset.version)
            if record is not None and asset.label is not None:
                note = (f"environment label '{asset.label}' of '{asset.name}' has no meaning here; its "
                        f"latest version '{record.version}' is used")
            memo[key] = registered_environment(record, note) if record is not None else None
        resolved = memo[key]
        return env if resolved is None else EnvironmentSpec(kind="reference", reference=env.reference,
                                                            asset=asset, resolved=resolved)

    return resolve
