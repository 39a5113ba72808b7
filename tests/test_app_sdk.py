"""Running and registering a Python pipeline job from Python (app.sdk), as FORMATS.md promises."""

from __future__ import annotations

from pathlib import Path

from app.sdk import register, run
from app.services.pipelines import list_pipelines
from app.services.workspace import open_workspace
from components.sdk import Input, pipeline

BASIC = Path(__file__).parent / "resources" / "basic"


def test_a_python_pipeline_job_runs_then_reuses_and_registers(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(BASIC / "fn_src"))
    import importlib
    import sys

    for name in [n for n in sys.modules if n.split(".")[0] in ("helpers", "count_words")]:
        monkeypatch.delitem(sys.modules, name)
    count_words = importlib.import_module("count_words").count_words

    @pipeline(name="py_words")
    def words(texts, min_len: int = 3):
        counted = count_words(texts=texts, min_len=min_len)
        counted.compute = "local"  # the component asks for 'cpu', which this workspace lacks
        return {"counts": counted.outputs.counts}

    job = words(texts=Input(type="uri_folder", path=str(BASIC / "data")), min_len=4)
    home = tmp_path / "ws"
    first = run(job, home=home, in_process=True)
    assert first.ok, first.error
    assert [s.status for s in first.steps] == ["completed"]
    second = run(job, home=home, in_process=True)
    assert [s.status for s in second.steps] == ["reused"]
    changed = run(job, {"min_len": 5}, home=home, in_process=True)
    assert [s.status for s in changed.steps] == ["completed"]
    assert changed.steps[0].reason == "parameter min_len 4 → 5"

    record = register(job, home=home).pipeline
    assert record.name == "py_words"
    assert "py_words" in [p.name for p in list_pipelines(open_workspace(home))]
    assert first.run.params["min_len"] == 4
