"""``ductwork run``: warnings once, ``--verify`` (full digest check of reused outputs), pip environments."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from app.services.pipelines import load_pipeline
from app.services.workspace import open_workspace

ENTRY = "from app.cli import main; main()"


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ENTRY, "--home", str(home), *args], capture_output=True, text=True,
                          timeout=240)


def _azure_flavoured(tmp_path: Path) -> Path:
    (tmp_path / "step.yml").write_text(
        "type: command\nname: echo_step\nversion: 1\ncommand: echo hi\ndistribution: {type: mpi}\n")
    path = tmp_path / "p.yml"
    path.write_text("type: pipeline\nname: p\nexperiment_name: exp\njobs:\n  a:\n    component: ./step.yml\n"
                    "    compute: azureml:cpu-cluster\n")
    return path


def test_load_pipeline_reports_each_warning_once_even_when_loaded_again(tmp_path: Path) -> None:
    path = _azure_flavoured(tmp_path)
    ws = open_workspace(tmp_path / "ws")
    spec = load_pipeline(ws, path)
    assert len(spec.warnings) == 3, spec.warnings
    assert all(w.startswith(str(path)) for w in spec.warnings)
    assert load_pipeline(ws, spec).warnings == spec.warnings  # e.g. a background run validates it again
    ws.close()


def test_cli_run_prints_each_warning_once(tmp_path: Path) -> None:
    path = _azure_flavoured(tmp_path)
    result = cli(tmp_path / "ws", "run", str(path), "--in-process", "--quiet")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(lines) == 3 and len(set(lines)) == 3, result.stderr
    assert sum("experiment_name" in line for line in lines) == 1
    assert sum("cpu-cluster" in line for line in lines) == 1


def _model_pipeline(tmp_path: Path) -> Path:
    (tmp_path / "make.yml").write_text(
        "type: command\nname: make_model\nversion: 1\noutputs:\n  model: {type: uri_folder}\n"
        "command: echo weights > ${{outputs.model}}/model.bin\n")
    (tmp_path / "use.yml").write_text(
        "type: command\nname: use_model\nversion: 1\ninputs:\n  model: {type: uri_folder}\n"
        "outputs:\n  report: {type: uri_folder}\n"
        "command: cat ${{inputs.model}}/model.bin > ${{outputs.report}}/r.txt\n")
    path = tmp_path / "p.yml"
    path.write_text("type: pipeline\nname: verify_me\njobs:\n  make:\n    component: ./make.yml\n"
                    "  use:\n    component: ./use.yml\n    inputs:\n      model: ${{parent.jobs.make.outputs.model}}\n")
    return path


def test_verify_rehashes_reused_outputs_and_reruns_a_corrupt_one(tmp_path: Path) -> None:
    path, home = _model_pipeline(tmp_path), tmp_path / "ws"
    first = cli(home, "run", str(path), "--in-process", "--json")
    assert first.returncode == 0, first.stderr
    model = Path(json.loads(first.stdout)["steps"][0]["outputs"]["model"])
    verified = json.loads(cli(home, "run", str(path), "--verify", "--json").stdout)
    assert {s["status"] for s in verified["steps"]} == {"reused"}
    # corrupt the committed artifact in place, keeping its size (artifacts are read-only)
    target = model / "model.bin"
    os.chmod(model, 0o755)
    os.chmod(target, stat.S_IWUSR | stat.S_IRUSR)
    target.write_text("WEIGHTS\n")  # same size, other bytes
    plain = json.loads(cli(home, "run", str(path), "--json").stdout)  # size checked only: still reused
    assert {s["status"] for s in plain["steps"]} == {"reused"}
    result = cli(home, "run", str(path), "--verify", "--in-process", "--json")
    assert result.returncode == 0, result.stderr
    steps = {s["name"]: s for s in json.loads(result.stdout)["steps"]}
    assert steps["make"]["status"] == "completed"
    assert steps["make"]["reason"].startswith("cached output corrupt (model): digest "), steps["make"]["reason"]
    assert " ≠ " in steps["make"]["reason"]
    assert steps["use"]["status"] == "reused"  # the rerun produced the original bytes again (early cutoff)
    assert (Path(steps["make"]["outputs"]["model"]) / "model.bin").read_text() == "weights\n"
    again = json.loads(cli(home, "run", str(path), "--verify", "--json").stdout)
    assert {s["status"] for s in again["steps"]} == {"reused"}
