"""The runner's one poll loop: every watched task, asked about only when it is worth asking.

Every task under watch has its own :class:`~wan_notebook.polling.TaskPoller` deciding *when*
to ask, the client's query budget keeps the account under the query rate limit, and when
several tasks are due at once one list request (PROTOCOL 6) tells all their statuses instead
of one query each; only a task whose status moved to SUCCEEDED is then fetched for its video
URL and usage. Two jobs may watch one task (``attach`` twice): each has its own watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from . import catalog
from .errors import RateLimitError, ServiceError, WaitTimeoutError, WanConnectionError, WanError
from .protocol import Task

__all__ = ["LIST_BATCH_MIN", "Watcher", "budget"]

log = logging.getLogger("wan_notebook")

#: When the list call is used to learn statuses: at least this many tasks due at once.
LIST_BATCH_MIN = 3
#: How far before a job's start a listed task may have been created (clock skew).
LIST_SKEW = timedelta(minutes=2)


async def budget(client: Any) -> None:
    """Wait for a slot under the account's query rate limit."""
    core = client._core
    delay = core.budget.reserve(time.monotonic())
    if delay > 0:
        await asyncio.sleep(delay)


@dataclass
class _Watch:
    job: Any
    poller: Any
    future: asyncio.Future[Task]
    due: float
    deadline: float
    model: str
    warned: bool = False


class Watcher:
    """Polls the tasks of a runner's jobs on one loop task (started on demand)."""

    def __init__(self, client: Any, loop: asyncio.AbstractEventLoop, list_batching: bool) -> None:
        self.client = client
        self.loop = loop
        self.list_batching = list_batching
        self._watches: dict[int, _Watch] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def watch(self, job: Any) -> asyncio.Future[Task]:
        """A future for ``job``'s task reaching a terminal status (or its deadline)."""
        from .polling import TaskPoller

        assert job.task_id is not None
        core = self.client._core  # the client's schedule settings, learner and query budget
        fut: asyncio.Future[Task] = self.loop.create_future()
        now = time.monotonic()
        if job.task_id in core.submitted:  # submitted by this client: it knows when and what
            poller, model = core.poller(job.task_id, now)
        else:
            model = job.request.model if job.request is not None else catalog.DEFAULT_MODEL
            poller = TaskPoller(
                job.expected_seconds,
                now=now,
                config=core.poll_config,
                factor=core.learner.factor(model),
            )
        timeout = job.timeout if job.timeout is not None else core.wait_timeout
        self._watches[id(job)] = _Watch(
            job, poller, fut, due=now, deadline=now + timeout, model=model
        )
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._loop())
        return fut

    def unwatch(self, job: Any) -> None:
        """Stop polling for ``job``; the loop ends when no watch is left."""
        watch = self._watches.pop(id(job), None)
        if watch is not None and not watch.future.done():
            watch.future.cancel()
        self._wake.set()

    def poke(self, job: Any) -> None:
        """Ask about ``job`` now (after a cancel, for example)."""
        watch = self._watches.get(id(job))
        if watch is not None:
            watch.due = time.monotonic()
            self._wake.set()

    async def aclose(self) -> None:
        """Stop the loop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _loop(self) -> None:
        while self._watches:
            now = time.monotonic()
            due = [w for w in self._watches.values() if w.due <= now]
            if not due:
                wait = min(w.due for w in self._watches.values()) - now
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=max(wait, 0.0))
                continue
            listed: dict[str, Any] = {}
            if self.list_batching and len({w.job.task_id for w in due}) >= LIST_BATCH_MIN:
                listed = await self._list_statuses(due)
            for watch in due:
                await self._poll_one(watch, listed.get(watch.job.task_id or ""))

    async def _list_statuses(self, due: list[_Watch]) -> dict[str, Any]:
        since = datetime.fromtimestamp(min(w.job.created_at for w in due), timezone.utc)
        clock = getattr(self.client, "service_clock", None)
        if clock is not None:
            since = clock.to_service(since)
        wanted = {w.job.task_id for w in due}
        found: dict[str, Any] = {}
        try:
            await budget(self.client)
            async for item in self.client.list(start_time=since - LIST_SKEW):
                if item.task_id in wanted:
                    found[item.task_id] = item
                    if len(found) == len(wanted):
                        break
        except WanError as exc:
            log.debug("list call failed, falling back to single queries: %s", exc)
        return found

    async def _poll_one(self, watch: _Watch, listed: Any) -> None:
        job = watch.job
        assert job.task_id is not None
        try:
            if listed is not None and listed.status in ("PENDING", "RUNNING"):
                task = Task(task_id=job.task_id, status=listed.status)
            else:
                await budget(self.client)
                task = await self.client.get(job.task_id)
        except (WanConnectionError, ServiceError, RateLimitError) as exc:
            # already retried inside the client; the task runs on, so keep watching
            log.warning("polling task %s: %s; will poll again", job.task_id, exc)
            task = None
        except WanError as exc:
            self._settle(watch, exc=exc)
            return
        now = time.monotonic()
        if task is not None:
            watch.poller.observe(task, now)
            job._on_task(task)
            if task.is_terminal:
                ratio = watch.poller.observed_run_ratio(task, now)
                if ratio is not None:
                    self.client._core.learner.observe(watch.model, ratio)
                self._settle(watch, task=task)
                return
            if not task.is_known_status and not watch.warned:
                watch.warned = True
                log.warning(
                    "task %s reports an unknown status %r; still polling until the deadline",
                    job.task_id,
                    task.status,
                )
        if now >= watch.deadline:
            status = job.status or "unknown"
            self._settle(
                watch,
                exc=WaitTimeoutError(
                    f"task {job.task_id} is still {status} after {job.elapsed:.0f} s; it "
                    f"keeps running on the service: attach('{job.task_id}') picks it up later",
                    task_id=job.task_id,
                    status=status,
                ),
            )
            return
        watch.due = now + min(watch.poller.next_delay(now), max(watch.deadline - now, 0.0))

    def _settle(
        self, watch: _Watch, *, task: Task | None = None, exc: BaseException | None = None
    ) -> None:
        if self._watches.get(id(watch.job)) is watch:
            del self._watches[id(watch.job)]
        if watch.future.done():
            return
        if exc is not None:
            watch.future.set_exception(exc)
        else:
            watch.future.set_result(task)  # type: ignore[arg-type]
