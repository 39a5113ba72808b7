"""Content digests of code folders, specs and function sources (pure, blake3)."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest

from components.codefiles import CodeLinkError, code_files, copy_code_files, function_source_files
from components.digest import (
    automatic_version,
    canonical_json,
    code_digest,
    component_digest,
    definition_digests,
    spec_digest,
)
from components.errors import DuctworkError
from components.loader import component_from_dict, load_component_file
from components.spec import Resources
from components.yamlio import load_yaml_text
from registry.snapshots import snapshot_code

BASIC = Path(__file__).parent / "resources" / "basic"


def make_folder(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "train.py").write_text("print('train')\n")
    (root / "pkg" / "util.py").write_text("X = 1\n")
    return root


def test_code_digest_covers_paths_and_bytes(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "a")
    first = code_digest(folder)
    assert first == code_digest(folder) and len(first) == 64
    assert code_digest(make_folder(tmp_path / "b")) == first  # location does not matter
    (folder / "pkg" / "util.py").write_text("X = 2\n")
    assert code_digest(folder) != first
    (folder / "pkg" / "util.py").write_text("X = 1\n")
    assert code_digest(folder) == first
    (folder / "pkg" / "util.py").rename(folder / "pkg" / "util2.py")
    assert code_digest(folder) != first


def test_code_digest_ignores_caches_and_vcs(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "a")
    first = code_digest(folder)
    for junk in ("__pycache__/train.cpython-311.pyc", ".git/HEAD", ".ipynb_checkpoints/x.ipynb", ".DS_Store",
                 ".pytest_cache/v", ".mypy_cache/m", "pkg/stale.pyc", ".hg/x", ".svn/x"):
        path = folder / junk
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("junk")
    assert code_digest(folder) == first


def test_code_digest_memo_notices_a_rewrite_with_the_same_size(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "a")
    first = code_digest(folder)
    path = folder / "train.py"
    stat = path.stat()
    path.write_text("print('TRAIN')\n")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert code_digest(folder) != first


def test_rehashing_an_unchanged_folder_is_fast(tmp_path: Path) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    for i in range(200):
        (folder / f"f{i}.bin").write_bytes(os.urandom(64 * 1024))
    start = time.perf_counter()
    first = code_digest(folder)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    assert code_digest(folder) == first
    warm = time.perf_counter() - start
    assert warm < cold


def test_canonical_json_is_order_independent() -> None:
    assert canonical_json({"b": (1, 2), "a": {"y": 1, "x": Path("/p")}}) == '{"a":{"x":"/p","y":1},"b":[1,2]}'
    assert canonical_json({"a": 1, "b": 2}) == canonical_json({"b": 2, "a": 1})


def test_component_digest_ignores_what_does_not_decide_outputs() -> None:
    spec = load_component_file(BASIC / "train.yml")
    base = component_digest(spec)
    same = [
        replace(spec, version="99", display_name="Other", description="d", tags={"t": "x"}, compute="gpu",
                resources=Resources(gpus=1), is_deterministic=False, source=None, warnings=("w",)),
    ]
    for other in same:
        assert component_digest(other) == base
    assert spec_digest(same[0]) != spec_digest(spec)  # metadata counts for the registry's identity
    assert spec_digest(replace(spec, version="99")) == spec_digest(spec)
    assert component_digest(replace(spec, command=spec.command + " --verbose")) != base
    assert component_digest(replace(spec, name="train_model2")) != base
    changed_default = dict(spec.inputs, epochs=replace(spec.inputs["epochs"], default=6))
    assert component_digest(replace(spec, inputs=changed_default)) != base


def test_component_digest_covers_the_code_but_not_its_path(tmp_path: Path) -> None:
    shutil.copytree(BASIC / "train_src", tmp_path / "train_src")
    spec = load_component_file(BASIC / "train.yml")
    moved = replace(spec, code=tmp_path / "train_src")
    assert component_digest(moved) == component_digest(spec)
    (tmp_path / "train_src" / "train.py").write_text("print('changed')\n")
    assert component_digest(moved) != component_digest(spec)


def function_component(code: Path):
    return component_from_dict(load_yaml_text("""
        name: count_words
        version: 1
        function: count_words:count_words
        inputs: {texts: {type: uri_folder}}
        outputs: {counts: {type: uri_folder}}
        """), code)


def test_function_digest_covers_imported_helpers_only(tmp_path: Path) -> None:
    code = tmp_path / "fn_src"
    shutil.copytree(BASIC / "fn_src", code)
    spec = function_component(code)
    assert [p.relative_to(code).as_posix() for p in function_source_files(spec)] == [
        "count_words.py", "helpers/__init__.py", "helpers/text.py"]
    base = component_digest(spec)
    (code / "unrelated.py").write_text("VALUE = 2\n")
    (code / "notes.txt").write_text("new file\n")
    assert component_digest(spec) == base
    text = code / "helpers" / "text.py"
    text.write_text(text.read_text() + "\n# tweak\n")
    assert component_digest(spec) != base


def test_function_source_files_follow_relative_and_transitive_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "app"
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "__init__.py").write_text("from .maths import add\n")
    (pkg / "core" / "maths.py").write_text("import json\nfrom ..consts import ONE\n")
    (pkg / "consts.py").write_text("ONE = 1\n")
    (pkg / "main.py").write_text("import os\nfrom app import core\n\ndef run():\n    return core.add\n")
    (pkg / "other.py").write_text("")
    spec = component_from_dict(load_yaml_text("name: r\nversion: 1\nfunction: app.main:run\n"), tmp_path)
    found = [p.relative_to(tmp_path).as_posix() for p in function_source_files(spec)]
    assert found == ["app/__init__.py", "app/consts.py", "app/core/__init__.py", "app/core/maths.py",
                     "app/main.py"]


def rels(folder: Path) -> list[str]:
    return [rel for rel, _ in code_files(folder)]


def test_amlignore_and_gitignore_decide_the_code_files_with_gitignore_semantics(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "a")
    first = code_digest(folder)
    (folder / ".amlignore").write_text("# scratch\n*.log\ndata/\n!keep.log\n/top.txt\n")
    assert code_digest(folder) == first  # an ignore file is no code: it only decides what the code is
    for name in ("run.log", "pkg/deep.log", "data/big.csv", "pkg/data/x.bin", "top.txt"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("ignored")
    (folder / "keep.log").write_text("kept")
    (folder / "pkg" / "top.txt").write_text("anchored patterns match at their own folder only")
    assert rels(folder) == ["keep.log", "pkg/top.txt", "pkg/util.py", "train.py"]
    # a nested ignore file applies below its folder and wins over the outer one
    (folder / "pkg" / ".gitignore").write_text("!deep.log\nutil.py\n")
    assert rels(folder) == ["keep.log", "pkg/deep.log", "pkg/top.txt", "train.py"]
    # where a folder has both, .amlignore is used and .gitignore is not (Azure ML's rule)
    (folder / ".gitignore").write_text("train.py\n")
    assert "train.py" in rels(folder)
    (folder / ".amlignore").unlink()
    assert "train.py" not in rels(folder) and "run.log" in rels(folder)


def test_code_files_keep_links_inside_and_refuse_links_out_of_the_folder(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "a")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "secret.txt").write_text("not code")
    (folder / "dir_in").symlink_to(folder / "pkg", target_is_directory=True)  # a link, not a second copy
    (folder / "link_in.py").symlink_to(folder / "train.py")
    assert rels(folder) == ["dir_in", "link_in.py", "pkg/util.py", "train.py"]
    for name, target, says in [("link_out.txt", tmp_path / "secret.txt", "points outside the folder"),
                               ("dir_out", tmp_path / "elsewhere", "points outside the folder"),
                               ("dangling", tmp_path / "missing", r"points to nothing \(a dangling link\)")]:
        (folder / name).symlink_to(target)
        with pytest.raises(CodeLinkError, match=f"link '{name}' -> '{target}' {says}; copy the file in"):
            code_files(folder)
        (folder / name).unlink()


def test_an_amlignored_file_is_in_neither_the_digest_nor_the_snapshot(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "a")
    (folder / ".amlignore").write_text("outputs/\n")
    before = code_digest(folder)
    (folder / "outputs").mkdir()
    (folder / "outputs" / "model.bin").write_bytes(os.urandom(64))
    assert code_digest(folder) == before
    snapshot = snapshot_code(folder, tmp_path / "snapshots", before)
    assert sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()) == [
        "pkg/util.py", "train.py"]
    assert code_digest(snapshot) == before
    scratch = tmp_path / "scratch"
    copy_code_files(snapshot, rels(snapshot), scratch)
    assert code_digest(scratch) == before


def test_automatic_version_follows_behaviour_only(tmp_path: Path) -> None:
    shutil.copytree(BASIC / "prep_src", tmp_path / "prep_src")
    body = (BASIC / "prep.yml").read_text().replace("version: 1\n", "")
    (tmp_path / "c.yml").write_text(body)
    first = load_component_file(tmp_path / "c.yml")
    assert first.version == automatic_version(first) == "auto-" + component_digest(first)[:12]
    (tmp_path / "c.yml").write_text(body.replace("Drop short rows", "Remove short rows").replace(
        "compute: cpu", "compute: gpu\nresources: {gpus: 1}\ntags: {team: nlp}").replace("Prepare data", "Other"))
    assert load_component_file(tmp_path / "c.yml").version == first.version
    (tmp_path / "c.yml").write_text(body.replace("--min-len", "--min-length"))
    assert load_component_file(tmp_path / "c.yml").version != first.version


def test_definition_digests_name_each_behavioural_field() -> None:
    spec = load_component_file(BASIC / "train.yml")
    fields = definition_digests(spec)
    assert {"name", "command", "inputs", "outputs"} <= set(fields)
    assert not {"description", "display_name", "compute", "resources", "tags", "code_digest"} & set(fields)
    changed = definition_digests(replace(spec, command=spec.command + " --verbose"))
    assert [k for k in fields if fields[k] != changed[k]] == ["command"]


def test_an_invalid_ignore_pattern_is_refused_with_file_and_line(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "a")
    (folder / ".amlignore").write_text("*.log\n!\n[z-a]\n")
    with pytest.raises(DuctworkError) as err:
        code_digest(folder)
    message = str(err.value)
    assert f"'{folder / '.amlignore'}' has 2 invalid patterns: line 2 '!'" in message
    assert "line 3 '[z-a]'" in message and "Fix or remove them" in message
