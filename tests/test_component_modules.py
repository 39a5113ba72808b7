"""Registering a Python module of components imports it in this process (app.services.components):
its local modules must not stay behind in ``sys.modules``, where another folder's module of the
same name (``helpers``) would be shadowed by them — in the app, in an in-process run, in a test."""

from __future__ import annotations

import sys
from pathlib import Path

from app.services.components import load_python_components

#: the component's name comes from the folder's own ``helpers``
MODULE = '''\
from components.sdk import command_component
from helpers import NAME


@command_component(name=NAME, version="1")
def component() -> int:
    return 1
'''


def _folder(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "helpers.py").write_text(f"NAME = {name!r}\n")
    (folder / "comp.py").write_text(MODULE)
    return folder / "comp.py"


def test_a_modules_local_imports_do_not_stay_loaded_to_shadow_another_folders(tmp_path: Path) -> None:
    first, second = _folder(tmp_path, "first"), _folder(tmp_path, "second")
    sys.modules.pop("helpers", None)
    [spec] = load_python_components(first)
    assert spec.name == "first"
    assert "helpers" not in sys.modules and str(first.parent) not in sys.path
    [spec] = load_python_components(second)
    assert spec.name == "second"  # its own helpers, not the first folder's
    assert "helpers" not in sys.modules
