"""The decisions of one ``wait()``: when to poll, what each answer means, when to give up.

Shared by both clients; no I/O. Time comes from the client's (injectable) clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .errors import RateLimitError, ServiceError, WaitTimeoutError, WanConnectionError, WanError
from .protocol import Task, ensure_succeeded
from .transport import ClientCore, Deadline

__all__ = ["Waiter"]

logger = logging.getLogger("wan_notebook")


class Waiter:
    """The state of one ``wait()``."""

    def __init__(
        self,
        core: ClientCore,
        task_id: str,
        task: Task | None,
        timeout: float | None,
        on_update: Callable[[Task], Any] | None,
    ) -> None:
        self.core = core
        self.task_id = task_id
        now = core.clock()
        self.deadline = now + (core.wait_timeout if timeout is None else timeout)
        self.poller, self.model = core.poller(task_id, now)
        self.on_update = on_update
        self.last = task
        self.last_status = task.status if task else None
        self.last_error: str | None = None
        self.warned: set[str] = set()
        if task is not None:
            self.poller.observe(task, now)
        self.first = task is None

    def call_deadline(self) -> Deadline:
        """The wait's deadline as a transport deadline: a status query never outlives it."""
        return Deadline.after(self.deadline - self.core.clock())

    def next_sleep(self) -> float:
        """Seconds to sleep before the next poll; raises WaitTimeoutError past the deadline."""
        now = self.core.clock()
        if now >= self.deadline:
            status = self.last.status if self.last else "unknown"
            why = f" (the last status query failed: {self.last_error})" if self.last_error else ""
            raise WaitTimeoutError(
                f"task {self.task_id} was still {status} after the wait deadline{why}; it "
                f"keeps running on the service: call wait() again, or get({self.task_id!r}) "
                "later",
                task_id=self.task_id,
                status=status,
            )
        delay = 0.0 if self.first else self.poller.next_delay(now)
        self.first = False
        delay = min(delay, self.deadline - now)
        return delay + self.core.budget.reserve(now + delay)

    def seen(self, task: Task) -> Task | None:
        """Handle one poll result; returns the final task when terminal."""
        now = self.core.clock()
        if self.poller.config is not self.core.poll_config:  # the pace changed (adapt_to)
            self.poller, self.model = self.core.poller(self.task_id, now)
        self.poller.observe(task, now)
        self.last = task
        self.last_error = None
        if task.status != self.last_status:
            self.last_status = task.status
            if self.on_update is not None:
                self.on_update(task)
        if not task.is_known_status and task.status not in self.warned:
            self.warned.add(task.status)
            logger.warning(
                "task %s reports an unexpected status %r; still polling until it ends or the "
                "wait deadline",
                self.task_id,
                task.status,
            )
        if task.is_terminal:
            ratio = self.poller.observed_run_ratio(task, now)
            if ratio is not None:
                self.core.learner.observe(self.model, ratio)
            return ensure_succeeded(task)
        return None

    def transient(self, exc: WanError) -> None:
        """A poll failed even after retries: keep waiting (the task runs on) unless permanent."""
        if isinstance(exc, (WanConnectionError, ServiceError, RateLimitError)):
            self.last_error = str(exc)
            logger.warning("polling task %s: %s; will poll again", self.task_id, exc)
            return
        raise exc
