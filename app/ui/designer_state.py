"""The designer's per-session state: the design, its undo history, the selection, the
messages, and how the canvas' events change them (docs/canvas-protocol.md).

Kept apart from the page so the rules — what a drop, a drawn edge or Delete does, and
what undo brings back — are tested without a browser. Nothing here imports Streamlit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from app.ui import designer_model as dm
from components.spec import ComponentRef, ComponentSpec

__all__ = ["Notice", "DesignerState", "apply_events", "load_design", "HISTORY_LIMIT", "ReadDraft"]

#: Undo steps kept; the oldest are dropped beyond it.
HISTORY_LIMIT = 200

Kind = Literal["success", "info", "warning", "error"]
#: Reads a draft kept in the browser: ``(yaml, layout, origin) -> Design`` (raises on bad text).
ReadDraft = Callable[[str, Mapping[str, Any]], dm.Design]


@dataclass(frozen=True)
class Notice:
    """A message: on the canvas (its fixed message area), in the inspector, or a toast."""

    id: int
    kind: Kind
    text: str
    where: Literal["canvas", "inspector", "toast"] = "canvas"


@dataclass
class DesignerState:
    """Everything the designer keeps between reruns of one browser session."""

    design: dm.Design = field(default_factory=dm.new_design)
    selection: tuple[str, ...] = ()  #: selected job names (the inspector shows a single one)
    generation: int = 0  #: bumped when another pipeline is loaded: widget keys and the canvas start fresh
    origin: str | None = None  #: ``name:version`` it was opened from, or the template/run
    saved: bool = True  #: no edits since it was opened or saved
    rev: int = 0  #: grows with every change of the design (the canvas redraws on it)
    acks: dict[str, int] = field(default_factory=dict)  #: last event seq applied, per canvas client
    last_client: str = ""
    history: list[dm.Design] = field(default_factory=list)  #: designs before each edit (undo)
    future: list[dm.Design] = field(default_factory=list)  #: designs undone (redo)
    notices: list[Notice] = field(default_factory=list)
    _notice_ids: int = 0

    # ------------------------------------------------------------------ reading
    @property
    def selected_job(self) -> str | None:
        """The one selected job, or ``None`` (nothing or several selected)."""
        jobs = [j for j in self.selection if j in self.design.pipeline.jobs]
        return jobs[0] if len(jobs) == 1 else None

    @property
    def dirty(self) -> bool:
        """Unsaved edits that leaving would lose."""
        return not self.saved and bool(self.design.pipeline.jobs)

    @property
    def restorable(self) -> bool:
        """An untouched, empty designer: a draft kept in the browser may be loaded into it."""
        return (self.generation == 0 and self.origin is None and not self.design.pipeline.jobs
                and not self.history and not self.future)

    @property
    def ack(self) -> dict[str, Any]:
        return {"client": self.last_client, "seq": self.acks.get(self.last_client, 0)}

    def canvas_notice(self) -> Notice | None:
        return next((n for n in reversed(self.notices) if n.where == "canvas"), None)

    def notices_for(self, where: str) -> list[Notice]:
        return [n for n in self.notices if n.where == where]

    def take_toasts(self) -> list[Notice]:
        """Toast messages not shown yet (shown once)."""
        toasts = self.notices_for("toast")
        self.notices = [n for n in self.notices if n.where != "toast"]
        return toasts

    # ------------------------------------------------------------------ changing
    def select(self, jobs: Iterable[str]) -> None:
        self.selection = tuple(j for j in dict.fromkeys(jobs) if j in self.design.pipeline.jobs)

    def change(self, design: dm.Design, *, keep_messages: bool = False) -> None:
        """Adopt an edited design as one undoable step. Earlier messages are cleared (a new
        action answers them) unless ``keep_messages`` (a move is not an answer to them)."""
        if not keep_messages:
            self.clear_messages()
        if design is self.design:
            return
        self.history.append(self.design)
        del self.history[:-HISTORY_LIMIT]
        self.future.clear()
        self._adopt(design)

    def clear_messages(self) -> None:
        """Drop the messages shown so far (toasts not shown yet stay)."""
        self.notices = [n for n in self.notices if n.where == "toast"]

    def _adopt(self, design: dm.Design) -> None:
        self.design = design
        self.saved = False
        self.rev += 1
        self.select(self.selection)

    def undo(self) -> bool:
        if not self.history:
            return False
        self.future.append(self.design)
        self._adopt(self.history.pop())
        return True

    def redo(self) -> bool:
        if not self.future:
            return False
        self.history.append(self.design)
        self._adopt(self.future.pop())
        return True

    def notify(self, kind: Kind, text: str, where: Literal["canvas", "inspector", "toast"] = "canvas") -> None:
        self._notice_ids += 1
        self.notices.append(Notice(self._notice_ids, kind, text, where))


def load_design(state: DesignerState, design: dm.Design, origin: str | None) -> None:
    """Replace the design being edited (open, new, import, clone, restore): a new history."""
    state.design = design
    state.selection = ()
    state.generation += 1
    state.rev += 1
    state.origin = origin
    state.saved = origin is not None and not origin.startswith(("template", "run", "upload"))
    state.history.clear()
    state.future.clear()


# ---------------------------------------------------------------------------- events


def _batch(raw: Any) -> tuple[str, list[Mapping[str, Any]]] | None:
    """``{"client": str, "events": [{seq, type, ...}]}`` read defensively (a browser sends it)."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("client"), str) or not raw["client"]:
        return None
    events = [e for e in raw.get("events") or [] if isinstance(e, Mapping) and isinstance(e.get("seq"), int)
              and not isinstance(e.get("seq"), bool)]
    return raw["client"], sorted(events, key=lambda e: e["seq"])


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value == value and abs(value) < 1e7:
        return float(value)
    return None


def _add(state: DesignerState, event: Mapping[str, Any], resolve: dm.Resolve) -> None:
    ref = str(event.get("ref") or "")
    name, _, version = ref.partition(":")
    try:
        if not name:
            raise LookupError(ref)
        resolve(ComponentRef(name, version or None))
    except Exception:  # noqa: BLE001 - any registry miss is a message, never a traceback
        state.notify("error", f"There is no registered component '{ref}': register it on the Components page.")
        return
    x, y = _number(event.get("x")), _number(event.get("y"))
    position = (x, y) if x is not None and y is not None else None
    design, job = dm.add_job(state.design, ComponentSpec(name=name, version=version or None), position)
    state.change(design)
    state.select([job])
    state.notify("success", f"Added job '{job}' ({ref}). Drag from an output on its right to an input "
                 "on the left of another job to connect them.")


def _move(state: DesignerState, event: Mapping[str, Any]) -> None:
    positions = {}
    raw = event.get("positions")
    for job, pos in (raw.items() if isinstance(raw, Mapping) else []):
        if isinstance(pos, list | tuple) and len(pos) == 2:
            x, y = _number(pos[0]), _number(pos[1])
            if x is not None and y is not None:
                positions[str(job)] = (round(x, 1), round(y, 1))
    state.change(dm.move_jobs(state.design, positions), keep_messages=True)


def _connect(state: DesignerState, event: Mapping[str, Any], resolve: dm.Resolve) -> None:
    wire = dm.Wire(*(str(event.get(k) or "") for k in ("source", "sourceHandle", "target", "targetHandle")))
    outcome = dm.connect(state.design, wire, resolve)
    if outcome.status == "refused":
        state.clear_messages()
        state.notify("error", outcome.reason)
        return
    state.change(outcome.design)
    if outcome.status == "replaced":
        state.notify("warning", f"Connected {wire.label()}, replacing its earlier binding to {outcome.previous}.")
    elif outcome.status == "connected":
        state.notify("success", f"Connected {wire.label()}.")


def _delete(state: DesignerState, event: Mapping[str, Any]) -> None:
    design = state.design
    jobs = [j for j in _names(event.get("jobs")) if j in design.pipeline.jobs]
    wires = [w for w in map(dm.parse_wire_id, _names(event.get("edges"))) if w is not None]
    for wire in wires:
        design = dm.disconnect(design, wire)
    for job in jobs:
        design = dm.remove_job(design, job)
    if design is state.design:
        return
    state.change(design)
    parts = []
    if jobs:
        parts.append(f"job{'s' if len(jobs) > 1 else ''} {', '.join(jobs)}")
    gone = [w for w in wires if w.source not in jobs and w.target not in jobs]
    if gone:
        parts.append(f"edge{'s' if len(gone) > 1 else ''} {', '.join(w.label() for w in gone)}")
    state.notify("info", f"Deleted {' and '.join(parts) or 'the selection'}. Ctrl+Z brings it back.")


def _paste(state: DesignerState, event: Mapping[str, Any]) -> None:
    dx, dy = _number(event.get("dx")) or 40.0, _number(event.get("dy")) or 40.0
    design, copies = dm.copy_jobs(state.design, _names(event.get("jobs")), dx, dy)
    if not copies:
        return
    state.change(design)
    state.select(copies)
    state.notify("success", f"Pasted {', '.join(copies)}.")


def _restore(state: DesignerState, event: Mapping[str, Any], read_draft: ReadDraft | None) -> None:
    draft = event.get("draft")
    if not state.restorable or read_draft is None or not isinstance(draft, Mapping):
        return
    text, layout = draft.get("yaml"), draft.get("layout")
    if not isinstance(text, str) or not text.strip():
        return
    try:
        design = read_draft(text, layout if isinstance(layout, Mapping) else {})
    except Exception as exc:  # noqa: BLE001 - a draft that no longer reads is dropped, with the reason
        state.notify("warning", f"The unsaved design kept in this browser could not be restored: {exc}")
        return
    origin = draft.get("origin") if isinstance(draft.get("origin"), str) else None
    load_design(state, design, origin)
    state.saved = False
    state.notify("info", f"Restored the unsaved design '{design.pipeline.name}' kept in this browser.")


def apply_events(state: DesignerState, raw: Any, resolve: dm.Resolve, read_draft: ReadDraft | None = None) -> bool:
    """Apply the canvas' events not applied yet (``seq`` above the last one of their client).
    Returns whether any was new. A malformed value or event is ignored."""
    batch = _batch(raw)
    if batch is None:
        return False
    client, events = batch
    last = state.acks.get(client, 0)
    fresh = [e for e in events if e["seq"] > last]
    if not fresh:
        return False
    state.last_client = client
    for event in fresh:
        state.acks[client] = event["seq"]
        kind = event.get("type")
        if kind == "add":
            _add(state, event, resolve)
        elif kind == "move":
            _move(state, event)
        elif kind == "connect":
            _connect(state, event, resolve)
        elif kind == "delete":
            _delete(state, event)
        elif kind == "select":
            state.select(_names(event.get("jobs")))
        elif kind == "paste":
            _paste(state, event)
        elif kind == "undo":
            if not state.undo():
                state.notify("info", "Nothing to undo.")
        elif kind == "redo":
            if not state.redo():
                state.notify("info", "Nothing to redo.")
        elif kind == "restore":
            _restore(state, event, read_draft)
    return True
