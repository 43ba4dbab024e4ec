"""A terminal view of a job: one progress line that redraws in place (or plain lines when
the output is not a terminal, e.g. in CI logs).

The line moves like the notebook panel: a timer redraws it every ``tick`` seconds with the
time-based estimate of :meth:`Job.progress`, not only when an event arrives, and the bar never
goes backwards (PENDING's 2 % does not drop to RUNNING's first 0 %). When the job ends the
line says what really happened: a task we stopped following (Ctrl-C, ``--timeout``) is still
running on the service, not FAILED.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
from typing import TextIO

from .errors import DetachedError, WaitTimeoutError
from .jobs import Job, JobEvent

__all__ = ["TerminalProgress"]

BAR_WIDTH = 24


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


class TerminalProgress:
    """Subscribe to a job and draw its progress on ``stream`` (stderr by default).

    ``tick`` is the redraw interval in seconds on a terminal (0: only on events); the timer
    runs on the job's loop and stops when the job ends. ``frames`` keeps every line drawn
    (what a person saw, in order), for tests and debugging.
    """

    def __init__(self, job: Job, stream: TextIO | None = None, *, tick: float = 1.0) -> None:
        self.job = job
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.frames: list[str] = []
        self._last_line = ""
        self._last_key = ""
        self._shown = 0.0  # the highest fraction drawn so far: the bar never goes back
        self._event: JobEvent | None = None
        self._done = False
        self._ticker: asyncio.Task[None] | None = None
        self.unsubscribe = job.subscribe(self.on_event)
        if self.tty and tick > 0 and not job.done():
            with contextlib.suppress(RuntimeError):
                self._ticker = job.runner.loop.create_task(self._tick(tick))

    def fraction(self) -> float | None:
        """The job's progress estimate, never below what was drawn before."""
        progress = self.job.progress()
        if progress is None:
            return None if self._shown == 0 else self._shown
        self._shown = max(self._shown, min(1.0, progress))
        return self._shown

    def line(self, event: JobEvent | None = None) -> str:
        job = self.job
        status = job.status or "QUEUED"
        parts = [f"{status:<9}", f"{job.elapsed:6.1f}s"]
        progress = self.fraction()
        if progress is not None:
            filled = round(progress * BAR_WIDTH)
            parts.append("[" + "#" * filled + "." * (BAR_WIDTH - filled) + f"] {progress:4.0%}")
        event = event or self._event
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
        self._event = event
        self.draw(event)

    async def _tick(self, every: float) -> None:
        while not self._done and not self.job.done():
            await asyncio.sleep(every)
            if not self._done:
                self.draw()

    def draw(self, event: JobEvent | None = None) -> None:
        text = self.line(event)
        self.frames.append(text)
        if self.tty:
            cols = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r" + text[: cols - 1].ljust(min(len(self._last_line), cols - 1)))
        else:
            # plain output: one line per status change, not one per poll, chunk or tick
            key = self.job.status or "QUEUED"
            if key != self._last_key:
                self.stream.write(text + "\n")
            self._last_key = key
        self._last_line = text
        self.stream.flush()

    def finish(self, event: JobEvent) -> None:
        """The closing line: what happened, in the job's real terms."""
        if self._done:
            return
        self._done = True
        if self._ticker is not None and not self._ticker.done():
            self._ticker.cancel()
        if self.tty:
            self.stream.write("\r" + " " * min(len(self._last_line), 200) + "\r")
        error = event.error
        elapsed = f"{self.job.elapsed:.1f}s"
        if isinstance(error, (DetachedError, WaitTimeoutError)):
            status = self.job.status or getattr(error, "status", None) or "submitted"
            label = "TIMED OUT" if isinstance(error, WaitTimeoutError) else "DETACHED"
            text = (
                f"{label} after {elapsed}: task {self.job.task_id} is still {status} on the "
                "service (this command stopped following it)"
            )
        elif event.kind == "failed":
            text = f"{self._failed_label()} after {elapsed}"
        elif event.kind == "cached":
            text = "saved before: returned from the cache (no request, no cost)"
        else:
            text = f"SUCCEEDED in {elapsed}"
        self.frames.append(text)
        self.stream.write(text + "\n")
        self.stream.flush()
        self.unsubscribe()

    def _failed_label(self) -> str:
        if self.job.phase == "canceled" or self.job.status == "CANCELED":
            return "CANCELED"
        if self.job.status in ("FAILED", "UNKNOWN"):
            return str(self.job.status)
        return "ERROR"
