"""The artifact store as a URL (engine/objectstore.py) on a shared folder: blobs and trees, the
node cache, crash-safe commit order, corruption, gc, and two workspaces sharing one store
through the real CLI (in-process executor; the Ray cluster and S3 cases are in
tests/test_cluster_store.py)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from components.errors import DuctworkError
from engine.hashing import content_digest, listing_digest, tree_listing
from engine.objectstore import NODE_ROOT, ObjectArtifactStore, Tree
from engine.runtime import StepTask
from engine.storetask import relocate

RES = Path(__file__).parent / "resources"


def make_folder(root: Path) -> Path:
    (root / "a" / "b").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a" / "x.txt").write_text("same bytes")
    (root / "a" / "b" / "y.txt").write_text("same bytes")  # identical files: one blob
    (root / "z.bin").write_bytes(bytes(range(256)) * 12)
    return root


def store_at(tmp_path: Path, name: str = "cache") -> ObjectArtifactStore:
    store = ObjectArtifactStore((tmp_path / "shared").as_uri(), tmp_path / name, workspace="ws-a")
    store.check()
    return store


def blobs(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "shared" / "blobs").rglob("*") if p.is_file())


def test_a_listing_digests_like_the_content_digest(tmp_path):
    folder = make_folder(tmp_path / "out")
    assert listing_digest(*tree_listing(folder)) == content_digest(folder)
    assert listing_digest(*tree_listing(folder / "z.bin")) == content_digest(folder / "z.bin")


def test_publish_stores_each_file_once_and_another_node_materializes_it(tmp_path):
    store = store_at(tmp_path)
    folder = make_folder(tmp_path / "out")
    digest, size = content_digest(folder)
    info, _tree = store.publish(folder)
    assert (info.digest, info.size, info.created) == (digest, size, True)
    assert len(blobs(tmp_path)) == 2  # x.txt and y.txt share one blob
    again, _ = store.publish(make_folder(tmp_path / "twin"))
    assert again == type(info)(digest, size, created=False)

    other = ObjectArtifactStore((tmp_path / "shared").as_uri(), tmp_path / "node-b")
    local = other.materialize(digest)
    assert local == tmp_path / "node-b" / "trees" / digest
    assert content_digest(local) == (digest, size)
    assert (local / "empty").is_dir()
    # a second read on that node is free: no store access at all
    shutil.rmtree(tmp_path / "shared" / "blobs")
    assert other.materialize(digest) == local


def test_a_tree_is_only_written_after_its_blobs(tmp_path, monkeypatch):
    store = store_at(tmp_path)
    folder = make_folder(tmp_path / "out")
    digest, _ = content_digest(folder)

    def broken(pairs):
        raise OSError("connection reset during the upload")

    monkeypatch.setattr(store.backend, "upload", broken)
    with pytest.raises(OSError):
        store.publish(folder)
    fresh = ObjectArtifactStore((tmp_path / "shared").as_uri(), tmp_path / "c2")
    assert not fresh.exists(digest)  # no tree points at missing blobs


def test_a_corrupt_blob_is_found_on_fetch_and_by_verify(tmp_path):
    store = store_at(tmp_path)
    folder = make_folder(tmp_path / "out")
    info, _ = store.publish(folder)
    victim = next(p for p in blobs(tmp_path) if p.stat().st_size == 3072)
    os.chmod(victim, 0o644)
    victim.write_bytes(b"flipped" + victim.read_bytes()[7:])
    other = ObjectArtifactStore((tmp_path / "shared").as_uri(), tmp_path / "node-b")
    with pytest.raises(DuctworkError, match="corrupt"):
        other.materialize(info.digest)
    assert not (tmp_path / "node-b" / "trees" / info.digest).exists()
    assert other.verify(info.digest) is False
    assert other.rehash(info.digest) not in (None, info.digest)
    other.evict(info.digest)
    assert not ObjectArtifactStore((tmp_path / "shared").as_uri(), tmp_path / "c3").exists(info.digest)


def test_a_damaged_tree_is_no_artifact(tmp_path):
    store = store_at(tmp_path)
    info, _ = store.publish(make_folder(tmp_path / "out"))
    path = tmp_path / "shared" / "trees" / info.digest[:2] / f"{info.digest}.json"
    data = json.loads(path.read_text())
    data["entries"] = data["entries"][:-1]  # a listing that no longer hashes to its name
    path.write_text(json.dumps(data))
    assert Tree.parse(path.read_bytes(), info.digest) is None
    assert not ObjectArtifactStore((tmp_path / "shared").as_uri(), tmp_path / "c2").exists(info.digest)


def test_gc_removes_the_blobs_no_tree_names_after_the_grace_period(tmp_path):
    store = store_at(tmp_path)
    kept, _ = store.publish(make_folder(tmp_path / "kept"))
    (tmp_path / "gone").mkdir()
    (tmp_path / "gone" / "only-here.txt").write_text("nobody else has these bytes")
    gone, _ = store.publish(tmp_path / "gone")
    assert len(blobs(tmp_path)) == 3
    store.evict(gone.digest)
    assert store.collect_blobs(keep_after=0.0) == {}  # everything is younger than the grace period
    freed = store.collect_blobs(keep_after=float("inf"), dry_run=True)
    assert len(freed) == 1 and len(blobs(tmp_path)) == 3
    assert len(store.collect_blobs(keep_after=float("inf"))) == 1
    assert len(blobs(tmp_path)) == 2
    assert store.verify(kept.digest)


def test_a_store_that_is_not_there_is_a_clear_error(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(DuctworkError, match="cannot be reached"):
        ObjectArtifactStore((tmp_path / "a-file" / "store").as_uri(), tmp_path / "c").check()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "store.json").write_text('{"format": 99}')
    with pytest.raises(DuctworkError, match="not a Ductwork store of format 1"):
        ObjectArtifactStore((tmp_path / "other").as_uri(), tmp_path / "c").check()


def test_relocate_moves_every_virtual_path_and_nothing_else(tmp_path):
    area = f"{NODE_ROOT}/scratch/r/prep-1"
    task = StepTask(run_id="r", job="prep", kind="command", area=area, log_path=f"{NODE_ROOT}/logs/r/prep.log",
                    code_dir=f"{NODE_ROOT}/trees/abc", command="x", output_dirs={"out": f"{area}/outputs/out"},
                    values={"DUCTWORK_VALUE_0": f"{area}/inputs/raw", "DUCTWORK_VALUE_1": "/@ductwork-node-ish"},
                    display=f"run {area}/inputs/raw", store="file:///s", fetch=(("abc", ""), ("d1", f"{area}/inputs/raw")))
    moved = relocate(task, "/cache")
    assert moved.store is None
    assert moved.area == "/cache/scratch/r/prep-1" and moved.code_dir == "/cache/trees/abc"
    assert moved.values == {"DUCTWORK_VALUE_0": "/cache/scratch/r/prep-1/inputs/raw",
                            "DUCTWORK_VALUE_1": "/cache-ish"}
    assert moved.fetch == (("abc", ""), ("d1", "/cache/scratch/r/prep-1/inputs/raw"))
    assert moved.display == "run /cache/scratch/r/prep-1/inputs/raw"


# ------------------------------------------------------------------ two workspaces, one store (CLI)
@pytest.fixture
def basic(basic: Path) -> Path:
    """tests/resources/basic with every job on the ``local`` target (no targets are registered here)."""
    path = basic / "pipeline.yml"
    text = path.read_text().replace("compute: cpu-highmem", "compute: local").replace("compute: gpu", "compute: local")
    path.write_text(text.replace("default_compute: cpu", "default_compute: local"))
    return basic


def run_json(cli, home: Path, *args: str, env: dict[str, str]) -> dict:
    result = cli("run", *args, "--in-process", "--json", home=home, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_two_workspaces_on_one_shared_folder_reuse_each_others_steps(cli, basic, tmp_path):
    env = {"DUCTWORK_STORE": str(tmp_path / "team-store")}
    first = run_json(cli, tmp_path / "ana", str(basic / "pipeline.yml"), env=env)
    assert [s["status"] for s in first["steps"]] == ["completed", "completed"]
    assert not any((tmp_path / "ana" / "artifacts").iterdir())  # nothing in the workspace's own folder
    second = run_json(cli, tmp_path / "ben", str(basic / "pipeline.yml"), env=env)
    assert [s["status"] for s in second["steps"]] == ["reused", "reused"]
    reason = second["steps"][0]["reason"]
    assert reason.startswith(f"reused from run {first['id']} of workspace ") and "ana" in reason
    # the step's log reached the driver's workspace
    log = cli("runs", "logs", first["id"], "train", home=tmp_path / "ana", env=env)
    assert log.returncode == 0 and '"epochs": 20' in log.stdout, log.stdout + log.stderr
    # ben reads ana's output: fetched from the store into this machine's cache
    got = cli("runs", "output", second["id"], "train", "--json", home=tmp_path / "ben", env=env)
    assert got.returncode == 0, got.stderr
    local = Path(json.loads(got.stdout)["path"])
    assert local.is_relative_to(Path(os.environ["DUCTWORK_NODE_CACHE"])) and any(local.iterdir())
    unknown = cli("runs", "output", second["id"], "trian", home=tmp_path / "ben", env=env)
    assert unknown.returncode != 0 and "Did you mean 'train'?" in unknown.stderr
    # a parameter change reruns only train, in ben's workspace, and ana then reuses it
    changed = run_json(cli, tmp_path / "ben", str(basic / "pipeline.yml"), "--set", "max_epochs=5", env=env)
    assert [s["status"] for s in changed["steps"]] == ["reused", "completed"]
    back = run_json(cli, tmp_path / "ana", str(basic / "pipeline.yml"), "--set", "max_epochs=5", env=env)
    assert [s["status"] for s in back["steps"]] == ["reused", "reused"]
    assert "of workspace" in back["steps"][1]["reason"] and "ben" in back["steps"][1]["reason"]
    # verify and gc work on the shared store
    verify = cli("verify", "--json", home=tmp_path / "ana", env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["ok"] is True
    assert json.loads(verify.stdout)["checked"] >= 4
    gc = cli("gc", "--json", home=tmp_path / "ben", env=env)
    assert gc.returncode == 0, gc.stderr
    freed = json.loads(gc.stdout)["freed"]
    assert freed["artifacts"] == 0 and freed["blobs"] == 0  # every tree is named, or younger than an hour
    again = run_json(cli, tmp_path / "ana", str(basic / "pipeline.yml"), env=env)
    assert [s["status"] for s in again["steps"]] == ["reused", "reused"]


def test_a_store_out_of_reach_fails_before_anything_is_recorded(cli, basic, tmp_path):
    (tmp_path / "a-file").write_text("x")
    env = {"DUCTWORK_STORE": str(tmp_path / "a-file" / "store")}
    result = cli("run", str(basic / "pipeline.yml"), "--in-process", home=tmp_path / "ws", env=env)
    assert result.returncode != 0
    assert "cannot be reached" in result.stderr and "Traceback" not in result.stderr
    listed = cli("runs", "list", "--json", home=tmp_path / "ws")
    assert json.loads(listed.stdout) == []


def test_settings_keep_the_store_and_refuse_unknown_names(cli, basic, tmp_path):
    home = tmp_path / "ws"
    bad = cli("settings", "set", "stor", "x", home=home)
    assert bad.returncode != 0 and "Did you mean 'store'?" in bad.stderr
    unreachable = cli("settings", "set", "store", str(tmp_path / "x" / "y"), home=home)
    assert unreachable.returncode == 0  # a folder that can be made is a store
    (tmp_path / "f").write_text("x")
    refused = cli("settings", "set", "store", str(tmp_path / "f" / "s"), home=home)
    assert refused.returncode != 0 and "cannot be reached" in refused.stderr
    assert json.loads((home / "settings.json").read_text()) == {"store": str(tmp_path / "x" / "y")}
    shown = json.loads(cli("settings", "show", "--json", home=home).stdout)
    assert next(r for r in shown if r["name"] == "store")["effective"] == (tmp_path / "x" / "y").as_uri()
    data = run_json(cli, home, str(basic / "pipeline.yml"), env={})
    assert all(s["outputs"] and all(v.startswith((tmp_path / "x" / "y").as_uri()) for v in s["outputs"].values())
               for s in data["steps"])
    assert cli("settings", "unset", "store", home=home).returncode == 0
    assert json.loads((home / "settings.json").read_text()) == {}


def test_a_store_backed_step_that_times_out_is_stopped_with_its_processes(cli, tmp_path):
    import psutil

    marker = f"dw-timeout-{os.getpid()}"
    (tmp_path / "slow.yml").write_text(
        "type: command\nname: slow\nversion: 1\noutputs:\n  out: {type: uri_folder}\n"
        f"command: bash -c 'exec -a {marker} sleep 120'\n")
    (tmp_path / "p.yml").write_text("type: pipeline\nname: slow_store\njobs:\n  a:\n    component: ./slow.yml\n"
                                    "    limits: {timeout: 2}\n")
    started = time.monotonic()
    done = cli("run", str(tmp_path / "p.yml"), "--in-process", "--json", home=tmp_path / "ws",
               env={"DUCTWORK_STORE": str(tmp_path / "store")})
    assert time.monotonic() - started < 60
    step = json.loads(done.stdout)["steps"][0]
    assert step["status"] == "failed" and "timed out after 2 s" in step["error"], step
    time.sleep(0.5)
    left = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
    assert not left, left
