"""Environments as registry assets: parsing, versions, resolution of Azure references, and what
the step signature sees (kind and content, never the name). No Ray: the graph is compiled and
fingerprinted, nothing runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.services.environments import (
    add_environment,
    environment_resolver,
    get_environment,
    list_environments,
)
from components.errors import DuctworkError
from components.fields import parse_environment_reference
from components.loader import load_component_file
from components.spec import EnvironmentRef, JobSpec, PipelineSpec
from engine.environments import pip_runtime_env
from engine.graph import compile_pipeline
from engine.signature import environment_fingerprint
from registry import ConflictError, NotFoundError
from registry.environments import parse_conda_file, parse_requirements

NYC_STYLE = "azureml://registries/azureml/environments/sklearn-1.5/labels/latest"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, expected", [
    ("azureml:AzureML-sklearn-1.5:3", EnvironmentRef("AzureML-sklearn-1.5", "3")),
    ("azureml:AzureML-sklearn-1.5@latest", EnvironmentRef("AzureML-sklearn-1.5")),
    ("azureml:my-env", EnvironmentRef("my-env")),
    ("azureml:AzureML-AutoML@prod", EnvironmentRef("AzureML-AutoML", None, "prod")),
    (NYC_STYLE, EnvironmentRef("sklearn-1.5")),
    ("azureml://registries/azureml/environments/model-evaluation/versions/6", EnvironmentRef("model-evaluation", "6")),
    ("azureml://subscriptions/s/resourceGroups/g/workspaces/w/environments/e/versions/2", EnvironmentRef("e", "2")),
    ("azureml://datastores/blob/paths/x", None),
    ("python:3.11-slim", None),
])
def test_azure_environment_references_name_an_environment(text: str, expected: EnvironmentRef | None) -> None:
    assert parse_environment_reference(text) == expected


def test_requirements_drop_comments_and_refuse_other_files(tmp_path: Path) -> None:
    content = parse_requirements("# pinned for pandas 1\npandas<2  # DataFrame.append\n\nnumpy<2\n", "r.txt")
    assert content.spec == {"pip": ["pandas<2", "numpy<2"]}
    assert parse_requirements("pandas<2\nnumpy<2\n", "r.txt").content_hash == content.content_hash
    with pytest.raises(DuctworkError, match=r"requirements file 'r.txt' line 2 \('-r base.txt'\) names another file"):
        parse_requirements("pandas<2\n-r base.txt\n", "r.txt")
    with pytest.raises(DuctworkError, match="lists no packages"):
        parse_requirements("# nothing\n\n", "r.txt")


@pytest.mark.parametrize("text, message", [
    ("name: e\ndependencies:\n  - pip\n   - {pip: [a]\n", "conda file 'c.yml' is not valid YAML: mapping values are not "
                                                        "allowed here (line 4, column 10)"),
    ("- numpy\n", "conda file 'c.yml' is not a mapping"),
    ("name: e\n", "conda file 'c.yml' has no 'dependencies' list"),
    ("dependencies: [numpy, {pip: pandas}]\n", "conda file 'c.yml' dependency {'pip': 'pandas'} is neither"),
])
def test_malformed_conda_files_are_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(DuctworkError) as err:
        parse_conda_file(text, "c.yml")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_versions_follow_content(ws, tmp_path: Path) -> None:
    first = add_environment(ws, "AzureML-sklearn-1.5", pip=write(tmp_path, "a.txt", "pandas<2\nnumpy<2\n"))
    assert (first.created, first.environment.version, first.environment.kind) == (True, "1", "pip")
    # the same packages (a comment more) are the same environment: nothing new is registered
    again = add_environment(ws, "AzureML-sklearn-1.5", pip=write(tmp_path, "b.txt", "# same\npandas<2\nnumpy<2\n"))
    assert (again.created, again.environment.version) == (False, "1")
    other = add_environment(ws, "AzureML-sklearn-1.5", pip=write(tmp_path, "c.txt", "pandas<2\nnumpy<1.26\n"))
    assert (other.created, other.environment.version) == (True, "2")
    assert other.environment.content_hash != first.environment.content_hash
    conda = add_environment(ws, "AzureML-sklearn-1.5", version="10", description="conda",
                            conda=write(tmp_path, "e.yml", "dependencies: [python=3.11, pip, {pip: [pandas<2]}]\n"))
    assert conda.environment.kind == "conda" and conda.environment.conda["dependencies"][0] == "python=3.11"
    assert get_environment(ws, "AzureML-sklearn-1.5").version == "10"  # "10" is newer than "2"
    assert get_environment(ws, "azureml:AzureML-sklearn-1.5:1").pip == ["pandas<2", "numpy<2"]
    assert [e.version for e in list_environments(ws, all_versions=True)] == ["10", "2", "1"]
    with pytest.raises(ConflictError, match=r"'AzureML-sklearn-1.5:1' is already registered with other content.*"
                                            r"--version 11"):
        add_environment(ws, "AzureML-sklearn-1.5", version="1", pip=tmp_path / "c.txt")
    assert add_environment(ws, "AzureML-sklearn-1.5", version="1", pip=tmp_path / "b.txt").created is False


def test_refused_input_writes_nothing(ws, tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yml", "dependencies:\n  - numpy\n - pandas\n")
    cases = {
        "cannot be read: no such file": dict(pip=tmp_path / "missing.txt"),
        "is not valid YAML": dict(conda=bad),
        "neither --conda nor --pip given": {},
        "both --conda and --pip given": dict(conda=bad, pip=bad),
    }
    for message, options in cases.items():
        with pytest.raises(DuctworkError, match=message):
            add_environment(ws, "env", **options)
    with pytest.raises(DuctworkError, match="environment name 'bad name' is not valid"):
        add_environment(ws, "bad name", pip=write(tmp_path, "r.txt", "pandas\n"))
    assert list_environments(ws) == []
    with pytest.raises(NotFoundError, match=r"environment 'env' not found\. Register it with 'ductwork environment "
                                            r"add env --pip requirements.txt'"):
        get_environment(ws, "env")


def _component(tmp_path: Path, environment: str) -> Path:
    return write(tmp_path, "prep.yml", "name: prep\nversion: 1\ncommand: echo\noutputs:\n  o: {type: uri_folder}\n"
                                       f"environment: {environment}\n")


def _graph(ws, spec_path: Path):
    component = load_component_file(spec_path)
    spec = PipelineSpec(name="p", jobs={"prep": JobSpec("prep", component)})
    return compile_pipeline(spec, environments=environment_resolver(ws))


def test_a_reference_resolves_to_the_registered_environment_of_its_name(ws, tmp_path: Path) -> None:
    path = _component(tmp_path, NYC_STYLE)
    assert load_component_file(path).warnings == ()  # whether it is registered is the run's question
    unresolved = _graph(ws, path)
    assert unresolved.steps["prep"].runtime_env is None
    [warning] = [w for w in unresolved.warnings if "sklearn-1.5" in w]
    assert warning == (f"job 'prep': environment '{NYC_STYLE}' is an Azure environment reference and no environment "
                       "'sklearn-1.5' is registered here; the Python environment Ductwork runs in is used "
                       "instead. To build it, register one: ductwork environment add sklearn-1.5 --pip requirements.txt "
                       "(or --conda conda.yml)")

    add_environment(ws, "sklearn-1.5", pip=write(tmp_path, "r.txt", "pandas<2\nnumpy<2\npyarrow<22\n"))
    resolved = _graph(ws, path)
    node = resolved.steps["prep"]
    assert node.runtime_env == pip_runtime_env(["pandas<2", "numpy<2", "pyarrow<22"]) and resolved.warnings == ()
    assert node.component.environment.resolved.ref == "sklearn-1.5:1"


def test_a_version_that_is_not_registered_takes_the_latest_and_says_so(ws, tmp_path: Path) -> None:
    add_environment(ws, "AzureML-sklearn-1.5", pip=write(tmp_path, "r.txt", "pandas<2\n"))
    graph = _graph(ws, _component(tmp_path, "azureml:AzureML-sklearn-1.5:7"))
    assert graph.steps["prep"].runtime_env == pip_runtime_env(["pandas<2"])
    assert graph.warnings == ("job 'prep': environment 'AzureML-sklearn-1.5' has no version '7' registered here; "
                              "its latest version '1' is used (registered: 1)",)


def _environment(ws, path: Path) -> tuple[str, str]:
    node = _graph(ws, path).steps["prep"]
    return environment_fingerprint(node.component.environment, node.runtime_env)


def test_the_signature_sees_what_the_environment_builds_not_its_name(ws, tmp_path: Path) -> None:
    path = _component(tmp_path, "azureml:AzureML-sklearn-1.5@latest")
    current, words = _environment(ws, path)
    assert words == "current (fallback from azureml:AzureML-sklearn-1.5@latest)"

    add_environment(ws, "AzureML-sklearn-1.5", pip=write(tmp_path, "a.txt", "pandas<2\nnumpy<2\n"))
    first, words = _environment(ws, path)
    assert first != current and words.startswith("registered environment AzureML-sklearn-1.5:1 (pip, ")

    add_environment(ws, "AzureML-sklearn-1.5", pip=write(tmp_path, "b.txt", "pandas<2\nnumpy<1.26\n"))
    second, words = _environment(ws, path)
    assert second != first and words.startswith("registered environment AzureML-sklearn-1.5:2 (pip, ")

    # the content of version 1 again, as version 3: what it builds is version 1's, so is its fingerprint
    add_environment(ws, "AzureML-sklearn-1.5", version="3", pip=tmp_path / "a.txt")
    assert _environment(ws, path)[0] == first
    # and the same content under another name is the same environment
    add_environment(ws, "other-name", pip=tmp_path / "a.txt")
    assert _environment(ws, _component(tmp_path, "azureml:other-name:1"))[0] == first


def test_the_components_page_lists_environments_with_their_file(ws, tmp_path: Path, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DUCTWORK_HOME", str(ws.home))
    add_environment(ws, "AzureML-sklearn-1.5", description="pandas 1",
                    pip=write(tmp_path, "r.txt", "pandas<2  # DataFrame.append\nnumpy<2\n"))
    add_environment(ws, "AzureML-sklearn-1.5", conda=write(tmp_path, "c.yml", "dependencies: [python=3.11, pip]\n"))

    def page() -> None:
        from app.ui.views import components_page

        components_page.render()

    at = AppTest.from_function(page, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "hash" in d.value.columns)
    assert table[["name", "version", "kind"]].values.tolist() == [["AzureML-sklearn-1.5", "2", "conda"],
                                                                  ["AzureML-sklearn-1.5", "1", "pip"]]
    assert at.code[-1].value.strip() == "dependencies: [python=3.11, pip]"
    at.selectbox(key="env_file").set_value("AzureML-sklearn-1.5:1").run()
    assert at.code[-1].value.strip() == "pandas<2  # DataFrame.append\nnumpy<2"
