"""Kernel > Interrupt (Ctrl-C) on a blocking cell: stop following, keep the task.

The job is detached (never canceled: the task keeps running on the service and stays
journaled), its panel turns DETACHED, and the cell ends with :class:`CellInterrupted`, which
IPython shows through ``_render_traceback_`` as one line with the ``%wanvideo attach`` command
instead of a traceback into the event loop's internals.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..jobs import Job

__all__ = ["CellInterrupted", "in_magic_terms", "stop_following"]


def in_magic_terms(exc: BaseException, task_id: str | None) -> BaseException:
    """``exc`` unchanged (same class, still catchable), but shown by IPython as one line in
    ``%wanvideo`` terms when the task keeps running (a timeout, a detach): the Python API's
    ``attach('id')`` hint is not what a notebook user types."""
    from . import render

    if render.still_running(exc):
        line = f"{type(exc).__name__}: {render.still_running_text(exc, task_id)}"
        exc._render_traceback_ = lambda: [line]  # type: ignore[attr-defined]
    return exc


def stop_following(job: Job) -> CellInterrupted:
    """Detach ``job`` and let it record DETACHED now (so the panel shows it before the cell
    ends); returns the exception the cell should end with."""
    task = job._task
    job.detach()
    if task is not None and not task.done():
        with contextlib.suppress(BaseException):
            job.runner.loop.run_until_complete(asyncio.wait([task], timeout=2.0))
    return CellInterrupted(job.task_id)


class CellInterrupted(KeyboardInterrupt):
    """A blocking cell was interrupted; the task (if any) keeps running on the service.

    IPython shows :meth:`_render_traceback_` instead of a traceback: one line saying how to
    pick the task up again with ``%wanvideo attach``.
    """

    def __init__(self, task_id: str | None) -> None:
        super().__init__(task_id)
        self.task_id = task_id

    def message(self) -> str:
        tid = self.task_id
        if tid:
            return (
                f"Interrupted: task {tid} keeps running on the service. "
                f"%wanvideo attach {tid} follows it and saves the video "
                f"(%wanvideo cancel {tid} while it is PENDING)."
            )
        return (
            "Interrupted before the service returned a task id: running the cell again "
            "adopts the task if the request reached the service (%wanvideo list shows it)."
        )

    def __str__(self) -> str:
        return self.message()

    def _render_traceback_(self) -> list[str]:
        return [self.message()]
