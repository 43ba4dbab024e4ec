"""One claim per request: the owner's heartbeat, and how a non-owner follows the owner.

The jobs layer claims a request's digest in the journal (:mod:`wan_notebook.store.claims`)
before creating anything. The owner keeps its claim alive with :class:`LeaseKeeper` (a small
thread, so a busy event loop does not make a live owner look dead). Every other job for the
same request, in this process or another kernel on the same folder, runs
:func:`follow_owner`: it waits for the owner's task id, mirrors the owner's progress from the
journal (no extra queries to the service), and hands back to the caller when the claim is
released (the result is then saved, or the task ended without one) or the owner died.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from .errors import WaitTimeoutError
from .protocol import Task, ensure_succeeded
from .store.claims import pid_alive

__all__ = ["CLAIM_LEASE", "LeaseKeeper", "claim_lease", "follow_owner", "sweep_stale_parts"]

log = logging.getLogger("wan_notebook")

#: Seconds without a heartbeat after which a claim's owner may be dead (generous: a loaded
#: machine may stall a process for a while). ``WAN_NOTEBOOK_CLAIM_LEASE`` overrides it.
CLAIM_LEASE = 60.0
_FAILURES = ("FAILED", "CANCELED", "UNKNOWN")
#: Seconds a follower allows the owner's create request on top of its own timeout.
CREATE_BOUND = 60.0


def claim_lease(value: float | None = None) -> float:
    """The lease in seconds: ``value``, else ``$WAN_NOTEBOOK_CLAIM_LEASE``, else 60."""
    if value is None:
        raw = os.environ.get("WAN_NOTEBOOK_CLAIM_LEASE")
        try:
            value = float(raw) if raw else CLAIM_LEASE
        except ValueError:
            raise ValueError(
                f"WAN_NOTEBOOK_CLAIM_LEASE={raw!r} is not a number of seconds"
            ) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"claim lease must be a positive number of seconds, got {value!r}")
    if value != value or value == float("inf"):
        raise ValueError(f"claim lease must be finite, got {value!r}")
    return float(value)


class LeaseKeeper:
    """Refreshes the heartbeat of the claims this runner owns, every ``lease / 6`` seconds."""

    def __init__(self, store: Any, lease: float) -> None:
        self.store = store
        self.lease = lease
        self._owners: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, owner: str) -> None:
        """Start keeping ``owner``'s claims alive."""
        with self._lock:
            self._owners.add(owner)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="wan-claims-heartbeat", daemon=True
                )
                self._thread.start()

    def drop(self, owner: str) -> None:
        """Stop keeping ``owner``'s claims alive (it released them)."""
        with self._lock:
            self._owners.discard(owner)
        self._wake.set()

    def _run(self) -> None:
        interval = max(0.05, self.lease / 6)
        while True:
            self._wake.wait(interval)
            self._wake.clear()
            with self._lock:
                owners = sorted(self._owners)
                if not owners:
                    self._thread = None
                    return
            try:
                self.store.heartbeat_claims(owners, time.time())
            except Exception as exc:  # the next beat tries again; the lease is generous
                log.warning("could not refresh the claims' heartbeat: %s", exc)


def _failed(record: Any) -> Task:
    return Task(
        task_id=record.task_id,
        status=record.status,
        code=record.error_code,
        message=record.error_message,
    )


async def follow_owner(job: Any, lease: float, *, timeout: float) -> bool:
    """Follow the owner of ``job.request``'s claim until the claim is released or dead.

    Returns True when the caller should claim again (the owner is done or gone: the result
    is saved, or the task must be followed by a new owner). Raises the task's error when the
    owner's task ended without a video, and :class:`WaitTimeoutError` ``timeout`` seconds
    after the owner's task id was seen (as the owner's own wait; before that, the owner's
    create has :data:`CREATE_BOUND` more seconds on top).
    """
    store, digest = job.runner.store, job.request.digest
    deadline = time.monotonic() + timeout + (0 if job.task_id else CREATE_BOUND)
    delay = 0.02
    job.phase = "waiting"
    while True:
        claim = await asyncio.to_thread(store.get_claim, digest)
        if claim is not None and claim.task_id and claim.task_id != job.task_id:
            if not job.task_id:
                deadline = time.monotonic() + timeout
            job.task_id = claim.task_id
            job._followed = claim.task_id
            job.status = job.status or "PENDING"
            job._emit("submitted", status=job.status, attached=True)
        record = store.get(job.task_id) if job.task_id else None
        if record is not None and record.status != job.status:
            job._on_task(Task(task_id=record.task_id, status=record.status), record=False)
        if record is not None and record.status in _FAILURES:
            if record.status == "CANCELED":
                job.phase = "canceled"
            ensure_succeeded(_failed(record))
        if claim is None or claim.dead(time.time(), lease):
            return True
        if time.monotonic() >= deadline:
            status = job.status or "not created yet"
            raise WaitTimeoutError(
                f"the same request is being generated by another job (process {claim.pid}); "
                f"its task {job.task_id or '(not created yet)'} is still {status}: run again "
                "later to get the saved result",
                task_id=job.task_id or "",
                status=status,
            )
        await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0.0)))
        delay = min(delay * 1.5, 1.0)


def sweep_stale_parts(video: Path) -> None:
    """Remove ``<video>.<pid>.part`` files of processes that are gone (killed mid-download;
    each process writes its own, so a live one's is never touched) and a legacy
    ``<video>.part``."""
    for part in video.parent.glob(glob.escape(video.name) + ".*part"):
        middle = part.name[len(video.name) + 1 : -len(".part")]
        stale = part.name == video.name + ".part" or (
            middle.isdigit() and int(middle) != os.getpid() and not pid_alive(int(middle))
        )
        if stale:
            with contextlib.suppress(OSError):
                part.unlink()
