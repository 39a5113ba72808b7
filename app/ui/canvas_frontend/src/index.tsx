/**
 * The Streamlit Components v2 renderer (the module's default export). Streamlit calls it on
 * every Python render with the new model; one React root per host element is kept and
 * rendered into again, so what the person is doing survives a rerun.
 */
import { createRoot, type Root } from "react-dom/client";
import type { FrontendRenderer, FrontendState } from "@streamlit/component-v2-lib";

import "@xyflow/react/dist/style.css";
import "./canvas.css";

import { Canvas } from "./Canvas";
import type { EventsValue, Model } from "./types";

interface CanvasState extends FrontendState {
  events: EventsValue | null;
}

interface Mounted {
  root: Root;
  container: HTMLDivElement;
  send: (value: EventsValue) => void;
  setStateValue: (name: "events", value: EventsValue) => void;
  unmountTimer: number | null;
}

const mounted = new WeakMap<HTMLElement | ShadowRoot, Mounted>();

const renderer: FrontendRenderer<CanvasState, Model> = ({ data, parentElement, setStateValue }) => {
  let entry = mounted.get(parentElement);
  if (!entry) {
    const container = document.createElement("div");
    container.className = "dw-host";
    parentElement.appendChild(container);
    const created: Mounted = {
      root: createRoot(container),
      container,
      send: (value) => created.setStateValue("events", value),
      setStateValue,
      unmountTimer: null,
    };
    entry = created;
    mounted.set(parentElement, entry);
  }
  entry.setStateValue = setStateValue;
  if (entry.unmountTimer !== null) {
    window.clearTimeout(entry.unmountTimer);
    entry.unmountTimer = null;
  }
  if (data && typeof data === "object") {
    entry.root.render(<Canvas model={data} send={entry.send} />);
  }
  const current = entry;
  // Streamlit may call the cleanup before the next render of the same element, not only when
  // the element goes away: unmount only if no render follows.
  return () => {
    current.unmountTimer = window.setTimeout(() => {
      if (mounted.get(parentElement) !== current) return;
      current.root.unmount();
      current.container.remove();
      mounted.delete(parentElement);
    }, 0);
  };
};

export default renderer;
