"""What a step's signature is made of, end to end through ``ductwork run`` (in-process executor):
job environment variables rerun it, descriptions and compute do not, ignored files are no code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ENTRY = "from app.cli import main; main()"

COMPONENT = """\
type: command
name: echo_env
description: Write FOO and the word.
inputs:
  word: {type: string, default: hi}
outputs:
  out: {type: uri_folder}
code: ./src
command: python echo.py ${{outputs.out}} ${{inputs.word}}
"""

PIPELINE = """\
type: pipeline
name: env_reuse
jobs:
  echo:
    type: command
    component: ./comp.yml
    environment_variables: {FOO: one}
"""


def run(home: Path, pipeline: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", ENTRY, "--home", str(home), "run", str(pipeline), "--in-process",
                           "--json"], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)["steps"][0]


def test_environment_variables_rerun_descriptions_and_compute_do_not_and_ignored_files_are_no_code(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "echo.py").write_text("import os, sys\n"
                                 "open(os.path.join(sys.argv[1], 'out.txt'), 'w').write(os.environ['FOO'] + sys.argv[2])\n")
    (src / ".amlignore").write_text("scratch/\n*.log\n")
    comp, pipeline, home = tmp_path / "comp.yml", tmp_path / "p.yml", tmp_path / "ws"
    comp.write_text(COMPONENT)
    pipeline.write_text(PIPELINE)

    first = run(home, pipeline)
    assert first["status"] == "completed" and first["reason"] == "first run"
    assert (Path(first["outputs"]["out"]) / "out.txt").read_text() == "onehi"

    # (a) a changed environment variable reruns the step, and says which
    pipeline.write_text(PIPELINE.replace("FOO: one", "FOO: two"))
    changed = run(home, pipeline)
    assert changed["status"] == "completed" and changed["reason"] == "environment variable FOO changed"
    assert (Path(changed["outputs"]["out"]) / "out.txt").read_text() == "twohi"

    # (b) only the description, display name, tags, compute or resources of an unversioned component: reused
    comp.write_text(COMPONENT.replace("Write FOO and the word.", "Writes FOO, then the word.")
                    + "display_name: Echo\ntags: {team: a}\ncompute: local\nresources: {cpus: 1}\n")
    described = run(home, pipeline)
    assert described["status"] == "reused", described["reason"]
    assert described["signature"] == changed["signature"]

    # (c) a file .amlignore lists changes neither the digest (reuse holds) nor appears in the snapshot
    (src / "scratch").mkdir()
    (src / "scratch" / "big.bin").write_bytes(b"x" * 1000)
    (src / "debug.log").write_text("noise")
    shutil.rmtree(home / "snapshots")  # so that this run snapshots the code again
    ignored = run(home, pipeline)
    assert ignored["status"] == "reused", ignored["reason"]
    snapshots = [p for p in (home / "snapshots").iterdir() if (p / "echo.py").is_file()]
    assert snapshots, "the run keeps its code snapshot"
    for snapshot in snapshots:
        assert sorted(p.name for p in snapshot.rglob("*")) == ["echo.py"]

    # a real edit of the code still reruns, named by file (not by two automatic versions)
    (src / "echo.py").write_text((src / "echo.py").read_text() + "# edited\n")
    edited = run(home, pipeline)
    assert edited["status"] == "completed" and edited["reason"] == "code changed: echo.py"
