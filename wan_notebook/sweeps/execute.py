"""Running a sweep's cells on one :class:`~wan_notebook.jobs.Runner`, a few at a time.

Cells are handed to the runner lazily: per model, twice ``quota`` workers each take the next
cell (the runner's quota semaphore lets ``quota`` tasks run; the others download, save or
wait for a slot), so a job exists (and holds its request's claim) only while it can run soon,
not for the whole sweep; its creates keep to the model's submit rate (:mod:`.pacing`). That
keeps memory flat for thousands of cells and lets two processes split one sweep: a cell whose
request another live process has claimed (the store's claims, one owner per request digest) is put
aside and taken up last, when it is usually saved already; if it is still running elsewhere,
the job simply follows the other owner's task. Paying twice is ruled out by the claims and the
store's journal, not by this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import catalog
from ..errors import (
    APIError,
    DetachedError,
    RateLimitError,
    ServiceError,
    TaskCanceledError,
    TaskError,
    WanConnectionError,
    WanError,
)
from ..jobs import Job, JobEvent, Runner
from .cells import Cell
from .manifest import Manifest

__all__ = ["CellOutcome", "execute"]


@dataclass(frozen=True)
class CellOutcome:
    """How one cell ended in this process."""

    index: int
    state: str  # done, failed, canceled
    task_id: str | None
    cached: bool
    error_code: str | None
    at: float
    path: str | None = None


def _code(exc: BaseException) -> str:
    if isinstance(exc, (APIError, TaskError)) and getattr(exc, "code", None):
        return str(exc.code)
    return type(exc).__name__


async def execute(
    runner: Runner,
    manifest: Manifest,
    cells: list[Cell],
    *,
    stop: threading.Event,
    on_outcome: Callable[[CellOutcome], None],
) -> None:
    """Run ``cells`` (in order, per model under its quota) until done or ``stop`` is set."""
    queues: dict[str, deque[Cell]] = {}
    for cell in cells:
        model = catalog.lookup(cell.request.model, warn=False).id
        queues.setdefault(model, deque()).append(cell)
    workers = []
    locks: dict[tuple[str, str], asyncio.Lock] = {}
    tries: dict[int, int] = {}
    for model, queue in queues.items():
        width = 2 * (runner.concurrency or catalog.lookup(model, warn=False).concurrency)
        later: deque[Cell] = deque()
        for _ in range(min(width, len(queue))):
            workers.append(_worker(runner, manifest, queue, later, stop, on_outcome, locks, tries))
    await asyncio.gather(*workers)


async def _worker(
    runner: Runner,
    manifest: Manifest,
    queue: deque[Cell],
    later: deque[Cell],
    stop: threading.Event,
    on_outcome: Callable[[CellOutcome], None],
    locks: dict[tuple[str, str], asyncio.Lock],
    tries: dict[int, int],
) -> None:
    while not stop.is_set():
        if queue:
            cell = queue.popleft()
            if _claimed_elsewhere(runner, cell):
                later.append(cell)  # another process works on it: come back at the end
                continue
        elif later:
            cell = later.popleft()
        else:
            return
        if not manifest.started(cell.index):  # canceled since it was queued
            continue
        try:
            on_outcome(await _run_cell(runner, manifest, cell, locks))
        except Retry as exc:
            tries[cell.index] = tries.get(cell.index, 0) + 1
            if tries[cell.index] < ATTEMPTS:
                manifest.reopen_cell(cell.index)
                later.append(cell)  # try again at the end of this run
                continue
            code = _code(exc.__cause__ or exc)
            manifest.ended(cell.index, "failed", error_code=code, error_message=str(exc))
            on_outcome(CellOutcome(cell.index, "failed", None, False, code, time.time()))


def _claimed_elsewhere(runner: Runner, cell: Cell) -> bool:
    try:
        claim = runner.store.get_claim(cell.digest)
    except WanError:
        return False
    return claim is not None and not claim.dead(time.time(), runner.claim_lease)


#: Errors after which a cell is tried again later in the same run (nothing was lost: a
#: create that may have made a task stays journaled as an intent and is reconciled first).
TRANSIENT = (RateLimitError, ServiceError, WanConnectionError)
ATTEMPTS = 3


class Retry(Exception):
    """A cell hit a transient error: put it back in the queue."""


def _signature(cell: Cell) -> tuple[str, str]:
    """What the service shows of a task: requests that differ only in the rest (the seed)
    cannot be told apart when a lost create answer is reconciled by content."""
    return (cell.request.model, cell.request.prompt)


async def _run_cell(
    runner: Runner, manifest: Manifest, cell: Cell, locks: dict[tuple[str, str], asyncio.Lock]
) -> CellOutcome:
    # one create at a time per signature, from intent to journaled task id: after a kill,
    # at most one open intent per prompt, so its task is found by content without doubt
    lock = locks.setdefault(_signature(cell), asyncio.Lock())
    await lock.acquire()
    held = [True]

    def release() -> None:
        if held[0]:
            held[0] = False
            lock.release()

    job: Job = runner.submit(cell.request)

    def on_event(event: JobEvent) -> None:
        if event.kind in ("submitted", "cached", "failed"):
            release()
        if event.kind == "submitted" and job.task_id:
            manifest.set_task(cell.index, job.task_id)

    job.subscribe(on_event)
    try:
        result = await job
    except (TaskCanceledError, DetachedError) as exc:
        outcome = CellOutcome(cell.index, "canceled", job.task_id, False, _code(exc), time.time())
        manifest.ended(cell.index, "canceled", task_id=job.task_id, error_code=outcome.error_code,
                       error_message=str(exc))  # fmt: skip
        return outcome
    except TRANSIENT as exc:
        if not isinstance(exc, TaskError):
            raise Retry(str(exc)) from exc
        code = _code(exc)
        manifest.ended(cell.index, "failed", task_id=job.task_id, error_code=code,
                       error_message=str(exc))  # fmt: skip
        return CellOutcome(cell.index, "failed", job.task_id, False, code, time.time())
    except Exception as exc:
        code = _code(exc)
        manifest.ended(cell.index, "failed", task_id=job.task_id, error_code=code,
                       error_message=str(exc))  # fmt: skip
        return CellOutcome(cell.index, "failed", job.task_id, False, code, time.time())
    finally:
        release()
        _forget(runner, job)
    manifest.ended(
        cell.index, "done", task_id=result.task_id, cached=result.cached, sidecar=result.metadata,
        region=catalog.region_of_url(runner.client.base_url),
    )  # fmt: skip
    return CellOutcome(
        cell.index, "done", result.task_id, result.cached, None, time.time(), str(result.path)
    )


def _forget(runner: Runner, job: Any) -> None:
    """Drop a finished job from the runner's list: a sweep's memory must not grow per cell."""
    with contextlib.suppress(ValueError):
        runner.jobs.remove(job)
