"""The designer canvas: a :class:`~app.ui.designer_model.Design` ⇄ streamlit-flow state.

streamlit-flow 1.6.1 (React Flow) reports the whole canvas — nodes with positions,
edges, the clicked id and a browser timestamp — whenever a node is dropped, an edge is
drawn, or a node, edge or the pane is clicked; and it returns that last value again on
every rerun. Python's own updates are adopted by the browser only when their timestamp
is not older than the last one it sent. :class:`CanvasSync` keeps both rules:

* act on a value only when its timestamp is new (:meth:`CanvasSync.take`);
* push a changed design with a timestamp above the last one received
  (:meth:`CanvasSync.push`); otherwise keep rendering the last pushed timestamp, which
  the browser ignores, so a drag in progress is never overwritten.

When the browser adopts a pushed state it reports it back twice (once on adoption,
once after its layout pass), with no selection; those echoes must not be read as a
click on the empty pane (:attr:`CanvasSync.echoes`).

Nodes are never ``deletable``: keyboard deletion is not reported back, so jobs and
edges are deleted from the inspector.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streamlit_flow.elements import StreamlitFlowEdge, StreamlitFlowNode
from streamlit_flow.state import StreamlitFlowState

from app.ui import designer_model as dm
from components.errors import Problem
from components.spec import ComponentSpec

__all__ = ["CanvasSync", "CanvasEvent", "render_state", "read_event", "node_content"]

_EDGE_PREFIX = "edge:"
#: streamlit-flow reports an adopted state once, then again after its layout pass.
ECHOES_PER_PUSH = 2
_NEW_EDGE_PREFIX = "st-flow-edge_"

BORDER_OK = "1px solid #9aa5b1"
BORDER_SELECTED = "2px solid #1c64f2"
BORDER_PROBLEM = "2px solid #d92d20"


@dataclass
class CanvasSync:
    """Timestamps of one canvas in one browser session (kept in ``st.session_state``)."""

    pushed: int = 1  #: timestamp of the state Python renders
    received: int = 0  #: the last timestamp the browser sent
    echoes: int = 2  #: reports still expected back from the browser after a push

    def take(self, raw: Any) -> Mapping[str, Any] | None:
        """The browser's value if it is new (a dict with a timestamp not seen before)."""
        if not isinstance(raw, Mapping) or "timestamp" not in raw:
            return None
        try:
            stamp = int(raw["timestamp"])
        except (TypeError, ValueError):
            return None
        if stamp == self.received:
            return None
        self.received = stamp
        return raw

    def push(self) -> None:
        """Make the next render win over what the browser shows.

        The browser adopts a state only if its timestamp is not older than the browser's own
        clock reading when it last adopted one (at mount, too). That reading may not have
        reached Python yet (a cold iframe reports late), so the wall clock bounds it as well."""
        self.pushed = max(self.pushed, self.received, int(time.time() * 1000)) + 1
        self.echoes = ECHOES_PER_PUSH

    def is_echo(self, event: CanvasEvent) -> bool:
        """Whether ``event`` is the browser reporting a pushed state back (not a pane click).

        Counts down the expected echoes; any real edit or click ends the wait."""
        if event.pane_click and self.echoes > 0:
            self.echoes -= 1
            return True
        self.echoes = 0
        return False


@dataclass
class CanvasEvent:
    """What one browser report changed, relative to the design it was drawn from."""

    positions: dict[str, tuple[float, float]] = field(default_factory=dict)
    moved: list[str] = field(default_factory=list)
    new_edges: list[tuple[str, str]] = field(default_factory=list)
    removed_edges: list[tuple[str, str]] = field(default_factory=list)
    removed_jobs: list[str] = field(default_factory=list)
    clicked_job: str | None = None
    clicked_edge: tuple[str, str] | None = None
    pane_click: bool = False


def node_content(
    job: str, component: ComponentSpec | None, ref: str, compute: str, problems: list[Problem]
) -> str:
    """The markdown shown inside a node: job name, component name:version, compute target."""
    title = component.display_name if component and component.display_name else ref.split(":")[0]
    version = f" · `v{ref.split(':', 1)[1]}`" if ":" in ref else ""
    lines = [f"**{job}**", f"{title}{version}", f"on *{compute}*"]
    if problems:
        n = len(problems)
        lines.append(f"**{n} problem{'s' if n != 1 else ''}**")
    return "\n\n".join(lines)


def render_state(
    design: dm.Design,
    components: Mapping[str, ComponentSpec | None],
    problems: Mapping[str, list[Problem]],
    selected: str | None,
    timestamp: int,
) -> StreamlitFlowState:
    """The flow state for ``design``: one node per job, one edge per (source, target)."""
    nodes = []
    for name, job in design.pipeline.jobs.items():
        comp = components.get(name)
        has_inputs = comp is None or any(i.is_data for i in comp.inputs.values())
        has_outputs = comp is None or bool(comp.outputs)
        node_type = "default" if (has_inputs and has_outputs) else ("input" if has_outputs else "output")
        job_problems = problems.get(name, [])
        border = BORDER_PROBLEM if job_problems else (BORDER_SELECTED if name == selected else BORDER_OK)
        x, y = design.layout.get(name, (0.0, 0.0))
        nodes.append(
            StreamlitFlowNode(
                id=name,
                pos=(x, y),
                data={"content": node_content(name, comp, str(job.component), dm.effective_compute(design, name, comp), job_problems)},
                node_type=node_type,
                source_position="right",
                target_position="left",
                selected=name == selected,
                selectable=True,
                connectable=True,
                deletable=False,
                style={
                    "border": border,
                    "borderRadius": "8px",
                    "background": "#fff5f5" if job_problems else "#ffffff",
                    "padding": "6px 10px",
                    "fontSize": "13px",
                    "minWidth": "170px",
                    "textAlign": "left",
                },
            )
        )
    flow_edges = []
    for edge in dm.edges(design):
        selected_edge = selected == edge.id
        flow_edges.append(
            StreamlitFlowEdge(
                id=edge.id,
                source=edge.source,
                target=edge.target,
                edge_type="default",
                marker_end={"type": "arrowclosed"},
                animated=edge.pending,
                label=edge.label(),
                label_show_bg=True,
                deletable=False,
                focusable=True,
                style={
                    "stroke": "#d92d20" if edge.pending else ("#1c64f2" if selected_edge else "#667085"),
                    "strokeWidth": 2.5 if selected_edge else 1.5,
                    **({"strokeDasharray": "6 4"} if edge.pending else {}),
                },
            )
        )
    return StreamlitFlowState(nodes=nodes, edges=flow_edges, selected_id=selected, timestamp=timestamp)


def _pair_of(edge: Mapping[str, Any]) -> tuple[str, str]:
    return (str(edge.get("source", "")), str(edge.get("target", "")))


def read_event(design: dm.Design, raw: Mapping[str, Any]) -> CanvasEvent:
    """Compare a browser report with ``design``: moves, drawn and removed edges, clicks."""
    event = CanvasEvent()
    reported_nodes = [n for n in raw.get("nodes") or [] if isinstance(n, Mapping)]
    seen: set[str] = set()
    for node in reported_nodes:
        name = str(node.get("id", ""))
        pos = node.get("position") or {}
        if name not in design.pipeline.jobs:
            continue
        seen.add(name)
        try:
            xy = (float(pos.get("x", 0.0)), float(pos.get("y", 0.0)))
        except (TypeError, ValueError):
            continue
        event.positions[name] = xy
        old = design.layout.get(name)
        if old is None or abs(old[0] - xy[0]) > 0.5 or abs(old[1] - xy[1]) > 0.5:
            event.moved.append(name)
    if "nodes" in raw:  # an empty list too: a layout pass that raced a push can leave the canvas empty
        event.removed_jobs = [n for n in design.pipeline.jobs if n not in seen]

    known = {(e.source, e.target) for e in dm.edges(design)}
    reported = {_pair_of(e) for e in raw.get("edges") or [] if isinstance(e, Mapping)}
    event.new_edges = sorted(
        p for p in reported - known if p[0] in design.pipeline.jobs and p[1] in design.pipeline.jobs
    )
    if "edges" in raw:
        event.removed_edges = sorted(known - reported)

    selected = raw.get("selectedId")
    if isinstance(selected, str) and selected:
        if selected in design.pipeline.jobs:
            event.clicked_job = selected
        elif selected.startswith(_EDGE_PREFIX) and "->" in selected:
            source, target = selected[len(_EDGE_PREFIX) :].split("->", 1)
            event.clicked_edge = (source, target)
    elif not event.moved and not event.new_edges:
        event.pane_click = True
    return event
