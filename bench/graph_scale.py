"""Validate, compile and plan times for deep and wide graphs.

1,000- and 5,000-job chains declared last-first (every job before the one it reads from)
and fan-outs (one root feeding N jobs) of no-op function components. Each is planned twice
on a DuckDB run store: empty (the roots run, the rest wait), and after one in-process run
of the whole pipeline (every step reused); then a clone of it under another name, whose
steps are reused from records that no run of the clone made (a chain: one lookup per step).
Nothing starts Ray.

    .venv/bin/python bench/graph_scale.py [N ...]      (default: 1000 5000)
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "fn"))

from pipelines import function_chain, function_fanout  # noqa: E402

from components.spec import ComponentRef, ComponentSpec, PipelineSpec  # noqa: E402
from components.validate import validate_pipeline  # noqa: E402
from engine.artifacts import LocalArtifactStore  # noqa: E402
from engine.duckdb_store import DuckDBRunStore  # noqa: E402
from engine.executors import InProcessExecutor  # noqa: E402
from engine.graph import compile_pipeline  # noqa: E402
from engine.inputs import bind_pipeline_inputs  # noqa: E402
from engine.plan import plan_run  # noqa: E402
from engine.scheduler import execute_run  # noqa: E402

T = TypeVar("T")


def timed(call: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def no_registry(ref: ComponentRef) -> ComponentSpec:
    raise KeyError(f"component '{ref}' is not registered")


def last_first(spec: PipelineSpec) -> PipelineSpec:
    return dataclasses.replace(spec, jobs=dict(reversed(spec.jobs.items())))


def measure(label: str, spec: PipelineSpec, root: Path) -> None:
    validate_s, problems = timed(lambda: validate_pipeline(spec, no_registry, {}))
    assert not problems, problems[:3]
    compile_s, graph = timed(lambda: compile_pipeline(spec, validate=False))
    store = DuckDBRunStore(root / "runs.duckdb")
    artifacts = LocalArtifactStore(root / "artifacts", root / "tmp")
    values = bind_pipeline_inputs(spec)
    empty_s, empty = timed(lambda: plan_run(graph, values, store, artifacts))
    run_s, result = timed(lambda: execute_run(graph, values, store=store, artifacts=artifacts, logs_dir=root / "logs",
                                              executor_factory=InProcessExecutor))
    assert result.run.status == "completed", [s.error for s in result.steps if s.error][:3]
    reused_s, reused = timed(lambda: plan_run(graph, values, store, artifacts))
    assert reused.fully_reused, reused.count("run")
    clone = compile_pipeline(dataclasses.replace(spec, name=f"{spec.name}_clone"), validate=False)
    clone_s, cloned = timed(lambda: plan_run(clone, values, store, artifacts))
    assert cloned.fully_reused, cloned.count("run")
    print(f"{label:26} {validate_s:8.3f}s {compile_s:8.3f}s {empty_s:10.3f}s {reused_s:11.3f}s {clone_s:10.3f}s"
          f"   (empty: {empty.count('run')} run, {empty.count('wait')} wait; the in-process run {run_s:.1f}s)")


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 5000]
    root = Path(tempfile.mkdtemp(prefix="dw-bench-graph-"))
    print(f"{'pipeline':26} {'validate':>9} {'compile':>9} {'plan: empty':>11} {'plan: reused':>12}"
          f" {'plan: clone':>11}")
    for n in sizes:
        measure(f"{n}-job chain, last-first", last_first(function_chain(n)), root / f"chain{n}")
        measure(f"{n}-job fan-out", function_fanout(n), root / f"fanout{n}")


if __name__ == "__main__":
    main()
