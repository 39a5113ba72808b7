/**
 * The browser's side of the event protocol (docs/canvas-protocol.md), with no React and no DOM:
 * the queue of events Python has not acknowledged yet, and what those events already changed
 * on screen (so a model that does not include them yet does not undo them).
 */
import type { Ack, CanvasEvent, EventBody, EventsValue, Job, ModelEdge } from "./types";

/** The model's id of the edge from `source`'s output to `target`'s input. */
export function edgeId(source: string, sourceHandle: string, target: string, targetHandle: string): string {
  return `${source}.${sourceHandle}->${target}.${targetHandle}`;
}

/** Whether an output of type `outType` may feed an input of type `inType` (the validator's table). */
export function typesFit(fits: Record<string, string[]>, outType: string, inType: string): boolean {
  return (fits[outType] ?? []).includes(inType);
}

function newClientId(): string {
  const bytes = new Uint8Array(6);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(36).padStart(2, "0")).join("").slice(0, 10);
}

/** Numbered events not yet acknowledged by Python, for one mount of the component. */
export class EventQueue {
  readonly client: string;
  private seq = 0;
  private events: CanvasEvent[] = [];

  constructor(client: string = newClientId()) {
    this.client = client;
  }

  /** Numbers `body` and queues it; returns the value to send (every unacknowledged event). */
  push(body: EventBody): EventsValue {
    this.seq += 1;
    this.events.push({ ...body, seq: this.seq });
    return this.value();
  }

  /** Drops the events `ack` covers; whether any were dropped. */
  ack(ack: Ack | null | undefined): boolean {
    if (!ack || ack.client !== this.client || typeof ack.seq !== "number") return false;
    const before = this.events.length;
    this.events = this.events.filter((e) => e.seq > ack.seq);
    return this.events.length !== before;
  }

  /** Forgets every queued event (another design was loaded); numbering goes on. */
  clear(): void {
    this.events = [];
  }

  get unacked(): readonly CanvasEvent[] {
    return this.events;
  }

  value(): EventsValue {
    return { client: this.client, events: this.events.map((e) => ({ ...e })) };
  }
}

/** What unacknowledged events already changed on screen. */
export interface Pending {
  /** The latest position sent for each moved job. */
  moves: Map<string, [number, number]>;
  /** The latest selection sent, or null when none is pending. */
  selection: string[] | null;
}

export function pendingOf(events: readonly CanvasEvent[]): Pending {
  const pending: Pending = {
    moves: new Map(),
    selection: null,
  };
  for (const e of events) {
    switch (e.type) {
      case "move":
        for (const [job, xy] of Object.entries(e.positions)) pending.moves.set(job, xy);
        break;
      case "select":
        pending.selection = [...e.jobs];
        break;
      default:
        break;
    }
  }
  return pending;
}

/** The connection the browser draws at once: only one whose types fit (Python refuses the others). */
export function connectionFits(jobs: readonly Job[], fits: Record<string, string[]>, edge: Omit<ModelEdge, "id">): boolean {
  const source = jobs.find((j) => j.id === edge.source);
  const target = jobs.find((j) => j.id === edge.target);
  const output = source?.outputs.find((o) => o.name === edge.sourceHandle);
  const input = target?.inputs.find((i) => i.name === edge.targetHandle);
  return !!output && !!input && edge.source !== edge.target && typesFit(fits, output.type, input.type);
}

/** `edges` with `edge` drawn in: it replaces any edge into the same input. */
export function withEdge(edges: readonly ModelEdge[], edge: ModelEdge): ModelEdge[] {
  return [...edges.filter((e) => !(e.target === edge.target && e.targetHandle === edge.targetHandle)), edge];
}

/** The model's jobs and edges with the unacknowledged events' effects drawn over them, in order. */
export function applyPending(
  jobs: readonly Job[],
  edges: readonly ModelEdge[],
  fits: Record<string, string[]>,
  events: readonly CanvasEvent[],
): { jobs: Job[]; edges: ModelEdge[] } {
  let outJobs = [...jobs];
  let outEdges = [...edges];
  for (const e of events) {
    if (e.type === "delete") {
      const gone = new Set(e.jobs);
      const goneEdges = new Set(e.edges);
      outJobs = outJobs.filter((j) => !gone.has(j.id));
      outEdges = outEdges.filter((x) => !goneEdges.has(x.id) && !gone.has(x.source) && !gone.has(x.target));
    } else if (e.type === "move") {
      outJobs = outJobs.map((j) => {
        const xy = e.positions[j.id];
        return xy ? { ...j, x: xy[0], y: xy[1] } : j;
      });
    } else if (e.type === "connect") {
      const edge = { source: e.source, sourceHandle: e.sourceHandle, target: e.target, targetHandle: e.targetHandle };
      if (connectionFits(outJobs, fits, edge)) {
        outEdges = withEdge(outEdges, { id: edgeId(e.source, e.sourceHandle, e.target, e.targetHandle), ...edge });
      }
    }
  }
  return { jobs: outJobs, edges: outEdges };
}
