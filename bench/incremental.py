"""Incremental rerun: change only the transformer's learning rate, pay only for what it changes.

On a fresh, seeded temporary workspace, runs the text-classification template through the
real ``ductwork run text_classification --json``, then again with only
``--set learning_rate=…`` changed, and prints both wall times, the steps reused in the
second run, and the ratio

    second run's wall time / (sum of the re-run steps' own durations)

(the re-run steps are the transformer's training and its evaluation). Target ≤ 1.1. It also
splits the run's wall time into CLI start-up, planning, Ray start, steps, gaps and shutdown,
from the run store's timestamps, so that a ratio over target says where the rest went.
``--warm`` adds a third run (another learning rate) that joins a Ray started beforehand, as
a team does with ``ray start --head`` and ``RAY_ADDRESS``: the same ratio without Ray's start.

    .venv/bin/python bench/incremental.py [--epochs N] [--lr X] [--warm]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def ductwork(home: Path, *args: str, env: dict[str, str] | None = None
             ) -> tuple[subprocess.CompletedProcess, float, float, float]:
    """Run the real CLI; returns the result, wall seconds, and the epoch times it started/ended."""
    env = {**os.environ, "DUCTWORK_SEED": "1", "PYTHONPATH": str(REPO), **(env or {})}
    start_epoch, started = time.time(), time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "app.cli", "--home", str(home), *args],
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
        ("Ray start + first worker (run recorded → first re-run step starts)", first.started_at - run.started_at),
        ("re-run steps' own durations", steps),
        ("gaps between re-run steps (scheduling, output commit)", span - steps),
        ("last step ends → run recorded as ended", (run.ended_at or 0) - (last.ended_at or 0)),
        ("Ray shutdown, final records, process exit (run ended → command returns)",
         end_epoch - (run.ended_at or end_epoch)),
    ]


class WarmRay:
    """A local Ray started by a helper process, as ``ray start --head`` would be, for the
    ``RAY_ADDRESS`` variant; stopped by closing the helper's stdin (it calls ``ray.shutdown()``)."""

    #: a private helper cluster: no token (the embedded Ray's token is not written where a second driver reads it)
    ENV = {"RAY_AUTH_MODE": "disabled"}
    CODE = ("import sys, ray\n"
            "ctx = ray.init(num_cpus={cpus}, include_dashboard=False, log_to_driver=False, "
            "object_store_memory=256 * 2**20, _temp_dir={temp!r})\n"
            "print(ctx.address_info['gcs_address'], flush=True)\n"
            "sys.stdin.read()\n"
            "ray.shutdown()\n")

    def __init__(self, temp_dir: Path) -> None:
        code = self.CODE.format(cpus=os.cpu_count() or 1, temp=str(temp_dir))
        self.process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True, env={**os.environ, **self.ENV})
        self.address = (self.process.stdout.readline() if self.process.stdout else "").strip()
        if not self.address:
            self.stop()
            raise RuntimeError("the helper's Ray did not start")

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def second_run(home: Path, lr: float, extra: list[str], label: str, address: str | None = None) -> float:
    """Run the template with only the learning rate changed; print what was reused and the ratio."""
    more = ["--address", address] if address else []
    done, wall, start_epoch, end_epoch = ductwork(
        home, "run", "text_classification", "--json", "--set", f"learning_rate={lr}", *extra, *more,
        env=WarmRay.ENV if address else None)
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
    print(f"  ratio wall / re-run steps' own durations = {wall:.1f} / {own:.1f} = {ratio:.2f}  "
          f"(target ≤ 1.1: {'met' if ratio <= 1.1 else 'NOT met'})")
    print("  where the wall time went:")
    for what, seconds in breakdown(home, data["id"], start_epoch, end_epoch):
        print(f"    {seconds:6.2f} s  {what}")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, default=0.002, help="the second run's learning rate (template: 0.001)")
    parser.add_argument("--epochs", type=int, default=None, help="override the template's epochs in every run")
    parser.add_argument("--warm", action="store_true",
                        help="also run a third time (another learning rate) joining a Ray started beforehand")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dw-bench-incremental-"))
    home = root / "ws"
    seeded, seed_s, _, _ = ductwork(home, "init")
    assert seeded.returncode == 0, seeded.stderr
    extra = ["--set", f"epochs={args.epochs}"] if args.epochs else []
    print(f"workspace {home} (seeded in {seed_s:.1f} s)")

    first, first_s, _, _ = ductwork(home, "run", "text_classification", "--json", *extra)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    one = json.loads(first.stdout)
    print(f"\nfirst run  {one['id']}: {first_s:6.1f} s wall, "
          f"{sum(1 for s in one['steps'] if s['status'] == 'completed')} steps executed")
    for s in one["steps"]:
        print(f"  {s['name']:<18} {s['status']:<10} {s['compute'] or '':<12} {s['duration_s'] or 0:6.1f} s  "
              f"{json.dumps(s.get('resources', {}))}")

    second_run(home, args.lr, extra, "second run")
    if args.warm:
        warm = WarmRay(root / "ray")
        try:
            second_run(home, args.lr * 2, extra, "third run, joining an already started Ray (RAY_ADDRESS),",
                       address=warm.address)
        finally:
            warm.stop()


if __name__ == "__main__":
    main()
