/** The design kept in this browser while it has unsaved edits (localStorage), and the leave warning. */
import { useEffect, useRef } from "react";

import type { EventBody, Model } from "./types";

export const DRAFT_KEY = "ductwork.designer.draft";

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null; // storage disabled (privacy settings): no drafts
  }
}

export function readDraft(): unknown {
  const raw = storage()?.getItem(DRAFT_KEY);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return null;
  }
}

/**
 * Keeps `model.draft` in localStorage while the design is dirty, forgets it once it is clean
 * (except in an untouched designer, which may still restore it), offers a kept draft to an
 * untouched designer once per mount, and warns before the page is left with unsaved edits.
 */
export function useDrafts(model: Model, emit: (event: EventBody) => void): void {
  const offered = useRef(false);

  useEffect(() => {
    const store = storage();
    if (!store) return;
    if (!offered.current) {
      offered.current = true;
      const kept = model.restorable ? readDraft() : null;
      if (kept !== null) {
        emit({ type: "restore", draft: kept });
        return;
      }
    }
    try {
      if (model.dirty && model.draft != null) store.setItem(DRAFT_KEY, JSON.stringify(model.draft));
      else if (!model.dirty && !model.restorable) store.removeItem(DRAFT_KEY);
    } catch {
      // quota exceeded: the draft is a convenience, the design itself lives in Python
    }
  }, [model, emit]);

  useEffect(() => {
    if (!model.dirty) return;
    const warn = (event: BeforeUnloadEvent) => {
      event.preventDefault();
      event.returnValue = "";
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [model.dirty]);
}
