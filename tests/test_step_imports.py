"""A function step imports its own folder's modules even when a module of the same name was
imported from elsewhere in the worker before (a test runner's, another tool's ``helpers``)."""

from __future__ import annotations

import sys
import types

from test_engine_support import Harness, function, single_job

from components.spec import InputSpec, OutputSpec


def test_a_step_finds_its_own_helpers_not_one_loaded_from_elsewhere(tmp_path, monkeypatch):
    other = types.ModuleType("helpers")
    other.__file__ = str(tmp_path / "elsewhere" / "helpers.py")  # no `double` in it
    monkeypatch.setitem(sys.modules, "helpers", other)
    code = tmp_path / "fn"
    code.mkdir()
    (code / "helpers.py").write_text("def double(v):\n    return 2 * v\n")
    (code / "steps.py").write_text("from helpers import double\n\n\ndef add(x: int) -> int:\n    return double(x)\n")
    comp = function("add", "add", code, {"x": InputSpec("x", "integer")}, {"output": OutputSpec("output")})
    only = Harness(tmp_path).run(single_job(comp, {"x": 4})).steps[0]
    assert only.status == "completed", only.error
    json_module = sys.modules["json"]
    (code / "json.py").write_text("raise RuntimeError('a folder never shadows the standard library here')\n")
    again = Harness(tmp_path / "again").run(single_job(comp, {"x": 5})).steps[0]
    assert again.status == "completed", again.error
    assert sys.modules["json"] is json_module
