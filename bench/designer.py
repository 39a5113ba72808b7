"""The designer canvas in a real browser (Chromium via Playwright) on a 30-job pipeline.

Starts the app on a fresh workspace (the demo components of the browser tests and a
registered 30-job chain), opens the chain in the designer and measures:

* **page switch**: from clicking *Designer* on the Runs page until all 30 nodes are drawn;
* **structural edits** (add from the palette, connect two ports, delete a job): the
  server time of the rerun that applied the event (the page prints each rerun's phases
  when ``DUCTWORK_UI_TIMINGS`` is set: events, validate, toolbar, preview, canvas,
  inspector) and the browser time from the mouse/keyboard action until the canvas shows it;
* **move**: the browser time from releasing a dragged node until it is drawn there (drawn
  before Python hears of it).

Targets (#11): structural edit ≤ 300 ms of server time; canvas drawn ≤ 1 s after a page switch.

    .venv/bin/python bench/designer.py [--jobs 30] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from harness import CHROMIUM, CHROMIUM_ARGS, register_demo_components, start_app, stop_app, wait_idle  # noqa: E402

PHASES = ("events_ms", "validate_ms", "toolbar_ms", "preview_ms", "canvas_ms", "inspector_ms")


def chain_yaml(jobs: int) -> str:
    """make_numbers → scale_1 … scale_{jobs-2} → summarize."""
    lines = ["type: pipeline", "name: chain", "jobs:", "  make_numbers:", "    component: make_numbers:1",
             "    inputs: {count: 5}"]
    previous = "make_numbers.outputs.numbers"
    for i in range(1, jobs - 1):
        lines += [f"  scale_{i}:", "    component: scale:1", "    inputs:",
                  f"      numbers: ${{{{parent.jobs.{previous}}}}}"]
        previous = f"scale_{i}.outputs.scaled"
    lines += ["  summarize:", "    component: summarize:1", "    inputs:", f"      numbers: ${{{{parent.jobs.{previous}}}}}"]
    return "\n".join(lines) + "\n"


def seed(home: Path, jobs: int) -> None:
    from app.services.pipelines import register_pipeline
    from app.services.workspace import open_workspace

    register_demo_components(home)
    path = home.parent / "chain.yml"
    path.write_text(chain_yaml(jobs))
    names = ["make_numbers", *[f"scale_{i}" for i in range(1, jobs - 1)], "summarize"]
    columns = 6  # a grid, row by row, as a person lays out a long chain on a screen
    layout = {"nodes": {name: {"x": 40.0 + (i % columns) * 280, "y": 40.0 + (i // columns) * 170}
                        for i, name in enumerate(names)}}
    ws = open_workspace(home)
    register_pipeline(ws, path, layout=layout)
    ws.registry.close()


class Timings:
    """The DESIGNER_TIMING lines the app printed to its log."""

    def __init__(self, log: Path):
        self.log, self.offset = log, 0

    def mark(self) -> None:
        self.offset = self.log.stat().st_size

    def since_mark(self) -> list[dict]:
        with open(self.log, "rb") as handle:
            handle.seek(self.offset)
            text = handle.read().decode(errors="replace")
        return [json.loads(line.split(" ", 1)[1]) for line in text.splitlines() if line.startswith("DESIGNER_TIMING ")]

    def edit(self) -> dict:
        """The rerun that applied an event (the first with events > 0 since the mark)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            hits = [t for t in self.since_mark() if t.get("events")]
            if hits:
                return hits[0]
            time.sleep(0.05)
        raise AssertionError("no rerun applied the event")


def _nodes(page):
    return page.locator(".react-flow__node")


def _wait_count(page, n: int, timeout_s: float = 30) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _nodes(page).count() == n:
            return time.perf_counter()
        time.sleep(0.005)
    raise AssertionError(f"the canvas did not show {n} nodes in {timeout_s} s (it shows {_nodes(page).count()})")


def _centre(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box, "the element must be visible"
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    os.environ["DUCTWORK_UI_TIMINGS"] = "1"
    with tempfile.TemporaryDirectory(prefix="bench-designer-") as tmp:
        home = Path(tmp) / "ws"
        seed(home, args.jobs)
        server = start_app(home)
        timings = Timings(server.log)
        results: dict[str, list] = {"switch": [], "add": [], "connect": [], "delete": [], "move": []}
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
                page.set_default_timeout(60_000)
                page.goto(f"{server.url}/?open=chain:1")
                _wait_count(page, args.jobs, 90)
                wait_idle(page)

                for _ in range(args.repeat):  # page switch: Runs, then back to the Designer
                    page.get_by_role("link", name="Runs").click()
                    page.wait_for_url("**/runs")
                    wait_idle(page)
                    start = time.perf_counter()
                    page.get_by_role("link", name="Designer").click()
                    results["switch"].append((_wait_count(page, args.jobs) - start) * 1000)
                    wait_idle(page)

                for _ in range(args.repeat):
                    n = args.jobs + 1
                    timings.mark()  # add: a click on a palette entry (Python places it)
                    start = time.perf_counter()
                    page.locator('[data-component="scale:1"]').click()
                    drawn = _wait_count(page, n)
                    results["add"].append(((drawn - start) * 1000, timings.edit()))
                    wait_idle(page)
                    job = "scale"  # the chain's jobs are scale_1 …: a new one takes the component's name

                    # connect: Fit view first (the whole design, the new job too, at a known zoom),
                    # then drag from the end of the first row (scale_5) to the new job's input
                    page.get_by_role("button", name="Fit view", exact=True).click()
                    time.sleep(0.5)  # the fit is animated (200 ms)
                    timings.mark()
                    source = page.locator('.react-flow__node[data-id="scale_5"] .react-flow__handle[data-handleid="scaled"]')
                    target = page.locator(f'.react-flow__node[data-id="{job}"] .react-flow__handle[data-handleid="numbers"]')
                    edges = page.locator(".react-flow__edge").count()
                    a, b = source.bounding_box(), target.bounding_box()
                    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
                    page.mouse.down()
                    start = time.perf_counter()
                    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=8)
                    page.mouse.up()
                    deadline = time.monotonic() + 30
                    while page.locator(".react-flow__edge").count() <= edges and time.monotonic() < deadline:
                        time.sleep(0.005)
                    try:
                        results["connect"].append(((time.perf_counter() - start) * 1000, timings.edit()))
                    except AssertionError:
                        page.screenshot(path="/tmp/bench-designer-failure.png")
                        raise
                    wait_idle(page)

                    node = page.locator(f'.react-flow__node[data-id="{job}"]')  # move, drawn at once
                    box = node.bounding_box()
                    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 10)
                    page.mouse.down()
                    page.mouse.move(box["x"] + box["width"] / 2 + 60, box["y"] + 90, steps=6)
                    page.mouse.up()
                    start = time.perf_counter()
                    while abs(node.bounding_box()["y"] - (box["y"] + 80)) > 15 and time.perf_counter() - start < 10:
                        time.sleep(0.002)
                    results["move"].append((time.perf_counter() - start) * 1000)
                    wait_idle(page)

                    timings.mark()  # delete: select the new job (click its lower part: clear of the toolbar), press Delete
                    box = node.bounding_box()
                    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] - 8)
                    wait_idle(page)
                    timings.mark()
                    start = time.perf_counter()
                    page.keyboard.press("Delete")
                    drawn = _wait_count(page, args.jobs)
                    results["delete"].append(((drawn - start) * 1000, timings.edit()))
                    wait_idle(page)
                browser.close()
        finally:
            stop_app(server)

    print(f"designer canvas, {args.jobs}-job pipeline, median of {args.repeat} (ms)")
    print(f"  page switch → {args.jobs} nodes drawn: {_median(results['switch'])} "
          f"(runs: {', '.join(f'{v:.0f}' for v in results['switch'])}; target ≤ 1000)")
    print(f"  move drawn after release: {_median(results['move'])} (before Python hears of it)")
    print("  structural edits: browser = action → drawn; server = the rerun that applied the event "
          "(target ≤ 300)")
    print(f"  {'edit':8} {'browser':>8} {'server':>8}  " + " ".join(f"{p[:-3]:>9}" for p in PHASES))
    for kind in ("add", "connect", "delete"):
        rows = results[kind]
        browser_ms = _median([r[0] for r in rows])
        server_ms = _median([r[1]["total_ms"] for r in rows])
        phases = " ".join(f"{_median([r[1].get(p, 0.0) for r in rows]):>9}" for p in PHASES)
        print(f"  {kind:8} {browser_ms:>8} {server_ms:>8}  {phases}")


if __name__ == "__main__":
    main()
