"""app.services.designer on a real workspace: uploads (size limits, sanitised names, safe
zips), import/export, templates, clone from a run, pipelines using a component, step counts."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from app.services import designer as svc
from app.services.components import register_paths
from app.services.workspace import open_workspace
from components.errors import DuctworkError, ValidationError

RESOURCES = Path(__file__).parent / "browser" / "resources"


@pytest.fixture
def ws(tmp_path):
    workspace = open_workspace(tmp_path / "ws")
    register_paths(workspace, [RESOURCES / "components"])
    yield workspace
    workspace.registry.close()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\me\\train.yml", "train.yml"),
    (".hidden.yml", "hidden.yml"),
    ("my file (1).yml", "my_file_1_.yml"),
    ("", "upload"),
    ("..", "upload"),
])
def test_sanitize_filename(name, expected):
    assert svc.sanitize_filename(name) == expected


def test_register_component_upload_with_code_zip(ws):
    yaml_data = (RESOURCES / "upload" / "hello_upload.yml").read_bytes()
    code = _zip({"hello_src/hello.py": (RESOURCES / "upload" / "hello_src" / "hello.py").read_bytes()})
    [result] = svc.register_component_upload(ws, "../hello_upload.yml", yaml_data, "code.zip", code)
    assert result.component.ref == "hello_upload:1"
    spec = ws.registry.component_spec("hello_upload", "1")
    assert (spec.code / "hello.py").is_file()


def test_upload_refuses_unsafe_zips(ws):
    yaml_data = (RESOURCES / "upload" / "hello_upload.yml").read_bytes()
    with pytest.raises(DuctworkError, match="unsafe path '../evil.py'"):
        svc.register_component_upload(ws, "c.yml", yaml_data, "code.zip", _zip({"../evil.py": b"x"}))
    with pytest.raises(DuctworkError, match="'code.zip' is not a zip file"):
        svc.register_component_upload(ws, "c2.yml", yaml_data + b"\n", "code.zip", b"not a zip")
    assert not (ws.home.parent / "evil.py").exists()


def test_upload_size_limits_and_wrong_kinds(ws, monkeypatch):
    monkeypatch.setattr(svc, "MAX_YAML_BYTES", 10)
    with pytest.raises(DuctworkError, match="component file 'big.yml' is .* above the limit"):
        svc.register_component_upload(ws, "big.yml", b"x" * 11)
    monkeypatch.setattr(svc, "MAX_YAML_BYTES", 1_000_000)
    with pytest.raises(DuctworkError, match="is a pipeline; import it in the Designer"):
        svc.register_component_upload(ws, "p.yml", (RESOURCES / "pipelines" / "numbers.yml").read_bytes())
    with pytest.raises(DuctworkError, match="has code: './hello_src', a folder that was not uploaded"):
        svc.register_component_upload(ws, "h.yml", (RESOURCES / "upload" / "hello_upload.yml").read_bytes())
    with pytest.raises(ValidationError, match=r"bad.yml:2:1: malformed YAML: .*expected ',' or ']'"):
        svc.register_component_upload(ws, "bad.yml", b"a: [1, 2\n")


def test_import_validate_and_export_a_pipeline(ws):
    data = (RESOURCES / "pipelines" / "numbers.yml").read_bytes()
    source = svc.read_pipeline_upload(ws, "numbers.yml", data)
    assert source.origin == "upload:numbers.yml"
    assert list(source.spec.jobs) == ["make_numbers", "scale", "summarize"]
    assert svc.validate_design(ws, source.spec) == []
    text = svc.export_design_yaml(source.spec)
    again = svc.read_pipeline_upload(ws, "again.yml", text.encode())
    assert svc.export_design_yaml(again.spec) == text
    with pytest.raises(DuctworkError, match="'c.yml' is not a pipeline file"):
        svc.read_pipeline_upload(ws, "c.yml", (RESOURCES / "components" / "scale" / "component.yml").read_bytes())


def test_runs_clone_counts_and_users(ws):
    from app.services.pipelines import register_pipeline
    from app.services.runs import start_run

    register_pipeline(ws, RESOURCES / "pipelines" / "numbers.yml")
    first = start_run(ws, "numbers:1", {"factor": 2}, executor="in-process").run.id
    second = start_run(ws, "numbers:1", {"factor": 5}, executor="in-process").run.id
    counts = svc.step_counts(ws, [first, second])
    assert counts[first] == {"completed": 3}
    assert counts[second] == {"reused": 1, "completed": 2}
    clone = svc.run_source(ws, second)
    assert clone.origin == f"run:{second}" and clone.spec.inputs["factor"].value == 5
    assert svc.pipelines_using(ws, "scale") == [("numbers:1", ["scale"])]
    assert svc.pipelines_using(ws, "scale", "2") == []
    with pytest.raises(DuctworkError, match="run 'nope' does not exist"):
        svc.run_source(ws, "nope")


def test_cluster_nodes_needs_an_address():
    with pytest.raises(DuctworkError, match="give the Ray cluster's address"):
        svc.cluster_nodes("  ")
