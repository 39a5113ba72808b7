"""Engine overhead per step over raw Ray tasks of the same shape.

200-step chain and 200-step fan-out of no-op function components, run with --force
semantics (every step executes) on one local Ray started once; compared with raw Ray
tasks (a chain passing object refs, and a root with 200 dependent tasks).

    .venv/bin/python bench/engine_overhead.py [N]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "fn"))

from pipelines import function_chain, function_fanout  # noqa: E402

from engine.artifacts import LocalArtifactStore  # noqa: E402
from engine.duckdb_store import DuckDBRunStore  # noqa: E402
from engine.executors import RayExecutor  # noqa: E402
from engine.graph import compile_pipeline  # noqa: E402
from engine.inputs import bind_pipeline_inputs  # noqa: E402
from engine.scheduler import execute_run  # noqa: E402


def raw_chain(ray, n: int) -> float:
    @ray.remote(num_cpus=1, max_retries=0)
    def link(i, prev=None):
        return i

    started = time.perf_counter()
    ref = None
    for i in range(n):
        ref = link.remote(i, ref)
    ray.get(ref)
    return time.perf_counter() - started


def raw_fanout(ray, n: int) -> float:
    @ray.remote(num_cpus=1, max_retries=0)
    def link(i, prev=None):
        return i

    started = time.perf_counter()
    root = link.remote(-1)
    ray.get([link.remote(i, root) for i in range(n)])
    return time.perf_counter() - started


def engine(spec, root: Path, force: bool) -> float:
    store = DuckDBRunStore(root / "runs.duckdb")
    artifacts = LocalArtifactStore(root / "artifacts", root / "tmp")
    graph = compile_pipeline(spec)
    started = time.perf_counter()
    result = execute_run(graph, bind_pipeline_inputs(spec), store=store, artifacts=artifacts, logs_dir=root / "logs",
                         executor_factory=RayExecutor, force=force)
    took = time.perf_counter() - started
    assert result.run.status == "completed", [s.error for s in result.steps if s.error][:3]
    return took


def main() -> None:
    import ray

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        raw_chain(ray, 20)  # warm the workers
        root = Path(tempfile.mkdtemp(prefix="dw-bench-"))
        engine(function_chain(20), root / "warm", force=True)
        rows = []
        for shape, raw, spec in (("chain", raw_chain, function_chain(n)), ("fan-out", raw_fanout, function_fanout(n))):
            raw_s = min(raw(ray, n) for _ in range(3))
            first = engine(spec, root / shape, force=False)
            forced = min(engine(spec, root / shape, force=True) for _ in range(2))
            rows.append((shape, raw_s, first, forced))
        print(f"engine overhead per step over raw Ray tasks ({n} steps, {os.cpu_count()} CPUs)")
        print(f"{'shape':8} {'raw Ray':>9} {'engine 1st':>11} {'engine forced':>14} {'added/step':>11}")
        for shape, raw_s, first, forced in rows:
            print(f"{shape:8} {raw_s:8.2f}s {first:10.2f}s {forced:13.2f}s {(forced - raw_s) / n * 1000:9.1f}ms")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
