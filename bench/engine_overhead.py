"""Engine overhead per step over raw Ray tasks of the same shape.

200-step chain and 200-step fan-out of no-op function components, run with --force
semantics (every step executes) on one local Ray started once; compared with raw Ray
tasks (a chain passing object refs, and a root with 200 dependent tasks).

    .venv/bin/python bench/engine_overhead.py [N]
"""

from __future__ import annotations

import itertools
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


#: where the last forced chain's time went (seconds): the run's start → its first step's start,
#: the median gap between a step's end and the next one's start, the last step's end → return
PHASES: dict[str, float] = {}


def engine(spec, root: Path, force: bool) -> float:
    store = DuckDBRunStore(root / "runs.duckdb")
    artifacts = LocalArtifactStore(root / "artifacts", root / "tmp")
    graph = compile_pipeline(spec)
    started, wall_started, cpu_started = time.perf_counter(), time.time(), time.process_time()
    result = execute_run(graph, bind_pipeline_inputs(spec), store=store, artifacts=artifacts, logs_dir=root / "logs",
                         executor_factory=RayExecutor, force=force)
    took = time.perf_counter() - started
    assert result.run.status == "completed", [s.error for s in result.steps if s.error][:3]
    steps = sorted(result.steps, key=lambda s: s.started_at)
    gaps = sorted(b.started_at - a.ended_at for a, b in itertools.pairwise(steps))
    PHASES.update(first=steps[0].started_at - wall_started, gap=gaps[len(gaps) // 2] if gaps else 0.0,
                  last=wall_started + took - max(s.ended_at for s in steps), cpu=time.process_time() - cpu_started,
                  took=took)
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
            forced, phases = min((engine(spec, root / shape, force=True), dict(PHASES)) for _ in range(2))
            rows.append((shape, raw_s, first, forced, phases))
        print(f"engine overhead per step over raw Ray tasks ({n} steps, {os.cpu_count()} CPUs)")
        print(f"{'shape':8} {'raw Ray':>9} {'engine 1st':>11} {'engine forced':>14} {'added/step':>11}")
        for shape, raw_s, first, forced, _ in rows:
            print(f"{shape:8} {raw_s:8.2f}s {first:10.2f}s {forced:13.2f}s {(forced - raw_s) / n * 1000:9.1f}ms")
        ph = rows[0][4]
        print(f"the faster forced chain, from its steps' own start and end times: run start → first step "
              f"{ph['first']:.3f}s, median gap between chained steps {ph['gap'] * 1000:.2f}ms, last step's end → "
              f"return {ph['last']:.3f}s; driver CPU {ph['cpu']:.2f}s")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
