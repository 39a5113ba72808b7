"""A function step submitted ahead (engine/handoff.py ``Handoff.arguments``): its task passes the
upstream's committed artifact itself as the input argument — the same path a step submitted after
its upstream gets —, makes no ``inputs/`` folder or link, and does not start when that upstream
did not complete. No Ray: the task function is called as a worker would call it."""

from __future__ import annotations

import os
from pathlib import Path

from engine.artifacts import LocalArtifactStore
from engine.handoff import UPSTREAM_FAILED, Handoff, run_handed
from engine.runtime import StepOutcome, StepTask

CODE = "def copy(src: str, out: str) -> None:\n    open(out + '/seen.txt', 'w').write(src + '\\n' + open(src + '/v.txt').read())\n"


def _setup(tmp_path: Path) -> tuple[StepTask, Handoff, str]:
    code = tmp_path / "code"
    code.mkdir()
    (code / "overhead_copy_mod.py").write_text(CODE)
    store = LocalArtifactStore(tmp_path / "artifacts", tmp_path / "tmp")
    made = tmp_path / "tmp" / "up"
    made.mkdir(parents=True)
    (made / "v.txt").write_text("42")
    digest = store.commit(made).digest
    area = tmp_path / "tmp" / "run" / "down-1"
    (area / "outputs" / "out").mkdir(parents=True)
    task = StepTask(run_id="run", job="down", kind="function", area=str(area), log_path=str(tmp_path / "logs" / "down.log"),
                    code_dir=str(code), module="overhead_copy_mod", qualname="copy", code_digest="1",
                    arguments={"src": f"{area}/inputs/src", "out": str(area / "outputs" / "out")},
                    output_dirs={"out": str(area / "outputs" / "out")}, capture_fds=False, mark_start=False)
    handoff = Handoff(str(store.artifacts_dir), str(store.tmp_dir), arguments=((0, "up", "data", "src", ""),))
    return task, handoff, digest


def test_the_argument_is_the_upstream_artifact_and_no_link_is_made(tmp_path):
    task, handoff, digest = _setup(tmp_path)
    upstream = StepOutcome(ok=True, outputs={"data": (digest, 2, True)})
    outcome = run_handed(task, handoff, upstream)
    assert outcome.ok, outcome.error
    seen_digest = outcome.outputs["out"][0]
    seen = (tmp_path / "artifacts" / seen_digest / "seen.txt").read_text()
    assert seen == os.path.join(handoff.artifacts_dir, digest) + "\n42"
    assert not os.path.exists(os.path.join(task.area, "inputs"))


def test_an_upstream_that_did_not_complete_keeps_the_step_from_starting(tmp_path):
    task, handoff, _digest = _setup(tmp_path)
    outcome = run_handed(task, handoff, StepOutcome(ok=False, error="exit code 1"))
    assert not outcome.ok and outcome.error == f"{UPSTREAM_FAILED} up did not complete"
    assert not os.path.exists(task.log_path)  # it never ran
