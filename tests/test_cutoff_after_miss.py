"""Early cutoff after a miss, through the CLI: a step whose artifact was deleted or corrupted
reruns, makes the same bytes, and the steps downstream of it are reused — and say why."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

ENTRY = "from app.cli import main; main()"


def cli(home: Path, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", ENTRY, "--home", str(home), *args, "--in-process", "--json"],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(done.stdout)


def _chain(tmp_path: Path) -> Path:
    """make → grow → report, command steps; make's output is the same bytes on every run."""
    (tmp_path / "make.yml").write_text(
        "type: command\nname: make_data\nversion: 1\noutputs:\n  data: {type: uri_folder}\n"
        "command: echo rows > ${{outputs.data}}/d.txt\n")
    for name, out in (("grow", "more"), ("report", "text")):
        (tmp_path / f"{name}.yml").write_text(
            f"type: command\nname: {name}_step\nversion: 1\ninputs:\n  src: {{type: uri_folder}}\n"
            f"outputs:\n  {out}: {{type: uri_folder}}\n"
            f"command: cat ${{{{inputs.src}}}}/* > ${{{{outputs.{out}}}}}/{name}.txt; echo {name} >> "
            f"${{{{outputs.{out}}}}}/{name}.txt\n")
    path = tmp_path / "chain.yml"
    path.write_text("type: pipeline\nname: cutoff_chain\njobs:\n  make:\n    component: ./make.yml\n"
                    "  grow:\n    component: ./grow.yml\n    inputs:\n      src: ${{parent.jobs.make.outputs.data}}\n"
                    "  report:\n    component: ./report.yml\n    inputs:\n"
                    "      src: ${{parent.jobs.grow.outputs.more}}\n")
    return path


def _steps(data: dict) -> dict[str, dict]:
    return {s["name"]: s for s in data["steps"]}


def test_a_deleted_artifact_reruns_its_step_and_the_downstream_steps_are_reused_saying_why(tmp_path):
    path, home = _chain(tmp_path), tmp_path / "ws"
    first = cli(home, "run", str(path))
    data_dir = Path(_steps(first)["make"]["outputs"]["data"])
    shutil.rmtree(data_dir)  # rm -rf <home>/artifacts/<digest>
    again = _steps(cli(home, "run", str(path)))
    assert again["make"]["status"] == "completed" and again["make"]["reason"] == "cached output missing (data)"
    assert again["grow"]["status"] == "reused"
    assert again["grow"]["reason"] == (f"reused from run {first['id']}: its input from make was rebuilt "
                                       "with the same content")
    assert again["report"]["status"] == "reused" and again["report"]["reason"] == f"reused from run {first['id']}"
    assert (data_dir / "d.txt").read_text() == "rows\n"


def test_a_corrupt_artifact_found_by_verify_reruns_its_step_and_the_downstream_steps_are_reused(tmp_path):
    path, home = _chain(tmp_path), tmp_path / "ws"
    first = cli(home, "run", str(path))
    target = Path(_steps(first)["make"]["outputs"]["data"]) / "d.txt"
    os.chmod(target.parent, 0o755)
    os.chmod(target, stat.S_IWUSR | stat.S_IRUSR)
    target.write_text("ROWS\n")  # same size, other bytes
    verify = subprocess.run([sys.executable, "-c", ENTRY, "--home", str(home), "verify"], capture_output=True,
                            text=True, timeout=240)
    assert verify.returncode != 0 and "corrupt" in verify.stdout + verify.stderr, verify.stdout + verify.stderr
    again = _steps(cli(home, "run", str(path)))
    assert again["make"]["status"] == "completed" and "corrupt" in again["make"]["reason"], again["make"]
    assert again["grow"]["status"] == again["report"]["status"] == "reused"
    assert again["grow"]["reason"].endswith(": its input from make was rebuilt with the same content")
    # the same found by run --verify instead
    os.chmod(target.parent, 0o755)
    os.chmod(target, stat.S_IWUSR | stat.S_IRUSR)
    target.write_text("ROWS\n")
    third = _steps(cli(home, "run", str(path), "--verify"))
    assert third["make"]["status"] == "completed"
    assert third["make"]["reason"].startswith("cached output corrupt (data): digest "), third["make"]["reason"]
    assert third["grow"]["status"] == third["report"]["status"] == "reused"
    assert third["grow"]["reason"].endswith(": its input from make was rebuilt with the same content")
    assert target.read_text() == "rows\n"
