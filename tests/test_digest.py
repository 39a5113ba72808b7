"""Content digests of code folders, specs and function sources (pure, blake3)."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

from components.digest import (
    canonical_json,
    code_digest,
    component_digest,
    function_source_files,
    spec_digest,
)
from components.loader import component_from_dict, load_component_file
from components.spec import Resources
from components.yamlio import load_yaml_text

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
