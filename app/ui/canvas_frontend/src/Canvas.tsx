/**
 * The designer canvas: the palette, React Flow with the model's jobs and edges, the toolbar and
 * the notice. Python owns the design; this draws the model, keeps what the person is doing
 * right now (a drag, a selection, a connection being drawn) and reports events.
 */
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type DragEvent } from "react";
import {
  Background,
  ConnectionMode,
  Controls,
  MarkerType,
  MiniMap,
  Panel,
  ReactFlow,
  ReactFlowProvider,
  applyEdgeChanges,
  applyNodeChanges,
  useReactFlow,
  type Connection,
  type Edge,
  type EdgeChange,
  type Node,
  type NodeChange,
  type OnConnectStartParams,
  type OnSelectionChangeParams,
} from "@xyflow/react";

import { useDrafts } from "./drafts";
import { DraggingContext, JobNode, type JobFlowNode } from "./JobNode";
import { layoutLeftToRight } from "./layout";
import { NoticeArea } from "./Notice";
import { DRAG_TYPE, Palette } from "./Palette";
import { EventQueue, applyPending, connectionFits, edgeId, pendingOf, withEdge } from "./sync";
import type { EventBody, EventsValue, Model, ModelEdge, Positions } from "./types";

const NODE_TYPES = { job: JobNode };
const MOVE_MERGE_MS = 200;
const SELECT_DEBOUNCE_MS = 150;
const PASTE_OFFSET = 40;
const FIT_OPTIONS = { padding: 0.2, maxZoom: 1 };
const MINIMAP_STYLE = { width: 160, height: 100 };
const EDGE_MARKER = { type: MarkerType.ArrowClosed, width: 16, height: 16, color: "#667085" };

export interface CanvasProps {
  model: Model;
  /** Sends the state value `events` (every unacknowledged event). */
  send: (value: EventsValue) => void;
}

function isEditable(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join("\u0000") === [...b].sort().join("\u0000");
}

function toFlowEdge(edge: ModelEdge, readOnly: boolean, selected: boolean): Edge {
  return {
    id: edge.id,
    source: edge.source,
    sourceHandle: edge.sourceHandle,
    target: edge.target,
    targetHandle: edge.targetHandle,
    deletable: !readOnly,
    selectable: !readOnly,
    selected,
    markerEnd: EDGE_MARKER,
  };
}

function toModelEdge(edge: Edge): ModelEdge {
  return {
    id: edge.id,
    source: edge.source,
    sourceHandle: edge.sourceHandle ?? "",
    target: edge.target,
    targetHandle: edge.targetHandle ?? "",
  };
}

function Flow({ model, send }: CanvasProps) {
  const flow = useReactFlow<JobFlowNode, Edge>();
  const rootRef = useRef<HTMLDivElement>(null);
  const [queue] = useState(() => new EventQueue());
  const sendRef = useRef(send);
  const modelRef = useRef(model);
  useLayoutEffect(() => {
    sendRef.current = send;
    modelRef.current = model;
  }, [send, model]);

  const readOnly = model.readOnly || model.mode === "run";
  const [nodes, setNodes] = useState<JobFlowNode[]>([]);
  const [edges, setEdges] = useState<Edge[]>([]);
  const [outType, setOutType] = useState<string | null>(null);
  const [unacked, setUnacked] = useState(0);

  const dragging = useRef(new Set<string>());
  /** Where jobs were dropped from the palette ("x,y" in flow coordinates), not yet drawn. */
  const dropPoints = useRef(new Set<string>());
  const moveBuffer = useRef<Positions>({});
  const moveTimer = useRef<number | null>(null);
  const selectTimer = useRef<number | null>(null);
  const selected = useRef<string[]>([]);
  const reported = useRef<string[]>(model.selection ?? []);
  const clipboard = useRef<string[]>([]);
  const mount = useRef<string | null>(null);

  const emit = useCallback(
    (body: EventBody) => {
      const value = queue.push(body);
      setUnacked(value.events.length);
      sendRef.current(value);
    },
    [queue],
  );

  /** Moves the view just enough to show the first of `ids` that is not wholly in it. */
  const revealNodes = useCallback(
    (ids: string[]) => {
      const pane = rootRef.current?.querySelector(".react-flow")?.getBoundingClientRect();
      if (!pane) return;
      // the view moves just enough to show the first added job that lies outside it, at
      // the zoom the person chose (fitting the whole design would zoom out on every add to
      // a large pipeline; centring on the job would push its neighbours out of view)
      const margin = 24;
      for (const id of ids) {
        const node = flow.getInternalNode(id);
        if (!node) continue;
        const at = node.internals.positionAbsolute;
        const topLeft = flow.flowToScreenPosition(at);
        const bottomRight = flow.flowToScreenPosition({
          x: at.x + (node.measured.width ?? 200),
          y: at.y + (node.measured.height ?? 100),
        });
        const shift = (low: number, high: number, min: number, max: number) =>
          high > max - margin ? Math.max(min + margin - low, max - margin - high) : low < min + margin ? min + margin - low : 0;
        // a job dropped near an edge stays where the person put it
        if (dropPoints.current.delete(`${Math.round(at.x)},${Math.round(at.y)}`)) continue;
        const dx = shift(topLeft.x, bottomRight.x, pane.left, pane.right);
        const dy = shift(topLeft.y, bottomRight.y, pane.top, pane.bottom);
        if (dx !== 0 || dy !== 0) {
          const view = flow.getViewport();
          void flow.setViewport({ x: view.x + dx, y: view.y + dy, zoom: view.zoom }, { duration: 200 });
          return;
        }
      }
    },
    [flow],
  );

  // ---- the model → what is drawn -------------------------------------------------------
  useLayoutEffect(() => {
    const firstModel = mount.current === null;
    const mountChanged = !firstModel && mount.current !== model.mount;
    mount.current = model.mount;
    if (mountChanged) {
      queue.clear();
      dragging.current.clear();
      moveBuffer.current = {};
      if (moveTimer.current !== null) window.clearTimeout(moveTimer.current);
      if (selectTimer.current !== null) window.clearTimeout(selectTimer.current);
      moveTimer.current = selectTimer.current = null;
      clipboard.current = [];
    }
    queue.ack(model.ack);
    setUnacked(queue.unacked.length);

    const drawn = applyPending(model.jobs ?? [], model.edges ?? [], model.fits ?? {}, queue.unacked);
    const pending = pendingOf(queue.unacked);
    const keepSelection = !mountChanged && (selectTimer.current !== null || pending.selection !== null);
    const modelSelection = new Set(model.selection ?? []);
    if (!keepSelection) reported.current = [...modelSelection];
    const ro = model.readOnly || model.mode === "run";

    const known = new Set(flow.getNodes().map((n) => n.id));
    const added = firstModel || mountChanged ? [] : drawn.jobs.filter((j) => !known.has(j.id)).map((j) => j.id);
    setNodes((prev) => {
      const before = new Map(mountChanged ? [] : prev.map((n) => [n.id, n] as const));
      return drawn.jobs.map((job): JobFlowNode => {
        const old = before.get(job.id);
        const local = old && (dragging.current.has(job.id) || job.id in moveBuffer.current);
        return {
          id: job.id,
          type: "job",
          position: local ? old.position : { x: job.x, y: job.y },
          data: { job, readOnly: ro },
          selected: keepSelection && old ? !!old.selected : modelSelection.has(job.id),
          draggable: !ro,
          connectable: !ro,
          deletable: !ro,
          ...(old?.measured ? { measured: old.measured } : {}),
          ...(old?.dragging ? { dragging: old.dragging } : {}),
        };
      });
    });
    setEdges((prev) => {
      const wasSelected = new Set(mountChanged ? [] : prev.filter((e) => e.selected).map((e) => e.id));
      return drawn.edges.map((e) => toFlowEdge(e, ro, wasSelected.has(e.id)));
    });
    if (firstModel || mountChanged) {
      // fitView waits until the nodes are measured; an empty design keeps the default
      // viewport, so a first job dropped from the palette stays where it was dropped
      if (drawn.jobs.length > 0) void flow.fitView(FIT_OPTIONS);
    } else if (added.length > 0) {
      // a job added (palette click, paste, undo of a deletion) may land outside the view
      window.requestAnimationFrame(() => window.requestAnimationFrame(() => revealNodes(added)));
    }
  }, [model, queue, flow, revealNodes]);

  useDrafts(model, emit);

  // ---- React Flow's changes ----------------------------------------------------------------
  const onNodesChange = useCallback((changes: NodeChange<JobFlowNode>[]) => {
    setNodes((prev) => applyNodeChanges(changes, prev));
  }, []);
  const onEdgesChange = useCallback((changes: EdgeChange<Edge>[]) => {
    setEdges((prev) => applyEdgeChanges(changes, prev));
  }, []);

  const onSelectionChange = useCallback(
    ({ nodes: picked }: OnSelectionChangeParams) => {
      selected.current = picked.map((n) => n.id);
      if (readOnly) return;
      if (selectTimer.current !== null) window.clearTimeout(selectTimer.current);
      selectTimer.current = null;
      if (sameIds(selected.current, reported.current)) return;
      selectTimer.current = window.setTimeout(() => {
        selectTimer.current = null;
        if (sameIds(selected.current, reported.current)) return;
        reported.current = [...selected.current];
        emit({ type: "select", jobs: [...selected.current] });
      }, SELECT_DEBOUNCE_MS);
    },
    [emit, readOnly],
  );

  const onNodeClick = useCallback(
    (_: unknown, node: Node) => {
      // In run mode a click opens that step; selection there is Python's alone.
      if (readOnly) emit({ type: "select", jobs: [node.id] });
    },
    [emit, readOnly],
  );

  // ---- moving -------------------------------------------------------------------------------
  const flushMoves = useCallback(() => {
    moveTimer.current = null;
    const positions = moveBuffer.current;
    moveBuffer.current = {};
    if (Object.keys(positions).length > 0) emit({ type: "move", positions });
  }, [emit]);

  const onDragStart = useCallback((_: unknown, dragged: Node[]) => {
    dragged.forEach((n) => dragging.current.add(n.id));
  }, []);
  const onDragStop = useCallback(
    (_: unknown, dragged: Node[]) => {
      for (const n of dragged) {
        dragging.current.delete(n.id);
        moveBuffer.current[n.id] = [Math.round(n.position.x), Math.round(n.position.y)];
      }
      if (moveTimer.current !== null) window.clearTimeout(moveTimer.current);
      moveTimer.current = window.setTimeout(flushMoves, MOVE_MERGE_MS);
    },
    [flushMoves],
  );

  // ---- connecting ---------------------------------------------------------------------------
  const onConnectStart = useCallback((_: unknown, params: OnConnectStartParams) => {
    if (params.handleType !== "source" || !params.nodeId) return setOutType(null);
    const job = modelRef.current.jobs.find((j) => j.id === params.nodeId);
    setOutType(job?.outputs.find((o) => o.name === params.handleId)?.type ?? null);
  }, []);
  const onConnectEnd = useCallback(() => setOutType(null), []);
  const onConnect = useCallback(
    (c: Connection) => {
      if (!c.sourceHandle || !c.targetHandle) return;
      const edge = { source: c.source, sourceHandle: c.sourceHandle, target: c.target, targetHandle: c.targetHandle };
      emit({ type: "connect", ...edge });
      const jobs = modelRef.current.jobs;
      if (connectionFits(jobs, modelRef.current.fits ?? {}, edge)) {
        const id = edgeId(edge.source, edge.sourceHandle, edge.target, edge.targetHandle);
        setEdges((prev) =>
          withEdge(prev.map(toModelEdge), { id, ...edge }).map((e) =>
            toFlowEdge(e, false, prev.find((p) => p.id === e.id)?.selected ?? false),
          ),
        );
      }
    },
    [emit],
  );

  // ---- deleting -----------------------------------------------------------------------------
  const onDelete = useCallback(
    ({ nodes: gone, edges: goneEdges }: { nodes: Node[]; edges: Edge[] }) => {
      if (gone.length === 0 && goneEdges.length === 0) return;
      // Python drops deleted jobs from the selection itself: no select event for that
      const goneIds = new Set(gone.map((n) => n.id));
      reported.current = reported.current.filter((id) => !goneIds.has(id));
      emit({ type: "delete", jobs: gone.map((n) => n.id), edges: goneEdges.map((e) => e.id) });
    },
    [emit],
  );

  // ---- the palette --------------------------------------------------------------------------
  const addAt = useCallback((ref: string) => emit({ type: "add", ref, x: null, y: null }), [emit]);
  const onDragOver = useCallback((event: DragEvent) => {
    if (!event.dataTransfer.types.includes(DRAG_TYPE)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  }, []);
  const onDrop = useCallback(
    (event: DragEvent) => {
      const ref = event.dataTransfer.getData(DRAG_TYPE);
      if (!ref) return;
      event.preventDefault();
      const at = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY });
      dropPoints.current.add(`${Math.round(at.x)},${Math.round(at.y)}`);
      emit({ type: "add", ref, x: Math.round(at.x), y: Math.round(at.y) });
    },
    [emit, flow],
  );

  // ---- the toolbar and keys -----------------------------------------------------------------
  const autoLayout = useCallback(() => {
    const drawn = flow.getNodes();
    const positions = layoutLeftToRight(
      drawn.map((n) => ({ id: n.id, width: n.measured?.width ?? 220, height: n.measured?.height ?? 100 })),
      flow.getEdges(),
    );
    setNodes((prev) =>
      prev.map((n) => {
        const xy = positions[n.id];
        return xy ? { ...n, position: { x: xy[0], y: xy[1] } } : n;
      }),
    );
    emit({ type: "move", positions });
    window.requestAnimationFrame(() => void flow.fitView({ ...FIT_OPTIONS, duration: 200 }));
  }, [emit, flow]);
  const fit = useCallback(() => void flow.fitView({ ...FIT_OPTIONS, duration: 200 }), [flow]);

  useEffect(() => {
    if (readOnly) return;
    const onKey = (event: KeyboardEvent) => {
      if (isEditable(event.target)) return;
      // Only when the canvas or a container around it has the focus (a click on the pane
      // focuses Streamlit's main block, which has tabIndex -1), not another widget.
      const active = document.activeElement;
      const root = rootRef.current;
      const ours = !active || active === document.body || (!!root && (root.contains(active) || active.contains(root)));
      if (!ours || !(event.ctrlKey || event.metaKey) || event.altKey) return;
      const key = event.key.toLowerCase();
      if (key === "z" && !event.shiftKey) emit({ type: "undo" });
      else if ((key === "z" && event.shiftKey) || (key === "y" && event.ctrlKey)) emit({ type: "redo" });
      else if (key === "c" && !event.shiftKey) {
        if (window.getSelection()?.toString()) return; // copying text, not jobs
        clipboard.current = flow.getNodes().filter((n) => n.selected).map((n) => n.id);
        if (clipboard.current.length === 0) return;
      } else if (key === "v" && !event.shiftKey) {
        if (clipboard.current.length === 0) return;
        emit({ type: "paste", jobs: [...clipboard.current], dx: PASTE_OFFSET, dy: PASTE_OFFSET });
      } else return;
      event.preventDefault();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [emit, flow, readOnly]);

  useEffect(
    () => () => {
      if (moveTimer.current !== null) window.clearTimeout(moveTimer.current);
      if (selectTimer.current !== null) window.clearTimeout(selectTimer.current);
    },
    [],
  );

  const dragContext = useMemo(() => ({ outType, fits: model.fits ?? {} }), [outType, model.fits]);
  const showPalette = !readOnly && (model.palette ?? []).length > 0;

  return (
    <div
      ref={rootRef}
      className={`dw-canvas dw-mode-${model.mode}${readOnly ? " dw-readonly" : ""}${outType !== null ? " dw-connecting" : ""}`}
      data-testid="canvas-root"
      data-mount={model.mount}
      data-rev={model.rev}
      data-client={queue.client}
      data-unacked={unacked}
    >
      {showPalette && <Palette entries={model.palette} onAdd={addAt} />}
      <div className="dw-flow" onDragOver={onDragOver} onDrop={onDrop}>
        <DraggingContext.Provider value={dragContext}>
          <ReactFlow<JobFlowNode, Edge>
            nodes={nodes}
            edges={edges}
            nodeTypes={NODE_TYPES}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onSelectionChange={onSelectionChange}
            onNodeClick={onNodeClick}
            onNodeDragStart={(e, _n, dragged) => onDragStart(e, dragged)}
            onNodeDragStop={(e, _n, dragged) => onDragStop(e, dragged)}
            onSelectionDragStart={onDragStart}
            onSelectionDragStop={onDragStop}
            onConnectStart={onConnectStart}
            onConnectEnd={onConnectEnd}
            onConnect={onConnect}
            onDelete={onDelete}
            connectionMode={ConnectionMode.Strict}
            nodesDraggable={!readOnly}
            nodesConnectable={!readOnly}
            elementsSelectable
            deleteKeyCode={readOnly ? null : ["Delete", "Backspace"]}
            selectionKeyCode="Shift"
            multiSelectionKeyCode={["Shift", "Meta", "Control"]}
            minZoom={0.2}
            maxZoom={2}
            colorMode="light"
          >
            <Background gap={16} color="#e4e7ec" />
            <MiniMap pannable zoomable nodeStrokeWidth={2} style={MINIMAP_STYLE} />
            <Controls showInteractive={false} />
            <Panel position="top-right" className="dw-toolbar">
              {!readOnly && (
                <>
                  <button type="button" onClick={() => emit({ type: "undo" })} disabled={!model.canUndo} title="Undo (Ctrl+Z)">
                    Undo
                  </button>
                  <button
                    type="button"
                    onClick={() => emit({ type: "redo" })}
                    disabled={!model.canRedo}
                    title="Redo (Ctrl+Shift+Z or Ctrl+Y)"
                  >
                    Redo
                  </button>
                  <button type="button" onClick={autoLayout} disabled={nodes.length === 0} title="Lay the jobs out left to right">
                    Auto-layout
                  </button>
                </>
              )}
              <button type="button" onClick={fit} title="Fit the design into view">
                Fit view
              </button>
            </Panel>
          </ReactFlow>
        </DraggingContext.Provider>
        <NoticeArea notice={model.notice ?? null} />
      </div>
    </div>
  );
}

export function Canvas(props: CanvasProps) {
  return (
    <ReactFlowProvider>
      <Flow {...props} />
    </ReactFlowProvider>
  );
}
