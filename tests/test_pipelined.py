"""Chains pipelined on Ray (engine/handoff.py, issue #13): a step whose decision cannot depend on
reuse (forced, or not deterministic) is submitted with its running upstream's task as a Ray
dependency and links its inputs from that task's outcome; every task commits its own outputs.
What must hold: the same results and records as before, early cutoff kept for reusable steps,
and crash safety — a failing, retried, or killed upstream withdraws what was submitted after it,
and a driver killed mid-chain leaves records the next open completes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
from test_engine_support import Harness, command, function, statuses

from components.spec import InputSpec, JobOutput, JobSpec, LiteralValue, OutputSpec, PipelineSpec
from engine.executors import RayExecutor
from engine.runstore import InMemoryRunStore

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ray_runtime():
    import ray

    temp_dir = f"/tmp/dw-pl-{uuid.uuid4().hex[:6]}"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=temp_dir)
    yield ray
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)  # Ray leaves its session folder (logs, sockets) behind


def chain(n: int, link_cmd: str = "", *, deterministic: bool = True, retries: int = 0,
          jobs: dict[int, dict] | None = None) -> PipelineSpec:
    """s0 writes 0; s<i> copies its upstream's lines and adds i (``link_cmd`` runs first)."""
    head = command("head", "echo 0 > ${{outputs.out}}/v", None, {}, {"out": OutputSpec("out")},
                   is_deterministic=deterministic)
    link = command("link", link_cmd + "cat ${{inputs.x}}/v > ${{outputs.out}}/v && echo ${{inputs.n}} >> "
                   "${{outputs.out}}/v", None, {"x": InputSpec("x", "uri_folder"), "n": InputSpec("n", "integer")},
                   {"out": OutputSpec("out")}, is_deterministic=deterministic)
    specs = {"s0": JobSpec("s0", head)}
    for i in range(1, n):
        specs[f"s{i}"] = JobSpec(f"s{i}", link, {"x": JobOutput(f"s{i - 1}", "out"), "n": LiteralValue(i)},
                                 retries=retries, **(jobs or {}).get(i, {}))
    return PipelineSpec(name=f"chain{n}", jobs=specs)


def reasons_seen(h: Harness, spec: PipelineSpec, **kw):
    seen: dict[str, list[str]] = {}

    def on_event(event) -> None:
        if event.step is not None:
            seen.setdefault(event.step.job, []).append(f"{event.step.status}: {event.step.reason}")

    return h.run(spec, on_event=on_event, **kw), seen


def last_output(h: Harness, result, job: str) -> str:
    ref = next(s for s in result.steps if s.job == job).outputs["out"]
    return (h.artifacts.path(ref.digest) / "v").read_text()


def test_a_forced_chain_is_submitted_ahead_and_gives_what_a_step_by_step_run_gives(ray_runtime, tmp_path):
    h = Harness(tmp_path, executor_factory=RayExecutor)
    first = h.run(chain(12))
    assert set(statuses(first).values()) == {"completed"}
    forced, seen = reasons_seen(h, chain(12), force=True)
    assert set(statuses(forced).values()) == {"completed"}
    ahead = [job for job, events in seen.items() if any("submitted to start when" in e for e in events)]
    assert sorted(ahead) == sorted(f"s{i}" for i in range(1, 12)), seen
    assert last_output(h, forced, "s11").split() == [str(i) for i in range(12)]
    for a, b in zip(first.steps, forced.steps, strict=True):  # same content, same signatures
        assert a.outputs == b.outputs and a.signature == b.signature and a.signature
        assert b.attempts == 1 and b.status == "completed" and b.reason == "forced (--force)"
    assert h.run(chain(12)).count("reused") == 12  # the forced run's records are reusable
    assert not any(h.artifacts.scratch_of(forced.run.id).glob("*")), "scratch areas were left behind"


def test_a_first_run_goes_ahead_and_early_cutoff_still_reuses_what_an_unchanged_output_feeds(ray_runtime,
                                                                                              tmp_path):
    h = Harness(tmp_path, executor_factory=RayExecutor)
    first, seen = reasons_seen(h, chain(5))  # every output is new: each step goes ahead of its upstream
    assert set(statuses(first).values()) == {"completed"}
    assert all(any("submitted to start when s" in e for e in seen[f"s{i}"]) for i in range(1, 5)), seen
    assert all(s.reason == "first run" for s in first.steps)
    assert h.run(chain(5)).count("reused") == 5
    # s0 changes but writes the same output: s1 went ahead, is withdrawn once s0 commits, and reused
    spec = chain(5)
    jobs = dict(spec.jobs)
    head = jobs["s0"].component
    jobs["s0"] = JobSpec("s0", command("head", head.command + " && true", None, {}, dict(head.outputs)))
    cutoff, seen = reasons_seen(h, PipelineSpec(name=spec.name, jobs=jobs))
    st = statuses(cutoff)
    assert st["s0"] == "completed" and all(st[f"s{i}"] == "reused" for i in range(1, 5)), st
    assert any("submitted to start when s0" in e for e in seen["s1"]), seen["s1"]
    assert not (h.logs / cutoff.run.id / "s1.log").exists()  # the withdrawn attempt left no log
    assert next(s for s in cutoff.steps if s.job == "s1").attempts == 0
    # a non-deterministic chain in a plain run: each step after the first goes ahead and runs
    loose, seen = reasons_seen(h, chain(4, deterministic=False))
    assert set(statuses(loose).values()) == {"completed"}
    assert all(any("submitted to start when" in e for e in seen[f"s{i}"]) for i in range(1, 4)), seen
    assert not any(h.artifacts.scratch_of(cutoff.run.id).glob("*"))


def test_a_failing_step_withdraws_what_was_submitted_after_it(ray_runtime, tmp_path):
    h = Harness(tmp_path, executor_factory=RayExecutor)
    spec = chain(8, jobs={3: {"environment_variables": {"FAIL_AT": "3"}}},
                 link_cmd='if [ "$FAIL_AT" = "3" ]; then echo failing; exit 7; fi; ')
    result = h.run(spec, force=True)
    st = statuses(result)
    assert [st[f"s{i}"] for i in range(8)] == ["completed"] * 3 + ["failed"] + ["skipped"] * 4
    assert all(s.reason == "upstream s3 failed" for s in result.steps if s.status == "skipped")
    assert all(s.attempts == 0 and s.log_path is None for s in result.steps if s.status == "skipped")
    assert not any((h.logs / result.run.id / f"s{i}.log").exists() for i in range(4, 8))  # never started
    assert result.run.status == "failed"
    assert not any(h.artifacts.scratch_of(result.run.id).glob("*"))


def test_a_retried_step_has_its_followers_submitted_again_after_its_next_attempt(ray_runtime, tmp_path):
    h = Harness(tmp_path, executor_factory=RayExecutor)
    flag = tmp_path / "failed-once"
    spec = chain(6, link_cmd=f'if [ "${{{{inputs.n}}}}" = 2 ] && [ ! -e {flag} ]; then touch {flag}; exit 3; fi; ',
                 retries=1)
    result = h.run(spec, force=True)
    assert set(statuses(result).values()) == {"completed"}, [(s.job, s.error) for s in result.steps]
    attempts = {s.job: s.attempts for s in result.steps}
    assert attempts["s2"] == 2 and all(attempts[f"s{i}"] == 1 for i in (1, 3, 4, 5)), attempts
    assert last_output(h, result, "s5").split() == [str(i) for i in range(6)]
    assert "attempt 1" in (h.logs / result.run.id / "s3.log").read_text()


def test_a_worker_killed_mid_chain_fails_its_step_and_skips_the_rest(ray_runtime, tmp_path):
    h = Harness(tmp_path, executor_factory=RayExecutor)
    code = tmp_path / "crash"
    code.mkdir()
    (code / "steps.py").write_text("import os, signal\n\n\ndef crash(x, n, out):\n"
                                   "    os.kill(os.getpid(), signal.SIGKILL)  # the Ray worker running it\n")
    crash = function("crash", "crash", code, {"x": InputSpec("x", "uri_folder"), "n": InputSpec("n", "integer")},
                     {"out": OutputSpec("out")})
    spec = chain(6)
    jobs = dict(spec.jobs)
    jobs["s2"] = JobSpec("s2", crash, jobs["s2"].inputs)
    spec = PipelineSpec(name=spec.name, jobs=jobs)
    started = time.monotonic()
    result = h.run(spec, force=True)
    st = statuses(result)
    assert [st[f"s{i}"] for i in range(6)] == ["completed"] * 2 + ["failed"] + ["skipped"] * 3, \
        [(s.job, s.status, s.error) for s in result.steps]
    assert next(s for s in result.steps if s.job == "s2").error.startswith("worker crashed")
    assert time.monotonic() - started < 60
    assert h.run(chain(6)).count("reused") == 2  # what completed before the crash is reusable


def _cli(home: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DUCTWORK_WARM": "0"}
    return subprocess.Popen([sys.executable, "-m", "app.cli", "--home", str(home), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _write_chain_yaml(folder: Path, n: int, nap: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "head.yml").write_text(
        "name: head\nversion: '1'\ntype: command\noutputs:\n  out: {type: uri_folder}\n"
        "command: echo 0 > ${{outputs.out}}/v\n")
    (folder / "link.yml").write_text(
        "name: link\nversion: '1'\ntype: command\n"
        "inputs:\n  x: {type: uri_folder}\n  n: {type: integer}\n"
        "outputs:\n  out: {type: uri_folder}\n"
        f"command: sleep {nap} && cat ${{{{inputs.x}}}}/v > ${{{{outputs.out}}}}/v && echo ${{{{inputs.n}}}} >> "
        "${{outputs.out}}/v\n")
    jobs = ["jobs:", "  s0:", "    type: command", "    component: ./head.yml"]
    for i in range(1, n):
        jobs += [f"  s{i}:", "    type: command", "    component: ./link.yml", "    inputs:", f"      n: {i}",
                 f"      x: ${{{{parent.jobs.s{i - 1}.outputs.out}}}}"]
    (folder / "chain.yml").write_text("type: pipeline\nname: killchain\n" + "\n".join(jobs) + "\n")
    return folder / "chain.yml"


def test_a_driver_killed_mid_chain_leaves_records_the_next_open_completes(tmp_path):
    home = tmp_path / "ws"
    marker = f"{1 + uuid.uuid4().int % 1000 / 10000:.4f}"  # this test's steps, found by their sleep
    pipeline = _write_chain_yaml(tmp_path / "p", 8, float(marker))
    proc = _cli(home, "run", str(pipeline), "--force", "--quiet")
    logs = home / "logs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(logs.glob("*/s3.log")):
        time.sleep(0.05)
    assert list(logs.glob("*/s3.log")), proc.stderr.read() if proc.poll() is not None else "s3 never started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)

    def step_processes() -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter(["cmdline"]):
            with_marker = " ".join(p.info["cmdline"] or [])
            if f"sleep {marker}" in with_marker:
                found.append(p)
        return found

    deadline = time.monotonic() + 30
    while step_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not step_processes(), "a step outlived its killed driver"
    shown = subprocess.run([sys.executable, "-m", "app.cli", "--home", str(home), "runs", "list", "--json"],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    run = json.loads(shown.stdout)[0]
    assert run["status"] == "interrupted", run
    detail = subprocess.run([sys.executable, "-m", "app.cli", "--home", str(home), "runs", "show", run["id"], "--json"],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    steps = {s["name"]: s["status"] for s in json.loads(detail.stdout)["steps"]}
    done = [f"s{i}" for i in range(8) if steps[f"s{i}"] == "completed"]
    assert done == [f"s{i}" for i in range(len(done))] and len(done) >= 3, steps  # a prefix of the chain
    assert all(steps[f"s{i}"] == "cancelled" for i in range(len(done), 8)), steps
    again = _cli(home, "run", str(pipeline), "--json")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-2000:]
    rerun = {s["name"]: s["status"] for s in json.loads(out)["steps"]}
    assert all(rerun[j] == "reused" for j in done) and all(rerun[f"s{i}"] == "completed"
                                                           for i in range(len(done), 8)), rerun


def test_the_in_process_executor_commits_in_the_task_too(tmp_path):
    h = Harness(tmp_path, store=InMemoryRunStore())
    result = h.run(chain(3), force=True)
    assert set(statuses(result).values()) == {"completed"}
    assert last_output(h, result, "s2").split() == ["0", "1", "2"]
    for s in result.steps:
        assert (h.artifacts.path(s.outputs["out"].digest) / "v").stat().st_mode & 0o222 == 0  # read-only


@pytest.mark.parametrize("on_ray", [True, False])
def test_an_output_file_the_step_did_not_write_fails_it_once_without_retries(ray_runtime, tmp_path, on_ray):
    h = Harness(tmp_path, executor_factory=RayExecutor) if on_ray else Harness(tmp_path)
    lazy = command("lazy", "echo not writing ${{outputs.score}}", None, {}, {"score": OutputSpec("score", "uri_file")})
    only = h.run(PipelineSpec(name="lazy", jobs={"only": JobSpec("only", lazy, retries=2)})).steps[0]
    assert only.status == "failed" and only.attempts == 1
    assert only.error.startswith("output 'score' (uri_file) was not written: the step must create the file")
    assert not list(h.artifacts.artifacts_dir.iterdir())  # nothing committed


def test_sigterm_mid_chain_cancels_the_run_and_what_was_submitted_ahead(tmp_path):
    home = tmp_path / "ws"
    marker = f"{1 + uuid.uuid4().int % 1000 / 10000:.4f}"
    pipeline = _write_chain_yaml(tmp_path / "p", 8, float(marker))
    proc = _cli(home, "run", str(pipeline), "--force", "--json")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((home / "logs").glob("*/s2.log")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err[-3000:]
    data = json.loads(out)
    assert data["status"] == "cancelled"
    steps = {s["name"]: s["status"] for s in data["steps"]}
    assert steps["s0"] == "completed" and steps["s7"] == "cancelled", steps
    assert set(steps.values()) <= {"completed", "cancelled"}, steps
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(f"sleep {marker}" in " ".join(p.info["cmdline"] or [])
                                              for p in psutil.process_iter(["cmdline"])):
        time.sleep(0.2)
    assert not any(f"sleep {marker}" in " ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"]))
