"""A 100-step chain of trivial command components through ``ductwork run`` on the embedded
local Ray: first run (Ray start-up included) and a full rerun (everything reused); then the
same chain forced (every step executes) once on a Ray of its own and ``--repeat`` times on the
workspace's warm Ray (``ductwork ray start``), side by side.

    .venv/bin/python bench/command_chain.py [N] [--repeat 3] [--compare DIR]

For each forced run on the warm Ray it prints the wall time and the steps' own time as the
worker measured it (``run_step`` from its start to its outcome: log, scratch folder, process,
cleanup), median per step and summed; the rest of the wall time is the CLI, Ray's connection
and the driver between steps. Each forced run on the warm Ray starts once its standby driver
(app/standby.py) listens, as it does seconds after the last run: the run is handed to it. ``--compare DIR`` runs only the warm forced runs, alternating
this tree with another checkout (``git archive COMMIT | tar -x -C DIR``), each with its own
workspace and warm Ray, its ``PYTHONPATH`` and working folder set to that tree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from pipelines import wait_for_standby, write_command_chain  # noqa: E402


def _entry(tree: Path) -> str:
    """What the ``ductwork`` console script runs in ``tree`` (``app.launch`` since the standby driver)."""
    return ("from app.launch import main; main()" if (tree / "app" / "launch.py").exists()
            else "from app.cli import main; main()")


def ductwork(home: Path, *args: str, tree: Path = HERE.parent) -> tuple[float, dict]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as for a user
    env["PYTHONPATH"] = str(tree)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _entry(tree), "--home", str(home), *args],
                          capture_output=True, text=True, cwd=tree, env=env)
    took = time.perf_counter() - started
    assert proc.returncode == 0, proc.stdout[-1000:] + proc.stderr[-2000:]
    return took, json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}


def _step_ms(result: dict) -> list[float]:
    return [s["duration_s"] * 1000 for s in result["steps"] if s["status"] == "completed"]


def forced_warm(trees: dict[str, Path], root: Path, pipeline: Path, repeat: int) -> dict[str, list[tuple[float, float]]]:
    """``repeat`` forced runs per tree on its own warm Ray, alternated: (wall s, median step ms)."""
    homes = {name: root / f"ws-{name}" for name in trees}
    seen: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    try:
        for name, tree in trees.items():
            ductwork(homes[name], "ray", "start", tree=tree)
            ductwork(homes[name], "run", str(pipeline), "--json", tree=tree)  # the first run: not timed here
        for _ in range(repeat):
            for name, tree in trees.items():
                wait_for_standby(homes[name], tree)
                wall, result = ductwork(homes[name], "run", str(pipeline), "--json", "--force", tree=tree)
                steps = _step_ms(result)
                seen[name].append((wall, statistics.median(steps)))
                print(f"  {name:>8}: forced on the warm Ray {wall:6.2f} s wall, steps' own time median "
                      f"{statistics.median(steps):5.1f} ms, sum {sum(steps) / 1000:5.2f} s", flush=True)
    finally:
        for name, tree in trees.items():
            subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "--home", str(homes[name]),
                            "ray", "stop", "--force"], capture_output=True, text=True, cwd=tree,
                           env={**os.environ, "PYTHONPATH": str(tree)})
    return seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="another checkout to alternate with (forced warm runs only)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dw-bench-cmd-"))
    try:
        run(args, root)
    finally:  # every Ray started here is stopped by then
        shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, root: Path) -> None:
    n = args.n
    pipeline = write_command_chain(root / "p", n)
    if args.compare:
        print(f"{n}-step chain of trivial command components, forced on the warm Ray, alternated")
        seen = forced_warm({"this": HERE.parent, "other": args.compare.resolve()}, root, pipeline, args.repeat)
        med = {name: (statistics.median(w for w, _ in runs), statistics.median(s for _, s in runs))
               for name, runs in seen.items()}
        print(f"median wall: this {med['this'][0]:.2f} s, other {med['other'][0]:.2f} s "
              f"({med['this'][0] / med['other'][0]:.2f}x); median step: this {med['this'][1]:.1f} ms, "
              f"other {med['other'][1]:.1f} ms ({med['this'][1] / med['other'][1]:.2f}x)")
        return
    own = ["--no-warm"] if _has_no_warm() else []  # the embedded Ray, once the warm one is the default
    try:
        first_s, first = ductwork(root / "ws", "run", str(pipeline), "--json", *own)
        ran = _step_ms(first)
        rerun_s, rerun = ductwork(root / "ws", "run", str(pipeline), "--json", *own)
        assert {s["status"] for s in rerun["steps"]} == {"reused"}
        print(f"{n}-step chain of trivial command components, `ductwork run` on the embedded local Ray")
        print(f"first run:  {first_s:6.2f} s wall ({len(ran)} steps executed, mean step {sum(ran) / len(ran):.0f} ms,"
              f" {first_s / n * 1000:.0f} ms per step including Ray start-up and shutdown)")
        print(f"full rerun: {rerun_s:6.2f} s wall (all {n} steps reused, Ray not started)")
        own_s, _ = ductwork(root / "ws", "run", str(pipeline), "--json", "--force", *own)
        print(f"forced run, a Ray of its own:   {own_s:6.2f} s wall (Ray start and shutdown included)", flush=True)
    finally:
        subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "--home", str(root / "ws"),
                        "ray", "stop", "--force"], capture_output=True, text=True)
    seen = forced_warm({"warm": HERE.parent}, root, pipeline, args.repeat)["warm"]
    warm_s = statistics.median(w for w, _ in seen)
    print(f"forced run, on the warm Ray:    {warm_s:6.2f} s wall, median of {len(seen)} "
          f"({own_s / warm_s:.1f}x faster); steps' own time median {statistics.median(s for _, s in seen):.1f} ms")


def _has_no_warm() -> bool:
    """Whether this tree's ``ductwork run`` has ``--no-warm`` (once the warm Ray is the default)."""
    text = (HERE.parent / "app" / "cli" / "run.py").read_text()
    return "--no-warm" in text


if __name__ == "__main__":
    main()
