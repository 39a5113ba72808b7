"""The designer in a real browser, with the mouse and the keyboard: drop components from the
palette, connect ports, refuse what does not fit, delete, undo and redo, keep an unsaved
design over a reload, preview reuse, run it and watch it on the same canvas.

Hooks (docs/canvas-protocol.md): nodes ``.react-flow__node[data-id=JOB]``, handles
``[data-handleid=PORT]``, palette entries ``[data-component=NAME:VERSION]``, the message
area ``[data-testid=canvas-notice]``, and the root's ``data-unacked`` (events Python has
not applied yet)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from harness import RESOURCES, record_demo_runs, register_demo_components, wait_idle
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture
def app_home(tmp_path: Path) -> Path:
    """The demo components, 'publish' (a file input: nothing else here fits it) and three
    recorded runs of the numbers pipeline (factor 2 and 3 completed, one failed)."""
    from app.services.components import register_paths
    from app.services.workspace import open_workspace

    home = tmp_path / "ws"
    register_demo_components(home)
    ws = open_workspace(home)
    register_paths(ws, [RESOURCES / "extra"])
    ws.registry.close()
    record_demo_runs(home)
    return home


def _node(page, job: str):
    return page.locator(f".react-flow__node[data-id={job}]")


def _handle(page, job: str, port: str):
    return _node(page, job).locator(f".react-flow__handle[data-handleid={port}]")


def _edges(page):
    return page.locator(".react-flow__edge")


def _notice(page):
    return page.locator("[data-testid=canvas-notice]")


def settle(page) -> None:
    """Wait until Python has applied every canvas event, the app is idle, and the view has
    stopped moving (a job added outside the view brings the view to it, animated)."""
    expect(page.locator("[data-testid=canvas-root]")).to_have_attribute("data-unacked", "0", timeout=30_000)
    wait_idle(page)
    viewport = page.locator(".react-flow__viewport")
    last, since, deadline = None, time.monotonic(), time.monotonic() + 10
    while time.monotonic() < deadline:
        now = viewport.get_attribute("style")
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= 0.4:
            return
        time.sleep(0.05)


def _centre(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box, "the element must be visible"
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drop(page, ref: str, x: float, y: float) -> None:
    """Drag palette entry ``ref`` with the mouse and drop it at (x, y) (a real HTML5 drag)."""
    sx, sy = _centre(page.locator(f'[data-component="{ref}"]'))
    page.mouse.move(sx, sy)
    page.mouse.down()
    page.mouse.move(sx + 20, sy, steps=4)
    page.mouse.move(x, y, steps=12)
    page.mouse.up()


def connect(page, source: str, output: str, target: str, input_name: str) -> None:
    """Drag from ``source``'s output handle to ``target``'s input handle."""
    ax, ay = _centre(_handle(page, source, output))
    bx, by = _centre(_handle(page, target, input_name))
    page.mouse.move(ax, ay)
    page.mouse.down()
    page.mouse.move((ax + bx) / 2, (ay + by) / 2, steps=6)
    page.mouse.move(bx, by, steps=6)
    page.mouse.up()


def _pane(page) -> dict:
    box = page.locator(".react-flow__pane").bounding_box()
    assert box
    return box


def _exported_yaml(page, tmp_path: Path) -> str:
    with page.expect_download() as download:
        page.get_by_role("button", name="Export YAML").click()
    target = tmp_path / "exported.yml"
    download.value.save_as(target)
    return target.read_text()


def _build_three(page) -> None:
    pane = _pane(page)
    drop(page, "make_numbers:1", pane["x"] + 120, pane["y"] + 120)
    _node(page, "make_numbers").wait_for()
    settle(page)
    drop(page, "scale:1", pane["x"] + 420, pane["y"] + 160)
    _node(page, "scale").wait_for()
    settle(page)
    page.locator('[data-component="summarize:1"]').click()  # click-to-add: Python places it
    _node(page, "summarize").wait_for()
    settle(page)


def test_drop_connect_refuse_replace_delete_undo_redo(page, tmp_path):
    settle(page)
    pane = _pane(page)
    drop(page, "make_numbers:1", pane["x"] + 120, pane["y"] + 120)
    node = _node(page, "make_numbers")
    node.wait_for()
    box = node.bounding_box()  # it lands where it was dropped (its top-left corner at the drop point)
    assert abs(box["x"] - (pane["x"] + 120)) < 40 and abs(box["y"] - (pane["y"] + 120)) < 40, box
    settle(page)
    drop(page, "scale:1", pane["x"] + 420, pane["y"] + 160)
    _node(page, "scale").wait_for()
    settle(page)
    page.locator('[data-component="summarize:1"]').click()
    _node(page, "summarize").wait_for()
    settle(page)

    # named ports: one handle per data input (left) and per output (right), labelled
    expect(_handle(page, "scale", "numbers")).to_have_count(1)
    expect(_handle(page, "scale", "scaled")).to_have_count(1)
    expect(_node(page, "scale")).to_contain_text("scale:1")
    # an unbound required input is marked on its port and counted on its node; Run is disabled
    expect(_node(page, "summarize").locator("[data-testid=node-problems]")).to_have_text("1")
    expect(_node(page, "summarize")).to_contain_text("required")
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_disabled()

    connect(page, "make_numbers", "numbers", "scale", "numbers")
    settle(page)
    connect(page, "scale", "scaled", "summarize", "numbers")
    settle(page)
    expect(_edges(page)).to_have_count(2)
    page.get_by_text("No problems: ready to save and run.").wait_for()
    exported = _exported_yaml(page, tmp_path)
    assert "numbers: ${{parent.jobs.make_numbers.outputs.numbers}}" in exported
    assert "numbers: ${{parent.jobs.scale.outputs.scaled}}" in exported

    # a connection whose types do not fit is refused, says why, and is not drawn
    drop(page, "publish:1", pane["x"] + 420, pane["y"] + 340)
    _node(page, "publish").wait_for()
    settle(page)
    connect(page, "summarize", "summary", "publish", "report")
    settle(page)
    expect(_notice(page)).to_contain_text("the output is uri_folder and the input takes uri_file")
    expect(_edges(page)).to_have_count(2)

    # connecting to a bound input replaces its binding and says so
    connect(page, "make_numbers", "numbers", "summarize", "numbers")
    settle(page)
    expect(_notice(page)).to_contain_text("replacing its earlier binding to scale.scaled")
    expect(page.locator(".react-flow__edge[data-id='make_numbers.numbers->summarize.numbers']")).to_have_count(1)
    expect(_edges(page)).to_have_count(2)
    page.keyboard.press("Control+z")  # undo the replacement
    settle(page)
    expect(page.locator(".react-flow__edge[data-id='scale.scaled->summarize.numbers']")).to_have_count(1)

    # Delete removes the selection (a job and its edges); undo brings it back, redo removes it again
    _node(page, "scale").click()
    settle(page)
    page.keyboard.press("Delete")
    expect(_node(page, "scale")).to_have_count(0)
    settle(page)
    expect(_edges(page)).to_have_count(0)
    page.keyboard.press("Control+z")
    _node(page, "scale").wait_for()
    settle(page)
    expect(_edges(page)).to_have_count(2)
    page.keyboard.press("Control+Shift+z")
    expect(_node(page, "scale")).to_have_count(0)
    settle(page)
    page.keyboard.press("Control+z")
    _node(page, "scale").wait_for()
    settle(page)

    # a parameter change in the inspector is undone by Ctrl+Z too
    _node(page, "scale").click()
    factor = page.get_by_label("factor (number)", exact=True)
    factor.fill("7")
    factor.press("Enter")
    wait_idle(page)
    assert "factor: 7" in _exported_yaml(page, tmp_path)
    page.locator(".react-flow__pane").click(position={"x": 40, "y": 500})
    settle(page)
    page.keyboard.press("Control+z")
    settle(page)
    assert "factor: 7" not in _exported_yaml(page, tmp_path)


def test_a_reload_keeps_the_unsaved_design(page):
    settle(page)
    _build_three(page)
    connect(page, "make_numbers", "numbers", "scale", "numbers")
    settle(page)
    # shift-click selects a second job; Ctrl+C, Ctrl+V paste copies wired among themselves
    _node(page, "make_numbers").click()
    _node(page, "scale").click(modifiers=["Shift"])
    settle(page)
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    _node(page, "scale_2").wait_for()
    settle(page)
    expect(page.locator(".react-flow__edge[data-id='make_numbers_2.numbers->scale_2.numbers']")).to_have_count(1)
    page.keyboard.press("Control+z")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    settle(page)
    page.reload()
    _node(page, "scale").wait_for(timeout=30_000)
    settle(page)
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(_edges(page)).to_have_count(1)
    expect(_notice(page)).to_contain_text("Restored the unsaved design")


def _status(page, job: str) -> str:
    pill = _node(page, job).locator("[data-testid=node-status]")
    return pill.get_attribute("class") or "" if pill.count() else ""


def test_preview_shows_reuse_and_the_run_page_draws_live_status(page, app_server):
    page.goto(app_server.url + "/?open=numbers:1")
    _node(page, "scale").wait_for()
    settle(page)
    page.get_by_text("Preview", exact=True).click()  # the toggle's label
    settle(page)
    # factor 2 ran before: every step is reused, from that run
    for job in ("make_numbers", "scale", "summarize"):
        expect(_node(page, job).locator("[data-testid=node-preview]")).to_contain_text("reused")

    # change the pipeline input: scale will run (and says why), summarize waits
    factor = page.get_by_role("textbox", name="factor (value)")
    factor.fill("5")
    factor.press("Enter")
    settle(page)
    expect(_node(page, "make_numbers").locator("[data-testid=node-preview]")).to_contain_text("reused")
    expect(_node(page, "scale").locator("[data-testid=node-preview]")).to_contain_text("will run")
    expect(_node(page, "summarize").locator("[data-testid=node-preview]")).to_contain_text("waits")

    wait_idle(page, quiet_s=1.0)
    run_button = page.get_by_role("button", name="Run", exact=True)
    expect(run_button).to_be_enabled()
    run_button.click()
    page.wait_for_url("**/run?id=*", timeout=90_000)
    _node(page, "summarize").wait_for(timeout=60_000)  # the run, on the pipeline's own layout
    seen: set[str] = set()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = _status(page, "summarize")
        seen.add(status)
        if "completed" in status:
            break
        time.sleep(0.2)
    assert "completed" in _status(page, "summarize"), seen
    assert any(s and "completed" not in s for s in seen), f"never saw it before it completed: {seen}"
    assert "reused" in _status(page, "make_numbers") and "completed" in _status(page, "scale")

    # a click on a node opens that step: its log
    _node(page, "summarize").click()
    page.get_by_text("SUMMARY total=75").wait_for(timeout=30_000)
