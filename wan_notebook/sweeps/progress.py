"""The terminal view of a sweep: one line of counts, pace and ETA that redraws in place.

On a terminal the line is redrawn as cells end, at most every ``every`` seconds (a sweep of
thousands of cells ends several per second); elsewhere (CI logs, a pipe) it is printed at
each tenth of the sweep and at the end, never once per cell.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO

from .core import Sweep
from .execute import CellOutcome

__all__ = ["SweepProgress", "duration_text"]


def duration_text(seconds: float | None) -> str:
    """``1:02:03`` / ``2:03`` for an ETA (``?`` when unknown)."""
    if seconds is None or seconds != seconds:
        return "?"
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class SweepProgress:
    """Subscribe to ``sweep`` and draw its progress on ``stream`` (stderr by default)."""

    def __init__(self, sweep: Sweep, stream: TextIO | None = None, *, every: float = 0.2):
        self.sweep = sweep
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every
        self.frames: list[str] = []
        status = sweep.status()
        self.total = status.total
        self.counts = dict(status.counts)
        self._t0 = time.monotonic()
        self._here = 0
        self._drawn = 0.0
        self._tenth = -1
        sweep.subscribe(self.on_outcome)

    def line(self) -> str:
        """The progress line for the current counts."""
        c = self.counts
        elapsed = time.monotonic() - self._t0
        rate = self._here / elapsed if self._here and elapsed > 0 else None
        remaining = c.get("pending", 0) + c.get("running", 0)
        parts = [f"sweep {self.sweep.id}: {c.get('done', 0)}/{self.total} done"]
        if c.get("failed"):
            parts.append(f"{c['failed']} failed")
        if c.get("canceled"):
            parts.append(f"{c['canceled']} canceled")
        if rate is not None:
            parts.append(f"{rate:.2f} cells/s")
            parts.append(f"ETA {duration_text(remaining / rate)}")
        return " · ".join(parts)

    def on_outcome(self, outcome: CellOutcome) -> None:
        """Count an ended cell and redraw when due."""
        self._here += 1
        before = "pending"
        self.counts[before] = max(0, self.counts.get(before, 0) - 1)
        self.counts[outcome.state] = self.counts.get(outcome.state, 0) + 1
        self.draw()

    def draw(self, *, force: bool = False) -> None:
        """Redraw (a terminal, throttled) or print a line at each tenth (elsewhere)."""
        now = time.monotonic()
        if self.tty:
            if not force and now - self._drawn < self.every:
                return
            text = self.line()
            cols = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r" + text[: cols - 1].ljust(cols - 1))
        else:
            done = self.total - self.counts.get("pending", 0) - self.counts.get("running", 0)
            tenth = done * 10 // max(self.total, 1)
            if not force and tenth == self._tenth:
                return
            self._tenth = tenth
            text = self.line()
            self.stream.write(text + "\n")
        self._drawn = now
        self.frames.append(text)
        self.stream.flush()

    def finish(self) -> None:
        """The closing line, from the manifest (every process's work)."""
        self.counts = dict(self.sweep.status().counts)
        self.draw(force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
