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
# Nor does a run join (and start) the workspace's warm Ray (engine/workspace_ray.py) unless a test
# asks for it (--warm, or DUCTWORK_WARM=1): runs the tests start in-process or through their own
# subprocess calls stay hermetic, and leave no keeper behind, whether or not CI is set.
os.environ.setdefault("DUCTWORK_WARM", "0")
# And a warm Ray a test starts keeps no standby driver (app/standby.py), nor is a run handed to
# one, unless the test asks (DUCTWORK_STANDBY=1: tests/test_standby.py): the other warm-Ray
# tests see the driver they started.
os.environ.setdefault("DUCTWORK_STANDBY", "0")


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
def warm(tmp_path: Path):
    """A workspace folder (``tmp_path/ws``) and its warm Ray's handle; whatever a test started is stopped."""
    from engine.workspace_ray import WorkspaceRay

    home = tmp_path / "ws"
    wr = WorkspaceRay(home / "ray")
    yield home, wr
    wr.stop(force=True)


@pytest.fixture
def basic(tmp_path: Path) -> Path:
    """A private copy of ``tests/resources/basic`` (components, pipeline, data) that a test may edit."""
    return Path(shutil.copytree(RESOURCES / "basic", tmp_path / "basic"))


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python -m app.cli --home <tmp_path/home> ARGS`` (the real entry point); returns the result.

    ``home=`` picks another workspace (``None`` passes no --home), ``env=`` adds variables.
    ``DUCTWORK_WARM=0`` is passed unless ``env=`` says otherwise: a ``ductwork run`` joins (and
    starts) the workspace's warm Ray by default, which a test must ask for (``--warm`` or
    ``env={"DUCTWORK_WARM": "1"}``), so tests stay hermetic whether or not ``CI`` is set.
    """

    def run(*args: str, home: Path | None | str = "default", env: dict[str, str] | None = None,
            cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        prefix = ["--home", str(tmp_path / "home")] if home == "default" else (["--home", str(home)] if home else [])
        environment = {k: v for k, v in os.environ.items()
                       if not k.startswith("DUCTWORK_") or k == "DUCTWORK_NODE_CACHE"}
        environment.update({"PYTHONPATH": str(REPO), "COLUMNS": "200", "NO_COLOR": "1",
                            "DUCTWORK_SEED": os.environ["DUCTWORK_SEED"], "DUCTWORK_WARM": "0",
                            "DUCTWORK_STANDBY": "0", **(env or {})})
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


@pytest.fixture(autouse=True)
def ray_variables_restored():
    """``RAY_*`` variables as they were before the test: joining a warm Ray in this process sets
    ``RAY_AUTH_MODE`` for good (engine/workspace_ray.py, ``WorkspaceRay.join``), and a Ray that a
    later test starts here then runs its GCS with token authentication while this process's Ray
    client, configured when ``ray`` was imported, has none: "Failed to start GCS ... InvalidAuthToken"
    — in whichever test came next on that worker."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("RAY_")}
    yield
    for key in [k for k in os.environ if k.startswith("RAY_") and k not in saved]:
        del os.environ[key]
    os.environ.update(saved)


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


# ----------------------------------------------------------------------------- parallel runs
# `make test` runs the suite on pytest-xdist workers with `--dist loadgroup`: every test is in
# an xdist group, so a group runs whole on one worker and its module-scoped fixtures (a Ray, a
# trained chain, a Streamlit app) start once. A group is a module, except:
CLUSTER_GROUP = "loopback-cluster"
#: the modules that share one loopback cluster (tests/clusterkit.py, ``shared_cluster``), in the
#: order they run: test_compute_status counts every node the cluster lists (a node killed and
#: restarted stays listed as dead), so it comes first; each module restarts what it kills.
CLUSTER_MODULES = ("test_compute_status.py", "test_clusterkit.py", "test_cluster_store.py")
#: tests that are their own group (no module fixture ties them to their module's other tests), so
#: that each can run beside the rest of its module: two pip environments that Ray builds from PyPI
SOLO = ("test_an_azure_environment_reference_runs_in_the_registered_environment_of_its_name",
        "test_a_pip_environment_is_built_by_ray_and_the_step_imports_from_it")
#: Worker-seconds of the slowest groups (`--durations`, two workers on this 2-core machine, busy
#: with other work): they are handed out first (the longest first), so that no long group starts
#: last while the other workers idle. Groups not named here follow, in collection order.
HEAVY = {
    SOLO[0]: 227, CLUSTER_GROUP: 220, "tests/test_workspace_ray.py": 150,
    "tests/browser/test_designer_browser.py": 122, "tests/test_cli_run.py": 98, SOLO[1]: 87,
    "tests/test_warm_default.py": 66, "tests/test_reuse_property.py": 65, "tests/test_library_text.py": 54,
    "tests/test_library_seed.py": 50, "tests/test_cli_environment.py": 50, "tests/test_signals.py": 50,
    "tests/test_cli_pipeline.py": 47, "tests/browser/test_pages_browser.py": 43, "tests/test_cli_compute.py": 40,
    "tests/test_objectstore.py": 39, "tests/test_cli_clone.py": 32, "tests/test_log_cap.py": 29,
    "tests/test_engine_ray.py": 27, "tests/test_hostile_input.py": 24, "tests/test_store_faults.py": 21,
    "tests/test_standby.py": 60,
}


_GROUP = pytest.StashKey[str]()


def xdist_group_of(nodeid: str) -> str:
    """The xdist group of the test ``nodeid`` (see above)."""
    module = nodeid.split("::", 1)[0]
    if Path(module).name in CLUSTER_MODULES:
        return CLUSTER_GROUP
    function = nodeid.rsplit("::", 1)[-1].split("[", 1)[0]
    return function if function in SOLO else module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` with the groups of :func:`xdist_group_of`, handed out in collection
    order (which puts the slowest first), not by their number of tests.

    xdist's own loadgroup reads ``xdist_group`` marks into node ids by setting ``item._nodeid``,
    which pytest 9.2 no longer reads (``Node.nodeid`` is ``str(self._id)``): with xdist 3.8 every
    test became a group of its own, spreading a module's tests (and its module-scoped Ray or
    cluster) over every worker. The scheduler here needs only the node ids."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group_of(nodeid.split("@", 1)[0])

    config.option.loadscopereorder = False
    return GroupScheduling(config, log)


def pytest_collection_modifyitems(session, config, items: list[pytest.Item]) -> None:
    first = {}
    for index, item in enumerate(items):
        group = xdist_group_of(item.nodeid)
        first.setdefault(group, index)
        item.stash[_GROUP] = group

    def order(pair: tuple[int, pytest.Item]) -> tuple:
        index, item = pair
        group = item.stash[_GROUP]
        module = Path(item.nodeid.split("::", 1)[0]).name
        within = CLUSTER_MODULES.index(module) if group == CLUSTER_GROUP else 0
        return (-HEAVY.get(group, 0), first[group], within, index)

    items[:] = [item for _, item in sorted(enumerate(items), key=order)]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """After the last test of the cluster group on this worker, stop the shared loopback cluster
    (its failure to stop cleanly is that test's teardown error)."""
    result = yield
    kit = sys.modules.get("clusterkit")
    if kit is not None and kit.shared_cluster_running() and (
            nextitem is None or nextitem.stash.get(_GROUP, None) != CLUSTER_GROUP):
        kit.stop_shared_cluster()
    return result
