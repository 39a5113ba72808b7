"""Workspace: folder layout, home and registry URL resolution, open hooks, cheap CLI imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.services.workspace import ON_OPEN_HOOKS, open_workspace, resolve_db_url, resolve_home
from components.errors import DuctworkError


def test_first_open_creates_the_layout_and_local(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "home")
    assert ws.created
    for folder in (ws.artifacts_dir, ws.snapshots_dir, ws.tmp_dir, ws.logs_dir):
        assert folder.is_dir() and folder.parent == ws.home
    assert ws.runs_db == ws.home / "runs.duckdb"
    assert (ws.home / "registry.db").is_file()
    local = ws.registry.get_compute("local")
    assert (local.cpus, local.gpus, local.price_per_hour) == (1, 0, 0)
    ws.registry.close()
    again = open_workspace(tmp_path / "home")
    assert not again.created and again.registry.compute_names() == ["local"]
    again.registry.close()


def test_home_and_url_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DUCTWORK_HOME", raising=False)
    monkeypatch.delenv("DUCTWORK_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_home() == tmp_path / ".ductwork"
    monkeypatch.setenv("DUCTWORK_HOME", str(tmp_path / "env-home"))
    assert resolve_home() == tmp_path / "env-home"
    assert resolve_home(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_db_url(tmp_path / "h") == f"sqlite:///{tmp_path / 'h' / 'registry.db'}"
    monkeypatch.setenv("DUCTWORK_DB_URL", "sqlite:////elsewhere/x.db")
    assert resolve_db_url(tmp_path / "h") == "sqlite:////elsewhere/x.db"
    assert resolve_db_url(tmp_path / "h", "sqlite:////arg.db") == "sqlite:////arg.db"


def test_db_url_points_the_registry_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "shared" / "team-registry.db"
    monkeypatch.setenv("DUCTWORK_DB_URL", f"sqlite:///{other}")
    ws = open_workspace(tmp_path / "home")
    ws.registry.add_compute(__import__("registry").ComputeTargetBase(name="gpu", gpus=1))
    ws.registry.close()
    assert other.is_file() and not (tmp_path / "home" / "registry.db").exists()
    # a second workspace folder sharing that registry sees the same targets
    second = open_workspace(tmp_path / "home2")
    assert second.registry.compute_names() == ["local", "gpu"]
    second.registry.close()


def test_bad_db_url_and_home_are_errors_for_people(tmp_path: Path) -> None:
    with pytest.raises(DuctworkError, match="registry URL 'not a url' is not a SQLAlchemy URL"):
        open_workspace(tmp_path / "home", db_url="not a url")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DuctworkError, match="is a file, not a folder"):
        open_workspace(tmp_path / "file")


def hook_for_test(ws) -> None:  # used by name below
    (ws.home / "hooked-by-name").write_text(str(ws.created))


def test_open_hooks_run_on_every_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    monkeypatch.setitem(sys.modules, "ductwork_hook_module", sys.modules[__name__])
    ON_OPEN_HOOKS.extend([lambda ws: seen.append(ws.created), "ductwork_hook_module:hook_for_test"])
    try:
        open_workspace(tmp_path / "home").registry.close()
        open_workspace(tmp_path / "home").registry.close()
    finally:
        del ON_OPEN_HOOKS[-2:]
    assert seen == [True, False]
    assert (tmp_path / "home" / "hooked-by-name").read_text() == "False"


def test_cli_path_imports_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from app.cli import cli\n"
        "from app.cli.common import run_cli\n"
        f"rc = run_cli(cli, ['--home', {str(tmp_path / 'home')!r}, 'compute', 'list', '--json'])\n"
        "heavy = [m for m in ('ray', 'streamlit', 'pandas', 'torch') if m in sys.modules]\n"
        "print('RC', rc, 'HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "RC 0 HEAVY []" in result.stderr, result.stderr


def test_existing_workspace_opens_its_registry_on_first_use(tmp_path: Path) -> None:
    open_workspace(tmp_path / "home").close()
    ws = open_workspace(tmp_path / "home")
    assert ws._registry is None  # not opened by open_workspace
    assert ws.compute_names() == ["local"]  # read without the registry
    assert ws._registry is None
    ws.registry.add_compute(__import__("registry").ComputeTargetBase(
        name="big", cpus=8, memory=2**33, resources={"highmem": 1}, price_per_hour=1.5))
    ws.close()


def test_compute_targets_read_agrees_with_the_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from registry import ComputeTargetBase

    ws = open_workspace(tmp_path / "home")
    ws.registry.add_compute(ComputeTargetBase(name="big", cpus=8, gpus=0.5, memory=2**33,
                                              resources={"highmem": 1}, price_per_hour=1.5))
    expected = {t.name: (t.cpus, t.gpus, t.memory, dict(t.resources), t.price_per_hour)
                for t in ws.registry.list_compute()}
    fast = ws.compute_targets()
    assert list(fast) == ["local", "big"]
    assert {name: tuple(row)[1:] for name, row in fast.items()} == expected
    ws.close()
    # another database URL: the same answer through the registry
    monkeypatch.setenv("DUCTWORK_DB_URL", f"sqlite:///{tmp_path / 'other.db'}?timeout=5")
    other = open_workspace(tmp_path / "home2")
    assert other.compute_names() == ["local"]
    other.close()


def test_run_of_a_file_pipeline_does_not_import_the_registry(tmp_path: Path) -> None:
    (tmp_path / "step.yml").write_text("type: command\nname: echo_step\nversion: 1\ncommand: echo hi\n")
    (tmp_path / "p.yml").write_text("type: pipeline\nname: p\njobs:\n  a:\n    component: ./step.yml\n")
    home = str(tmp_path / "home")
    code = (
        "import sys\n"
        "from app.cli import cli\n"
        "from app.cli.common import run_cli\n"
        "args = ['--home', sys.argv[1], 'run', sys.argv[2], '--in-process', '--quiet']\n"
        "rc = run_cli(cli, args)\n"
        "print('RC', rc, 'SQL', [m for m in ('sqlmodel', 'sqlalchemy', 'ray') if m in sys.modules], file=sys.stderr)\n"
    )
    open_workspace(home).close()  # created (the registry is built on creation)
    for expected in ("completed", "reused"):
        result = subprocess.run([sys.executable, "-c", code, home, str(tmp_path / "p.yml")],
                                capture_output=True, text=True, timeout=120)
        assert "RC 0 SQL []" in result.stderr, result.stderr
        assert expected in result.stdout or "1 reused" in result.stdout, result.stdout
