/** The model Python sends (`data=`) and the events the browser sends back: docs/canvas-protocol.md. */

export type PreviewState = "reused" | "run" | "waits";
export type StatusState = "pending" | "running" | "completed" | "reused" | "failed" | "skipped" | "cancelled";
export type NoticeKind = "error" | "warning" | "success" | "info";

export interface InputPort {
  name: string;
  type: string;
  optional: boolean;
  bound: "job" | "external" | "literal" | null;
  missing: boolean;
}

export interface OutputPort {
  name: string;
  type: string;
}

export interface Job {
  id: string;
  x: number;
  y: number;
  title: string;
  component: string;
  compute: string;
  inputs: InputPort[];
  outputs: OutputPort[];
  problems: string[];
  preview: { state: PreviewState; text: string } | null;
  status: { state: StatusState; text: string } | null;
}

export interface ModelEdge {
  id: string;
  source: string;
  sourceHandle: string;
  target: string;
  targetHandle: string;
}

export interface PaletteEntry {
  ref: string;
  name: string;
  version: string;
  title: string;
  description: string;
  group: string;
}

export interface Notice {
  id: number;
  kind: NoticeKind;
  text: string;
}

export interface Ack {
  client: string;
  seq: number;
}

export interface Model {
  mount: string;
  rev: number;
  ack: Ack | null;
  mode: "design" | "run";
  readOnly: boolean;
  dirty: boolean;
  /** An untouched, empty designer: a draft kept in this browser may be restored into it. */
  restorable: boolean;
  draft: unknown;
  canUndo: boolean;
  canRedo: boolean;
  selection: string[];
  notice: Notice | null;
  jobs: Job[];
  edges: ModelEdge[];
  palette: PaletteEntry[];
  fits: Record<string, string[]>;
}

export type Positions = Record<string, [number, number]>;

/** An event before it is numbered. */
export type EventBody =
  | { type: "add"; ref: string; x: number | null; y: number | null }
  | { type: "move"; positions: Positions }
  | { type: "connect"; source: string; sourceHandle: string; target: string; targetHandle: string }
  | { type: "delete"; jobs: string[]; edges: string[] }
  | { type: "select"; jobs: string[] }
  | { type: "paste"; jobs: string[]; dx: number; dy: number }
  | { type: "undo" }
  | { type: "redo" }
  | { type: "restore"; draft: unknown };

export type CanvasEvent = EventBody & { seq: number };

/** The state value `events`. */
export interface EventsValue {
  client: string;
  events: CanvasEvent[];
}
