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
from ..errors import APIError, DetachedError, TaskCanceledError, TaskError, WanError
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
    for model, queue in queues.items():
        width = 2 * (runner.concurrency or catalog.lookup(model, warn=False).concurrency)
        later: deque[Cell] = deque()
        for _ in range(min(width, len(queue))):
            workers.append(_worker(runner, manifest, queue, later, stop, on_outcome))
    await asyncio.gather(*workers)


async def _worker(
    runner: Runner,
    manifest: Manifest,
    queue: deque[Cell],
    later: deque[Cell],
    stop: threading.Event,
    on_outcome: Callable[[CellOutcome], None],
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
        if manifest.started(cell.index):  # False: canceled since it was queued
            on_outcome(await _run_cell(runner, manifest, cell))


def _claimed_elsewhere(runner: Runner, cell: Cell) -> bool:
    try:
        claim = runner.store.get_claim(cell.digest)
    except WanError:
        return False
    return claim is not None and not claim.dead(time.time(), runner.claim_lease)


async def _run_cell(runner: Runner, manifest: Manifest, cell: Cell) -> CellOutcome:
    job: Job = runner.submit(cell.request)

    def on_event(event: JobEvent) -> None:
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
    except Exception as exc:
        code = _code(exc)
        manifest.ended(cell.index, "failed", task_id=job.task_id, error_code=code,
                       error_message=str(exc))  # fmt: skip
        return CellOutcome(cell.index, "failed", job.task_id, False, code, time.time())
    finally:
        _forget(runner, job)
    manifest.ended(
        cell.index, "done", task_id=result.task_id, cached=result.cached, sidecar=result.metadata
    )
    return CellOutcome(
        cell.index, "done", result.task_id, result.cached, None, time.time(), str(result.path)
    )


def _forget(runner: Runner, job: Any) -> None:
    """Drop a finished job from the runner's list: a sweep's memory must not grow per cell."""
    with contextlib.suppress(ValueError):
        runner.jobs.remove(job)
