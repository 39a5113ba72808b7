"""The artifact store on S3 (engine/objectstore.py) against raw s3fs, and a fully reused run on
the shared store against the workspace's own folder — both side by side on one moto server
(S3 in server mode on loopback), alternated so that both see the same machine load.

    .venv/bin/python bench/store.py [--files 1000] [--mib 1024] [--steps 100] [--repeat 3]

1. put and get of one output of ``--files`` files, ``--mib`` MiB in all: Ductwork's
   ``publish`` (hash every file, upload its blobs, then the tree) and ``materialize`` (download
   the blobs into a fresh node cache, re-hash each, build the tree of hard links) against
   s3fs's own recursive ``put`` and ``get`` of the same folder. Ratios are throughputs:
   Ductwork / raw (≥ 0.8 is the target).
2. ``ductwork run`` of a fully reused ``--steps``-step chain: with ``--store s3://…`` and with
   the workspace's own folder (median wall time, end to end; ≤ 1.5× is the target).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
from pipelines import write_command_chain  # noqa: E402

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["DUCTWORK_WARM"] = "0"  # the runs that fill the store leave no warm Ray behind (a reused run starts none)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, dict[str, str]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, env
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("moto server did not start")


def make_output(folder: Path, files: int, mib: int) -> int:
    folder.mkdir(parents=True)
    size = mib * 2**20 // files
    for i in range(files):
        sub = folder / f"part-{i // 100:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"shard-{i:05d}.bin").write_bytes(os.urandom(size))
    return size * files


def bench_put_get(env: dict[str, str], root: Path, files: int, mib: int, repeat: int) -> None:
    import s3fs

    from engine.objectstore import ObjectArtifactStore

    fs = s3fs.S3FileSystem(endpoint_url=env["AWS_ENDPOINT_URL"], key="testing", secret="testing",
                           use_listings_cache=False)
    output = root / "output"
    total = make_output(output, files, mib)
    print(f"put and get of one output: {files} files, {total / 2**20:.0f} MiB (median of {repeat}; MiB/s)")
    times: dict[str, list[float]] = {k: [] for k in ("raw put", "ductwork put", "raw get", "ductwork get")}
    for i in range(repeat):
        bucket = f"bench-{i}"
        fs.mkdir(bucket)
        fs.invalidate_cache()
        started = time.perf_counter()
        fs.put(str(output), f"{bucket}/raw", recursive=True)
        times["raw put"].append(time.perf_counter() - started)

        store = ObjectArtifactStore(f"s3://{bucket}/dw", root / f"cache-put-{i}", env=env)
        store.check()
        started = time.perf_counter()
        info, _tree = store.publish(output)
        times["ductwork put"].append(time.perf_counter() - started)

        target = root / f"raw-get-{i}"
        started = time.perf_counter()
        fs.get(f"{bucket}/raw", str(target), recursive=True)
        times["raw get"].append(time.perf_counter() - started)

        node = ObjectArtifactStore(f"s3://{bucket}/dw", root / f"cache-get-{i}", env=env)
        started = time.perf_counter()
        node.materialize(info.digest)
        times["ductwork get"].append(time.perf_counter() - started)
        shutil.rmtree(target)
        shutil.rmtree(root / f"cache-get-{i}")
        shutil.rmtree(root / f"cache-put-{i}", ignore_errors=True)
        fs.rm(bucket, recursive=True)
    rate = {k: total / 2**20 / statistics.median(v) for k, v in times.items()}
    for kind in ("put", "get"):
        raw, ours = rate[f"raw {kind}"], rate[f"ductwork {kind}"]
        print(f"  {kind}: raw s3fs {raw:7.1f} MiB/s   ductwork {ours:7.1f} MiB/s   ductwork/raw {ours / raw:.2f}x")


def ductwork(home: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "--home", str(home), *args],
                          capture_output=True, text=True, env={**ENV, **env}, cwd=REPO)


def bench_reused_run(env: dict[str, str], root: Path, steps: int, repeat: int) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=env["AWS_ENDPOINT_URL"], key="testing", secret="testing")
    fs.mkdir("reuse-bench")
    pipeline = write_command_chain(root / "chain", steps)
    setups = {"local folder": ({}, root / "ws-local"),
              "s3 store": ({**env, "DUCTWORK_STORE": "s3://reuse-bench/team"}, root / "ws-s3")}
    for label, (extra, home) in setups.items():
        done = ductwork(home, "run", str(pipeline), "--in-process", "--quiet", env=extra)
        assert done.returncode == 0, label + done.stdout[-800:] + done.stderr[-800:]
    times: dict[str, list[float]] = {label: [] for label in setups}
    for _ in range(repeat):
        for label, (extra, home) in setups.items():  # alternate: both see the same load
            started = time.perf_counter()
            again = ductwork(home, "run", str(pipeline), "--json", env=extra)
            times[label].append(time.perf_counter() - started)
            assert again.returncode == 0, again.stderr[-800:]
            assert {s["status"] for s in json.loads(again.stdout)["steps"]} == {"reused"}, label
    # a second workspace on the same store: every step reused from the first one's records
    fresh = ductwork(root / "ws-s3-teammate", "run", str(pipeline), "--json",
                     env=setups["s3 store"][0])
    teammate = {s["status"] for s in json.loads(fresh.stdout)["steps"]}
    local, shared = (statistics.median(times[k]) for k in setups)
    print(f"fully reused {steps}-step `ductwork run` (median of {repeat}, wall time end to end)")
    print(f"  local folder {local:.2f}s   s3 store {shared:.2f}s   s3/local {shared / local:.2f}x"
          f"   (a teammate's fresh workspace on the store: {', '.join(sorted(teammate))})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dw-bench-store-"))
    proc, env = start_moto()
    os.environ.update(env)
    try:
        bench_put_get(env, root, args.files, args.mib, args.repeat)
        bench_reused_run(env, root, args.steps, max(args.repeat, 5))
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
