"""``ductwork environment``: through the real entry point, one workspace per test."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

REQUIREMENTS = "# pandas 1.x still has DataFrame.append\npandas<2\nnumpy<2\n"
CONDA = "name: sk\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip\n  - pip: [pandas<2, numpy<2]\n"


def test_environment_add_list_show(cli, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(REQUIREMENTS)
    (tmp_path / "conda.yml").write_text(CONDA)
    added = cli("environment", "add", "AzureML-sklearn-1.5", "--pip", "requirements.txt",
                "--description", "pandas 1 for DataFrame.append", "--json")
    assert added.returncode == 0, added.stderr
    first = json.loads(added.stdout)
    assert (first["ref"], first["kind"], first["created"]) == ("AzureML-sklearn-1.5:1", "pip", True)
    assert first["spec"] == {"pip": ["pandas<2", "numpy<2"]} and len(first["content_hash"]) == 64
    if int(importlib.metadata.version("pyarrow").split(".")[0]) >= 22:  # Ray's worker would not start in it
        assert "the environment keeps numpy below 2 but does not name pyarrow" in added.stderr
        assert "Add 'pyarrow<22' to the environment" in added.stderr

    same = cli("environment", "add", "AzureML-sklearn-1.5", "--pip", "requirements.txt")
    assert same.returncode == 0 and "'AzureML-sklearn-1.5:1' is already registered with this content" in same.stdout
    conda = cli("environment", "add", "AzureML-sklearn-1.5", "--conda", "conda.yml")
    assert conda.returncode == 0 and "registered environment 'AzureML-sklearn-1.5:2' (conda, " in conda.stdout

    listed = json.loads(cli("environment", "list", "--json").stdout)
    assert [(e["name"], e["version"], e["kind"]) for e in listed] == [("AzureML-sklearn-1.5", "2", "conda")]
    every = json.loads(cli("environment", "list", "--all-versions", "--json").stdout)
    assert [e["version"] for e in every] == ["2", "1"] and "content" not in every[0]
    table = cli("environment", "list", "--all-versions").stdout
    assert "AzureML-sklearn-1.5" in table and first["content_hash"][:12] in table and "pandas 1 for" in table

    shown = cli("environment", "show", "AzureML-sklearn-1.5:1")
    assert shown.returncode == 0 and REQUIREMENTS.strip() in shown.stdout and first["content_hash"] in shown.stdout
    latest = json.loads(cli("environment", "show", "azureml:AzureML-sklearn-1.5@latest", "--json").stdout)
    assert latest["version"] == "2" and latest["content"] == CONDA


def test_environment_errors_are_one_line_and_write_nothing(cli, tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("name: sk\ndependencies:\n  - numpy\n - pandas\n")
    (tmp_path / "r.txt").write_text("pandas<2\n")
    cases = {
        ("environment", "add", "sk"): "environment 'sk': neither --conda nor --pip given; give exactly one",
        ("environment", "add", "sk", "--pip", "r.txt", "--conda", "bad.yml"): "both --conda and --pip given",
        ("environment", "add", "sk", "--pip", "missing.txt"):
            "requirements file 'missing.txt' (--pip) cannot be read: no such file",
        ("environment", "add", "sk", "--conda", "bad.yml"): "conda file 'bad.yml' is not valid YAML: ",
        ("environment", "add", "s k", "--pip", "r.txt"): "environment name 's k' is not valid",
        ("environment", "show", "sk"): "environment 'sk' not found. Register it with 'ductwork environment add sk",
    }
    for args, expected in cases.items():
        result = cli(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert expected in result.stderr, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr + result.stdout, result.stderr
    assert json.loads(cli("environment", "list", "--json").stdout) == []

    assert cli("environment", "add", "sk", "--pip", "r.txt").returncode == 0
    (tmp_path / "r.txt").write_text("pandas<2\nnumpy<2\n")
    refused = cli("environment", "add", "sk", "--pip", "r.txt", "--version", "1")
    assert refused.returncode == 2 and "'sk:1' is already registered with other content" in refused.stderr
    assert "--version 2" in refused.stderr
    unknown = cli("environment", "show", "sk:7")
    assert unknown.returncode == 2 and "environment 'sk' has no version '7'. Registered versions: 1." in unknown.stderr
