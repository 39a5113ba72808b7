"""Real-browser fixtures: Streamlit on a free port with its own workspace, headless
Debian Chromium driven by Playwright. Every process is started here and stopped by
its own handle."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import CHROMIUM, CHROMIUM_ARGS, AppServer, register_demo_components, start_app, stop_app


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run 'make browser' (apt-get install chromium)")
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def app_home(tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    register_demo_components(home)
    return home


@pytest.fixture
def app_server(app_home: Path) -> Iterator[AppServer]:
    server = start_app(app_home)
    try:
        yield server
    finally:
        stop_app(server)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.browser_failed = report.failed


@pytest.fixture
def page(request, browser, app_server: AppServer, tmp_path: Path):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(30_000)
    tab = context.new_page()
    tab.goto(app_server.url)
    tab.get_by_role("link", name="Designer").wait_for()
    yield tab
    if getattr(request.node, "browser_failed", False):
        shot = Path(os.environ.get("DUCTWORK_BROWSER_ARTIFACTS", tmp_path)) / f"{request.node.name}.png"
        tab.screenshot(path=str(shot), full_page=True)
        # the app scrolls inside its own container, so the screenshot may miss the end
        # of the page: its text is printed too
        text = tab.locator("[data-testid='stMain']").inner_text(timeout=5_000)
        print(f"screenshot of the failure: {shot}\npage text:\n{text[-3000:]}\n"
              f"app log:\n{app_server.log_tail()}")
    context.close()


