"""Every built-in component file loads, validates, and matches the script it runs."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import shlex
from pathlib import Path

import pytest

from components.library import LIBRARY_DIR, component_files
from components.loader import load_component_file
from components.validate import validate_component

FILES = component_files()
EXPECTED = {
    "text_make_dataset": "local", "text_load": "local", "text_clean": "cpu-highmem", "text_split": "local",
    "text_train_tokenizer": "local", "text_featurise": "cpu-highmem", "text_train_baseline": "local",
    "text_train_transformer": "gpu", "text_evaluate": "local", "tabular_load_csv": "local",
    "tabular_split": "local", "tabular_train_regressor": "local", "tabular_score": "local",
}


def test_the_library_holds_every_expected_component_with_its_compute_target() -> None:
    specs = [load_component_file(path) for path in FILES]
    assert {s.name: s.compute for s in specs} == EXPECTED
    assert all(s.version == "1" and s.kind == "command" and s.code == p.parent for s, p in zip(specs, FILES, strict=True))


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_component_validates_and_its_command_matches_its_script(path: Path) -> None:
    spec = load_component_file(path)
    assert spec.warnings == () and validate_component(spec) == []
    assert spec.description and spec.display_name
    for name, inp in spec.inputs.items():
        assert f"${{{{inputs.{name}}}}}" in spec.command, f"input '{name}' is never passed to the script"
        if inp.is_parameter:
            assert inp.default is not None, f"parameter '{name}' has no default"
    for name in spec.outputs:
        assert f"${{{{outputs.{name}}}}}" in spec.command
    words = shlex.split(spec.command)
    assert words[0] == "python" and (spec.code / words[1]).is_file()
    module_spec = importlib.util.spec_from_file_location(f"_cli_{spec.name}", spec.code / words[1])
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown), pytest.raises(SystemExit):
        module.main(["--help"])
    options = set(re.findall(r"--\w+", shown.getvalue()))
    assert {w for w in words if w.startswith("--")} <= options
    for name, inp in spec.inputs.items():  # the script's default is the component's default
        flag = next(w for w, nxt in zip(words, words[1:], strict=False) if nxt.strip('"') == f"${{{{inputs.{name}}}}}")
        if inp.is_parameter:
            parsed = _parse_defaults(module, words, flag)
            assert _same(parsed, inp.default), f"{flag}: script default {parsed!r} ≠ component default {inp.default!r}"


def _parse_defaults(module, words: list[str], flag: str):
    """The script's default for ``flag``: parse a command line with only the required options."""
    import argparse

    captured: dict[str, argparse.Namespace] = {}
    real = argparse.ArgumentParser.parse_args

    def spy(self, args=None, namespace=None):
        captured["parser"] = self
        raise SystemExit(0)

    argparse.ArgumentParser.parse_args = spy
    try:
        with pytest.raises(SystemExit):
            module.main([])
    finally:
        argparse.ArgumentParser.parse_args = real
    parser = captured["parser"]
    return parser.get_default(flag.lstrip("-"))


def _same(script_default, component_default) -> bool:
    if isinstance(component_default, bool):
        return script_default is component_default
    if isinstance(component_default, (int, float)):
        return float(script_default) == float(component_default)
    return str(script_default) == str(component_default)


def test_every_data_file_of_the_library_states_its_licence() -> None:
    for data in (LIBRARY_DIR / "text" / "data", LIBRARY_DIR / "tabular" / "data"):
        readme = (data / "README.md").read_text()
        assert "CC0-1.0" in readme and "downloaded" in readme
