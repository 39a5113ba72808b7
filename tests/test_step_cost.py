"""A command step costs one process start (engine/runtime.py, engine/processes.py): its shell,
started without a Python ``preexec_fn`` and without a guard shell, in its own session; the
worker's reaper, started once per worker process, kills the step's whole process group when
the worker dies. These tests hold the behaviour that must not change with that: the process
group still dies with its worker (grandchildren included, even when the worker dies before it
could list the step), standard input is still /dev/null, the user's line numbers are still
the user's, and a dead reaper never fails a step."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import psutil

from engine import processes
from engine.processes import REAPER_SCRIPT, step_lifeline
from engine.runtime import ANNOUNCE, StepTask, run_step

ROOT = Path(__file__).resolve().parents[1]


def _wait_for(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _with(marker: str) -> list[psutil.Process]:
    """Live processes whose command line contains ``marker`` (a step's shell shows its script)."""
    found = []
    for p in psutil.process_iter(["cmdline", "status", "pid"]):
        if (p.info["pid"] != os.getpid() and marker in " ".join(p.info["cmdline"] or [])
                and p.info["status"] != psutil.STATUS_ZOMBIE):
            found.append(p)
    return found


#: The sleeps of the two worker tests below are found (and killed) by their command line: their
#: durations carry digits of this session's own, or another test's sleep running at the same time
#: on another worker (test_signals' `sleep 71.1`, `sleep 72.5`), or another session's run of these
#: tests, would be counted, and killed.
_TAG = f"{uuid.uuid4().int % 10**6:06d}"
NAP, RACE, RAY_EXIT = f"71.{_TAG}", f"72.{_TAG}", f"73.{_TAG}"


def _sleeps(marker: str) -> list[psutil.Process]:
    return [p for p in _with(marker) if (p.info["cmdline"] or [""])[0] == "sleep"]


def _kill_all(marker: str) -> None:
    for p in _with(marker):
        p.kill()


def _task(tmp_path: Path, command: str, job: str = "j") -> tuple[StepTask, Path]:
    area, out = tmp_path / f"area-{job}", tmp_path / f"out-{job}"
    area.mkdir()
    out.mkdir()
    return StepTask(run_id="r1", job=job, kind="command", area=str(area), log_path=str(tmp_path / f"{job}.log"),
                    command=command.replace("OUT", str(out)), output_dirs={"out": str(out)}, capture_fds=False,
                    mark_start=False), out


def test_the_steps_shell_is_the_workers_own_child_reading_dev_null_with_the_users_line_numbers(tmp_path):
    task, out = _task(tmp_path, "echo $PPID > OUT/ppid; readlink /proc/self/fd/0 > OUT/stdin\n"
                                "echo $LINENO > OUT/line; read -r x && echo read > OUT/read || echo eof > OUT/read")
    outcome = run_step(task)
    assert outcome.ok, (outcome.error, Path(task.log_path).read_text())
    assert int((out / "ppid").read_text()) == os.getpid()  # no guard shell between the worker and the step
    assert (out / "stdin").read_text().strip() == "/dev/null"
    assert (out / "line").read_text().strip() == "2"
    assert (out / "read").read_text().strip() == "eof"


def test_a_syntax_error_is_reported_on_the_users_own_line(tmp_path):
    task, _ = _task(tmp_path, "echo fine\nif then fi")
    outcome = run_step(task)
    assert not outcome.ok and outcome.exit_code == 2
    log = Path(task.log_path).read_text()
    assert "fine" in log and "line 2: syntax error" in log


def _reapers_of(pid: int) -> list[psutil.Process]:
    return _with(f"ductwork-step-reaper-of-{pid}")


def test_one_reaper_serves_every_step_of_a_worker(tmp_path):
    for i in range(4):
        task, _ = _task(tmp_path, "true", job=f"j{i}")
        assert run_step(task).ok
    reapers = _reapers_of(os.getpid())
    assert [r.pid for r in reapers] == [processes.reaper_pid()], reapers
    assert reapers[0].pid not in {c.pid for c in psutil.Process().children()}  # nobody's child: see the next tests


def test_a_dead_reaper_is_replaced_and_no_step_fails_for_it(tmp_path):
    step_lifeline()
    first = processes.reaper_pid()
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert _wait_for(lambda: not _reapers_of(os.getpid()), 10)
    task, out = _task(tmp_path, "echo ok > OUT/ok")
    outcome = run_step(task)
    assert outcome.ok and (out / "ok").read_text() == "ok\n"
    assert processes.reaper_pid() not in (None, first)  # a new one
    assert [r.pid for r in _reapers_of(os.getpid())] == [processes.reaper_pid()]
    # and a step whose reaper died after it was handed the pipe: no SIGPIPE, no message
    r, w = os.pipe()
    os.close(r)
    try:
        done = subprocess.run(["bash", "-c", ANNOUNCE + "echo ran"], stdin=w, capture_output=True, text=True)
    finally:
        os.close(w)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ran\n", "")


WORKER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from engine.runtime import StepTask, run_step
    task = StepTask(run_id="r1", job="nap", kind="command", area={area!r}, log_path={log!r},
                    command="echo napping; sleep {nap}4 & sleep {nap}5; wait", capture_fds=False, mark_start=False)
    run_step(task)
""")


@contextlib.contextmanager
def _napping_worker(tmp_path: Path, nap: str):
    """A worker process whose command step runs two ``sleep {nap}…`` (one in the background),
    yielded once both run; whatever is left of them is killed at the end."""
    area, log = tmp_path / "area", tmp_path / "nap.log"
    area.mkdir()
    worker = subprocess.Popen([sys.executable, "-c", WORKER.format(root=str(ROOT), area=str(area), log=str(log),
                                                                   nap=nap)])
    try:
        assert _wait_for(lambda: log.is_file() and "napping" in log.read_text(), 60), "the step never started"
        assert _wait_for(lambda: len(_sleeps(f"sleep {nap}")) == 2, 10), _with(f"sleep {nap}")
        yield worker
    finally:
        worker.kill()
        worker.wait()
        _kill_all(f"sleep {nap}")


def test_a_killed_worker_takes_its_steps_whole_process_group_with_it(tmp_path):
    with _napping_worker(tmp_path, NAP) as worker:
        assert len(_reapers_of(worker.pid)) == 1
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert _wait_for(lambda: not _with(f"sleep {NAP}"), 10), "the step outlived its worker"
        assert _wait_for(lambda: not _reapers_of(worker.pid), 10)


def test_a_worker_that_kills_its_children_as_it_exits_still_takes_the_whole_step_with_it(tmp_path):
    """A Ray worker told to exit (its job's driver died) SIGKILLs its own children first (Ray's
    ``kill_child_processes_on_worker_exit``): the step's shell goes, its background processes
    and grandchildren stay unless the reaper is not among those children."""
    with _napping_worker(tmp_path, RAY_EXIT) as worker:
        children = psutil.Process(worker.pid).children()
        assert any(ANNOUNCE[:20] in " ".join(c.cmdline()) for c in children)  # the step's shell is one
        for child in children:  # as Ray's worker does on its way out
            child.kill()
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert _wait_for(lambda: not _with(f"sleep {RAY_EXIT}"), 10), "the step's processes outlived their worker"
        assert _wait_for(lambda: not _reapers_of(worker.pid), 10)


RACER = textwrap.dedent("""
    import os, signal, subprocess, sys
    sys.path.insert(0, {root!r})
    from engine.processes import step_lifeline
    from engine.runtime import ANNOUNCE
    proc = subprocess.Popen(["bash", "-c", ANNOUNCE + "sleep {race}6 & sleep {race}7; wait"], stdin=step_lifeline(),
                            start_new_session=True)
    os.kill(os.getpid(), signal.SIGKILL)  # at once: the worker itself never lists the step anywhere
""")


def test_a_worker_killed_right_after_the_start_still_takes_the_step_with_it(tmp_path):
    worker = subprocess.run([sys.executable, "-c", RACER.format(root=str(ROOT), race=RACE)])
    assert worker.returncode == -signal.SIGKILL
    try:
        # the step told the reaper itself: its group is killed as soon as it did
        assert _wait_for(lambda: not _with(f"sleep {RACE}"), 10), _with(f"sleep {RACE}")
    finally:
        _kill_all(f"sleep {RACE}")


def test_the_reaper_script_runs_under_posix_sh(tmp_path):
    """The reaper runs under ``sh`` (dash on Debian): list two groups, unlist one, end the pipe."""
    groups = [subprocess.Popen(["sleep", f"73.{i}"], start_new_session=True) for i in range(2)]
    try:
        reaper = subprocess.Popen(["sh", "-c", REAPER_SCRIPT], stdin=subprocess.PIPE, start_new_session=True)
        reaper.communicate(f"+{groups[0].pid}\n+{groups[1].pid}\n-{groups[1].pid}\n".encode(), timeout=10)
        assert reaper.returncode == 0
        assert groups[0].wait(timeout=10) == -signal.SIGKILL
        assert groups[1].poll() is None  # unlisted: left alone
    finally:
        for g in groups:
            g.kill()
            g.wait()


# ------------------------------------------------------------------ the scratch copy of the code
#: Everything a step can do to its working folder: write into a file in place, truncate one,
#: chmod files and folders, delete and rename, add files, replace a file by a link.
VANDAL = ("echo appended >> train.py; : > pkg/util.py; chmod 000 data.txt; chmod 777 run.sh; chmod 000 pkg; "
          "rm -f keep.txt; mv link.txt moved.txt; mkdir -p mlruns/0 && echo m > mlruns/0/meta; "
          "ln -sf /etc/hostname train2.py; echo vandalised")
#: What a later step reports of its working folder.
REPORT = ("cat train.py pkg/util.py keep.txt data.txt link.txt > OUT/bytes; stat -c '%n %a' train.py run.sh "
          "data.txt pkg pkg/util.py > OUT/modes; ls -A > OUT/names")


def _code_folder(root: Path) -> Path:
    folder = root / "code"
    (folder / "pkg").mkdir(parents=True)
    (folder / "train.py").write_text("print('train')\n")
    (folder / "pkg" / "util.py").write_text("X = 1\n")
    (folder / "keep.txt").write_text("keep\n")
    (folder / "data.txt").write_text("data\n")
    (folder / "run.sh").write_text("#!/bin/sh\necho run\n")
    (folder / "run.sh").chmod(0o755)
    os.symlink("keep.txt", folder / "link.txt")
    return folder


def _state(folder: Path) -> list[tuple[str, int, bytes | str]]:
    """Every entry of ``folder``: path, mode, bytes (or a link's target)."""
    found = []
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        what = os.readlink(path) if path.is_symlink() else b"" if path.is_dir() else path.read_bytes()
        found.append((path.relative_to(folder).as_posix(), st.st_mode, what))
    return found


def test_a_step_vandalising_its_working_folder_changes_neither_the_snapshot_nor_the_next_steps_copy(tmp_path):
    from components.digest import code_digest
    from registry.snapshots import snapshot_code

    source = _code_folder(tmp_path)
    digest = code_digest(source)
    snapshot = snapshot_code(source, tmp_path / "snapshots", digest)
    before = _state(snapshot)
    vandal, _ = _task(tmp_path, VANDAL, job="vandal")
    vandal = StepTask(**{**vandal.__dict__, "code_dir": str(snapshot)})
    outcome = run_step(vandal)
    assert outcome.ok, Path(vandal.log_path).read_text()
    assert "vandalised" in Path(vandal.log_path).read_text()
    assert _state(snapshot) == before and code_digest(snapshot) == digest
    report, out = _task(tmp_path, REPORT, job="report")
    report = StepTask(**{**report.__dict__, "code_dir": str(snapshot)})
    outcome = run_step(report)
    assert outcome.ok, Path(report.log_path).read_text()
    assert (out / "bytes").read_text() == "print('train')\nX = 1\nkeep\ndata\nkeep\n"
    assert (out / "modes").read_text() == "train.py 644\nrun.sh 755\ndata.txt 644\npkg 755\npkg/util.py 644\n"
    assert (out / "names").read_text().split() == ["data.txt", "keep.txt", "link.txt", "pkg", "run.sh", "train.py"]
    assert os.readlink(Path(report.area) / "code" / "link.txt") == "keep.txt"  # a link stays a link


def test_a_run_whose_step_vandalises_its_working_folder_is_reused_next_time_and_reruns_on_pristine_code(tmp_path):
    from test_engine_support import Harness, command, single_job

    from components.spec import OutputSpec

    h = Harness(tmp_path)
    code = _code_folder(tmp_path)
    before = _state(code)
    outputs = {"out": OutputSpec("out")}
    vandal = command("vandal", VANDAL + "; echo done > ${{outputs.out}}/done", code, outputs=outputs)
    first = h.run(single_job(vandal)).steps[0]
    assert first.status == "completed", first.error
    assert _state(code) == before
    assert h.run(single_job(vandal)).steps[0].status == "reused"  # its code is unchanged: same signature
    report = command("report", REPORT.replace("OUT", "${{outputs.out}}"), code, outputs=outputs)
    again = h.run(single_job(report)).steps[0]
    assert again.status == "completed", again.error
    out = h.artifacts.path(again.outputs["out"].digest)
    assert (out / "bytes").read_text() == "print('train')\nX = 1\nkeep\ndata\nkeep\n"
    assert "run.sh 755" in (out / "modes").read_text()
