/** The one node type: a job with its component, compute, ports, problems, preview and status. */
import { createContext, memo, useContext } from "react";
import { Handle, Position, type Node, type NodeProps } from "@xyflow/react";

import { typesFit } from "./sync";
import type { Job } from "./types";

export type JobNodeData = { job: Job; readOnly: boolean };
export type JobFlowNode = Node<JobNodeData, "job">;

/** The output a connection is being dragged from (its type), for highlighting the inputs it fits. */
export interface Dragging {
  outType: string | null;
  fits: Record<string, string[]>;
}

export const DraggingContext = createContext<Dragging>({ outType: null, fits: {} });

const PREVIEW_LABEL = { reused: "reused", run: "will run", waits: "waits" } as const;

function classes(...names: (string | false | null | undefined)[]): string {
  return names.filter(Boolean).join(" ");
}

function JobNodeView({ data, selected }: NodeProps<JobFlowNode>) {
  const { job, readOnly } = data;
  const dragging = useContext(DraggingContext);
  const problems = job.problems ?? [];
  const status = job.status;
  const preview = job.preview;
  const fitClass = (inType: string): string | null => {
    if (dragging.outType === null) return null;
    return typesFit(dragging.fits, dragging.outType, inType) ? "dw-fit" : "dw-nofit";
  };
  return (
    <div
      className={classes(
        "dw-node",
        selected && "dw-selected",
        problems.length > 0 && "dw-has-problems",
        status && `dw-status-${status.state}`,
      )}
    >
      {preview && (
        <div className={`dw-preview dw-preview-${preview.state}`} title={preview.text} data-testid="node-preview">
          <span className="dw-preview-text">{preview.text || PREVIEW_LABEL[preview.state] || preview.state}</span>
        </div>
      )}
      <div className="dw-node-body">
        <div className="dw-node-header">
          <span className="dw-node-name" title={job.id}>
            {job.id}
          </span>
          {problems.length > 0 && (
            <span className="dw-problems" title={problems.join("\n")} data-testid="node-problems">
              {problems.length}
            </span>
          )}
        </div>
        <div className="dw-node-component" title={job.title || job.component}>
          {job.component}
        </div>
        <div className="dw-node-meta">
          <span className="dw-chip" title="compute">
            {job.compute}
          </span>
          {status && (
            <span className={`dw-pill dw-pill-${status.state}`} data-testid="node-status">
              {status.text || status.state}
            </span>
          )}
        </div>
      </div>
      {(job.inputs.length > 0 || job.outputs.length > 0) && (
        <div className="dw-ports">
          <div className="dw-port-column dw-inputs">
            {job.inputs.map((input) => (
              <div
                key={input.name}
                className={classes("dw-port", "dw-port-in", input.missing && "dw-missing", input.optional && "dw-optional")}
                title={`${input.name}: ${input.type}${input.optional ? " (optional)" : ""}${input.bound ? `, bound to ${input.bound}` : ""}`}
              >
                <Handle
                  type="target"
                  position={Position.Left}
                  id={input.name}
                  isConnectable={!readOnly}
                  className={classes("dw-handle", fitClass(input.type))}
                />
                <span className="dw-port-name">{input.name}</span>
                <span className="dw-port-type">{input.type}</span>
                {input.missing && <span className="dw-required">required</span>}
              </div>
            ))}
          </div>
          <div className="dw-port-column dw-outputs">
            {job.outputs.map((output) => (
              <div key={output.name} className="dw-port dw-port-out" title={`${output.name}: ${output.type}`}>
                <span className="dw-port-type">{output.type}</span>
                <span className="dw-port-name">{output.name}</span>
                <Handle
                  type="source"
                  position={Position.Right}
                  id={output.name}
                  isConnectable={!readOnly}
                  className="dw-handle"
                />
              </div>
            ))}
          </div>
        </div>
      )}
    </div>
  );
}

export const JobNode = memo(JobNodeView);
