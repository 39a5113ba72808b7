"""The runs table stays fast with 10,000 runs: the store counts and slices one page, and
step counts are read for that page only."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from app.services.workspace import open_workspace

N_RUNS = 10_000
#: generous for a loaded 2-core machine; measured here: first render ≈ 2.2 s (imports included),
#: a page turn or a filter ≈ 0.4 s
PAGE_BUDGET_S = 5.0


def _runs() -> None:
    from app.ui.views import runs_page

    runs_page.render()


@pytest.fixture
def many_runs(tmp_path, monkeypatch):
    from app.services.runs import run_store
    from engine.records import RunRecord, StepRunRecord, StoreBatch

    home = tmp_path / "ws"
    monkeypatch.setenv("DUCTWORK_HOME", str(home))
    ws = open_workspace(home)
    start = 1_700_000_000.0
    batch = StoreBatch()
    for i in range(N_RUNS):
        rid = f"run-{i:05d}"
        status = "failed" if i % 10 == 0 else "completed"
        batch.runs.append(RunRecord(id=rid, pipeline="p" if i % 2 else "q", version="1", status=status,
                                    started_at=start + i * 60, ended_at=start + i * 60 + 5))
        for position, job in enumerate(("a", "b", "c")):
            step_status = "reused" if (job == "a" and i % 3) else "completed"
            batch.step_runs.append(StepRunRecord(run_id=rid, job=job, status=step_status, position=position))
    run_store(ws).apply(batch)
    ws.registry.close()
    return home


def test_runs_page_with_ten_thousand_runs(many_runs):
    at = AppTest.from_function(_runs, default_timeout=60)
    began = time.perf_counter()
    at.run()
    first = time.perf_counter() - began
    assert not at.exception, at.exception
    assert any(f"{N_RUNS:,} runs · page 1 of 200" in c.value for c in at.caption)
    table = at.dataframe[0].value
    assert len(table) == 50 and table["run"].iloc[0] == "run-09999"

    began = time.perf_counter()
    at.number_input(key="runs_page").set_value(200).run()
    last = time.perf_counter() - began
    table = at.dataframe[0].value
    assert table["run"].iloc[-1] == "run-00000"
    assert table.set_index("run").loc["run-00001", "reused"] == 1

    began = time.perf_counter()
    at.selectbox(key="runs_status").set_value("failed").run()
    filtered = time.perf_counter() - began
    assert any("1,000 runs · page 1 of 20" in c.value for c in at.caption)
    print(f"runs page with {N_RUNS} runs: first {first:.2f} s, last page {last:.2f} s, filtered {filtered:.2f} s")
    assert max(first, last, filtered) < PAGE_BUDGET_S
