"""Step environments as Ray runtime environments: option construction (unit) and a real pip env on Ray."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from components.spec import ComponentSpec, EnvironmentSpec, JobSpec, PipelineSpec
from engine.compute import ResourceRequest
from engine.environments import runtime_env_for
from engine.executors import ray_options
from engine.graph import compile_pipeline


def test_pip_environment_becomes_a_pip_runtime_env() -> None:
    choice = runtime_env_for(EnvironmentSpec(kind="pip", pip=("tomli-w==1.2.0",)), "job 'a'")
    assert choice.runtime_env == {"pip": ["tomli-w==1.2.0"]} and choice.warning is None
    options = ray_options(ResourceRequest(cpus=1), 0, choice.runtime_env)
    assert options["runtime_env"] == {"pip": ["tomli-w==1.2.0"]}
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
    assert choice.runtime_env == {"pip": ["tomli-w==1.2.0"]}
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
    assert graph.steps["a"].runtime_env == {"pip": ["a"]}
    assert graph.steps["b"].runtime_env is None
    assert any(w.startswith("job 'b': conda is not installed") for w in graph.warnings)


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
        return True
    except OSError:
        return False


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
