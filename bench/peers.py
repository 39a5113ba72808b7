"""Ductwork beside its peers, on the same shapes, alternated run by run, as ratios:

(a) a 100-step chain of trivial shell steps, first run: ``ductwork run`` on the default path
    (and on the other Ray path: ``--no-warm`` once the warm Ray is the default, ``--warm``
    before) vs DVC's ``dvc repro`` of the same 100-stage chain (target ≤ 0.15×);
(b) the same chain fully reused: ``ductwork run`` vs Hamilton's cached rerun of a 100-node
    chain (``driver.Builder().with_cache()``, a script run in a fresh process; target ≤ 0.6×);
(c) the 1,000-step fully reused ``ductwork run`` (target ≤ 1.5 s; ``bench/reuse.py``'s rerun).

    .venv/bin/python bench/peers.py [--steps 100] [--repeat 3] [--reruns 5] [--big 1000] [--only a,b,c]

Every call is a fresh process with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` is
cleared for them, as bench/reuse.py does), medians over the repeats. Each step does the same
trivial work everywhere: it reads its upstream's one-line file and writes one line of its own.
The peers live in a venv of their own, ``bench/.peers-venv`` (git-ignored), made here with pip
when it is missing (DVC 3.x, sf-hamilton), so that they never share Ductwork's packages.
Their telemetry is switched off (``DVC_NO_ANALYTICS``, ``HAMILTON_TELEMETRY_ENABLED=false``):
this machine reaches no network, and a peer must not be timed waiting for one.

A run's workspace keeps its warm Ray between (a)'s repeats, as a user's does; the first repeat
of the warm path starts it (its time is printed apart: "cold"). Every warm Ray started here is
stopped at the end with ``ductwork --home WS ray stop``; nothing is left running.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from pipelines import write_command_chain  # noqa: E402
from reuse import ENV, child_cpu, ductwork, rerun  # noqa: E402

PEERS_VENV = HERE / ".peers-venv"
PEERS = ("dvc>=3,<4", "sf-hamilton")
#: the peers as a user runs them, with no telemetry (there is no network here to send it to)
PEER_ENV = {**ENV, "DVC_NO_ANALYTICS": "1", "HAMILTON_TELEMETRY_ENABLED": "false"}
#: the default path as a user sees it: not told by CI or the environment which Ray to use
DEFAULT_ENV = {k: v for k, v in ENV.items() if k not in ("CI", "DUCTWORK_WARM", "RAY_ADDRESS")}


def peers_python() -> Path:
    """The peers' venv's Python; the venv is made (and DVC and Hamilton installed) when missing."""
    python = PEERS_VENV / "bin" / "python"
    marker = PEERS_VENV / ".installed"
    if not marker.exists():
        print(f"installing {', '.join(PEERS)} into {PEERS_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEERS_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEERS], check=True)
        marker.touch()
    return python


def peer_versions(python: Path) -> str:
    code = ("from importlib.metadata import version as v; "
            "print(f\"DVC {v('dvc')}, sf-hamilton {v('sf-hamilton')}\")")
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=PEER_ENV).stdout.strip()


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return took


# ------------------------------------------------------------------ (a) first run of a shell chain
STEP_YML = """type: command
name: peers_step
version: 1
inputs:
  i: {type: integer}
  salt: {type: string}
  prev: {type: uri_folder, optional: true}
outputs:
  out: {type: uri_folder}
command: $[[cat ${{inputs.prev}}/i.txt > /dev/null && ]]echo ${{inputs.salt}} ${{inputs.i}} > ${{outputs.out}}/i.txt
"""


def ductwork_chain(folder: Path, n: int, salt: str) -> Path:
    """``n`` shell steps in a chain; ``salt`` (a literal input of every step) makes each repeat's
    chain new to the workspace, so every step executes."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "step.yml").write_text(STEP_YML)
    lines = ["type: pipeline", f"name: peers_chain_{n}", "jobs:"]
    for i in range(n):
        lines += [f"  s{i}:", "    type: command", "    component: ./step.yml", "    inputs:", f"      i: {i}",
                  f"      salt: {salt}"]
        if i:
            lines.append(f"      prev: ${{{{parent.jobs.s{i - 1}.outputs.out}}}}")
    path = folder / "pipeline.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def dvc_chain(folder: Path, n: int, salt: str, python: Path) -> None:
    """The same chain as DVC stages (each stage's dependency is its upstream's file), in a fresh
    DVC project (``dvc init --no-scm``: no Git needed)."""
    folder.mkdir(parents=True)
    subprocess.run([str(python.parent / "dvc"), "init", "--no-scm", "-q"], cwd=folder, env=PEER_ENV, check=True)
    lines = ["stages:"]
    for i in range(n):
        lines.append(f"  s{i}:")
        if i:
            lines += [f"    cmd: cat s{i - 1}.txt > /dev/null && echo {salt} {i} > s{i}.txt", f"    deps: [s{i - 1}.txt]"]
        else:
            lines.append(f"    cmd: echo {salt} {i} > s{i}.txt")
        lines.append(f"    outs: [s{i}.txt]")
    (folder / "dvc.yaml").write_text("\n".join(lines) + "\n")


def warm_is_default() -> bool:
    """Whether this checkout's plain ``ductwork run`` uses the warm Ray (it has ``--no-warm``)."""
    shown = subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "run", "--help"],
                           capture_output=True, text=True, env={**DEFAULT_ENV, "COLUMNS": "200"}, cwd=ROOT)
    return "--no-warm" in shown.stdout


def first_runs(root: Path, n: int, repeat: int, python: Path, homes: list[Path]) -> dict[str, list[float]]:
    warm_default = warm_is_default()
    # label -> extra `ductwork run` options; the default path first
    paths = {"default (warm Ray)": [], "--no-warm (own Ray)": ["--no-warm"]} if warm_default else \
        {"default (own Ray)": [], "--warm": ["--warm"]}
    times: dict[str, list[float]] = {"dvc repro": [], **{label: [] for label in paths}}
    cold: dict[str, float] = {}
    for _ in paths:
        homes.append(root / f"ws-{len(homes)}")
    dvc_bin = str(python.parent / "dvc")
    subprocess.run([dvc_bin, "--version"], env=PEER_ENV, capture_output=True)  # bytecode compiled once, untimed
    for r in range(repeat + 1):  # repeat 0 warms the caches (and starts the warm Ray: reported as "cold")
        salt = f"r{r}"
        project = root / f"dvc-{r}"
        dvc_chain(project, n, salt, python)
        took = timed([dvc_bin, "repro", "-q"], project, PEER_ENV)
        if r:
            times["dvc repro"].append(took)
        else:
            cold["dvc repro"] = took
        for (label, extra), home in zip(paths.items(), homes[-len(paths):], strict=True):
            pipeline = ductwork_chain(root / f"dw-{r}-{len(extra)}", n, salt)
            cmd = [sys.executable, "-c", "from app.cli import main; main()", "--home", str(home), "run",
                   str(pipeline), "--quiet", *extra]
            took = timed(cmd, ROOT, DEFAULT_ENV)
            if r:
                times[label].append(took)
            else:
                cold[label] = took
        print(f"  (a) repeat {r}{' (cold)' if not r else ''}: "
              + ", ".join(f"{k} {(v[-1] if r else cold[k]):.2f}s" for k, v in times.items()), flush=True)
    print(f"\n(a) {n}-step shell chain, first run (median of {repeat}; cold = the first call, which starts "
          "the warm Ray and fills the caches)")
    base = statistics.median(times["dvc repro"])
    for label, values in times.items():
        median = statistics.median(values)
        ratio = "" if label == "dvc repro" else f"  {median / base:.3f}× DVC" + \
            ("  (target ≤ 0.15×)" if label.startswith("default") else "")
        print(f"  {label:22s} {median:7.2f}s  (min {min(values):.2f}, cold {cold[label]:.2f}){ratio}")
    return times


# ------------------------------------------------------------------ (b) fully reused rerun vs Hamilton
HAMILTON_RUN = """import os, sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
from hamilton import driver
import chain
dr = driver.Builder().with_modules(chain).with_cache(path=os.path.join(HERE, ".hamilton_cache")).build()
result = dr.execute(["s{last}"])
print("CALLS", chain.CALLS[0], result["s{last}"])
"""


def hamilton_chain(folder: Path, n: int) -> Path:
    """A module of ``n`` nodes in a chain (each reads its upstream's file and writes its own
    line) and the script a user would run; returns the script."""
    folder.mkdir(parents=True)
    lines = ["import os", "", "CALLS = [0]  # how many nodes executed (none on a cached rerun)",
             "OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'out')", ""]
    for i in range(n):
        lines += [f"def s{i}({f's{i - 1}: str' if i else ''}) -> str:", "    CALLS[0] += 1"]
        if i:
            lines += [f"    with open(s{i - 1}) as f:", "        f.read()"]
        lines += [f"    path = os.path.join(OUT, 's{i}.txt')", "    with open(path, 'w') as f:",
                  f"        f.write('{i}\\n')", "    return path", ""]
    (folder / "chain.py").write_text("\n".join(lines))
    script = folder / "run.py"
    script.write_text(HAMILTON_RUN.replace("{last}", str(n - 1)))
    return script


def reused_reruns(root: Path, n: int, repeat: int, python: Path) -> dict[str, list[float]]:
    home = root / f"ws-reuse-{n}"
    pipeline = write_command_chain(root / f"reuse-{n}", n)
    done = ductwork(ROOT, home, "run", str(pipeline), "--in-process", "--quiet")
    assert done.returncode == 0, done.stdout[-1000:] + done.stderr[-1000:]
    script = hamilton_chain(root / f"hamilton-{n}", n)
    first = subprocess.run([str(python), str(script)], capture_output=True, text=True, env=PEER_ENV)
    assert first.returncode == 0 and f"CALLS {n} " in first.stdout, first.stdout + first.stderr[-2000:]
    times: dict[str, list[float]] = {"ductwork run": [], "hamilton": []}
    cpus: dict[str, list[float]] = {"ductwork run": [], "hamilton": []}
    imported: set[bool] = set()
    for _ in range(repeat):
        took, ray, cpu = rerun(ROOT, home, pipeline)
        times["ductwork run"].append(took)
        cpus["ductwork run"].append(cpu)
        imported.add(ray)
        cpu = child_cpu()
        started = time.perf_counter()
        again = subprocess.run([str(python), str(script)], capture_output=True, text=True, env=PEER_ENV)
        times["hamilton"].append(time.perf_counter() - started)
        cpus["hamilton"].append(child_cpu() - cpu)
        assert again.returncode == 0 and "CALLS 0 " in again.stdout, "Hamilton's rerun was not cached: " + \
            again.stdout + again.stderr[-2000:]
    dw, ham = statistics.median(times["ductwork run"]), statistics.median(times["hamilton"])
    print(f"\n(b) {n}-step chain, fully reused rerun, fresh process each (median of {repeat}, alternated)")
    cdw, cham = statistics.median(cpus["ductwork run"]), statistics.median(cpus["hamilton"])
    print(f"  ductwork run           {dw:7.3f}s  (min {min(times['ductwork run']):.3f}; CPU {cdw:.3f}s; Ray imported: "
          f"{'yes' if True in imported else 'no'})")
    print(f"  Hamilton cached rerun  {ham:7.3f}s  (min {min(times['hamilton']):.3f}; CPU {cham:.3f}s)")
    print(f"  ratio                  {dw / ham:.3f}×  (target ≤ 0.6×; CPU time {cdw / cham:.3f}×)")
    return times


def big_reruns(root: Path, n: int, repeat: int) -> list[float]:
    home = root / f"ws-reuse-{n}"
    pipeline = write_command_chain(root / f"reuse-{n}", n)
    started = time.perf_counter()
    done = ductwork(ROOT, home, "run", str(pipeline), "--in-process", "--quiet")
    assert done.returncode == 0, done.stdout[-1000:] + done.stderr[-1000:]
    print(f"\n(c) {n}-step chain: first run (in-process) {time.perf_counter() - started:.1f}s", flush=True)
    times, cpus, imported = [], [], set()
    for _ in range(repeat):
        took, ray, cpu = rerun(ROOT, home, pipeline)
        times.append(took)
        cpus.append(cpu)
        imported.add(ray)
    print(f"  fully reused `ductwork run`: {statistics.median(times):.3f}s (median of {repeat}, min "
          f"{min(times):.3f}; CPU {statistics.median(cpus):.3f}s; target ≤ 1.5 s); Ray imported: "
          f"{'yes' if True in imported else 'no'}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="first runs of (a) per tool, after a cold one")
    parser.add_argument("--reruns", type=int, default=5, help="reused reruns of (b) and (c) per tool")
    parser.add_argument("--big", type=int, default=1000, help="steps of (c)")
    parser.add_argument("--only", default="a,b,c", help="which parts: a, b, c (comma-separated)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    python = peers_python()
    root = Path(tempfile.mkdtemp(prefix="dw-bench-peers-"))
    homes: list[Path] = []
    print(f"peers: {peer_versions(python)}; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs; "
          f"load {os.getloadavg()[0]:.2f} at the start; in {root}", flush=True)
    try:
        if "a" in parts:
            first_runs(root, args.steps, args.repeat, python, homes)
        if "b" in parts:
            reused_reruns(root, args.steps, args.reruns, python)
        if "c" in parts:
            big_reruns(root, args.big, args.reruns)
    finally:
        for home in homes:  # every warm Ray started here, and only those
            if home.exists():
                subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "--home", str(home),
                                "ray", "stop"], cwd=ROOT, env=DEFAULT_ENV, capture_output=True)
        print(f"\nload {os.getloadavg()[0]:.2f} at the end", flush=True)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
