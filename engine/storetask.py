"""A step of a store-backed run, on whatever node runs it (engine/objectstore.py).

The driver's task names virtual paths under ``NODE_ROOT``; here they become paths in this
node's cache, the trees the step reads are fetched into that cache (free when they are there
already) and linked into its scratch area, its log is uploaded while it runs, and after it
succeeds its outputs are uploaded (blobs, then tree) and kept as cached trees for the steps
that follow on this node. The outcome carries the outputs' digests; the driver records them.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.objectstore import NODE_ROOT, LogStreamer, ObjectArtifactStore

if TYPE_CHECKING:
    from engine.runtime import StepOutcome, StepTask

__all__ = ["relocate", "run_with_store"]


def relocate(task: StepTask, root: str) -> StepTask:
    """``task`` with every virtual path (``NODE_ROOT…``) moved under ``root``, and no store."""

    def moved(value: Any) -> Any:
        return root + value[len(NODE_ROOT):] if isinstance(value, str) and value.startswith(NODE_ROOT) else value

    return dataclasses.replace(
        task, store=None, area=moved(task.area), log_path=moved(task.log_path), code_dir=moved(task.code_dir),
        output_dirs={k: moved(v) for k, v in task.output_dirs.items()},
        arguments={k: moved(v) for k, v in task.arguments.items()},
        values={k: moved(v) for k, v in task.values.items()},
        display=task.display.replace(NODE_ROOT, root) if task.display else task.display,
        fetch=tuple((digest, moved(link)) for digest, link in task.fetch))


def _link(cached: str, link: str) -> None:
    """A read-only view of a cached tree in the scratch area: a hard link for a file, a symlink for a folder."""
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if os.path.isdir(cached):
        os.symlink(cached, link, target_is_directory=True)
    else:
        os.link(cached, link)


def _note(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as log:
        log.write(f"# ductwork: {line}\n")


def run_with_store(task: StepTask) -> StepOutcome:
    """Fetch, run, upload; never raises for a failure of the step or of the store."""
    from engine.runtime import StepOutcome, node_id, run_step

    started = time.time()
    store = ObjectArtifactStore(task.store or "", env=task.store_env)
    local = relocate(task, str(store.cache.root))
    os.makedirs(os.path.dirname(local.log_path), exist_ok=True)
    os.makedirs(local.area, exist_ok=True)
    for folder in local.output_dirs.values():
        os.makedirs(folder, exist_ok=True)

    def failed(error: str) -> StepOutcome:
        _note(local.log_path, error)
        return StepOutcome(ok=False, error=error, node_id=node_id(), started_at=started, ended_at=time.time())

    try:
        with LogStreamer(store, task.run_id, task.job, local.log_path):
            try:
                for digest, link in local.fetch:
                    cached = str(store.materialize(digest))
                    if link:
                        _link(cached, link)
            except Exception as exc:  # noqa: BLE001 - an unreachable store, a missing or corrupt blob
                return failed(f"could not fetch its inputs from the store {store.url}: {exc}")
            outcome = run_step(local)
            if not outcome.ok:
                return outcome
            try:
                outputs = {}
                for name, folder in local.output_dirs.items():
                    if name in local.file_outputs and not os.path.exists(os.path.join(folder, name)):
                        return failed(f"output '{name}' (uri_file) was not written: the step must create the file "
                                      f"at the path it was given as ${{{{outputs.{name}}}}}")
                    info = store.commit(Path(folder))  # blobs, then tree; kept as this node's cached tree
                    outputs[name] = (info.digest, info.size, info.created)
            except Exception as exc:  # noqa: BLE001 - the store failed under the upload
                return failed(f"could not upload its outputs to the store {store.url}: {exc}")
            return dataclasses.replace(outcome, outputs=outputs)
    finally:
        shutil.rmtree(local.area, ignore_errors=True)
        if os.path.exists(local.log_path):  # uploaded by the streamer on its way out
            os.unlink(local.log_path)

