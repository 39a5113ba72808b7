"""A step's environment as a Ray ``runtime_env`` (FORMATS.md "Environments").

- ``current``: no runtime environment; the step runs in Ductwork's own Python.
- ``pip`` (``environment: {pip: [...]}``): ``{"pip": {"packages": [...], …}}``. Ray builds a virtualenv over
  the current Python once per content hash and caches it on each node; the step's ``python``
  is that virtualenv's interpreter (the step runtime puts ``sys.executable``'s folder first
  on ``PATH``).
- ``conda`` (a conda file): ``{"conda": {...}}`` where conda is installed. Where it is not,
  a conda file whose only conda packages are ``python`` and ``pip`` is built as its pip
  dependencies over the current Python (a warning says so); any other conda file cannot be
  built here and, like an unsupported environment, is ignored with a warning: the step runs
  in the current environment.
- ``reference`` (an Azure environment reference, ``azureml:NAME:VERSION`` and its long forms):
  once the service layer has resolved it to a registered environment of that name
  (``EnvironmentSpec.resolved``, see ``app.services.environments``), that environment's pip
  list or conda file, as above; unresolved, the current environment with one warning per
  step that says how to register one.
- ``unsupported`` (a Docker image or build context): the loader already warned; the current
  environment is used.

A registered environment is built the way an inline one is: Ray builds a runtime environment
once per content hash on the node that runs the step and caches it there, so a cluster node
builds each environment once, the first time a step needs it, and a failed build is the
step's error ("its environment could not be built by Ray: …", engine.executors).

The signature fingerprints what this chooses, not what the spec asks for
(``signature.environment_fingerprint``): a fallback to the current environment is
fingerprinted as the current environment, and its ingredients say what it stands in for.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.spec import EnvironmentSpec

__all__ = ["RuntimeEnvChoice", "runtime_env_for", "conda_installed", "pip_runtime_env", "PIP_INSTALL_OPTIONS",
           "worker_conflict"]

#: What Ray's pip install is run with. Ray's default is ``--disable-pip-version-check
#: --no-cache-dir``; without the second, pip's wheel cache on the node serves every later build of
#: the same packages instead of a download. That matters because Ray caches a built environment per
#: Ray session: each ``ductwork run`` with its own embedded Ray builds it again (pandas<2, numpy<2,
#: pyarrow<22: 35–42 s from the wheel cache on 2 loaded cores), while in one session — the warm
#: Ray, a cluster — a later step starts in it in 0.7 s. Ray's ``uv`` field works here but is not
#: faster: Ray pip-installs uv into every new virtualenv first (uncached), so a build took 60 s
#: cold and 37 s with uv's cache, and a later step in the same session 2.1 s.
PIP_INSTALL_OPTIONS = ("--disable-pip-version-check",)


def pip_runtime_env(packages: Sequence[str]) -> dict[str, Any]:
    """The ``runtime_env`` that installs ``packages`` with pip over the current Python."""
    return {"pip": {"packages": list(packages), "pip_install_options": list(PIP_INSTALL_OPTIONS)}}


@dataclass(frozen=True)
class RuntimeEnvChoice:
    """The ``runtime_env`` to hand Ray (``None``: the current environment) and why, if it differs."""

    runtime_env: Mapping[str, Any] | None = None
    warning: str | None = None
    #: more to say before the run: how a registered environment was chosen when not as asked (a
    #: version that is not registered), a package set the worker cannot start in (worker_conflict)
    notes: tuple[str, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """What a person should read before the run: the notes, then the warning."""
        return (*self.notes, *((self.warning,) if self.warning else ()))


def conda_installed() -> bool:
    """Whether a conda executable is reachable (``$CONDA_EXE`` or ``conda`` on ``PATH``)."""
    return bool(os.environ.get("CONDA_EXE") or shutil.which("conda"))


_PY_OR_PIP = re.compile(r"^\s*(python|pip)\s*([<>=!~].*)?$")


def _split_conda(conda: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(pip requirements, conda packages other than python and pip) of a conda file."""
    pip: list[str] = []
    others: list[str] = []
    for dep in conda.get("dependencies") or []:
        if isinstance(dep, Mapping):
            pip.extend(str(p) for p in dep.get("pip") or [])
            others.extend(f"{k}: …" for k in dep if k != "pip")
        elif not _PY_OR_PIP.match(str(dep)):
            others.append(str(dep))
    return pip, others


def _inherited_pyarrow() -> str | None:
    """The version of the pyarrow installed with Ductwork, which a pip environment inherits."""
    import importlib.metadata  # ≈ 10–15 ms (email, zipfile, csv): not on a run that builds no environment

    try:
        return importlib.metadata.version("pyarrow")
    except importlib.metadata.PackageNotFoundError:
        return None


def worker_conflict(packages: Sequence[str], where: str) -> str | None:
    """Why Ray's worker would crash in a pip environment of ``packages`` before the step starts, if it would.

    Ray builds a pip environment over the current Python, and its worker runs inside it: while it
    sets up, it imports the pyarrow it inherits from Ductwork's own environment, if there is one.
    pyarrow 26 refuses numpy 1 ("pyarrow requires NumPy 2.0 or newer"); 21 works with it (measured),
    so an environment that keeps numpy below 2 — as pandas 1.x needs — needs a pyarrow below 22.
    """
    from packaging.requirements import InvalidRequirement, Requirement  # ≈ 40 ms: only for pip environments
    from packaging.utils import canonicalize_name

    capped = False
    for line in packages:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        name = canonicalize_name(requirement.name)
        if name == "pyarrow":
            return None
        spec = requirement.specifier
        below_2 = bool(spec) and not any(spec.contains(v) for v in ("2.0.0", "2.3.0"))
        capped = capped or (name == "numpy" and below_2)
    inherited = _inherited_pyarrow() if capped else None
    if inherited is None or int(inherited.split(".", 1)[0]) < 22:
        return None
    return (f"{where}: the environment keeps numpy below 2 but does not name pyarrow; Ray's worker runs "
            f"inside it and imports the pyarrow it inherits from Ductwork's Python ({inherited}, which needs "
            "numpy 2), so it would crash before the step starts. Add 'pyarrow<22' to the environment")


def runtime_env_for(env: EnvironmentSpec, where: str, *,
                    has_conda: Callable[[], bool] | None = None) -> RuntimeEnvChoice:
    """The runtime environment for a step (``where`` names it in the warning, e.g. ``job 'train'``)."""
    if env.kind == "reference":
        return _registered(env, where, has_conda)
    if env.kind == "pip":
        conflict = worker_conflict(env.pip, where)
        return RuntimeEnvChoice(pip_runtime_env(env.pip) if env.pip else None, conflict)
    if env.kind != "conda" or env.conda is None:
        return RuntimeEnvChoice()  # current, or unsupported (warned by the loader)
    if (has_conda or conda_installed)():
        return RuntimeEnvChoice({"conda": dict(env.conda)})
    pip, others = _split_conda(env.conda)
    if not others:
        conflict = worker_conflict(pip, where)
        return RuntimeEnvChoice(
            pip_runtime_env(pip) if pip else None,
            f"{where}: conda is not installed here, so its conda file's pip packages are installed over "
            "the current Python instead (its python/pip pins are not applied); install conda to build it "
            "as written",
            (conflict,) if conflict else ())
    return RuntimeEnvChoice(
        None, f"{where}: conda is not installed here, so its conda environment (conda packages: "
        f"{', '.join(others[:5])}{' …' if len(others) > 5 else ''}) cannot be built; the step runs in the "
        "current environment. Install conda, or list pip packages (environment: {pip: [...]})")


def _registered(env: EnvironmentSpec, where: str, has_conda: Callable[[], bool] | None) -> RuntimeEnvChoice:
    """A reference's registered environment, built as an inline one; unresolved, the current one."""
    resolved = env.resolved
    if resolved is None:
        name = env.asset.name if env.asset is not None else str(env.reference)
        return RuntimeEnvChoice(None, (
            f"{where}: environment '{env.reference}' is an Azure environment reference and no environment "
            f"'{name}' is registered here; the Python environment Ductwork runs in is used instead. "
            f"To build it, register one: ductwork environment add {name} --pip requirements.txt "
            "(or --conda conda.yml)"))
    inline = EnvironmentSpec(kind=resolved.kind, pip=resolved.pip, conda=resolved.conda)
    choice = runtime_env_for(inline, f"{where} (environment '{resolved.ref}')", has_conda=has_conda)
    notes = (f"{where}: {resolved.note}",) if resolved.note else ()
    return RuntimeEnvChoice(choice.runtime_env, choice.warning, (*notes, *choice.notes))
