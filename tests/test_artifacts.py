"""The artifact store: atomic, content-addressed commits; memoised digests of external data."""

from __future__ import annotations

import os

from test_engine_support import Harness, copy_code, function, single_job

from components.spec import OutputSpec
from engine.artifacts import LocalArtifactStore
from engine.hashing import content_digest, stat_key
from engine.inputs import ExternalDigests
from engine.runstore import InMemoryRunStore


def fill(folder, files: dict[str, str]):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def test_commit_moves_the_folder_under_its_digest_and_stores_identical_content_once(tmp_path):
    store = LocalArtifactStore(tmp_path / "artifacts", tmp_path / "tmp")
    a = fill(store.new_step_area("r1", "j") / "out", {"x.txt": "same", "sub/y.txt": "y"})
    b = fill(store.new_step_area("r2", "j") / "out", {"x.txt": "same", "sub/y.txt": "y"})
    first, second = store.commit(a), store.commit(b)
    assert first.digest == second.digest and first.created and not second.created
    assert first.size == len("same") + len("y")
    assert not a.exists() and not b.exists()
    assert sorted(os.listdir(tmp_path / "artifacts")) == [first.digest]
    assert (store.path(first.digest) / "sub" / "y.txt").read_text() == "y"
    assert store.exists(first.digest, first.size) and not store.exists(first.digest, first.size + 1)
    assert store.verify(first.digest)
    # committed files are read-only, so a careless downstream step cannot change them
    assert not os.access(store.path(first.digest) / "x.txt", os.W_OK) or os.geteuid() == 0



def test_stored_lists_digests_with_sizes_and_scratch_and_leftovers_are_where_the_store_puts_them(tmp_path):
    store = LocalArtifactStore(tmp_path / "artifacts", tmp_path / "tmp")
    area = store.new_step_area("r1", "j")
    assert area.parent == store.scratch_of("r1")
    a = store.commit(fill(area / "a", {"x.txt": "abc"}))
    b = store.commit(fill(area / "b", {"y.txt": "12345"}))
    (tmp_path / "artifacts" / ".staging-123").mkdir()  # a copy in progress is not an artifact yet
    assert store.stored() == {a.digest: 3, b.digest: 5}
    (tmp_path / "tmp" / ".evicted-abc").mkdir()
    assert store.leftovers() == [tmp_path / "tmp" / ".evicted-abc"]
    store.evict(a.digest)
    assert store.stored() == {b.digest: 5} and store.leftovers() == [tmp_path / "tmp" / ".evicted-abc"]

def test_digest_depends_on_content_and_relative_paths_only(tmp_path):
    one = fill(tmp_path / "one", {"a.txt": "1", "b/c.txt": "2"})
    two = fill(tmp_path / "two", {"a.txt": "1", "b/c.txt": "2"})
    renamed = fill(tmp_path / "three", {"a.txt": "1", "b/d.txt": "2"})
    assert content_digest(one) == content_digest(two)
    assert content_digest(one)[0] != content_digest(renamed)[0]


def test_a_damaged_artifact_is_replaced_by_a_fresh_commit(tmp_path):
    store = LocalArtifactStore(tmp_path / "artifacts", tmp_path / "tmp")
    info = store.commit(fill(tmp_path / "tmp" / "o1", {"m.txt": "model"}))
    victim = store.path(info.digest) / "m.txt"
    victim.chmod(0o644)
    victim.write_text("mo")
    assert not store.exists(info.digest, info.size)
    again = store.commit(fill(tmp_path / "tmp" / "o2", {"m.txt": "model"}))
    assert again.digest == info.digest and store.verify(info.digest)


def test_external_digests_are_memoised_by_stat_and_rechecked_when_the_file_changes(tmp_path):
    data = fill(tmp_path / "data", {"d.csv": "a,b\n1,2\n"})
    runs = InMemoryRunStore()
    ext = ExternalDigests(runs)
    ext.prepare([str(data)])
    assert list(ext.new_memo) == [stat_key(data)]
    from engine.records import StoreBatch

    runs.apply(StoreBatch(memo=ext.new_memo))
    again = ExternalDigests(runs)
    again.prepare([str(data)])
    assert again.new_memo == {} and again.digest(str(data)) == ext.digest(str(data))
    (data / "d.csv").write_text("a,b\n1,3\n")
    changed = ExternalDigests(runs)
    changed.prepare([str(data)])
    assert changed.digest(str(data)) != ext.digest(str(data))


def test_a_step_that_crashes_mid_write_leaves_no_record_and_no_artifact(tmp_path):
    code = copy_code(tmp_path, "fn")
    (code / "steps.py").write_text(
        (code / "steps.py").read_text()
        + "\n\ndef half(out: str) -> None:\n    open(out + '/part.txt', 'w').write('half')\n"
        "    raise RuntimeError('disk on fire')\n")
    h = Harness(tmp_path)
    spec = single_job(function("half", "half", code, outputs={"out": OutputSpec("out")}))
    result = h.run(spec)
    assert result.run.status == "failed"
    only = result.steps[0]
    assert only.status == "failed" and only.error == "RuntimeError: disk on fire"
    assert os.listdir(tmp_path / "artifacts") == []
    assert h.store.find_reuse([only.signature]) == {}
    assert "disk on fire" in open(only.log_path).read()
    # the scratch area is gone too
    assert not (tmp_path / "tmp" / result.run.id).exists()  # the failed area at once, the run's folder at run end
