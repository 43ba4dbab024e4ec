"""Which jobs of this kernel are live, and which galleries want to hear about them.

Jobs started by the magic, a :class:`~wan_notebook.notebook.form.GenerateForm` or a
:class:`~wan_notebook.notebook.batch.BatchGrid` are announced with :func:`track_job`; every
open :class:`~wan_notebook.notebook.gallery.Gallery` registers with :func:`add_watcher` and is
told about each live job (it refreshes when one saves a video). This sits below the form, the
grid and the gallery, so none of them imports another to share it.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..jobs import Job

__all__ = ["add_watcher", "live_jobs", "track_job"]


class _Watcher(Protocol):
    def watch(self, job: Job) -> Any: ...


_WATCHERS: weakref.WeakSet[Any] = weakref.WeakSet()
_LIVE_JOBS: weakref.WeakSet[Job] = weakref.WeakSet()


def track_job(job: Job) -> None:
    """Announce a job started in this kernel: open galleries refresh when it saves a video,
    and galleries opened while it runs pick it up too."""
    if job.done():
        return
    _LIVE_JOBS.add(job)
    for watcher in list(_WATCHERS):
        watcher.watch(job)


def add_watcher(watcher: _Watcher) -> list[Job]:
    """Register ``watcher`` (kept weakly) for future jobs; returns the jobs live now."""
    _WATCHERS.add(watcher)
    return list(_LIVE_JOBS)


def live_jobs() -> list[Job]:
    """The announced jobs that are still referenced somewhere."""
    return list(_LIVE_JOBS)
