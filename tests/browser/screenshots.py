"""Take the README's screenshots of every page with headless Chromium:
``.venv/bin/python tests/browser/screenshots.py`` writes ``docs/screenshots/*.png``.

It builds a throw-away workspace with the demo components, a registered pipeline and
three recorded runs, starts the app on it, and stops everything it started."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    record_demo_runs,
    register_demo_components,
    start_app,
    stop_app,
    wait_idle,
)

OUT = ROOT / "docs" / "screenshots"


def main() -> int:
    from playwright.sync_api import sync_playwright

    from engine.workspace_ray import WorkspaceRay

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "ws"
        register_demo_components(home)
        runs = record_demo_runs(home)
        server = start_app(home)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1500, "height": 950})
                page.goto(server.url + "/?open=numbers:1")
                page.locator(".react-flow__node[data-id=scale]").wait_for()
                wait_idle(page)
                page.locator(".react-flow__node[data-id=scale]").click()
                page.get_by_text("Multiplies every number by a factor.").wait_for()
                wait_idle(page)
                page.screenshot(path=str(OUT / "designer.png"))

                page.goto(server.url + "/runs")
                page.get_by_text("3 runs · page 1 of 1").wait_for()
                wait_idle(page)
                page.screenshot(path=str(OUT / "runs.png"))

                page.goto(server.url + f"/run?id={runs[2]}")
                page.locator("h2", has_text="failed").wait_for()
                wait_idle(page)
                page.screenshot(path=str(OUT / "run.png"), full_page=True)

                page.goto(server.url + f"/compare?a={runs[0]}&b={runs[1]}")
                page.get_by_text("Pipeline version and run inputs").wait_for()
                wait_idle(page)
                page.screenshot(path=str(OUT / "compare.png"))

                page.goto(server.url + "/components")
                page.get_by_role("tab", name="Browse").wait_for()
                wait_idle(page)
                grid = page.locator("[data-testid='stDataFrame']").first
                box = grid.bounding_box()
                page.mouse.click(box["x"] + 18, box["y"] + 35 + 35 + 17)
                page.get_by_text("Inputs, outputs, parameters").wait_for()
                wait_idle(page)
                page.screenshot(path=str(OUT / "components.png"), full_page=True)

                WorkspaceRay(home / "ray").start()  # stopped by stop_app
                page.set_viewport_size({"width": 1500, "height": 1250})
                page.goto(server.url + "/compute")
                page.get_by_role("tab", name="Add").wait_for()
                page.get_by_text("Running at").wait_for()
                wait_idle(page)
                page.get_by_role("button", name="Check the cluster").click()
                page.get_by_text("live node(s) of").wait_for(timeout=60_000)
                wait_idle(page)
                page.screenshot(path=str(OUT / "compute.png"), full_page=True)
                browser.close()
        finally:
            stop_app(server)
    print(f"screenshots in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
