"""What a :class:`~wan_notebook.jobs.Job` reports: its phases and the events it emits.

Split from :mod:`.jobs` (which re-exports :class:`JobEvent`) so the job state machine stays
short; subscribers (terminal, panel, gallery, batch) only need these types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .protocol import Task
    from .results import VideoResult

__all__ = ["EventKind", "JobEvent", "Phase"]

EventKind = Literal["submitted", "status", "downloading", "saved", "failed", "cached"]
Phase = Literal[
    "queued",
    "submitting",
    "waiting",
    "downloading",
    "saved",
    "cached",
    "failed",
    "canceled",
    "detached",
]


@dataclass(frozen=True)
class JobEvent:
    """One thing that happened to a job."""

    kind: EventKind
    at: float
    status: str | None = None
    task: Task | None = None
    bytes_done: int = 0
    bytes_total: int | None = None
    result: VideoResult | None = None
    error: BaseException | None = None
    attached: bool = False
