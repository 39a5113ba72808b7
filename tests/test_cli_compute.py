"""``ductwork compute``: through the real entry point, one workspace per test."""

from __future__ import annotations

import json


def test_compute_add_list_update_remove(cli) -> None:
    added = cli("compute", "add", "gpu", "--cpus", "4", "--gpus", "1", "--memory", "8GB",
                "--resource", "highmem=1", "--price", "0.45", "--json")
    assert added.returncode == 0, added.stderr
    target = json.loads(added.stdout)
    assert (target["cpus"], target["gpus"], target["memory"], target["resources"], target["price_per_hour"]) == (
        4, 1, 8_000_000_000, {"highmem": 1}, 0.45)

    listed = cli("compute", "list", "--json")
    assert listed.returncode == 0 and listed.stderr == ""
    assert [t["name"] for t in json.loads(listed.stdout)] == ["local", "gpu"]

    table = cli("compute", "list")
    assert "gpu" in table.stdout and "8GB" in table.stdout and "highmem=1" in table.stdout

    duplicate = cli("compute", "add", "gpu")
    assert duplicate.returncode == 2
    assert "compute target 'gpu' already exists" in duplicate.stderr and "compute update gpu" in duplicate.stderr

    updated = cli("compute", "update", "gpu", "--memory", "512MiB", "--json")
    assert updated.returncode == 0 and json.loads(updated.stdout)["memory"] == 512 * 2**20
    assert json.loads(cli("compute", "show", "gpu", "--json").stdout)["gpus"] == 1

    assert cli("compute", "remove", "gpu").returncode == 0
    assert [t["name"] for t in json.loads(cli("compute", "list", "--json").stdout)] == ["local"]


def test_compute_bad_input_exits_2_without_traceback(cli) -> None:
    cases = {
        ("compute", "add", "x", "--memory", "8XB"): "memory '8XB' is not a size",
        ("compute", "add", "x", "--resource", "highmem=lots"): "custom resource 'highmem' amount 'lots' is not a number",
        ("compute", "add", "x", "--cpus", "abc"): "Invalid value for '--cpus'",
        ("compute", "add", "x", "--gpus", "-1"): "gpus -1.0 must be a number ≥ 0",
        ("compute", "remove", "local"): "'local' is the workspace default and cannot be removed",
        ("compute", "remove", "lcal"): "compute target 'lcal' not found. Did you mean 'local'?",
        ("compute", "show", "gpx"): "compute target 'gpx' not found",
        ("compute", "update", "local"): "nothing to change for compute target 'local'",
        ("compute", "frobnicate"): "No such command 'frobnicate'",
    }
    for args, expected in cases.items():
        result = cli(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout
