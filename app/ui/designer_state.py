"""The designer's per-session state and how a canvas report changes it.

Kept apart from the page so the rules — what a drag, a drawn edge or a click does —
are tested without a browser. Nothing here imports Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from app.ui import designer_model as dm
from app.ui.canvas import CanvasSync, read_event

__all__ = ["Notice", "DesignerState", "apply_canvas_report", "load_design"]


@dataclass(frozen=True)
class Notice:
    """A message shown where it happened (above the canvas, or in the inspector)."""

    kind: Literal["success", "info", "warning", "error"]
    text: str
    where: Literal["canvas", "inspector", "toolbar"] = "canvas"


@dataclass
class DesignerState:
    """Everything the designer keeps between reruns of one browser session."""

    design: dm.Design = field(default_factory=dm.new_design)
    sync: CanvasSync = field(default_factory=CanvasSync)
    selected: str | None = None  #: a job name or a canvas edge id (``edge:a->b``)
    generation: int = 0  #: bumped when another pipeline is loaded, so widget keys start fresh
    origin: str | None = None  #: ``name:version`` it was opened from, or the template/run
    saved: bool = True  #: no edits since it was opened or saved
    notices: list[Notice] = field(default_factory=list)

    @property
    def selected_job(self) -> str | None:
        return self.selected if self.selected in self.design.pipeline.jobs else None

    @property
    def selected_edge(self) -> tuple[str, str] | None:
        if self.selected and self.selected.startswith("edge:") and "->" in self.selected:
            source, target = self.selected[len("edge:") :].split("->", 1)
            if source in self.design.pipeline.jobs and target in self.design.pipeline.jobs:
                return (source, target)
        return None

    def change(self, design: dm.Design, push: bool = True) -> None:
        """Adopt an edited design (a new action: earlier notices are cleared); ``push``
        makes the canvas show it on the next render."""
        self.notices.clear()
        if design is not self.design:
            self.design = design
            self.saved = False
        if push:
            self.sync.push()

    def notify(self, kind: Literal["success", "info", "warning", "error"], text: str, where: str = "canvas") -> None:
        self.notices.append(Notice(kind, text, where))  # type: ignore[arg-type]

    def notices_for(self, where: str) -> list[Notice]:
        """The notices for one place; they stay until the next action (the canvas' own
        echo reruns must not wipe a message the person has not read yet)."""
        return [n for n in self.notices if n.where == where]


def load_design(state: DesignerState, design: dm.Design, origin: str | None) -> None:
    """Replace the design being edited (open, new, import, clone)."""
    state.design = design
    state.selected = None
    state.generation += 1
    state.origin = origin
    state.saved = origin is not None and not origin.startswith(("template", "run", "upload"))
    state.sync.push()


def apply_canvas_report(state: DesignerState, raw: Any, resolve: dm.Resolve) -> bool:
    """Apply one browser report of the canvas (the flow component's value). Returns whether
    it was new. Positions are recorded; a drawn edge is mapped, left pending or refused;
    a click selects; deletions are never taken from the canvas (they come from the
    inspector), and a canvas that lost a job is pushed the full design again."""
    fresh = state.sync.take(raw)
    if fresh is None:
        return False
    event = read_event(state.design, fresh)
    moved = dm.move_jobs(state.design, {name: event.positions[name] for name in event.moved})
    if moved is not state.design:
        state.design = moved
        state.saved = False
    echo = state.sync.is_echo(event)
    if event.removed_jobs:  # the canvas lost a job, in an echo too: draw the whole design again
        state.sync.push()
    if echo:
        return True
    state.notices.clear()
    if event.removed_edges:
        state.sync.push()
    for source, target in event.new_edges:
        outcome = dm.connect(state.design, source, target, resolve)
        state.change(outcome.design)
        if outcome.status == "connected":
            wires = ", ".join(f"{w.source}.{w.output} → {w.target}.{w.input}" for w in outcome.wires)
            state.notify("success", f"Connected {wires}.")
        elif outcome.status == "choose":
            state.selected = dm.edge_id(source, target)
            state.notify(
                "info",
                f"'{source}' can feed several inputs of '{target}': choose which in the inspector.",
            )
        else:
            state.notify("error", outcome.reason)
    if event.clicked_job:
        state.selected = event.clicked_job
    elif event.clicked_edge:
        state.selected = dm.edge_id(*event.clicked_edge)
    elif len(event.moved) == 1 and not event.new_edges:
        state.selected = event.moved[0]
    return True


def report(nodes: list[Mapping[str, Any]], edges: list[Mapping[str, Any]], selected: str | None, stamp: int) -> dict:
    """A canvas report shaped like streamlit-flow's value (for tests and simulations)."""
    return {"nodes": list(nodes), "edges": list(edges), "selectedId": selected, "timestamp": stamp}
