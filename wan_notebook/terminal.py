"""A terminal view of a job: one progress line that redraws in place (or plain lines when
the output is not a terminal, e.g. in CI logs)."""

from __future__ import annotations

import shutil
import sys
from typing import TextIO

from .jobs import Job, JobEvent

__all__ = ["TerminalProgress"]


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


class TerminalProgress:
    """Subscribe to a job and draw its progress on ``stream`` (stderr by default)."""

    def __init__(self, job: Job, stream: TextIO | None = None) -> None:
        self.job = job
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_line = ""
        self._last_key = ""
        self.unsubscribe = job.subscribe(self.on_event)

    def line(self, event: JobEvent | None = None) -> str:
        job = self.job
        status = job.status or "QUEUED"
        parts = [f"{status:<9}", f"{job.elapsed:6.1f}s"]
        progress = job.progress()
        if progress is not None:
            width = 24
            filled = round(progress * width)
            parts.append("[" + "#" * filled + "." * (width - filled) + f"] {progress:4.0%}")
        if event is not None and event.kind == "downloading" and event.bytes_done:
            total = f" / {_mb(event.bytes_total)}" if event.bytes_total else ""
            parts.append(f"download {_mb(event.bytes_done)}{total}")
        if job.task_id:
            parts.append(f"task {job.task_id}")
        return "  ".join(parts)

    def on_event(self, event: JobEvent) -> None:
        if event.kind in ("saved", "cached", "failed"):
            self.finish(event)
            return
        self.draw(event)

    def draw(self, event: JobEvent | None = None) -> None:
        text = self.line(event)
        if self.tty:
            cols = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r" + text[: cols - 1].ljust(min(len(self._last_line), cols - 1)))
        else:
            # plain output: one line per status change, not one per poll or chunk
            key = self.job.status or "QUEUED"
            if key != self._last_key:
                self.stream.write(text + "\n")
            self._last_key = key
        self._last_line = text
        self.stream.flush()

    def finish(self, event: JobEvent) -> None:
        if self.tty:
            self.stream.write("\r" + " " * min(len(self._last_line), 200) + "\r")
        if event.kind == "failed":
            self.stream.write(f"FAILED after {self.job.elapsed:.1f}s\n")
        elif event.kind == "cached":
            self.stream.write("saved before: returned from the cache (no request, no cost)\n")
        else:
            self.stream.write(f"SUCCEEDED in {self.job.elapsed:.1f}s\n")
        self.stream.flush()
        self.unsubscribe()
