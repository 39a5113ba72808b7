"""Compare two runs from their real records (DuckDB run store, in-process executor): the
service's field-by-field diff, and the Compare page through AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.services.compare import code_digest_of, compare_runs
from app.services.components import register_paths
from app.services.pipelines import register_pipeline
from app.services.runs import get_run, start_run
from app.services.workspace import open_workspace
from components.digest import code_digest

RESOURCES = Path(__file__).parent / "browser" / "resources"
NUMBERS = RESOURCES / "pipelines" / "numbers.yml"
TIMEOUT = 60


@pytest.fixture
def ws(home, tmp_path):
    """numbers:1 (make_numbers count 5) and numbers:2 (count 6): one job's literal parameter apart."""
    workspace = open_workspace(home)
    register_paths(workspace, [RESOURCES / "components"])
    register_pipeline(workspace, NUMBERS)
    six = tmp_path / "numbers_six.yml"
    six.write_text(NUMBERS.read_text().replace("{count: 5}", "{count: 6}"))
    register_pipeline(workspace, six)
    yield workspace
    workspace.registry.close()


def _run(ws, ref: str, **params) -> str:
    return start_run(ws, ref, {"factor": 2, **params}, executor="in-process").run.id


def _page() -> None:
    from app.ui.views import compare

    compare.render()


def _open_page(a: str, b: str) -> AppTest:
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    at.query_params["a"], at.query_params["b"] = a, b
    at.run()
    assert not at.exception, at.exception
    return at


def _first_table(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _texts(elements) -> list[str]:
    return [e.value for e in elements]


def test_runs_that_differ_only_in_one_jobs_parameter_name_that_job_and_parameter(ws):
    a, b = _run(ws, "numbers:1"), _run(ws, "numbers:2")
    cmp = compare_runs(ws, a, b)
    assert (cmp.pipeline_a, cmp.pipeline_b, cmp.same_pipeline) == ("numbers:1", "numbers:2", False)
    assert not cmp.run_differences  # the same run inputs: the old page said "Same parameters"
    diffs = {(job, f.field): (f.a, f.b) for job, f in cmp.step_differences()}
    assert diffs[("make_numbers", "parameter count")] == (5, 6)
    # downstream steps ran on other data, with the same parameters, component and code
    assert ("scale", "input numbers") in diffs and ("scale", "parameter factor") not in diffs
    assert not any(field in ("component", "code", "compute", "status", "reused") for _, field in diffs)
    assert not cmp.identical and not cmp.same_configuration


def test_fields_per_step_component_code_compute_status_and_reuse(ws):
    a, b = _run(ws, "numbers:1"), _run(ws, "numbers:1", factor=3)
    cmp = compare_runs(ws, a[-6:], b)  # a unique end of an id is enough
    assert [(f.field, f.a, f.b) for f in cmp.run_differences] == [("factor", 2, 3)]
    make = {f.field: f for f in next(s for s in cmp.steps if s.job == "make_numbers").fields}
    assert make["component"].a == make["component"].b == "make_numbers:1"
    assert make["compute"].a == "local" and make["status"].b == "reused"
    assert (make["reused"].a, make["reused"].b) == ("no", f"yes (from run {a})")
    # the code digest is the code folder's digest, from the recorded manifest
    step = get_run(ws, a).step("make_numbers")
    assert code_digest_of(step.ingredients) == code_digest(RESOURCES / "components" / "make_numbers")
    assert make["code"].a == make["code"].b == code_digest_of(step.ingredients)[:12]
    scale = {f.field: f for f in next(s for s in cmp.steps if s.job == "scale").fields}
    assert (scale["parameter factor"].a, scale["parameter factor"].b) == (2.0, 3.0)


def test_identical_only_when_nothing_differs(ws):
    first = _run(ws, "numbers:1")
    b, c = _run(ws, "numbers:1"), _run(ws, "numbers:1")  # both reuse every step of the first
    assert compare_runs(ws, b, c).identical
    outcome_only = compare_runs(ws, first, b)
    assert outcome_only.same_configuration and not outcome_only.identical
    assert {f.field for _, f in outcome_only.step_differences()} == {"status", "reused"}


def test_compare_page_shows_both_versions_and_the_differing_step_parameter(ws):
    a, b = _run(ws, "numbers:1"), _run(ws, "numbers:2")
    at = _open_page(a, b)
    markdown = " ".join(_texts(at.markdown))
    assert "pipeline `numbers:1`" in markdown and "pipeline `numbers:2`" in markdown
    assert not at.success and any("pipeline version numbers:1 → numbers:2" in t for t in _texts(at.warning))
    run_table = _first_table(at, "what")
    assert run_table.iloc[0].tolist() == ["pipeline version", "numbers:1", "numbers:2"]
    steps = _first_table(at, "step")  # the steps' table of what differs (the full one is below it)
    rows = {(r.step, r.what): r for r in steps.itertuples()}
    assert ("make_numbers", "parameter count") in rows
    assert steps.loc[(steps.step == "make_numbers") & (steps.what == "parameter count"),
                     [f"A · {a}", f"B · {b}"]].values.tolist() == [["5", "6"]]
    assert ("make_numbers", "component") not in rows and ("scale", "parameter factor") not in rows
    assert "Same parameters" not in " ".join(_texts(at.caption))


def test_compare_page_says_identical_only_for_identical_runs(ws):
    _run(ws, "numbers:1")
    b, c = _run(ws, "numbers:1"), _run(ws, "numbers:1")
    at = _open_page(b, c)
    assert any(t.startswith("Identical") for t in _texts(at.success))
    at = _open_page(_run(ws, "numbers:1", factor=5), c)
    assert not at.success and not any("Identical" in t for t in _texts(at.info))


def test_compare_page_without_two_runs_and_with_an_unknown_one(ws):
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    at.run()
    assert any("Select two runs" in t for t in _texts(at.info))
    at = _open_page(_run(ws, "numbers:1"), "nope")
    assert any("run 'nope' does not exist" in t for t in _texts(at.error))
