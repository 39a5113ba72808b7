"""A step's log keeps the first and last part of its output (engine/steplog.py): a step that
prints more than the cap leaves a log of bounded size with its head, its tail and one line
saying what was cut; the step's outcome is what it would be without the cap."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from engine.steplog import LOG_CAP_ENV, StepLog

CAP = 64 * 1024


def _command_pipeline(folder: Path, command: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "loud.yml").write_text("type: command\nname: lc_loud\nversion: 1\noutputs:\n  out: {type: uri_folder}\n"
                                     f"command: {command}\n")
    path = folder / "pipeline.yml"
    path.write_text("type: pipeline\nname: lc_pipeline\njobs:\n  loud:\n    component: ./loud.yml\n")
    return path


# 20,000 numbered lines (about 350 KiB), then two known last lines; the output folder is written last.
LOUD = ("'for i in $(seq 1 20000); do echo \"line $i of the loud step\"; done; echo second-last; "
        "echo the-very-last; echo done > ${{outputs.out}}/done.txt'")


@pytest.mark.parametrize("mode", [["--in-process"], []], ids=["in-process", "ray"])
def test_a_step_printing_more_than_the_cap_keeps_head_tail_and_the_cut_line(cli, tmp_path, mode):
    pipeline = _command_pipeline(tmp_path / "p", LOUD)
    done = cli("run", pipeline, "--json", *mode, env={LOG_CAP_ENV: str(CAP)})
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    step = data["steps"][0]
    assert step["status"] == "completed"
    assert Path(step["outputs"]["out"], "done.txt").read_text() == "done\n"
    log = Path(step["log"])
    text = log.read_text()
    assert log.stat().st_size < CAP + 4096  # the kept output, plus ductwork's own lines
    assert "line 1 of the loud step\n" in text and "line 20 of the loud step\n" in text
    assert text.rstrip().endswith("second-last\nthe-very-last")
    cut = re.search(r"# ductwork: … (.+) cut here \(bytes (\d+)–(\d+) of the step's output\); "
                    r"the log keeps its first and last 32\.0 KiB", text)
    assert cut, text[:2000]
    first, last = int(cut[2]), int(cut[3])
    total = sum(len(f"line {i} of the loud step\n") for i in range(1, 20001)) + len("second-last\nthe-very-last\n")
    assert first == CAP // 2 + 1 and last == total - CAP // 2  # exactly the middle was cut
    assert "line 10000 of the loud step" not in text
    tail = cli("runs", "logs", data["id"], "loud", "--tail", "3")
    assert tail.returncode == 0, tail.stderr
    assert tail.stdout.splitlines() == ["line 20000 of the loud step", "second-last", "the-very-last"]


def test_a_failing_step_over_the_cap_fails_as_it_would_without_it(cli, tmp_path):
    pipeline = _command_pipeline(tmp_path / "p", "'yes | head -c 300000; echo; echo failing now; exit 3'")
    done = cli("run", pipeline, "--json", "--in-process", env={LOG_CAP_ENV: str(CAP)})
    assert done.returncode == 1, done.stdout + done.stderr
    step = json.loads(done.stdout)["steps"][0]
    assert step["status"] == "failed" and step["exit_code"] == 3 and step["error"] == "exit code 3"
    assert Path(step["log"]).stat().st_size < CAP + 4096
    assert Path(step["log"]).read_text().rstrip().endswith("failing now")


def test_the_log_stays_bounded_while_the_output_streams_and_output_under_the_cap_is_kept_whole(tmp_path):
    path = tmp_path / "step.log"
    with StepLog(str(path), cap=1000) as log:
        log.start_output()
        log.write(b"x" * 5000)  # one write larger than the whole cap
        assert path.stat().st_size <= 500 + 2 * 500 + 300
        with log.pipe() as w:
            for i in range(2000):
                os.write(w, f"{i:05d}\n".encode())
                assert path.stat().st_size <= 500 + 2 * 500 + 300  # head + twice the tail + the cut line
        log.end_output()
    text = path.read_text()
    assert text.startswith("x" * 500 + "\n# ductwork: … ") and text.endswith("01999\n") and "cut here" in text
    short = tmp_path / "short.log"
    with StepLog(str(short), cap=1000) as log:
        log.start_output()
        log.write("a" * 999 + "\n")
        log.end_output()
    assert short.read_text() == "a" * 999 + "\n"


def test_a_function_step_on_ray_is_cut_back_when_it_ends_and_a_crashing_one_keeps_its_last_words(cli, tmp_path):
    code = tmp_path / "p" / "fn"
    code.mkdir(parents=True)
    (code / "steps.py").write_text(
        "import os\n\n\ndef loud() -> None:\n    for i in range(1, 20001):\n        print(f'line {i} of the loud step')\n"
        "    print('the-very-last')\n\n\ndef crash() -> None:\n    print('last words', flush=True)\n"
        "    os.kill(os.getpid(), 9)\n")
    for name in ("loud", "crash"):
        (tmp_path / "p" / f"{name}.yml").write_text(f"type: command\nname: lc_{name}\nversion: 1\ncode: ./fn\n"
                                                    f"function: steps:{name}\n")
    (tmp_path / "p" / "pipeline.yml").write_text("type: pipeline\nname: lc_fn\nsettings: {continue_on_step_failure: true}\n"
                                                 "jobs:\n  loud:\n    component: ./loud.yml\n"
                                                 "  crash:\n    component: ./crash.yml\n")
    done = cli("run", tmp_path / "p" / "pipeline.yml", "--json", env={LOG_CAP_ENV: str(CAP)})
    steps = {s["name"]: s for s in json.loads(done.stdout)["steps"]}
    assert steps["loud"]["status"] == "completed" and steps["crash"]["status"] == "failed"
    loud = Path(steps["loud"]["log"])
    assert loud.stat().st_size < CAP + 4096 and "cut here" in loud.read_text()
    assert loud.read_text().rstrip().endswith("line 20000 of the loud step\nthe-very-last")
    assert "last words" in Path(steps["crash"]["log"]).read_text()
