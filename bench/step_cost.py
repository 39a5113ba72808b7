"""What one trivial command step costs on the worker: ``run_step`` of ``echo 1 > out/i.txt``
called N times inside one Ray worker (a 140 MB, many-threaded process, as in a run), next to
the floor, a bare ``bash -c`` started and waited for from the same worker. No driver, no
scheduler, no store: only what engine/runtime.py does around the step's process (its log,
scratch folder, process group, reaper, waiting, cleanup).

    .venv/bin/python bench/step_cost.py [N=200] [--repeat 2] [--compare DIR]

``--compare DIR`` alternates with another checkout (``git archive COMMIT | tar -x -C DIR``),
each measured in a fresh process whose ``PYTHONPATH`` is its own tree.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Runs in a Ray worker: N steps through run_step, then N bare shells; medians in ms.
_IN_WORKER = r'''
def measure(n):
    import os, shutil, socket, subprocess, tempfile, time, statistics
    from pathlib import Path
    from engine.runtime import StepTask, run_step
    root = Path(tempfile.mkdtemp(prefix="dw-step-cost-"))
    steps, bare = [], []
    try:
        for i in range(n):
            area, out = root / f"a{i}", root / f"a{i}" / "outputs" / "out"
            out.mkdir(parents=True)
            task = StepTask(run_id="r", job=f"s{i}", kind="command", area=str(area),
                            log_path=str(root / "logs" / f"s{i}.log"), command='echo 1 > "${DUCTWORK_VALUE_1}/i.txt"',
                            values={"DUCTWORK_VALUE_1": str(out)}, mark_start=False, driver_pid=os.getppid(),
                            driver_host=socket.gethostname(), output_dirs={"out": str(out)})
            started = time.perf_counter()
            outcome = run_step(task)
            steps.append(time.perf_counter() - started)
            assert outcome.ok, outcome
        for i in range(n):
            started = time.perf_counter()
            subprocess.run(["bash", "-c", f"echo 1 > {root}/bare.txt"], check=True)
            bare.append(time.perf_counter() - started)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return statistics.median(steps) * 1000, statistics.median(bare) * 1000
'''

_DRIVER = r'''
import json, logging, sys
import ray
ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
try:
    scope = {}
    exec(sys.argv[1], scope)
    print(json.dumps(ray.get(ray.remote(scope["measure"]).remote(int(sys.argv[2])))))
finally:
    ray.shutdown()
'''


def measure(tree: Path, n: int) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.run([sys.executable, "-c", _DRIVER, _IN_WORKER, str(n)], capture_output=True, text=True,
                          cwd=tree, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    step, bare = json.loads(proc.stdout.strip().splitlines()[-1])
    return step, bare


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args()
    trees = {"this": ROOT, **({"other": args.compare.resolve()} if args.compare else {})}
    seen: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    print(f"a trivial command step's run_step inside a Ray worker, median of {args.n} (ms)")
    for _ in range(args.repeat):
        for name, tree in trees.items():
            step, bare = measure(tree, args.n)
            seen[name].append((step, bare))
            print(f"  {name:>5}: run_step {step:6.2f} ms   bare bash -c {bare:5.2f} ms   "
                  f"over the bare process {step - bare:6.2f} ms", flush=True)
    if args.compare:
        this, other = (statistics.median(s for s, _ in seen[k]) for k in ("this", "other"))
        print(f"median run_step: this {this:.2f} ms, other {other:.2f} ms ({this / other:.2f}x)")


if __name__ == "__main__":
    main()
