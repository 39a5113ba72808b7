"""First runs: ``ductwork run --in-process`` of an N-step chain of trivial command steps in a
fresh workspace each time (every step executes, reusable steps take their leases), end to end.

    .venv/bin/python bench/first_run.py [N=30] [--repeat 5] [--compare OTHER_CHECKOUT]

``--compare DIR`` alternates with the checkout in DIR (``git archive COMMIT | tar -x -C DIR``)
and prints each median and their ratio: what the engine's per-step bookkeeping costs, Ray aside.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from pipelines import write_command_chain  # noqa: E402
from reuse import ductwork  # noqa: E402


def first_run(tree: Path, home: Path, pipeline: Path) -> float:
    started = time.perf_counter()
    done = ductwork(tree, home, "run", str(pipeline), "--in-process", "--quiet")
    took = time.perf_counter() - started
    assert done.returncode == 0, done.stdout[-1000:] + done.stderr[-1000:]
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("steps", nargs="?", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--compare", type=Path, help="another checkout to measure alternately")
    args = parser.parse_args()
    trees = {"this": HERE.parent}
    if args.compare:
        trees["other"] = args.compare.resolve()
    root = Path(tempfile.mkdtemp(prefix="dw-bench-first-"))
    pipeline = write_command_chain(root / "p", args.steps)
    times: dict[str, list[float]] = {label: [] for label in trees}
    for i in range(args.repeat):
        for label, tree in trees.items():  # alternate: both see the same load
            times[label].append(first_run(tree, root / f"ws-{label}-{i}", pipeline))
    print(f"first run of a {args.steps}-step command chain, `ductwork run --in-process` in a fresh workspace "
          f"(wall time, median of {args.repeat})")
    for label, values in times.items():
        print(f"{label:>6} {statistics.median(values):7.2f}s  (min {min(values):.2f}s, max {max(values):.2f}s)")
    if args.compare:
        ratios = [a / b for a, b in zip(times["this"], times["other"], strict=True)]
        print(f"this/other: {statistics.median(ratios):.2f}x (median of the pairs' ratios)")


if __name__ == "__main__":
    main()
