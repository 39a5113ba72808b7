"""Fully reused reruns: ``ductwork run`` wall time end to end for 100- and 1,000-step
pipelines, and proof that Ray is not even imported (so no Ray process can start).

    .venv/bin/python bench/reuse.py [N ...] [--repeat 5] [--compare OTHER_CHECKOUT]

``--compare DIR`` runs the same reruns with the checkout in DIR (e.g. an earlier commit:
``git archive COMMIT | tar -x -C DIR``), alternating the two so that both see the same
machine load, and prints each median and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from pipelines import write_command_chain  # noqa: E402

PROBE = ("import sys\nfrom app.cli import main\ntry:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
         "print('RAY_IMPORTED' if 'ray' in sys.modules else 'RAY_NOT_IMPORTED', file=sys.stderr)\nsys.exit(code)\n")
#: As a user runs it: Python may cache bytecode (a sandbox's PYTHONDONTWRITEBYTECODE=1 would
#: make every run compile the project's ≈ 60 modules again, ≈ 0.2 s).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["DUCTWORK_WARM"] = "0"  # the runs that fill the store leave no warm Ray behind (a reused run starts none)


def ductwork(tree: Path, home: Path, *args: str, probe: bool = False) -> subprocess.CompletedProcess:
    """``ductwork ARGS`` with the checkout in ``tree`` (its folder first on ``sys.path``):
    ``python -m app.cli``, which runs as the ``ductwork`` console script does (its exit
    included); ``probe``: through ``python -c`` with a check after ``main()`` of whether Ray
    was imported (``main()`` called from other code ends with ``SystemExit``, as before)."""
    head = ["-c", PROBE] if probe else ["-m", "app.cli"]
    return subprocess.run([sys.executable, *head, "--home", str(home), *args], capture_output=True, text=True,
                          env=ENV, cwd=tree)


def child_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rerun(tree: Path, home: Path, pipeline: Path) -> tuple[float, bool, float]:
    """(wall seconds, whether Ray was imported, CPU seconds) of a fully reused ``ductwork run``.
    The CPU time says what the run costs when other work shares the cores (wall time then
    includes waiting for them). Whether Ray was imported is asked by a second, untimed rerun
    (the probe runs code after ``main()``, which the command itself does not)."""
    cpu = child_cpu()
    started = time.perf_counter()
    again = ductwork(tree, home, "run", str(pipeline), "--json")
    took = time.perf_counter() - started
    cpu = child_cpu() - cpu
    assert again.returncode == 0, again.stderr[-1000:]
    data = json.loads(again.stdout)
    assert {s["status"] for s in data["steps"]} == {"reused"}, "not fully reused"
    probed = ductwork(tree, home, "run", str(pipeline), "--quiet", probe=True)
    assert probed.returncode == 0 and "RAY_" in probed.stderr, probed.stderr[-1000:]
    return took, "RAY_IMPORTED" in probed.stderr, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--compare", type=Path, help="another checkout to measure alternately")
    args = parser.parse_args()
    trees = {"this": HERE.parent}
    if args.compare:
        trees["other"] = args.compare.resolve()
    root = Path(tempfile.mkdtemp(prefix="dw-bench-reuse-"))
    print(f"fully reused rerun of `ductwork run PIPELINE.yml` (wall time, end to end, median of {args.repeat})")
    print(f"load {os.getloadavg()[0]:.2f} at the start")
    print(f"{'steps':>6} {'tree':>6} {'first run':>10} {'reused rerun':>13} {'min':>7} {'CPU':>7} {'Ray imported':>13}")
    for n in args.sizes:
        pipeline = write_command_chain(root / f"p{n}", n)
        first: dict[str, float] = {}
        for label, tree in trees.items():
            started = time.perf_counter()
            done = ductwork(tree, root / f"ws{n}-{label}", "run", str(pipeline), "--in-process", "--quiet")
            first[label] = time.perf_counter() - started
            assert done.returncode == 0, done.stdout[-1000:] + done.stderr[-1000:]
        times: dict[str, list[float]] = {label: [] for label in trees}
        cpus: dict[str, list[float]] = {label: [] for label in trees}
        imported: set[bool] = set()
        for _ in range(args.repeat):
            for label, tree in trees.items():  # alternate: both see the same load
                took, ray, cpu = rerun(tree, root / f"ws{n}-{label}", pipeline)
                times[label].append(took)
                cpus[label].append(cpu)
                imported.add(ray)
        for label in trees:
            print(f"{n:6d} {label:>6} {first[label]:9.2f}s {statistics.median(times[label]):12.3f}s "
                  f"{min(times[label]):6.3f}s {statistics.median(cpus[label]):6.3f}s "
                  f"{'yes' if True in imported else 'no':>13}")
        if "other" in times:
            ratio = statistics.median(times["other"]) / statistics.median(times["this"])
            print(f"{n:6d} other/this: {ratio:.2f}x")
    print(f"load {os.getloadavg()[0]:.2f} at the end (CPU: median user + system seconds of the run's process)")


if __name__ == "__main__":
    main()
