"""Incremental rerun: change only the transformer's learning rate, pay only for what it changes.

On a fresh, seeded temporary workspace, runs the text-classification template through the
real ``ductwork run text_classification --json``, then again with only
``--set learning_rate=…`` changed, and prints both wall times, the steps reused in the
second run, and the ratio

    second run's wall time / (sum of the re-run steps' own durations)

(the re-run steps are the transformer's training and its evaluation). Target ≤ 1.1. It also
splits the run's wall time into CLI start-up, planning, Ray start, steps, gaps and shutdown,
from the run store's timestamps, so that a ratio over target says where the rest went.

Both ways a rerun gets Ray are measured in the same session, one after the other:
- *warm*: the first and second runs pass ``--warm``, as every run the app starts does (and as
  ``ductwork run`` does once ``ductwork ray start`` ran): the first starts the workspace's
  warm Ray, the second joins it;
  ``--repeat`` reruns (default 3), each with another learning rate, back to back; their
  median ratio is the figure;
- *cold*: after ``ductwork ray stop``, a last run (another learning rate) is a
  ``ductwork run --no-warm`` that starts its own embedded Ray and shuts it down.

    .venv/bin/python bench/incremental.py [--epochs N] [--lr X] [--repeat N=3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from pipelines import wait_for_standby  # noqa: E402


def ductwork(home: Path, *args: str, env: dict[str, str] | None = None
             ) -> tuple[subprocess.CompletedProcess, float, float, float]:
    """Run the real CLI; returns the result, wall seconds, and the epoch times it started/ended."""
    env = {**os.environ, "DUCTWORK_SEED": "1", "PYTHONPATH": str(REPO), **(env or {})}
    start_epoch, started = time.time(), time.perf_counter()
    script = Path(sys.executable).with_name("ductwork")  # the console script, as a person types it
    command = [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]
    done = subprocess.run([*command, "--home", str(home), *args],
                          capture_output=True, text=True, env=env, cwd=REPO)
    return done, time.perf_counter() - started, start_epoch, time.time()


def breakdown(home: Path, run_id: str, start_epoch: float, end_epoch: float) -> list[tuple[str, float]]:
    """Where a run's wall time went, from the run store's timestamps (seconds)."""
    from app.services.runs import get_run
    from app.services.workspace import open_workspace

    ws = open_workspace(home)
    try:
        details = get_run(ws, run_id)
    finally:
        close = getattr(ws, "close", None) or ws.registry.close
        close()
    run = details.run
    ran = sorted((s for s in details.steps if s.status == "completed" and s.started_at), key=lambda s: s.started_at)
    if not ran:
        return [("whole run (nothing executed)", end_epoch - start_epoch)]
    first, last = ran[0], max(ran, key=lambda s: s.ended_at or 0)
    steps = sum(s.duration_s or 0.0 for s in ran)
    span = (last.ended_at or 0) - first.started_at
    return [
        ("CLI start, workspace open, load + plan (process start → run recorded)", run.started_at - start_epoch),
        ("Ray start or join + first worker (run recorded → first re-run step starts)",
         first.started_at - run.started_at),
        ("re-run steps' own durations", steps),
        ("gaps between re-run steps (scheduling, output commit)", span - steps),
        ("last step ends → run recorded as ended", (run.ended_at or 0) - (last.ended_at or 0)),
        ("Ray shutdown or disconnect, final records, process exit (run ended → command returns)",
         end_epoch - (run.ended_at or end_epoch)),
    ]


def second_run(home: Path, lr: float, extra: list[str], label: str) -> float:
    """Run the template with only the learning rate changed; print what was reused and the ratio."""
    if "--warm" in extra:
        waited = wait_for_standby(home, REPO)  # as seconds after the last run: it takes the run
        if waited > 0.5:
            print(f"(waited {waited:.1f} s for the warm Ray's standby driver)")
    done, wall, start_epoch, end_epoch = ductwork(
        home, "run", "text_classification", "--json", "--set", f"learning_rate={lr}", *extra)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    data = json.loads(done.stdout)
    reused = [s["name"] for s in data["steps"] if s["status"] == "reused"]
    rerun = [s for s in data["steps"] if s["status"] == "completed"]
    own = sum(s["duration_s"] or 0.0 for s in rerun)
    print(f"\n{label} {data['id']} (learning_rate → {lr}): {wall:6.1f} s wall")
    print(f"  reused ({len(reused)}): {', '.join(reused)}")
    for s in rerun:
        print(f"  re-ran {s['name']:<12} {s['duration_s']:6.1f} s  why: {s['reason']}")
    ratio = wall / own if own else float("inf")
    print(f"  ratio wall / re-run steps' own durations = {wall:.2f} / {own:.2f} = {ratio:.3f}  "
          f"(target ≤ 1.1: {'met' if ratio <= 1.1 else 'NOT met'})")
    print("  where the wall time went:")
    for what, seconds in breakdown(home, data["id"], start_epoch, end_epoch):
        print(f"    {seconds:6.2f} s  {what}")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, default=0.002, help="the second run's learning rate (template: 0.001)")
    parser.add_argument("--epochs", type=int, default=None, help="override the template's epochs in every run")
    parser.add_argument("--repeat", type=int, default=3,
                        help="warm reruns, each with another learning rate, back to back (the median is the figure)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dw-bench-incremental-"))
    home = root / "ws"
    seeded, seed_s, _, _ = ductwork(home, "init")
    assert seeded.returncode == 0, seeded.stderr
    extra = ["--set", f"epochs={args.epochs}"] if args.epochs else []
    print(f"workspace {home} (seeded in {seed_s:.1f} s)")

    try:
        first, first_s, _, _ = ductwork(home, "run", "text_classification", "--json", "--warm", *extra)
        assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
        one = json.loads(first.stdout)
        print(f"\nfirst run  {one['id']} (--warm: starts the workspace's warm Ray): {first_s:6.1f} s wall, "
              f"{sum(1 for s in one['steps'] if s['status'] == 'completed')} steps executed")
        for s in one["steps"]:
            print(f"  {s['name']:<18} {s['status']:<10} {s['compute'] or '':<12} {s['duration_s'] or 0:6.1f} s  "
                  f"{json.dumps(s.get('resources', {}))}")
        warm_ratios = [second_run(home, args.lr * (1 + i / 10), ["--warm", *extra],
                                  f"rerun {i + 1} of {args.repeat}, warm (joins the warm Ray, as in the app)")
                       for i in range(max(args.repeat, 1))]
        warm = statistics.median(warm_ratios)
    finally:
        stopped, _, _, _ = ductwork(home, "ray", "stop", "--force")
        assert stopped.returncode == 0, stopped.stderr
    # a Ray of its own: --no-warm now that a plain `ductwork run` starts the warm Ray (issue #13)
    cold = second_run(home, args.lr * 2, ["--no-warm", *extra], "last run, cold (`ductwork run --no-warm`: a Ray "
                      "of its own)")
    each = ", ".join(f"{r:.3f}" for r in warm_ratios)
    print(f"\nratio, warm: {warm:.3f} (median of {len(warm_ratios)}: {each})   cold: {cold:.3f}   (target ≤ 1.05 on the default path, the warm one)")

if __name__ == "__main__":
    main()
