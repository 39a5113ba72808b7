"""Fully reused reruns: ``ductwork run`` wall time end to end for 100- and 1,000-step
pipelines, and proof that Ray is not even imported (so no Ray process can start).

    .venv/bin/python bench/reuse.py [N ...]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipelines import write_command_chain  # noqa: E402

PROBE = ("import sys\nfrom app.cli import main\ntry:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
         "print('RAY_IMPORTED' if 'ray' in sys.modules else 'RAY_NOT_IMPORTED', file=sys.stderr)\nsys.exit(code)\n")


def ductwork(home: Path, *args: str, probe: bool = False) -> subprocess.CompletedProcess:
    code = PROBE if probe else "from app.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, "--home", str(home), *args], capture_output=True, text=True)


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000]
    root = Path(tempfile.mkdtemp(prefix="dw-bench-reuse-"))
    print("fully reused rerun of `ductwork run PIPELINE.yml` (wall time, end to end, median of 5)")
    print(f"{'steps':>6} {'first run':>10} {'reused rerun':>13} {'min':>7} {'Ray imported':>13}")
    for n in sizes:
        home = root / f"ws{n}"
        pipeline = write_command_chain(root / f"p{n}", n)
        started = time.perf_counter()
        first = ductwork(home, "run", str(pipeline), "--in-process", "--quiet")
        first_s = time.perf_counter() - started
        assert first.returncode == 0, first.stdout[-1000:] + first.stderr[-1000:]
        times, imported = [], set()
        for _ in range(5):
            started = time.perf_counter()
            again = ductwork(home, "run", str(pipeline), "--json", probe=True)
            times.append(time.perf_counter() - started)
            assert again.returncode == 0, again.stderr[-1000:]
            data = json.loads(again.stdout)
            assert {s["status"] for s in data["steps"]} == {"reused"}, "not fully reused"
            imported.add("RAY_IMPORTED" in again.stderr)
        print(f"{n:6d} {first_s:9.2f}s {statistics.median(times):12.2f}s {min(times):6.2f}s "
              f"{'yes' if True in imported else 'no':>13}")


if __name__ == "__main__":
    main()
