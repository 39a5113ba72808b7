/** The component palette: search, groups, entries to click or drag onto the canvas. */
import { useMemo, useState, type DragEvent } from "react";

import type { PaletteEntry } from "./types";

/** The drag data type of a palette entry (its value is the component ref, `name:version`). */
export const DRAG_TYPE = "application/x-ductwork-component";

interface PaletteProps {
  entries: readonly PaletteEntry[];
  onAdd: (ref: string) => void;
}

function matches(entry: PaletteEntry, query: string): boolean {
  if (!query) return true;
  const haystack = `${entry.ref} ${entry.title} ${entry.description} ${entry.group}`.toLowerCase();
  return query
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((word) => haystack.includes(word));
}

function onDragStart(event: DragEvent<HTMLButtonElement>, ref: string): void {
  event.dataTransfer.setData(DRAG_TYPE, ref);
  event.dataTransfer.setData("text/plain", ref);
  event.dataTransfer.effectAllowed = "copy";
}

export function Palette({ entries, onAdd }: PaletteProps) {
  const [query, setQuery] = useState("");
  const [closed, setClosed] = useState<Set<string>>(new Set());
  const groups = useMemo(() => {
    const byGroup = new Map<string, PaletteEntry[]>();
    for (const entry of entries) {
      if (!matches(entry, query)) continue;
      const group = entry.group || "other";
      byGroup.set(group, [...(byGroup.get(group) ?? []), entry]);
    }
    return [...byGroup.entries()];
  }, [entries, query]);
  const toggle = (group: string) =>
    setClosed((prev) => {
      const next = new Set(prev);
      if (next.has(group)) next.delete(group);
      else next.add(group);
      return next;
    });

  return (
    <aside className="dw-palette" data-testid="canvas-palette">
      <input
        className="dw-palette-search"
        type="search"
        placeholder="Search components"
        aria-label="Search components"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
      />
      <div className="dw-palette-list">
        {groups.length === 0 && <div className="dw-palette-empty">No component matches “{query}”.</div>}
        {groups.map(([group, items]) => {
          const open = query !== "" || !closed.has(group);
          return (
            <section key={group} className="dw-palette-group">
              <button
                type="button"
                className="dw-palette-group-header"
                aria-expanded={open}
                onClick={() => toggle(group)}
              >
                <span className="dw-caret">{open ? "▾" : "▸"}</span>
                {group}
                <span className="dw-palette-count">{items.length}</span>
              </button>
              {open &&
                items.map((entry) => (
                  <button
                    key={entry.ref}
                    type="button"
                    className="dw-palette-entry"
                    data-component={entry.ref}
                    title={entry.description || entry.title}
                    draggable
                    onDragStart={(e) => onDragStart(e, entry.ref)}
                    onClick={() => onAdd(entry.ref)}
                  >
                    <span className="dw-palette-title">{entry.title || entry.name}</span>
                    <span className="dw-palette-ref">
                      {entry.name}:{entry.version}
                    </span>
                  </button>
                ))}
            </section>
          );
        })}
      </div>
      <div className="dw-palette-hint">
        Drag or click to add · drag output → input to connect · Shift+drag to box-select · Shift+click to add to the
        selection · Delete removes
      </div>
    </aside>
  );
}
