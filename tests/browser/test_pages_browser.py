"""Components and Runs pages in a real browser: register a component by upload; filter
the runs table and compare two runs."""

from __future__ import annotations

import io
import zipfile

import pytest
from harness import RESOURCES, record_demo_runs, register_demo_components, wait_idle

pytestmark = pytest.mark.browser


def _zip_folder(folder) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, path.relative_to(folder.parent))
    return buffer.getvalue()


def test_register_a_component_by_upload(page, app_server):
    # the header has no Deploy button (the toolbar is in minimal mode)
    page.get_by_role("link", name="Components").wait_for()
    assert page.get_by_role("button", name="Deploy").count() == 0
    page.get_by_role("link", name="Components").click()
    page.get_by_role("tab", name="Register").click()
    upload = RESOURCES / "upload"
    inputs = page.locator("input[type=file]")
    inputs.nth(0).set_input_files(str(upload / "hello_upload.yml"))
    page.get_by_text("hello_upload.yml").wait_for()
    wait_idle(page)
    inputs.nth(1).set_input_files(files=[{"name": "hello_src.zip", "mimeType": "application/zip",
                                          "buffer": _zip_folder(upload / "hello_src")}])
    page.get_by_text("hello_src.zip").wait_for()
    wait_idle(page)
    page.get_by_role("button", name="Register", exact=True).click()
    page.get_by_text("Registered component 'hello_upload:1'").wait_for()

    from app.services.components import get_component_spec
    from app.services.workspace import open_workspace

    ws = open_workspace(app_server.home)
    spec = get_component_spec(ws, "hello_upload:1")
    assert (spec.code / "hello.py").is_file()
    ws.registry.close()

    # a pipeline file is refused with the reason, next to the button
    inputs.nth(0).set_input_files(str(RESOURCES / "pipelines" / "numbers.yml"))
    wait_idle(page)
    page.get_by_role("button", name="Register", exact=True).click()
    page.get_by_text("is a pipeline; import it in the Designer").wait_for()

    page.get_by_role("tab", name="Browse").click()
    page.locator("[role=gridcell]", has_text="Hello (uploaded)").first.wait_for(state="attached")


@pytest.fixture
def app_home(tmp_path):

    home = tmp_path / "ws"
    register_demo_components(home)
    record_demo_runs(home)
    return home


def _select_rows(page, grid, rows: list[int]) -> None:
    """Tick the row-selection boxes of a Streamlit data frame (a canvas grid)."""
    box = grid.bounding_box()
    for row in rows:
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 35 * row + 17)
        wait_idle(page)


def test_filter_the_runs_table_and_compare_two_runs(page, app_server):
    page.get_by_role("link", name="Runs").click()
    page.get_by_text("3 runs · page 1 of 1").wait_for()

    page.get_by_role("combobox", name="Status").click()
    page.get_by_role("option", name="failed").click()
    page.get_by_text("1 runs · page 1 of 1").wait_for()
    page.get_by_role("combobox", name="Status").click()
    page.get_by_role("option", name="completed").click()
    page.get_by_text("2 runs · page 1 of 1").wait_for()
    wait_idle(page)

    grid = page.locator("[data-testid='stDataFrame']").first
    _select_rows(page, grid, [0, 1])
    compare = page.get_by_role("button", name="Compare")
    assert compare.is_enabled()
    compare.click()
    page.wait_for_url("**/compare?*")
    # both runs are numbers:1; only the run input factor differs, and through it scale and summarize
    page.get_by_text("Pipeline version and run inputs").wait_for()
    page.get_by_text("run inputs: factor").wait_for()
    summary = page.get_by_text("Differences: ").inner_text()
    assert "scale" in summary and "summarize" in summary
