"""Shared fixtures: a workspace in tmp_path, the real CLI as a subprocess, and copies of resources."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RESOURCES = Path(__file__).resolve().parent / "resources"
# First-start seeding of the built-in library (app/services/seed.py) is off in tests unless
# a test turns it on (DUCTWORK_SEED=1): many tests count exactly what they registered.
os.environ.setdefault("DUCTWORK_SEED", "0")


@pytest.fixture
def ws(tmp_path: Path):
    """A fresh workspace (registry, folders, ``local`` compute target) under ``tmp_path/home``."""
    from app.services.workspace import open_workspace

    workspace = open_workspace(tmp_path / "home")
    yield workspace
    workspace.registry.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    """The workspace folder the app's pages open (``DUCTWORK_HOME``), for AppTest page tests."""
    path = tmp_path / "ws"
    monkeypatch.setenv("DUCTWORK_HOME", str(path))
    return path


@pytest.fixture
def basic(tmp_path: Path) -> Path:
    """A private copy of ``tests/resources/basic`` (components, pipeline, data) that a test may edit."""
    return Path(shutil.copytree(RESOURCES / "basic", tmp_path / "basic"))


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python -m app.cli --home <tmp_path/home> ARGS`` (the real entry point); returns the result.

    ``home=`` picks another workspace (``None`` passes no --home), ``env=`` adds variables.
    """

    def run(*args: str, home: Path | None | str = "default", env: dict[str, str] | None = None,
            cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        prefix = ["--home", str(tmp_path / "home")] if home == "default" else (["--home", str(home)] if home else [])
        environment = {k: v for k, v in os.environ.items()
                       if not k.startswith("DUCTWORK_") or k == "DUCTWORK_NODE_CACHE"}
        environment.update({"PYTHONPATH": str(REPO), "COLUMNS": "200", "NO_COLOR": "1",
                            "DUCTWORK_SEED": os.environ["DUCTWORK_SEED"], **(env or {})})
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *prefix, *map(str, args)],
            capture_output=True, text=True, cwd=cwd or tmp_path, env=environment, timeout=timeout,
        )

    return run


@pytest.fixture(scope="session", autouse=True)
def node_cache(tmp_path_factory) -> Path:
    """Store-backed runs cache what their tasks fetch per node (engine/objectstore.py): in tests,
    under the session's temporary folder instead of ``~/.cache/ductwork``."""
    path = tmp_path_factory.mktemp("node-cache")
    os.environ["DUCTWORK_NODE_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session", autouse=True)
def no_warm_ray_left_behind(tmp_path_factory):
    """Every warm Ray a test starts (engine/workspace_ray.py) must be stopped by that test's
    fixtures: at the end of the session any keeper still running under the session's
    temporary folders is stopped, and the session fails."""
    yield
    import psutil

    from engine.workspace_ray import WorkspaceRay

    base = str(tmp_path_factory.getbasetemp())
    left = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmd = process.info.get("cmdline") or []
        if "engine.workspace_ray" in cmd and "keep" in cmd:
            folder = cmd[cmd.index("keep") + 1]
            if folder.startswith(base):
                left.append(folder)
                WorkspaceRay(folder).stop(force=True)
    assert not left, f"tests left warm Rays running (now stopped): {left}"
