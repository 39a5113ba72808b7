"""Registry against real SQLite files: immutability, versions, latest, snapshots, JSON round trip."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import UTC
from pathlib import Path

import pytest

from components.digest import spec_digest
from components.loader import load_component_file
from components.pipeline_loader import load_pipeline_file
from components.spec import ComponentRef
from registry import ComputeTargetBase, ConflictError, NotFoundError, Registry, TemplateBase
from registry.versions import next_version, version_key


@pytest.fixture
def registry(tmp_path: Path):
    reg = Registry(f"sqlite:///{tmp_path / 'reg' / 'registry.db'}", snapshots_dir=tmp_path / "snapshots")
    reg.ensure_default_compute()
    yield reg
    reg.close()


def test_version_order_is_numeric() -> None:
    assert sorted(["10", "9", "2", "1.10", "1.9"], key=version_key) == ["1.9", "1.10", "2", "9", "10"]
    assert next_version(["1", "2", "10"]) == "11"
    assert next_version([]) == "1"
    assert next_version(["auto-abc"]) == "1"


def test_register_component_is_idempotent_and_immutable(registry: Registry, basic: Path) -> None:
    spec = load_component_file(basic / "train.yml")
    first = registry.register_component(spec)
    assert first.created and first.component.ref == "train_model:3"
    again = registry.register_component(load_component_file(basic / "train.yml"))
    assert not again.created and "unchanged" in again.message
    assert again.component.digest == first.component.digest

    (basic / "train_src" / "train.py").write_text("print('changed')\n")
    with pytest.raises(ConflictError) as err:
        registry.register_component(load_component_file(basic / "train.yml"))
    message = str(err.value)
    assert "component 'train_model:3' is already registered with different content" in message
    assert f"digest {first.component.digest[:12]}…" in message
    assert "Register it as a new version, e.g. version: 4" in message
    assert registry.component_versions("train_model") == ["3"]


def test_snapshot_is_independent_of_later_edits(registry: Registry, basic: Path) -> None:
    spec = load_component_file(basic / "train.yml")
    registry.register_component(spec)
    digest_at_registration = spec_digest(spec)
    original = (basic / "train_src" / "train.py").read_text()
    (basic / "train_src" / "train.py").write_text("raise SystemExit('edited after registering')\n")
    (basic / "train_src" / "new_file.py").write_text("x = 1\n")
    (basic / "train_src" / "__pycache__").mkdir()
    loaded = registry.component_spec("train_model", "3")
    assert loaded.code is not None and Path(loaded.code).parent == registry.snapshots_dir
    assert (Path(loaded.code) / "train.py").read_text() == original
    assert not (Path(loaded.code) / "new_file.py").exists()
    assert spec_digest(loaded) == digest_at_registration == registry.get_component("train_model").digest
    assert spec_digest(spec) != digest_at_registration  # the user's folder did change


def test_snapshot_leaves_out_caches(registry: Registry, basic: Path) -> None:
    cache = basic / "prep_src" / "__pycache__"
    cache.mkdir()
    (cache / "prep.cpython-311.pyc").write_bytes(b"\0junk")
    (basic / "prep_src" / "stale.pyc").write_bytes(b"\0junk")
    registry.register_component(load_component_file(basic / "prep.yml"))
    code = Path(registry.component_spec("prep_data").code)
    assert sorted(p.name for p in code.iterdir()) == ["prep.py"]


def test_latest_and_unknown_names(registry: Registry, basic: Path) -> None:
    spec = load_component_file(basic / "prep.yml")
    for version in ("2", "10", "9"):
        registry.register_component(replace(spec, version=version, description=f"v{version}"))
    assert registry.get_component("prep_data").version == "10"
    assert registry.component_spec("prep_data").description == "v10"
    assert registry.component_versions("prep_data") == ["10", "9", "2"]
    with pytest.raises(NotFoundError, match="component 'prep_dta' not found. Did you mean 'prep_data'?"):
        registry.get_component("prep_dta")
    with pytest.raises(NotFoundError, match="has no version '11'.*Registered versions: 10, 9, 2"):
        registry.get_component("prep_data", "11")
    with pytest.raises(KeyError):  # what the pipeline validator's resolver contract expects
        registry.component_spec("nothing")


def test_explicit_versions_outrank_automatic_ones(registry: Registry, basic: Path) -> None:
    spec = load_component_file(basic / "prep.yml")
    registry.register_component(replace(spec, version="auto-aaaaaaaaaaaa", description="auto"))
    registry.register_component(replace(spec, version="1"))
    assert registry.get_component("prep_data").version == "1"


def test_component_json_round_trip(registry: Registry, basic: Path) -> None:
    spec = load_component_file(basic / "train.yml")
    record = registry.register_component(spec).component
    assert record.created_at.tzinfo is UTC or record.created_at.utcoffset().total_seconds() == 0
    fetched = registry.get_component("train_model", "3")
    assert fetched.spec == record.spec
    assert fetched.created_at == record.created_at
    loaded = registry.component_spec("train_model", "3")
    assert loaded.inputs == spec.inputs and loaded.outputs == spec.outputs
    assert loaded.command == spec.command and loaded.resources == spec.resources


def test_pipeline_versions_layout_and_lineage(registry: Registry, basic: Path) -> None:
    spec = load_pipeline_file(basic / "pipeline.yml")
    jobs = {}
    for name, job in spec.jobs.items():
        record = registry.register_component(job.component).component
        jobs[name] = replace(job, component=ComponentRef(record.name, record.version))
    pinned = replace(spec, jobs=jobs)

    first = registry.register_pipeline(pinned, layout={"prep": {"x": 0, "y": 0}})
    assert first.created and first.pipeline.version == "1"
    same = registry.register_pipeline(pinned, layout={"prep": {"x": 5, "y": 7}})
    assert not same.created and same.pipeline.version == "1"
    assert registry.get_pipeline("nlp_train").layout == {"prep": {"x": 5, "y": 7}}

    changed = replace(pinned, description="second")
    second = registry.register_pipeline(changed, forked_from="nlp_train:1", cloned_from_run="run-42")
    assert second.created and second.pipeline.version == "2"
    assert (second.pipeline.forked_from, second.pipeline.cloned_from_run) == ("nlp_train:1", "run-42")
    back_to_first = registry.register_pipeline(pinned)
    assert back_to_first.created and back_to_first.pipeline.version == "3"
    assert registry.get_pipeline("nlp_train").version == "3"
    assert registry.get_pipeline("nlp_train", "1").description == spec.description

    loaded = registry.pipeline_spec("nlp_train", "2")
    assert set(loaded.jobs) == {"prep", "train"}
    assert loaded.jobs["train"].component == ComponentRef("train_model", "3")
    assert loaded.jobs["train"].inputs == spec.jobs["train"].inputs

    # in-place layout change of a JSON column is persisted
    registry.set_pipeline_layout("nlp_train", "1", {"train": {"x": 1.5, "y": 2.5}})
    assert registry.get_pipeline("nlp_train", "1").layout == {"train": {"x": 1.5, "y": 2.5}}
    with pytest.raises(NotFoundError, match="pipeline 'nlp_trian' not found. Did you mean 'nlp_train'?"):
        registry.get_pipeline("nlp_trian")


def test_pipeline_with_unregistered_components_is_refused(registry: Registry, basic: Path) -> None:
    from components.errors import DuctworkError

    with pytest.raises(DuctworkError, match="do not refer to a registered component version"):
        registry.register_pipeline(load_pipeline_file(basic / "pipeline.yml"))


def test_compute_targets(registry: Registry) -> None:
    assert [t.name for t in registry.list_compute()] == ["local"]
    target = registry.add_compute(
        ComputeTargetBase(name="gpu", gpus=1, memory=16 * 2**30, resources={"highmem": 1}, price_per_hour=0.45)
    )
    assert (target.gpus, target.memory, target.resources, target.price_per_hour) == (1, 16 * 2**30, {"highmem": 1}, 0.45)
    with pytest.raises(ConflictError, match="compute target 'gpu' already exists.*compute update gpu"):
        registry.add_compute(ComputeTargetBase(name="gpu"))
    assert registry.update_compute("gpu", cpus=8).cpus == 8
    assert registry.get_compute("gpu").gpus == 1  # untouched fields are kept
    with pytest.raises(NotFoundError, match="compute target 'gpx' not found. Did you mean 'gpu'?"):
        registry.get_compute("gpx")
    with pytest.raises(ConflictError, match="'local' is the workspace default and cannot be removed"):
        registry.remove_compute("local")
    from components.errors import DuctworkError

    with pytest.raises(DuctworkError, match="custom resource 'GPU' is reserved"):
        registry.add_compute(ComputeTargetBase(name="bad", resources={"GPU": 1}))
    with pytest.raises(DuctworkError, match="name 'no spaces' is not a valid compute target name"):
        registry.add_compute(ComputeTargetBase(name="no spaces"))
    assert registry.remove_compute("gpu") == []
    assert registry.compute_names() == ["local"]


def test_a_process_losing_the_race_to_add_local_goes_on(registry: Registry, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes open a new workspace at once: both see no ``local``, one insert wins.

    The loser's look happens before the winner's commit (its ``get`` answers None) and its
    insert then hits the unique name: it must find the winner's row and go on (CI saw
    ``UNIQUE constraint failed: compute_targets.name`` from 1 of 8 CLI calls).
    """
    import registry.compute_targets as compute_targets

    real_get = compute_targets.Session.get
    looks: list[str] = []

    def get_before_the_winner_commits(session, model, key, *args, **kwargs):
        looks.append(key)
        return None if len(looks) == 1 else real_get(session, model, key, *args, **kwargs)

    monkeypatch.setattr(compute_targets.Session, "get", get_before_the_winner_commits)
    second = Registry(f"sqlite:///{tmp_path / 'reg' / 'registry.db'}", snapshots_dir=tmp_path / "snapshots")
    try:
        second.ensure_default_compute()  # the fixture's registry has added 'local' already
        assert looks == ["local", "local"]
        assert second.compute_names() == ["local"]
    finally:
        second.close()


def test_removing_a_used_compute_target_needs_force(registry: Registry, basic: Path) -> None:
    for name in ("cpu", "cpu-highmem", "gpu"):
        registry.add_compute(ComputeTargetBase(name=name))
    spec = load_pipeline_file(basic / "pipeline.yml")
    jobs = {}
    for name, job in spec.jobs.items():
        record = registry.register_component(job.component).component
        jobs[name] = replace(job, component=ComponentRef(record.name, record.version))
    registry.register_pipeline(replace(spec, jobs=jobs))
    with pytest.raises(ConflictError, match=r"'gpu' is used by 1 registered pipeline version\(s\): nlp_train:1.*--force"):
        registry.remove_compute("gpu")
    assert registry.remove_compute("gpu", force=True) == ["nlp_train:1"]
    assert "gpu" not in registry.compute_names()


def test_templates(registry: Registry) -> None:
    registry.save_template(TemplateBase(name="train_eval", description="Train, then evaluate", spec={"jobs": {}}))
    registry.save_template(TemplateBase(name="train_eval", description="replaced", spec={"jobs": {"a": {}}}))
    assert [t.description for t in registry.list_templates()] == ["replaced"]
    assert registry.get_template("train_eval").spec == {"jobs": {"a": {}}}
    assert registry.list_templates(search="nothing") == []
    with pytest.raises(NotFoundError, match="Did you mean 'train_eval'"):
        registry.get_template("train_evl")


def test_sqlite_uses_wal_and_a_busy_timeout(registry: Registry, tmp_path: Path) -> None:
    with registry.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    # a second registry on the same file (another process, in real life) sees the writes
    other = Registry(registry.url, snapshots_dir=registry.snapshots_dir)
    other.add_compute(ComputeTargetBase(name="shared"))
    assert "shared" in registry.compute_names()
    other.close()
    with sqlite3.connect(tmp_path / "reg" / "registry.db") as raw:
        tables = {row[0] for row in raw.execute("select name from sqlite_master where type='table'")}
    assert {"components", "pipelines", "compute_targets", "templates"} <= tables


_ADD_TARGETS = """
import sys
from registry import Registry
from registry.models import ComputeTargetBase
url, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
reg = Registry(url)
for i in range(count):
    reg.add_compute(ComputeTargetBase(name=f"{prefix}-{i}", cpus=i))
reg.close()
"""


def test_two_processes_write_one_registry_at_once(tmp_path: Path) -> None:
    # Real separate interpreters (not multiprocessing's spawn, which re-runs whatever __main__ is).
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    workers = [subprocess.Popen([sys.executable, "-c", _ADD_TARGETS, url, name, "25"], stderr=subprocess.PIPE, text=True)
               for name in ("app", "cli")]
    results = [(w.wait(timeout=120), w.stderr.read()) for w in workers]
    assert [code for code, _ in results] == [0, 0], results
    reg = Registry(url)
    names = reg.compute_names()
    reg.close()
    assert len(names) == 50 and {n.split("-")[0] for n in names} == {"app", "cli"}


def test_an_automatic_version_keeps_its_version_and_takes_new_metadata(registry: Registry, tmp_path: Path,
                                                                       basic: Path) -> None:
    body = (basic / "prep.yml").read_text().replace("version: 1\n", "")
    (tmp_path / "prep.yml").write_text(body)
    (tmp_path / "prep_src").symlink_to(basic / "prep_src", target_is_directory=True)
    first = registry.register_component(load_component_file(tmp_path / "prep.yml"))
    ref = first.component.ref
    assert first.created and first.component.version.startswith("auto-")
    (tmp_path / "prep.yml").write_text(body.replace("Drop short rows", "Remove short rows")
                                       .replace("compute: cpu", "compute: gpu"))
    edited = load_component_file(tmp_path / "prep.yml")
    assert edited.version == first.component.version  # same behaviour, same automatic version
    assert registry.component_conflict(edited) is None
    again = registry.register_component(edited)
    assert not again.created and again.updated == ("compute", "description")
    assert again.message == f"component '{ref}' is already registered with the same behaviour; " \
                            "updated its compute, description"
    assert registry.component_versions("prep_data") == [first.component.version]
    loaded = registry.component_spec("prep_data")
    assert loaded.description == "Remove short rows from a CSV folder." and loaded.compute == "gpu"
    assert registry.get_component("prep_data").code_digest == first.component.code_digest
    assert not registry.register_component(edited).updated  # now identical: unchanged
    # an explicit version stays immutable in full, a description included
    registry.register_component(replace(edited, version="7"))
    with pytest.raises(ConflictError, match="already registered with different content"):
        registry.register_component(replace(edited, version="7", description="another"))
