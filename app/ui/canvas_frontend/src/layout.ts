/** Auto-layout: a left-to-right layered drawing of the design (dagre). */
import dagre from "@dagrejs/dagre";

import type { Positions } from "./types";

export interface LayoutNode {
  id: string;
  width: number;
  height: number;
}

export interface LayoutEdge {
  source: string;
  target: string;
}

const RANK_SEP = 90;
const NODE_SEP = 40;

/** Top-left positions for `nodes`, sources on the left, in whole pixels. */
export function layoutLeftToRight(nodes: readonly LayoutNode[], edges: readonly LayoutEdge[]): Positions {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", ranksep: RANK_SEP, nodesep: NODE_SEP, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: n.width, height: n.height });
  for (const e of edges) {
    if (g.hasNode(e.source) && g.hasNode(e.target) && e.source !== e.target) g.setEdge(e.source, e.target);
  }
  dagre.layout(g);
  const positions: Positions = {};
  for (const n of nodes) {
    const placed = g.node(n.id);
    positions[n.id] = [Math.round(placed.x - n.width / 2), Math.round(placed.y - n.height / 2)];
  }
  return positions;
}
