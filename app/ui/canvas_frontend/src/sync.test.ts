import { describe, expect, it } from "vitest";

import { layoutLeftToRight } from "./layout";
import { EventQueue, applyPending, connectionFits, edgeId, pendingOf } from "./sync";
import type { Job, ModelEdge } from "./types";

function job(id: string, inputs: [string, string][], outputs: [string, string][]): Job {
  return {
    id, x: 0, y: 0, title: id, component: `${id}:1`, compute: "cpu",
    inputs: inputs.map(([name, type]) => ({ name, type, optional: false, bound: null, missing: false })),
    outputs: outputs.map(([name, type]) => ({ name, type })),
    problems: [], preview: null, status: null,
  };
}

const JOBS = [job("prep", [], [["clean", "uri_folder"], ["report", "uri_file"]]), job("train", [["data", "uri_folder"]], [])];
const FITS = { uri_folder: ["uri_folder", "mltable"], uri_file: ["uri_file"] };
const EDGE: ModelEdge = { id: edgeId("prep", "clean", "train", "data"), source: "prep", sourceHandle: "clean", target: "train", targetHandle: "data" };

describe("EventQueue", () => {
  it("numbers events from 1 and sends every unacknowledged one", () => {
    const q = new EventQueue("c1");
    q.push({ type: "undo" });
    const value = q.push({ type: "redo" });
    expect(value).toEqual({ client: "c1", events: [{ type: "undo", seq: 1 }, { type: "redo", seq: 2 }] });
  });

  it("drops what Python acknowledged, for this client only", () => {
    const q = new EventQueue("c1");
    q.push({ type: "undo" });
    q.push({ type: "redo" });
    expect(q.ack({ client: "other", seq: 5 })).toBe(false);
    expect(q.ack(null)).toBe(false);
    expect(q.ack({ client: "c1", seq: 1 })).toBe(true);
    expect(q.unacked.map((e) => e.seq)).toEqual([2]);
    q.clear();
    expect(q.push({ type: "undo" }).events).toEqual([{ type: "undo", seq: 3 }]);
  });

  it("makes a random client id per queue", () => {
    expect(new EventQueue().client).not.toEqual(new EventQueue().client);
  });
});

describe("pending events drawn over the model", () => {
  it("keeps moves, deletions and fitting connections in order", () => {
    const q = new EventQueue("c");
    q.push({ type: "move", positions: { prep: [10, 20] } });
    q.push({ type: "connect", source: "prep", sourceHandle: "clean", target: "train", targetHandle: "data" });
    q.push({ type: "connect", source: "prep", sourceHandle: "report", target: "train", targetHandle: "data" }); // does not fit
    const drawn = applyPending(JOBS, [], FITS, q.unacked);
    expect(drawn.jobs.find((j) => j.id === "prep")).toMatchObject({ x: 10, y: 20 });
    expect(drawn.edges).toEqual([EDGE]);
    q.push({ type: "delete", jobs: [], edges: [EDGE.id] });
    expect(applyPending(JOBS, [], FITS, q.unacked).edges).toEqual([]);
    q.push({ type: "delete", jobs: ["train"], edges: [] });
    expect(applyPending(JOBS, [EDGE], FITS, q.unacked).jobs.map((j) => j.id)).toEqual(["prep"]);
  });

  it("replaces the edge into the same input", () => {
    const other = { ...EDGE, id: "x.clean->train.data", source: "x" };
    const q = new EventQueue("c");
    q.push({ type: "connect", source: "prep", sourceHandle: "clean", target: "train", targetHandle: "data" });
    expect(applyPending(JOBS, [other], FITS, q.unacked).edges).toEqual([EDGE]);
  });

  it("knows the latest pending position and selection", () => {
    const q = new EventQueue("c");
    q.push({ type: "move", positions: { prep: [1, 2] } });
    q.push({ type: "select", jobs: ["train"] });
    q.push({ type: "move", positions: { prep: [3, 4] } });
    const pending = pendingOf(q.unacked);
    expect(pending.moves.get("prep")).toEqual([3, 4]);
    expect(pending.selection).toEqual(["train"]);
  });

  it("checks a connection against fits", () => {
    expect(connectionFits(JOBS, FITS, EDGE)).toBe(true);
    expect(connectionFits(JOBS, FITS, { ...EDGE, sourceHandle: "report" })).toBe(false);
    expect(connectionFits(JOBS, FITS, { ...EDGE, targetHandle: "nope" })).toBe(false);
  });
});

describe("auto-layout", () => {
  it("puts a source left of its target", () => {
    const at = layoutLeftToRight(
      [{ id: "train", width: 200, height: 80 }, { id: "prep", width: 200, height: 80 }],
      [{ source: "prep", target: "train" }],
    );
    expect(at.prep[0] + 200).toBeLessThan(at.train[0]);
  });
});
