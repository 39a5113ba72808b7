"""The scheduling loop with the in-process executor: reuse, early cutoff, failures, retries,
timeouts, function components, metrics and logs. (Ray: tests/test_engine_ray.py.)"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import psutil
from test_engine_support import (
    Harness,
    chain_pipeline,
    command,
    copy_code,
    data_in,
    function,
    make_data,
    single_job,
    statuses,
    step,
)

from components.spec import (
    ExternalData,
    InputSpec,
    JobOutput,
    JobSpec,
    OutputSpec,
    PipelineSettings,
    PipelineSpec,
)
from engine.command import render_command


def test_a_run_executes_every_step_and_records_outputs_logs_and_metrics(tmp_path):
    h = Harness(tmp_path)
    result = h.run(chain_pipeline(copy_code(tmp_path), make_data(tmp_path)))
    assert result.run.status == "completed"
    assert statuses(result) == dict.fromkeys(["prep", "train", "evaluate", "report"], "completed")
    train = step(result, "train")
    model = h.artifacts.path(train.outputs["model"].digest) / "model.txt"
    assert model.read_text() == "HELLO|lr=0.1"
    score = step(result, "evaluate").outputs["score"]
    assert score.file == "score" and (h.artifacts.path(score.digest) / "score").read_text() == "12"
    log = Path(train.log_path).read_text()
    assert "trained with lr 0.1" in log and "to stderr" in log
    assert [(m.name, m.value, m.step) for m in h.store.metrics(result.run.id)] == \
        [("loss", 0.1, 0), ("loss", 0.05, 1), ("loss", 0.1 / 3, 2)]
    assert train.ingredients["parameters"] == {"lr": 0.1}
    assert train.reason == "first run" and train.exit_code == 0 and train.node_id == "local"
    assert h.store.get_run(result.run.id).status == "completed"


def test_second_run_reuses_every_step_and_editing_one_script_reruns_it_and_its_downstream(tmp_path):
    h = Harness(tmp_path)
    code = copy_code(tmp_path)
    spec = chain_pipeline(code, make_data(tmp_path))
    first = h.run(spec)
    second = h.run(spec)
    assert statuses(second) == dict.fromkeys(["prep", "train", "evaluate", "report"], "reused")
    assert all(s.reused_from == first.run.id for s in second.steps)
    assert step(second, "train").outputs == step(first, "train").outputs
    train_py = code / "train" / "train.py"
    train_py.write_text(train_py.read_text().replace('f"{text}|lr={lr}"', 'f"{text}|learning_rate={lr}"'))
    third = h.run(spec)
    assert statuses(third) == {"prep": "reused", "train": "completed", "evaluate": "completed", "report": "reused"}
    assert step(third, "train").reason == "code changed: train.py"
    assert step(third, "evaluate").reason == "input model changed (upstream train re-ran)"


def test_upstream_rerun_with_identical_bytes_keeps_downstream_reused(tmp_path):
    h = Harness(tmp_path)
    data = make_data(tmp_path, "hello")
    spec = chain_pipeline(copy_code(tmp_path), data)
    h.run(spec)
    (data / "a.txt").write_text("HELLO")  # prep upper-cases: same output bytes
    again = h.run(spec)
    assert statuses(again) == {"prep": "completed", "train": "reused", "evaluate": "reused", "report": "reused"}
    assert step(again, "prep").reason.startswith("input raw changed (data at ")


def test_a_failing_script_fails_the_run_skips_downstream_and_the_rerun_executes_only_what_is_left(tmp_path):
    h = Harness(tmp_path)
    code = copy_code(tmp_path)
    spec = chain_pipeline(code, make_data(tmp_path))
    train_py = code / "train" / "train.py"
    good = train_py.read_text()
    train_py.write_text("import sys\nprint('about to fail')\nsys.exit(3)\n")
    failed = h.run(spec)
    assert failed.run.status == "failed"
    st = statuses(failed)
    assert st["prep"] == "completed" and st["train"] == "failed" and st["evaluate"] == "skipped"
    assert st["report"] in ("completed", "skipped")
    train = step(failed, "train")
    assert train.exit_code == 3 and train.error == "exit code 3"
    assert "about to fail" in Path(train.log_path).read_text()
    assert step(failed, "evaluate").reason == "upstream train failed"
    # evaluate's scratch area, made ahead while train ran, went with the run's other leftovers
    assert not list((tmp_path / "tmp" / failed.run.id).glob("evaluate-*"))
    assert not list((tmp_path / "tmp" / failed.run.id).glob("*/outputs"))
    train_py.write_text(good)
    rerun = h.run(spec)
    assert rerun.run.status == "completed"
    assert statuses(rerun)["prep"] == "reused" and statuses(rerun)["train"] == "completed"
    assert statuses(rerun)["evaluate"] == "completed"


def _branches(settings: PipelineSettings):
    """fail (fails at once) beside slow → after_slow (ready only after fail has failed)."""
    out = {"out": OutputSpec("out")}
    fail = command("fail", "echo failing; exit 2", None)
    slow = command("slow", "sleep 1; echo s > ${{outputs.out}}/s.txt", None, outputs=out)
    after = command("after", "cat ${{inputs.src}}/s.txt > ${{outputs.out}}/a.txt", None, {"src": data_in("src")}, out)
    return PipelineSpec(name="branches", settings=settings, jobs={
        "fail": JobSpec("fail", fail), "slow": JobSpec("slow", slow),
        "after_slow": JobSpec("after_slow", after, inputs={"src": JobOutput("slow", "out")})})


def test_a_failure_stops_the_run_unless_continue_on_step_failure(tmp_path):
    stop = Harness(tmp_path / "a").run(_branches(PipelineSettings()))
    assert statuses(stop) == {"fail": "failed", "slow": "completed", "after_slow": "skipped"}
    assert step(stop, "after_slow").reason == "run stopped after fail failed (continue_on_step_failure: false)"
    assert stop.run.error == step(stop, "after_slow").reason
    cont = Harness(tmp_path / "b").run(_branches(PipelineSettings(continue_on_step_failure=True)))
    assert statuses(cont) == {"fail": "failed", "slow": "completed", "after_slow": "completed"}
    assert cont.run.status == "failed"


def test_retries_rerun_a_failed_step(tmp_path):
    h = Harness(tmp_path)
    counter = tmp_path / "attempts"
    cmd = f"echo x >> {counter}; test $(wc -l < {counter}) -ge 2 && echo ok > ${{{{outputs.out}}}}/ok.txt"
    comp = command("flaky", cmd, None, outputs={"out": OutputSpec("out")})
    result = h.run(single_job(comp, retries=1))
    only = result.steps[0]
    assert only.status == "completed" and only.attempts == 2
    assert counter.read_text().count("x") == 2
    no_retry = h.run(single_job(command("flaky2", "exit 4", None), retries=0))
    assert no_retry.steps[0].attempts == 1 and no_retry.steps[0].error == "exit code 4"


def _sleepers(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if marker in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def test_a_timeout_cancels_the_step_and_leaves_no_process_behind(tmp_path):
    h = Harness(tmp_path)
    marker = f"{30 + uuid.uuid4().int % 1000 / 1000:.3f}"
    comp = command("slow", f"sleep {marker} & sleep {marker}; echo never", None)
    started = time.monotonic()
    result = h.run(single_job(comp, timeout=1.0))
    took = time.monotonic() - started
    only = result.steps[0]
    assert only.status == "failed"
    assert only.error == "timed out after 1 s (limits.timeout); the step was cancelled"
    assert took < 10
    deadline = time.monotonic() + 5
    while _sleepers(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _sleepers(f"sleep {marker}") == []


def test_function_components_get_parameters_paths_and_their_return_value_is_written(tmp_path):
    h = Harness(tmp_path)
    code = copy_code(tmp_path, "fn")
    comp = function("add", "add", code, {"x": InputSpec("x", "integer"), "y": InputSpec("y", "integer", default=1)},
                    {"output": OutputSpec("output")})
    result = h.run(single_job(comp, {"x": 2, "y": 3}))
    only = result.steps[0]
    assert only.status == "completed", only.error
    assert json.loads((h.artifacts.path(only.outputs["output"].digest) / "output.json").read_text()) == 5
    assert [(m.name, m.value) for m in h.store.metrics(result.run.id)] == [("sum", 5.0)]
    assert "adding 2 3" in Path(only.log_path).read_text()
    # editing a local module the function imports invalidates reuse, naming the file
    (code / "helpers.py").write_text("def double(v):\n    return v + v\n")
    again = h.run(single_job(comp, {"x": 2, "y": 3}))
    assert again.steps[0].status == "completed" and again.steps[0].reason == "code changed: helpers.py"


def test_a_lambda_function_component_is_refused_before_anything_runs(tmp_path):
    import pytest

    from components.errors import DuctworkError

    h = Harness(tmp_path)
    comp = function("anon", "make.<locals>.<lambda>", copy_code(tmp_path, "fn"))
    with pytest.raises(DuctworkError, match="lambda or is defined inside another function"):
        h.run(single_job(comp))


def test_optional_inputs_and_uri_file_inputs(tmp_path):
    h = Harness(tmp_path)
    extra = tmp_path / "extra.txt"
    extra.write_text("E")
    comp = command("opt", "cat $[[${{inputs.extra}}]] /dev/null > ${{outputs.out}}/o.txt; echo ${{inputs.n}}", None,
                   {"extra": data_in("extra", "uri_file", optional=True), "n": InputSpec("n", "integer", default=7)},
                   {"out": OutputSpec("out")})
    without = h.run(single_job(comp)).steps[0]
    with_extra = h.run(single_job(comp, {"extra": ExternalData(str(extra), "uri_file")})).steps[0]
    assert (h.artifacts.path(without.outputs["out"].digest) / "o.txt").read_text() == ""
    assert (h.artifacts.path(with_extra.outputs["out"].digest) / "o.txt").read_text() == "E"


def test_render_command_substitutes_quotes_paths_and_drops_unset_optional_blocks():
    text = render_command("python t.py --lr ${{inputs.lr}} $[[--extra ${{inputs.extra}}]] --flag ${{inputs.on}} "
                          "--data ${{inputs.data}} --out ${{outputs.model}}",
                          {"lr": 0.01, "on": True, "data": "/a b/c"}, {"model": "/o/m"}, {"data", "extra"})
    assert text.display == "python t.py --lr 0.01  --flag True --data '/a b/c' --out /o/m"
    assert text.script == ('python t.py --lr "${DUCTWORK_VALUE_1}"  --flag "${DUCTWORK_VALUE_2}" '
                           '--data "${DUCTWORK_VALUE_3}" --out "${DUCTWORK_VALUE_4}"')
    assert text.values == {"DUCTWORK_VALUE_1": "0.01", "DUCTWORK_VALUE_2": "True", "DUCTWORK_VALUE_3": "/a b/c",
                           "DUCTWORK_VALUE_4": "/o/m"}


def test_an_unbound_reference_in_a_command_fails_the_step_with_a_clear_message(tmp_path):
    h = Harness(tmp_path)
    comp = command("bad", "echo ${{inputs.missing}}", None, {"missing": InputSpec("missing", "string", optional=True)})
    only = h.run(single_job(comp)).steps[0]
    assert only.status == "failed"
    assert "refers to ${{inputs.missing}}, which has no value" in only.error


def test_two_function_components_with_same_named_local_modules_each_import_their_own(tmp_path):
    """A worker runs many components: a local `helpers` of one must not shadow another's."""
    h = Harness(tmp_path)
    first = copy_code(tmp_path / "a", "fn")
    second = copy_code(tmp_path / "b", "fn")
    (second / "helpers.py").write_text("def double(v):\n    return 3 * v\n")  # a different helper, same name
    inputs = {"x": InputSpec("x", "integer"), "y": InputSpec("y", "integer", default=1)}
    outputs = {"output": OutputSpec("output")}
    for code, expected in ((first, 5), (second, 7), (first, 5)):
        comp = function("add", "add", code, inputs, outputs)
        only = h.run(single_job(comp, {"x": 2, "y": 3})).steps[0]
        assert only.status in ("completed", "reused"), only.error
        assert json.loads((h.artifacts.path(only.outputs["output"].digest) / "output.json").read_text()) == expected


def test_a_command_step_stops_when_its_runs_driver_is_gone(tmp_path):
    """A Ray that outlives its drivers (the warm Ray) may be slow to stop a dead driver's
    tasks: the step itself notices, kills its process group and says so in its log."""
    import socket
    import subprocess
    import threading
    import time

    import psutil

    from engine.runtime import StepTask, run_step

    driver = subprocess.Popen(["sleep", "300"])  # stands in for the run's driver process
    area = tmp_path / "area"
    area.mkdir()
    task = StepTask(run_id="r1", job="nap", kind="command", area=str(area), log_path=str(tmp_path / "nap.log"),
                    command="echo napping; sleep 71.3", capture_fds=False, mark_start=False,
                    driver_pid=driver.pid, driver_host=socket.gethostname())
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.setdefault("o", run_step(task)))
    worker.start()
    deadline = time.monotonic() + 30
    log = tmp_path / "nap.log"
    while not (log.is_file() and "napping" in log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert worker.is_alive()  # the driver lives: the step runs on
    driver.kill()
    driver.wait()
    worker.join(timeout=15)
    assert not worker.is_alive(), "the step went on after its driver died"
    assert outcome["o"].error == "the run's driver died; the step was stopped"
    assert f"the run's driver (pid {driver.pid}) is gone" in (tmp_path / "nap.log").read_text()
    assert not [p for p in psutil.process_iter(["cmdline"]) if "sleep 71.3" in " ".join(p.info["cmdline"] or [])]


def test_function_steps_starting_together_in_one_process_each_import_their_own_helper(tmp_path):
    """In-process threads import function components at the same moment: each gets its own
    local ``helper`` module (one import at a time; they used to clear each other's modules)."""
    import threading

    from engine.runtime import StepTask, run_step

    tasks = []
    for i in range(8):
        code = tmp_path / f"code{i}"
        code.mkdir()
        (code / "helper.py").write_text(f"VALUE = {i}\n")
        (code / "steps.py").write_text("import helper\n\n\ndef fn(out):\n"
                                       "    open(out + '/v.txt', 'w').write(str(helper.VALUE))\n")
        out = tmp_path / f"out{i}"
        out.mkdir()
        area = tmp_path / f"area{i}"
        area.mkdir()
        tasks.append(StepTask(run_id="r1", job=f"j{i}", kind="function", area=str(area),
                              log_path=str(tmp_path / f"j{i}.log"), code_dir=str(code), module="steps",
                              qualname="fn", code_digest=f"d{i}", arguments={"out": str(out)},
                              capture_fds=False, mark_start=False))
    barrier = threading.Barrier(len(tasks))
    outcomes: dict[str, object] = {}

    def start(task: StepTask) -> None:
        barrier.wait()
        outcomes[task.job] = run_step(task)

    threads = [threading.Thread(target=start, args=(t,)) for t in tasks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {job: o.error for job, o in outcomes.items()} == {t.job: None for t in tasks}
    assert [(tmp_path / f"out{i}" / "v.txt").read_text() for i in range(8)] == [str(i) for i in range(8)]
