"""A 100-step chain of trivial command components through ``ductwork run`` on the embedded
local Ray: first run (Ray start-up included) and a full rerun (everything reused).

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


if __name__ == "__main__":
    main()
