"""A step's log file, bounded: it keeps the first and the last part of the step's output.

A command's stdout and stderr reach the file through a pipe that a thread of the worker reads
(:meth:`StepLog.pipe`), so even a program writing straight to its descriptors is capped as it
writes; an in-process function step's prints come through :meth:`StepLog.write`. The first
``head`` bytes go to the file as they come; after them the file grows by what follows until
that part is twice the tail, then it is cut back to its last ``tail`` bytes behind one line
saying what was cut. The file stays readable while the step runs (appended to, or cut back and
rewritten at once); its size stays under ``head + 2 × tail`` while the step runs and under
``head + tail`` (plus that line) once it ended. A function step in a Ray worker writes its
descriptors 1 and 2 straight to the file (:meth:`StepLog.descriptor`: a crash of the worker
loses none of its last words), cut back the same way when the step ends. The cut bytes are not
kept anywhere.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import threading
from collections.abc import Iterator

__all__ = ["LOG_CAP_BYTES", "LOG_CAP_ENV", "StepLog", "log_cap_bytes"]

LOG_CAP_BYTES = 20 * 1024 * 1024  #: a step's output kept in its log: the first half and the last half
LOG_CAP_ENV = "DUCTWORK_LOG_CAP_BYTES"  #: overrides LOG_CAP_BYTES (tests, a workspace wanting more)
_CHUNK = 64 * 1024
_DRAIN_S = 2.0  #: after the step ended, how long output still held open by a stray process is read


def log_cap_bytes() -> int:
    """The cap: ``$DUCTWORK_LOG_CAP_BYTES`` when it is a whole number ≥ 2, else LOG_CAP_BYTES."""
    try:
        value = int(os.environ.get(LOG_CAP_ENV, ""))
    except ValueError:
        return LOG_CAP_BYTES
    return value if value >= 2 else LOG_CAP_BYTES


def _size(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} bytes"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if n < 1024 or unit == "GiB":
            break
    return f"{n:.1f} {unit}"


class StepLog(io.TextIOBase):
    """The log file of one attempt, opened for appending; ``write`` takes text or bytes.

    Bytes written through :meth:`write` or :meth:`pipe` between :meth:`start_output` and
    :meth:`end_output` are the step's output and are capped; the rest (ductwork's own lines
    before and after) is written as is."""

    encoding = "utf-8"

    def __init__(self, path: str, cap: int | None = None) -> None:
        super().__init__()
        cap = log_cap_bytes() if cap is None else cap
        self.head, self.tail = cap // 2, cap - cap // 2
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)  # read: the tail kept
        self._lock = threading.Lock()
        self._capping = False
        self._seen = 0  #: bytes of step output seen
        self._base = 0  #: where the step's output starts in the file
        self._cut_at = 0  #: where the cut line starts (after the head)
        self._rolling = 0  #: bytes after the head (and the cut line) now in the file
        self._direct = False  #: the output is written straight to the file (descriptor)

    # -- the file object interface used by the runtime and redirect_stdout
    def writable(self) -> bool:
        return True

    def write(self, data: str | bytes) -> int:  # type: ignore[override]
        raw = data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)
        with self._lock:
            self._write(raw)
        return len(data)

    def flush(self) -> None:
        pass  # every write goes to the file at once

    def close(self) -> None:
        if not self.closed:
            self.end_output()
            os.close(self._fd)
        super().close()

    # -- the cap
    def start_output(self) -> None:
        with self._lock:
            self._capping, self._seen = True, 0
            self._base = os.fstat(self._fd).st_size

    def descriptor(self) -> int:
        """The file's own descriptor, for output written straight to it (a function step's
        descriptors 1 and 2 in a worker: if the worker crashes, its last words are in the file,
        not lost in a pipe). Such output is cut back when it ends, not while it is written."""
        self._direct = True
        return self._fd

    def end_output(self) -> None:
        """The step's output ended: cut the rolling part back to its last ``tail`` bytes."""
        with self._lock:
            if self._capping and self._direct:
                self._seen = os.fstat(self._fd).st_size - self._base
                self._cut_at = self._base + self.head
            if self._capping and self._seen > self.head + self.tail:
                self._roll()
            self._capping = self._direct = False

    def _write(self, raw: bytes) -> None:
        if not raw:
            return
        if not self._capping:
            os.write(self._fd, raw)
            return
        room = self.head - self._seen
        if room > 0:
            os.write(self._fd, raw[:room])
        self._seen += len(raw)
        rest = raw[max(room, 0):]
        if rest and self._seen - len(rest) == self.head:  # the first byte past the head
            self._cut_at = self._base + self.head
        while rest:  # in pieces: the file never holds more than twice the tail after the head
            piece = rest[:2 * self.tail - self._rolling]
            os.write(self._fd, piece)
            self._rolling += len(piece)
            rest = rest[len(piece):]
            if self._rolling >= 2 * self.tail:
                self._roll()

    def _roll(self) -> None:
        """Rewrite the file from the cut: the cut line, then the last ``tail`` bytes."""
        size = os.fstat(self._fd).st_size
        keep = os.pread(self._fd, self.tail, size - self.tail)
        cut = self._seen - self.head - len(keep)
        newline = b"" if os.pread(self._fd, 1, self._cut_at - 1) in (b"\n", b"") else b"\n"
        line = (f"# ductwork: … {_size(cut)} cut here (bytes {self.head + 1}–{self.head + cut} of the step's "
                f"output); the log keeps its first and last {_size(self.head)} ({LOG_CAP_ENV} sets the total), "
                "the cut part was not kept\n")
        os.ftruncate(self._fd, self._cut_at)
        os.write(self._fd, newline + line.encode() + keep)
        self._rolling = len(keep)

    # -- a pipe for a subprocess or for descriptors 1 and 2
    @contextlib.contextmanager
    def pipe(self) -> Iterator[int]:
        """A pipe's write end whose bytes a thread copies into this log; the thread drains it
        when the block ends (for at most ``_DRAIN_S`` more if a stray process still holds it)."""
        r, w = os.pipe()
        done = threading.Event()
        thread = threading.Thread(target=self._pump, args=(r, done), name="ductwork-step-log", daemon=True)
        thread.start()
        try:
            yield w
        finally:
            os.close(w)
            thread.join(_DRAIN_S)
            done.set()
            thread.join()
            os.close(r)

    def _pump(self, r: int, done: threading.Event) -> None:
        while True:
            ready, _, _ = select.select([r], [], [], 0.5)
            if not ready:
                if done.is_set():
                    return
                continue
            data = os.read(r, _CHUNK)
            if not data:
                return
            self.write(data)
