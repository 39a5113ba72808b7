"""What a task does around its step on a run with a local artifact store: link the inputs
its upstream tasks committed, run the step, and commit its outputs where it ran.

Why in the task, not in the driver (issue #13): a chain's step used to wait for its
upstream's outcome to reach the driver, for the driver to hash and move the outputs, decide
it, and submit it; Ray's round trip (≈ 5.5 ms of the 7.4 ms between two chained tasks, bench/
README.md (a)) sat on the critical path of every step. Now a task commits its own outputs
(hash, read-only, atomic rename into ``artifacts/<digest>``: DESIGN.md's order, on the
worker) and returns their digests; a step whose decision cannot depend on reuse (forced or
not deterministic) is submitted *ahead*, with its running upstreams' results as Ray
dependencies, and links its inputs from their outcomes here before it starts. The driver
still writes every reuse manifest and record, after the artifacts, as before.

A store-backed run's task (engine/storetask.py) fetches and uploads itself; it gets no
handoff.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.artifacts import LocalArtifactStore

if TYPE_CHECKING:  # the driver imports this module for Handoff; only a task runs a step
    from engine.runtime import StepOutcome, StepTask

__all__ = ["Handoff", "UPSTREAM_FAILED", "WITHDRAWN", "run_handed"]

#: how the outcome of a task submitted ahead starts when an upstream did not succeed (it never
#: ran; the driver has dropped it by then and decides the step again, or skips it)
UPSTREAM_FAILED = "not started: upstream"
#: written into the scratch area of a task the driver took back (engine/scheduler.py ``withdraw``)
WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class Handoff:
    """The task's part of the store's work (plain data, picklable)."""

    artifacts_dir: str  #: commit the outputs into this local store
    tmp_dir: str
    file_outputs: tuple[str, ...] = ()  #: ``uri_file`` outputs: the file must exist
    #: inputs made by upstream tasks still running when this one was submitted: (position of the
    #: upstream among the task's dependencies, that upstream's job, its output, the link to make)
    links: tuple[tuple[int, str, str, str], ...] = ()
    #: the same for a function step, whose inputs are keyword arguments: (position, job, output,
    #: argument, the path inside the artifact: "" or "/<file>"). The argument becomes the artifact's
    #: own path, as for a step submitted after its upstreams — no link to make (creating a folder
    #: and a symlink costs ≈ 0.3 ms each of system time here, bench/README.md (k))
    arguments: tuple[tuple[int, str, str, str, str], ...] = ()


def run_handed(task: StepTask, handoff: Handoff | None = None, *upstream: StepOutcome) -> StepOutcome:
    """The Ray task (and the in-process executor's): ``upstream`` are the outcomes of the tasks
    this one was submitted after, resolved by Ray before it starts. Never raises for a failure
    of the step, of an upstream, or of the commit."""
    from engine.runtime import StepOutcome, node_id, run_step

    if handoff is None:
        return run_step(task)
    if os.path.exists(os.path.join(task.area, WITHDRAWN)):
        return StepOutcome(ok=False, error=f"{UPSTREAM_FAILED} or reuse: withdrawn before it started", node_id=node_id())
    for index, job, output, link in handoff.links:
        before = upstream[index]
        if not before.ok or output not in before.outputs:
            return StepOutcome(ok=False, error=f"{UPSTREAM_FAILED} {job} did not complete", node_id=node_id())
        try:
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(os.path.join(handoff.artifacts_dir, before.outputs[output][0]), link)
        except OSError as exc:
            return StepOutcome(ok=False, error=f"could not link its input from {job}.{output}: {exc}",
                               node_id=node_id())
    if handoff.arguments:
        arguments = dict(task.arguments)
        for index, job, output, argument, inside in handoff.arguments:
            before = upstream[index]
            if not before.ok or output not in before.outputs:
                return StepOutcome(ok=False, error=f"{UPSTREAM_FAILED} {job} did not complete", node_id=node_id())
            arguments[argument] = os.path.join(handoff.artifacts_dir, before.outputs[output][0]) + inside
        task = dataclasses.replace(task, arguments=arguments)
    outcome = run_step(task)
    if not outcome.ok:
        return outcome
    store = LocalArtifactStore(handoff.artifacts_dir, handoff.tmp_dir)
    outputs: dict[str, tuple[str, int, bool]] = {}
    try:
        for name, folder in task.output_dirs.items():
            if name in handoff.file_outputs and not os.path.exists(os.path.join(folder, name)):
                return dataclasses.replace(outcome, ok=False, error=(
                    f"output '{name}' (uri_file) was not written: the step must create the file at the path it "
                    f"was given as ${{{{outputs.{name}}}}}"))
            # a duplicate of a stored artifact stays in the scratch area, which the driver removes
            info = store.commit(Path(folder), dispose=_leave)
            outputs[name] = (info.digest, info.size, info.created)
    except OSError as exc:
        return dataclasses.replace(outcome, ok=False, error=f"could not commit output '{name}': {exc}")
    return dataclasses.replace(outcome, outputs=outputs)


def _leave(path: Path) -> None:
    """A duplicate output: left in the attempt's scratch area (removed with it, off this path)."""
