"""``ductwork pipeline`` and ``validate``: register, versions, export round trip, fork — real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from components.pipeline_loader import load_pipeline_file
from components.serialize import pipeline_to_dict


def _add_targets(cli) -> None:
    for name in ("cpu", "cpu-highmem", "gpu"):
        assert cli("compute", "add", name).returncode == 0


def test_validate_needs_the_compute_targets_the_pipeline_names(cli, basic: Path) -> None:
    invalid = cli("validate", basic / "pipeline.yml", basic / "train.yml")
    assert invalid.returncode == 2
    assert f"ok: {basic / 'train.yml'} (component 'train_model:3')" in invalid.stdout
    for name in ("cpu-highmem", "gpu"):
        assert f"'{name}'" in invalid.stderr, invalid.stderr
    assert "local" in invalid.stderr  # the known targets are listed
    assert "Traceback" not in invalid.stderr

    _add_targets(cli)
    valid = cli("validate", basic, "--json")
    assert valid.returncode == 0, valid.stdout
    reports = {Path(r["path"]).name: r for r in json.loads(valid.stdout)}
    assert all(r["ok"] for r in reports.values())
    assert {"pipeline.yml", "prep.yml", "train.yml"} <= set(reports)
    assert reports["pipeline.yml"]["kind"] == "pipeline" and reports["pipeline.yml"]["refs"] == ["nlp_train"]


def test_register_export_round_trip_and_fork(cli, basic: Path, tmp_path: Path) -> None:
    _add_targets(cli)
    first = cli("pipeline", "register", basic / "pipeline.yml", "--json")
    assert first.returncode == 0, first.stderr
    assert (json.loads(first.stdout)["ref"], json.loads(first.stdout)["created"]) == ("nlp_train:1", True)
    # the components it names by file were registered too
    components = json.loads(cli("component", "list", "--json").stdout)
    assert [(c["name"], c["version"]) for c in components] == [("prep_data", "1"), ("train_model", "3")]

    again = cli("pipeline", "register", basic / "pipeline.yml")
    assert again.returncode == 0 and "pipeline 'nlp_train:1' is unchanged" in again.stdout

    exported = cli("pipeline", "export", "nlp_train")
    assert exported.returncode == 0 and exported.stderr == ""
    assert "component: train_model:3" in exported.stdout and "component: prep_data:1" in exported.stdout
    out = tmp_path / "exported.yml"
    out.write_text(exported.stdout)
    assert cli("validate", out).returncode == 0
    # load → export → load gives the same graph
    original, reloaded = load_pipeline_file(basic / "pipeline.yml"), load_pipeline_file(out)
    assert reloaded.inputs == original.inputs and reloaded.settings == original.settings
    assert {n: (j.inputs, j.outputs, j.compute, j.timeout, j.retries) for n, j in reloaded.jobs.items()} == {
        n: (j.inputs, j.outputs, j.compute, j.timeout, j.retries) for n, j in original.jobs.items()
    }
    shown = json.loads(cli("pipeline", "show", "nlp_train:1", "--json").stdout)
    assert pipeline_to_dict(reloaded) == shown["spec"]
    same = cli("pipeline", "register", out, "--json")
    assert json.loads(same.stdout)["created"] is False  # identical content: still version 1

    (basic / "pipeline.yml").write_text((basic / "pipeline.yml").read_text().replace("learning_rate: 0.05", "learning_rate: 0.06"))
    second = json.loads(cli("pipeline", "register", basic / "pipeline.yml", "--json").stdout)
    assert (second["version"], second["created"]) == ("2", True)

    forked = json.loads(cli("pipeline", "fork", "nlp_train:1", "my_train", "--json").stdout)
    assert (forked["ref"], forked["forked_from"]) == ("my_train:1", "nlp_train:1")
    listed = json.loads(cli("pipeline", "list", "--json").stdout)
    assert [(p["name"], p["version"], p["jobs"]) for p in listed] == [("my_train", "1", 2), ("nlp_train", "2", 2)]
    assert "nlp_train" in cli("pipeline", "list").stdout


def test_pipeline_errors_exit_2(cli, basic: Path) -> None:
    unregistered = cli("pipeline", "export", "nlp_trian")
    assert unregistered.returncode == 2 and "pipeline 'nlp_trian' not found" in unregistered.stderr
    missing_targets = cli("pipeline", "register", basic / "pipeline.yml")
    assert missing_targets.returncode == 2 and "gpu" in missing_targets.stderr
    assert json.loads(cli("pipeline", "list", "--json").stdout) == []
    assert json.loads(cli("component", "list", "--json").stdout) == []  # nothing registered on failure
    used = cli("compute", "add", "gpu")
    assert used.returncode == 0
    usage = cli("pipeline", "register")
    assert usage.returncode == 2 and "Missing argument" in usage.stderr


def test_db_url_shares_one_registry_between_workspaces(cli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'team' / 'registry.db'}"
    assert cli("compute", "add", "shared-gpu", "--gpus", "1", home=tmp_path / "a", env={"DUCTWORK_DB_URL": url}).returncode == 0
    seen = cli("compute", "list", "--json", home=tmp_path / "b", env={"DUCTWORK_DB_URL": url})
    assert [t["name"] for t in json.loads(seen.stdout)] == ["local", "shared-gpu"]
    assert not (tmp_path / "a" / "registry.db").exists() and (tmp_path / "team" / "registry.db").is_file()
    alone = cli("compute", "list", "--json", home=tmp_path / "c")
    assert [t["name"] for t in json.loads(alone.stdout)] == ["local"]
