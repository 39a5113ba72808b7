"""Step environments as Ray runtime environments: option construction (unit) and a real pip env on Ray."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from components.spec import (
    ComponentSpec,
    EnvironmentRef,
    EnvironmentSpec,
    JobSpec,
    PipelineSpec,
    RegisteredEnvironment,
)
from engine.compute import ResourceRequest
from engine.environments import pip_runtime_env, runtime_env_for
from engine.executors import ray_options
from engine.graph import compile_pipeline
from engine.signature import environment_fingerprint


def test_pip_environment_becomes_a_pip_runtime_env() -> None:
    choice = runtime_env_for(EnvironmentSpec(kind="pip", pip=("tomli-w==1.2.0",)), "job 'a'")
    assert choice.runtime_env == pip_runtime_env(["tomli-w==1.2.0"]) and choice.warning is None
    options = ray_options(ResourceRequest(cpus=1), 0, choice.runtime_env)
    assert options["runtime_env"] == pip_runtime_env(["tomli-w==1.2.0"])
    assert options["num_cpus"] == 1 and options["max_retries"] == 0
    assert "runtime_env" not in ray_options(ResourceRequest(cpus=1), 0, None)


def test_current_and_unsupported_environments_use_the_current_one() -> None:
    assert runtime_env_for(EnvironmentSpec(), "job 'a'").runtime_env is None
    unsupported = runtime_env_for(EnvironmentSpec(kind="unsupported", reference="azureml:env:1"), "job 'a'")
    assert unsupported.runtime_env is None and unsupported.warning is None  # the loader already warned


CONDA = {"name": "train", "dependencies": ["python=3.11", "pip", {"pip": ["tomli-w==1.2.0"]}]}


def test_conda_file_goes_to_ray_where_conda_is_installed() -> None:
    choice = runtime_env_for(EnvironmentSpec(kind="conda", conda=CONDA), "job 'a'", has_conda=lambda: True)
    assert choice.runtime_env == {"conda": CONDA} and choice.warning is None


def test_without_conda_a_pip_only_conda_file_is_built_with_pip_and_says_so() -> None:
    choice = runtime_env_for(EnvironmentSpec(kind="conda", conda=CONDA), "job 'a'", has_conda=lambda: False)
    assert choice.runtime_env == pip_runtime_env(["tomli-w==1.2.0"])
    assert choice.warning and "job 'a': conda is not installed" in choice.warning


def test_without_conda_other_conda_packages_fall_back_to_the_current_environment_with_a_warning() -> None:
    conda = {"dependencies": ["python=3.11", "numpy=1.26", "cudatoolkit", {"pip": ["x"]}]}
    choice = runtime_env_for(EnvironmentSpec(kind="conda", conda=conda), "job 'a'", has_conda=lambda: False)
    assert choice.runtime_env is None
    assert "numpy=1.26, cudatoolkit" in choice.warning and "runs in the current environment" in choice.warning


def test_compile_puts_the_runtime_env_on_the_step_and_warnings_on_the_graph(monkeypatch) -> None:
    monkeypatch.setattr("engine.environments.conda_installed", lambda: False)
    pip = ComponentSpec(name="p", version="1", command="echo", environment=EnvironmentSpec(kind="pip", pip=("a",)))
    conda = ComponentSpec(name="c", version="1", command="echo",
                          environment=EnvironmentSpec(kind="conda", conda={"dependencies": ["numpy"]}))
    spec = PipelineSpec(name="envs", jobs={"a": JobSpec("a", pip), "b": JobSpec("b", conda)})
    graph = compile_pipeline(spec)
    assert graph.steps["a"].runtime_env == pip_runtime_env(["a"])
    assert graph.steps["b"].runtime_env is None
    assert any(w.startswith("job 'b': conda is not installed") for w in graph.warnings)


REFERENCE = EnvironmentSpec(kind="reference", reference="azureml:AzureML-sklearn-1.5:1",
                            asset=EnvironmentRef("AzureML-sklearn-1.5", "1"))


def test_an_unresolved_azure_reference_runs_in_the_current_environment_with_one_warning() -> None:
    choice = runtime_env_for(REFERENCE, "job 'prep'")
    assert choice.runtime_env is None
    assert choice.warnings == (
        "job 'prep': environment 'azureml:AzureML-sklearn-1.5:1' is an Azure environment reference and no "
        "environment 'AzureML-sklearn-1.5' is registered here; the Python environment Ductwork runs in is "
        "used instead. To build it, register one: ductwork environment add AzureML-sklearn-1.5 --pip requirements.txt "
        "(or --conda conda.yml)",)


def test_a_resolved_reference_is_built_as_its_registered_content(monkeypatch) -> None:
    pip = RegisteredEnvironment("AzureML-sklearn-1.5", "1", "pip", "ab" * 32, pip=("pandas<2", "numpy<2", "pyarrow<22"))
    choice = runtime_env_for(replace(REFERENCE, resolved=pip), "job 'prep'")
    assert choice.runtime_env == pip_runtime_env(["pandas<2", "numpy<2", "pyarrow<22"]) and choice.warnings == ()
    # a conda environment without conda installed: its pip packages, and the warning names the environment
    conda = RegisteredEnvironment("AzureML-sklearn-1.5", "2", "conda", "cd" * 32, conda=CONDA,
                                  note="environment 'AzureML-sklearn-1.5' has no version '1' registered here; …")
    choice = runtime_env_for(replace(REFERENCE, resolved=conda), "job 'prep'", has_conda=lambda: False)
    assert choice.runtime_env == pip_runtime_env(["tomli-w==1.2.0"])
    note, warning = choice.warnings
    assert note.startswith("job 'prep': environment 'AzureML-sklearn-1.5' has no version '1'")
    assert warning.startswith("job 'prep' (environment 'AzureML-sklearn-1.5:2'): conda is not installed here")


@pytest.mark.parametrize("packages, conflict", [
    (["pandas<2", "numpy<2"], True),
    (["pandas<2", "numpy==1.26.4"], True),
    (["pandas<2", "numpy<2", "pyarrow<22"], False),
    (["pandas<2"], False),  # pip keeps the inherited numpy 2: pandas fails, in the step, with its own message
    (["numpy>=1.26"], False),
])
def test_an_environment_that_keeps_numpy_1_under_an_inherited_pyarrow_26_is_warned_about(
        monkeypatch, packages: list[str], conflict: bool) -> None:
    monkeypatch.setattr("engine.environments._inherited_pyarrow", lambda: "26.0.1")
    choice = runtime_env_for(EnvironmentSpec(kind="pip", pip=tuple(packages)), "job 'prep'")
    assert choice.runtime_env == pip_runtime_env(packages)
    assert bool(choice.warnings) == conflict
    if conflict:
        assert choice.warnings[0].startswith("job 'prep': the environment keeps numpy below 2 but does not name "
                                             "pyarrow; Ray's worker runs inside it")
        assert choice.warnings[0].endswith("Add 'pyarrow<22' to the environment")
    monkeypatch.setattr("engine.environments._inherited_pyarrow", lambda: "21.0.0")
    assert runtime_env_for(EnvironmentSpec(kind="pip", pip=tuple(packages)), "job 'prep'").warnings == ()


def test_compile_resolves_references_through_the_resolver_it_is_handed() -> None:
    seen: list[EnvironmentSpec] = []
    pip = RegisteredEnvironment("AzureML-sklearn-1.5", "1", "pip", "ab" * 32, pip=("pandas<2",))

    def resolve(env: EnvironmentSpec) -> EnvironmentSpec:
        seen.append(env)
        return replace(env, resolved=pip)

    component = ComponentSpec(name="p", version="1", command="echo", environment=REFERENCE)
    spec = PipelineSpec(name="envs", jobs={"a": JobSpec("a", component), "b": JobSpec("b", component)})
    graph = compile_pipeline(spec, environments=resolve)
    assert [graph.steps[j].runtime_env for j in "ab"] == [pip_runtime_env(["pandas<2"])] * 2 and graph.warnings == ()
    assert seen == [REFERENCE]  # once per component, not per job
    assert graph.steps["a"].component is graph.steps["b"].component  # so it is fingerprinted once
    unresolved = compile_pipeline(spec)  # no resolver: the current environment, one warning for both jobs
    assert unresolved.steps["a"].runtime_env is None
    [warning] = unresolved.warnings
    assert warning.startswith("jobs 'a', 'b': environment 'azureml:AzureML-sklearn-1.5:1' is an Azure environment")


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.timeout(900)  # Ray builds a virtualenv and downloads from PyPI: 86 s beside other tests, > 300 s under load
@pytest.mark.skipif(not _pypi_reachable(), reason="PyPI is not reachable: Ray cannot install the pip environment")
def test_a_pip_environment_is_built_by_ray_and_the_step_imports_from_it(tmp_path: Path) -> None:
    """tomli-w (pure Python, ~10 kB) is not installed in Ductwork's environment; the step imports it."""
    (tmp_path / "step.yml").write_text(
        "type: command\nname: uses_tomli_w\nversion: 1\noutputs:\n  out: {type: uri_folder}\n"
        "environment: {pip: [tomli-w==1.2.0]}\n"
        "command: python -c 'import tomli_w, sys; print(tomli_w.dumps(dict(a=1)), sys.prefix)' "
        "> ${{outputs.out}}/o.txt\n")
    (tmp_path / "p.yml").write_text("type: pipeline\nname: pip_env\njobs:\n  a:\n    component: ./step.yml\n")
    result = subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "--home",
                             str(tmp_path / "ws"), "run", str(tmp_path / "p.yml"), "--json"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    step = json.loads(result.stdout)["steps"][0]
    text = (Path(step["outputs"]["out"]) / "o.txt").read_text()
    assert text.startswith("a = 1") and sys.prefix not in text.split()[-1], text
    # the build's output (pip's own lines) is in the step's log
    log = Path(step["log_path"]).read_text() if step.get("log_path") else subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", "--home", str(tmp_path / "ws"), "runs", "logs",
         json.loads(result.stdout)["id"], "a"], capture_output=True, text=True).stdout
    assert "# ductwork: environment pip:" in log and "built on this node by Ray" in log, log[:3000]
    build = [line for line in log.splitlines() if line.startswith("#   ")]
    assert any("tomli" in line and ("Successfully installed" in line or "Collecting" in line) for line in build), \
        log[:3000]


def test_the_pip_runtime_env_is_fingerprinted_by_its_packages_only() -> None:
    """Ray's dict form (with install options) and the plain list give the signature of before."""
    spec = EnvironmentSpec(kind="pip", pip=("pandas<2",))
    assert environment_fingerprint(spec, pip_runtime_env(["pandas<2"])) == environment_fingerprint(
        spec, {"pip": ["pandas<2"]})


#: A step of our own in the manner of the Azure ML NYC-taxi example's prep step: its environment is
#: named the way that pipeline's components name Azure's curated one, and its code needs pandas 1.
NYC_STYLE_ENVIRONMENT = "azureml://registries/azureml/environments/sklearn-1.5/labels/latest"
PREP = """\
import pathlib, sys
import pandas as pd
green = pd.DataFrame({"fare": [7.5, 12.0]})
yellow = pd.DataFrame({"fare": [30.25]})
combined = green.append(yellow, ignore_index=True)  # DataFrame.append: removed in pandas 2
pathlib.Path(sys.argv[1], "prep.txt").write_text(f"{pd.__version__} {len(combined)} {sys.prefix}\\n")
"""
#: pandas 1.x wheels are built against numpy 1: with numpy 2 they fail to import ("numpy.dtype size
#: changed"). And Ray's worker runs inside the step's environment, where it imports the pyarrow it
#: inherits from Ductwork's own (26, which needs numpy >= 2): numpy<2 needs a pyarrow that supports it.
REQUIREMENTS = "pandas<2\nnumpy<2  # pandas 1.x wheels break with numpy 2\npyarrow<22  # Ray's worker imports it\n"


def _cli(home: Path, *args: str, timeout: float = 900) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    # Ray tries to build an environment 3 times before it gives up; once is enough to see it fail
    env = {**os.environ, "RUNTIME_ENV_RETRY_TIMES": "1"}
    result = subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "--home", str(home), *args],
                            capture_output=True, text=True, timeout=timeout, env=env)
    return result, time.monotonic() - started


@pytest.mark.ray
@pytest.mark.timeout(1200)
@pytest.mark.skipif(not _pypi_reachable(), reason="PyPI is not reachable: Ray cannot build the environment")
def test_an_azure_environment_reference_runs_in_the_registered_environment_of_its_name(tmp_path: Path) -> None:
    (tmp_path / "prep_src").mkdir()
    (tmp_path / "prep_src" / "prep.py").write_text(PREP)
    (tmp_path / "prep.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json\n"
        "name: prep_fares\nversion: 1\ntype: command\noutputs:\n  prep_data: {type: uri_folder}\n"
        f"code: ./prep_src\nenvironment: {NYC_STYLE_ENVIRONMENT}\n"
        "command: python prep.py ${{outputs.prep_data}}\n")
    pipeline = tmp_path / "pipeline.yml"
    pipeline.write_text("type: pipeline\nname: fares\njobs:\n  prep_job:\n    component: ./prep.yml\n")
    (tmp_path / "requirements.txt").write_text(REQUIREMENTS)

    # without a registered environment: the current one (pandas 2), one warning, pandas' own error
    plain, _ = _cli(tmp_path / "bare", "run", str(pipeline), "--json")
    assert plain.returncode == 1, plain.stderr[-2000:]
    warnings = [line for line in plain.stderr.splitlines() if "sklearn-1.5" in line]
    assert len(warnings) == 1 and "ductwork environment add sklearn-1.5" in warnings[0], plain.stderr[-2000:]
    failed = json.loads(plain.stdout)["steps"][0]
    assert failed["status"] == "failed"
    assert "AttributeError: 'DataFrame' object has no attribute 'append'" in "\n".join(failed["log_tail"])

    home = tmp_path / "ws"
    added, _ = _cli(home, "environment", "add", "sklearn-1.5", "--pip", str(tmp_path / "requirements.txt"))
    assert added.returncode == 0, added.stderr
    try:
        first, built = _cli(home, "run", str(pipeline), "--warm", "--json")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        assert "sklearn-1.5" not in first.stderr  # resolved: nothing to warn about
        step = json.loads(first.stdout)["steps"][0]
        version, rows, prefix = (Path(step["outputs"]["prep_data"]) / "prep.txt").read_text().split()
        assert version.startswith("1.") and rows == "3" and "runtime_resources" in prefix and prefix != sys.prefix
        assert step["signature"] != failed["signature"]  # what the environment builds is in the signature
        # the same Ray (the warm one, as on a cluster node): the environment is built already
        again, cached = _cli(home, "run", str(pipeline), "--warm", "--force", "--json")
        assert again.returncode == 0, again.stderr[-3000:]
        assert json.loads(again.stdout)["steps"][0]["signature"] == step["signature"]
        # a new version with other content is another signature; one that cannot be built is the step's error
        (tmp_path / "broken.txt").write_text("ductwork-no-such-package==0.0.1\n")
        assert _cli(home, "environment", "add", "sklearn-1.5", "--pip", str(tmp_path / "broken.txt"))[0].returncode == 0
        broken, _ = _cli(home, "run", str(pipeline), "--warm", "--json")
        assert broken.returncode == 1, broken.stderr[-3000:]
        not_built = json.loads(broken.stdout)["steps"][0]
        assert not_built["signature"] != step["signature"]
        assert not_built["error"].startswith("its environment could not be built by Ray: "), not_built["error"]
        assert "ductwork-no-such-package" in not_built["error"], not_built["error"]
    finally:
        _cli(home, "ray", "stop", timeout=120)
    print(f"\nregistered environment: first run (Ray start, build) {built:.1f} s, second run (built) {cached:.1f} s")
