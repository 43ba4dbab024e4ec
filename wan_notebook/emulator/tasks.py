"""The task store: lifecycle on the simulated clock, per-account concurrency quota, expiry.

PENDING -> RUNNING -> SUCCEEDED/FAILED, or PENDING -> CANCELED. A task leaves PENDING once its
simulated queue time has passed and its model has a free slot in the account (every key of
the emulator is one account, as documented; strict FIFO per model); it becomes SUCCEEDED only
when its simulated run time has passed *and* its MP4 is rendered. Tasks expire to UNKNOWN
``lifetime`` simulated seconds after creation, their video URLs ``lifetime`` simulated seconds
after finishing. Displayed times are wall-clock instants. With a journal, every state change
is written to disk and the tasks are loaded again on start.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .. import catalog
from .audiocheck import InputFileInvalid
from .clock import SimClock
from .journal import TaskJournal
from .rendering import AudioSource, InputDownloadFailed, RenderJob, RenderPool
from .validation import CreateRequest, ListQuery

log = logging.getLogger("wan_notebook.emulator")
T = TypeVar("T")


@dataclass(eq=False)
class Task:
    """One task's full internal state (mutated only under the store's lock)."""

    task_id: str
    request_id: str
    key_index: int
    request: CreateRequest
    seed: int
    audio: AudioSource
    queue_due: float
    run_sim: float
    created_sim: float
    created_wall: float
    fail: tuple[str, str] | None = None
    status: str = "PENDING"
    started_sim: float | None = None
    started_wall: float | None = None
    run_due: float | None = None
    finished_sim: float | None = None
    finished_wall: float | None = None
    error: tuple[str, str] | None = None
    render: Future[Path] | None = None
    render_done_sim: float | None = None
    video_path: Path | None = None
    forced_expired: bool = False
    video_forced_expired: bool = False


class TaskStore:
    """All tasks, advanced by a scheduler thread and on every access."""

    def __init__(
        self,
        *,
        clock: SimClock,
        seed: int,
        lifetime: float,
        concurrency: bool,
        renderer: RenderPool,
        journal: TaskJournal | None = None,
    ) -> None:
        self._clock = clock
        self._journal = journal
        self._lifetime = lifetime
        self._concurrency = concurrency
        self._renderer = renderer
        self._rng = random.Random(f"tasks:{seed}")
        self._cond = threading.Condition(threading.RLock())
        self._tasks: dict[str, Task] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.created = 0

    # -- scheduler -------------------------------------------------------------------------

    def start(self) -> None:
        """Load the journal's tasks (if any), then run the scheduler thread."""
        if self._journal is not None:
            with self._cond:
                now, stale = self._clock.now(), []
                for fields in self._journal.load(self._clock):
                    t = Task(**fields)
                    if now - t.created_sim >= 2 * self._lifetime:
                        stale.append(t.task_id)  # UNKNOWN for a whole lifetime already
                        continue
                    self._tasks[t.task_id] = t
                    if t.status == "RUNNING" and t.fail is None:
                        self._submit_render(t)  # the render of the process before is lost
                    self.created += 1
                self._journal.forget(stale)
        self._thread = threading.Thread(target=self._loop, name="wan-emulator-tasks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the scheduler thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wake(self) -> None:
        """Re-plan now (after a speed change)."""
        with self._cond:
            self._cond.notify_all()

    def _loop(self) -> None:
        with self._cond:
            while not self._stopping:
                due = self._advance()
                timeout = 0.5
                if due is not None:
                    wait = self._clock.wall_delay(due - self._clock.now())
                    timeout = min(0.5, max(0.001, wait))
                self._cond.wait(timeout)

    # -- lifecycle -------------------------------------------------------------------------

    def expired(self, task: Task, now: float) -> bool:
        """Whether the task id is past its lifetime (queries then answer UNKNOWN)."""
        return task.forced_expired or now - task.created_sim >= self._lifetime

    def video_expired(self, task: Task, now: float) -> bool:
        """Whether the task's signed video URL is past its lifetime."""
        if task.video_forced_expired or task.finished_sim is None:
            return task.video_forced_expired
        return now - task.finished_sim >= self._lifetime

    def status(self, task: Task, now: float) -> str:
        """The status a query shows."""
        return "UNKNOWN" if self.expired(task, now) else task.status

    def video_expires_in(self, task: Task, now: float) -> float:
        """Simulated seconds until the video URL expires."""
        if task.finished_sim is None:
            return self._lifetime
        return max(0.0, task.finished_sim + self._lifetime - now)

    def _advance(self) -> float | None:
        now = self._clock.now()
        next_due: float | None = None
        running: Counter[str] = Counter()
        for t in self._tasks.values():
            if t.status != "RUNNING" or self.expired(t, now):
                continue
            assert t.run_due is not None
            if now >= t.run_due and self._try_finish(t, now):
                continue
            running[t.request.model.id] += 1
            if t.run_due > now:
                next_due = t.run_due if next_due is None else min(next_due, t.run_due)
        blocked: set[str] = set()
        for t in self._tasks.values():
            group = t.request.model.id
            if t.status != "PENDING" or group in blocked or self.expired(t, now):
                continue
            if now < t.queue_due:
                blocked.add(group)
                next_due = t.queue_due if next_due is None else min(next_due, t.queue_due)
                continue
            if self._concurrency and running[group] >= t.request.model.concurrency:
                blocked.add(group)
                continue
            self._start(t, now)
            running[group] += 1
            assert t.run_due is not None
            next_due = t.run_due if next_due is None else min(next_due, t.run_due)
        return next_due

    def _start(self, t: Task, now: float) -> None:
        t.status = "RUNNING"
        t.started_sim = now
        t.started_wall = self._clock.wall()
        t.run_due = now + t.run_sim
        if t.fail is None:
            self._submit_render(t)
        self._save(t)

    def _save(self, t: Task) -> None:
        if self._journal is not None:
            self._journal.save(t, self._clock)

    def _submit_render(self, t: Task) -> None:
        req = t.request
        job = RenderJob(
            width=req.width,
            height=req.height,
            duration=float(req.duration),
            fps=req.model.fps,
            prompt=req.prompt,
            seed=t.seed,
            audio=t.audio,
            watermark=req.watermark,
            media=req.media,
            resolution=req.resolution or "",
        )
        t.render = self._renderer.submit(job)
        t.render.add_done_callback(lambda _f, t=t: self._render_done(t))

    def _render_done(self, t: Task) -> None:
        with self._cond:
            t.render_done_sim = self._clock.now()
            self._cond.notify_all()

    def _try_finish(self, t: Task, now: float) -> bool:
        assert t.run_due is not None
        if t.fail is not None:
            self._finish(t, "FAILED", t.run_due, error=t.fail)
            return True
        if t.render is None or not t.render.done():
            return False
        end = max(t.run_due, t.render_done_sim if t.render_done_sim is not None else now)
        exc = t.render.exception() if not t.render.cancelled() else RuntimeError("cancelled")
        if exc is None:
            t.video_path = t.render.result()
            self._finish(t, "SUCCEEDED", end)
        elif isinstance(exc, InputFileInvalid):
            self._finish(t, "FAILED", end, error=(exc.code, exc.message))
        elif isinstance(exc, InputDownloadFailed):
            log.debug("task %s: audio download failed: %s", t.task_id, exc)
            self._finish(t, "FAILED", end, error=("BadRequest.InputDownloadFailed", _DOWNLOAD_MSG))
        else:
            log.warning("task %s: render failed: %r", t.task_id, exc)
            self._finish(t, "FAILED", end, error=("InternalError.Algo", _ALGO_MSG))
        return True

    def _finish(
        self, t: Task, status: str, sim: float, *, error: tuple[str, str] | None = None
    ) -> None:
        t.finished_sim = sim
        t.finished_wall = min(self._clock.wall(), self._clock.wall_time_of(sim))
        t.error = error
        t.status = status
        self._save(t)

    # -- operations ------------------------------------------------------------------------

    def create(
        self,
        request: CreateRequest,
        *,
        key_index: int,
        request_id: str,
        audio: AudioSource,
        fail: tuple[str, str] | None = None,
    ) -> Task:
        """Create a PENDING task with seeded queue and run times."""
        with self._cond:
            now = self._clock.now()
            expected = request.model.expected_seconds(request.size, request.duration)
            seed = request.seed
            if seed is None:
                seed = self._rng.randint(0, catalog.SEED_MAX)
            task = Task(
                task_id=str(uuid.uuid4()),
                request_id=request_id,
                key_index=key_index,
                request=request,
                seed=seed,
                audio=audio,
                queue_due=now + expected * self._rng.uniform(0.03, 0.12),
                run_sim=expected * self._rng.uniform(0.55, 1.3),
                created_sim=now,
                created_wall=self._clock.wall(),
                fail=fail,
            )
            self._tasks[task.task_id] = task
            self._save(task)
            self.created += 1
            self._cond.notify_all()
            return task

    def view(self, task_id: str, build: Callable[[Task | None, float], T]) -> T:
        """Run ``build(task or None, now)`` under the lock on fresh state (None if unknown)."""
        with self._cond:
            self._advance()
            return build(self._tasks.get(task_id), self._clock.now())

    def cancel(self, task_id: str) -> bool:
        """PENDING -> CANCELED; ``False`` for any other state or an unknown/expired id."""
        with self._cond:
            self._advance()
            now = self._clock.now()
            t = self._tasks.get(task_id)
            if t is None or self.expired(t, now) or t.status != "PENDING":
                return False
            self._finish(t, "CANCELED", now)
            self._cond.notify_all()
            return True

    def expire(self, task_id: str) -> bool:
        """Expire a task id and its video URL right now; ``False`` if unknown."""
        with self._cond:
            t = self._tasks.get(task_id)
            if t is None:
                return False
            t.forced_expired = t.video_forced_expired = True
            self._save(t)
            self._cond.notify_all()
            return True

    def select(self, query: ListQuery, build: Callable[[Task, float], T]) -> tuple[int, list[T]]:
        """Live tasks matching the list filters, newest first: (total, built page)."""
        with self._cond:
            self._advance()
            now = self._clock.now()
            hits = [
                t
                for t in self._tasks.values()
                if not self.expired(t, now)
                and query.start_ms <= int(t.created_wall * 1000) <= query.end_ms
                and (query.task_id is None or t.task_id == query.task_id)
                and (query.status is None or t.status == query.status)
                and (
                    query.model_name is None
                    or query.model_name in (t.request.model_name, t.request.model.id)
                )
            ]
            hits.reverse()
            first = (query.page_no - 1) * query.page_size
            page = hits[first : first + query.page_size]
            return len(hits), [build(t, now) for t in page]

    def counts_by_status(self) -> dict[str, int]:
        """How many tasks are in each status now (expired ones count as UNKNOWN)."""
        with self._cond:
            self._advance()
            now = self._clock.now()
            return dict(Counter(self.status(t, now) for t in self._tasks.values()))


_DOWNLOAD_MSG = "Failed to download the input file."
_ALGO_MSG = "An internal error occurred during model inference."


def snapshot(store: TaskStore, task: Task, now: float) -> dict[str, Any]:
    """A plain dict of a task's internal state for tests and the admin API (no key)."""
    req = task.request
    return {
        "task_id": task.task_id,
        "request_id": task.request_id,
        "key_index": task.key_index,
        "model": req.model.id,
        "model_name": req.model_name,
        "status": store.status(task, now),
        "internal_status": task.status,
        "prompt": req.prompt,
        "negative_prompt": req.negative_prompt,
        "size": req.size,
        "duration": req.duration,
        "seed": task.seed,
        "prompt_extend": req.prompt_extend,
        "watermark": req.watermark,
        "shot_type": req.shot_type,
        "audio_url": req.audio_url,
        "audio": str(task.audio) if isinstance(task.audio, Path) else task.audio,
        "fail": list(task.fail) if task.fail else None,
        "error": list(task.error) if task.error else None,
        "created_sim": task.created_sim,
        "queue_due": task.queue_due,
        "run_sim": task.run_sim,
        "started_sim": task.started_sim,
        "run_due": task.run_due,
        "finished_sim": task.finished_sim,
        "created_wall": task.created_wall,
        "started_wall": task.started_wall,
        "finished_wall": task.finished_wall,
        "render_done": task.render is not None and task.render.done(),
        "video_path": str(task.video_path) if task.video_path else None,
        "expired": store.expired(task, now),
        "video_expired": store.video_expired(task, now),
        "now_sim": now,
    }
