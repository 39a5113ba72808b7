"""The designer canvas' committed build: built from the committed sources, shipped as package
data, mountable by Streamlit without Node; and the wrapper's reading of the browser's events."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tomllib
import warnings
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.ui import canvas

ROOT = Path(__file__).resolve().parents[1]
FRONTEND = canvas.FRONTEND_DIR
DIST = canvas.DIST_DIR
#: What the build's hash covers; scripts/hash.sh lists the same.
SOURCES = ("src", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts")


def _source_hash() -> str:
    """scripts/hash.sh in Python: sha256 of `sha256sum`'s listing of the sources, sorted by path."""
    files = []
    for name in SOURCES:
        path = FRONTEND / name
        files += [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    listing = "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(FRONTEND).as_posix()}\n"
        for p in sorted(files, key=lambda p: p.relative_to(FRONTEND).as_posix().encode())
    )
    return hashlib.sha256(listing.encode()).hexdigest()


def test_the_committed_build_is_built_from_the_committed_sources():
    recorded = (DIST / "SOURCE_HASH").read_text().strip()
    assert recorded == _source_hash(), (
        f"{DIST / 'SOURCE_HASH'} says the build is of sources {recorded!r}, but the sources hash to "
        f"{_source_hash()!r}: rebuild with `make canvas` (Node 20) and commit app/ui/canvas_frontend/dist"
    )


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")
def test_the_shell_hash_and_the_python_hash_agree():
    out = subprocess.run(["sh", str(FRONTEND / "scripts" / "hash.sh")], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == _source_hash()


def test_the_build_is_one_es_module_with_a_default_export_and_one_stylesheet():
    js = (DIST / "canvas.js").read_text(encoding="utf-8")
    css = (DIST / "canvas.css").read_text(encoding="utf-8")
    assert re.search(r"export\s*\{[^}]*\bas default\b[^}]*\}", js), "canvas.js has no default export"
    assert not re.search(r"\bimport\s*\(|^\s*import\s", js, re.M), "canvas.js must be self-contained (no imports)"
    assert ".react-flow__node" in css and ".dw-node" in css, "canvas.css lacks React Flow's or our styles"


def test_the_build_is_package_data_and_installing_needs_no_node():
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["build-system"]["build-backend"] == "setuptools.build_meta"
    assert not any("node" in req.lower() for req in pyproject["build-system"]["requires"])
    with warnings.catch_warnings(), pytest.MonkeyPatch.context() as mp:
        warnings.simplefilter("ignore")
        mp.chdir(ROOT)
        dist = Distribution()
        apply_configuration(dist, ROOT / "pyproject.toml")
        build_py = dist.get_command_obj("build_py")
        build_py.ensure_finalized()
        shipped = {
            (Path(src) / name).as_posix()
            for _package, src, _build, names in build_py.get_data_files_without_manifest()
            for name in names
        }
    for name in ("canvas.js", "canvas.css", "SOURCE_HASH"):
        assert f"app/ui/canvas_frontend/dist/{name}" in shipped, f"dist/{name} is not package data"


def _app() -> None:
    import streamlit as st

    from app.ui.canvas import draw_canvas, read_events

    st.session_state["seen"] = read_events("canvas")
    draw_canvas({"mount": "m", "rev": 1, "jobs": [], "edges": [], "palette": [], "fits": {}}, key="canvas")
    st.session_state["junk"] = read_events("junk")


@pytest.mark.parametrize("run", [1, 2])
def test_the_canvas_mounts_on_each_new_runtime(run):
    """AppTest makes a runtime per instance: the asset dir is registered on each (a second run
    would fail with 'must be declared in pyproject.toml with asset_dir' otherwise)."""
    at = AppTest.from_function(_app)
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["seen"] is None


@pytest.mark.parametrize(
    "junk",
    [5, "x", None, [], {"events": 3}, {"events": {"client": 4, "events": []}}, {"events": {"client": "c"}}],
)
def test_read_events_is_none_for_junk(junk):
    at = AppTest.from_function(_app)
    at.session_state["junk"] = junk
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["junk"] is None


def test_read_events_keeps_well_formed_events_only():
    at = AppTest.from_function(_app)
    at.session_state["junk"] = {
        "events": {"client": "k2", "events": [{"seq": 1, "type": "undo"}, {"seq": True, "type": "x"}, "no", {"seq": 2}]}
    }
    at.run()
    assert at.session_state["junk"] == {"client": "k2", "events": [{"seq": 1, "type": "undo"}]}


def test_read_events_outside_streamlit_is_none():
    assert canvas.read_events("canvas") is None
