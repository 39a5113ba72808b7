"""A 100-step chain of trivial command components through ``ductwork run`` on the embedded
local Ray: first run (Ray start-up included) and a full rerun (everything reused); then the
same chain forced (every step executes) once on a Ray of its own and once on the
workspace's warm Ray (``ductwork ray start``), side by side.

    .venv/bin/python bench/command_chain.py [N]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipelines import write_command_chain  # noqa: E402


def ductwork(home: Path, *args: str) -> tuple[float, dict]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "--home", str(home), *args],
                          capture_output=True, text=True)
    took = time.perf_counter() - started
    assert proc.returncode == 0, proc.stdout[-1000:] + proc.stderr[-2000:]
    return took, json.loads(proc.stdout)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    root = Path(tempfile.mkdtemp(prefix="dw-bench-cmd-"))
    pipeline = write_command_chain(root / "p", n)
    first_s, first = ductwork(root / "ws", "run", str(pipeline), "--json")
    ran = [s["duration_s"] for s in first["steps"] if s["status"] == "completed"]
    rerun_s, rerun = ductwork(root / "ws", "run", str(pipeline), "--json")
    assert {s["status"] for s in rerun["steps"]} == {"reused"}
    print(f"{n}-step chain of trivial command components, `ductwork run` on the embedded local Ray")
    print(f"first run:  {first_s:6.2f} s wall ({len(ran)} steps executed, mean step {sum(ran) / len(ran) * 1000:.0f} ms,"
          f" {first_s / n * 1000:.0f} ms per step including Ray start-up and shutdown)")
    print(f"full rerun: {rerun_s:6.2f} s wall (all {n} steps reused, Ray not started)")
    own_s, _ = ductwork(root / "ws", "run", str(pipeline), "--json", "--force")
    started = subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "--home", str(root / "ws"),
                              "ray", "start"], capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    try:
        warm_s, _ = ductwork(root / "ws", "run", str(pipeline), "--json", "--force")
    finally:
        subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "--home", str(root / "ws"),
                        "ray", "stop", "--force"], capture_output=True, text=True)
    print(f"forced run, a Ray of its own:   {own_s:6.2f} s wall (Ray start and shutdown included)")
    print(f"forced run, on the warm Ray:    {warm_s:6.2f} s wall ({own_s / warm_s:.1f}x faster)")


if __name__ == "__main__":
    main()
