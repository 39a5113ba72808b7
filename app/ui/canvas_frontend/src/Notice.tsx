/** The canvas' fixed message area: the model's latest notice until a newer one, or until closed. */
import { useEffect, useState } from "react";

import type { Notice } from "./types";

/** How long a success or info notice stays before it fades out. */
const FADE_AFTER_MS = 6000;

export function NoticeArea({ notice }: { notice: Notice | null }) {
  const [closedId, setClosedId] = useState<number | null>(null);
  const [fadedId, setFadedId] = useState<number | null>(null);
  const id = notice?.id ?? null;
  const fades = notice?.kind === "success" || notice?.kind === "info";

  useEffect(() => {
    if (id === null || !fades) return;
    const timer = window.setTimeout(() => setFadedId(id), FADE_AFTER_MS);
    return () => window.clearTimeout(timer);
  }, [id, fades]);

  if (!notice || notice.id === closedId) return null;
  const faded = notice.id === fadedId;
  return (
    <div
      className={`dw-notice dw-notice-${notice.kind}${faded ? " dw-faded" : ""}`}
      data-testid="canvas-notice"
      data-notice-id={notice.id}
      role={notice.kind === "error" ? "alert" : "status"}
      onTransitionEnd={() => faded && setClosedId(notice.id)}
    >
      <span className="dw-notice-text">{notice.text}</span>
      <button type="button" className="dw-notice-close" aria-label="Close message" onClick={() => setClosedId(notice.id)}>
        ×
      </button>
    </div>
  );
}
