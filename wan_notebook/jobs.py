"""Jobs: submit -> wait -> download -> persist, as observable state machines.

A :class:`Job` is one generation. It emits :class:`JobEvent` s (``submitted``, ``status``,
``downloading``, ``saved``, ``failed``, ``cached``) that any view subscribes to: the notebook
panel, the CLI progress bar and the tests all watch the same events, and no view ever polls
the service itself.

A :class:`Runner` runs many jobs on one event loop. It holds one :class:`AsyncWanClient`, the
:class:`OutputStore`, a semaphore per model sized by the catalog's concurrency quota (tasks
beyond it would only wait PENDING on the service), and one shared poll loop: every task under
watch has its own :class:`~wan_notebook.polling.TaskPoller` deciding *when* it is worth
asking, the client's query budget keeps the account under the query rate limit, and when
several tasks are due at once one list request (PROTOCOL 6) tells all their statuses instead
of one query each; only a task whose status moved to SUCCEEDED is then fetched for its video
URL and usage.

Order of writes, so that no crash loses a task or pays twice:

1. ``store.lookup(request)``: a saved result is returned at once with no network request; a
   journaled unfinished task is re-attached; a result whose file is gone is downloaded again.
2. An *intent* is journaled before the create request; the task id is journaled the moment
   the service returns it, before any polling.
3. A create that failed ambiguously (the connection dropped after sending) is never resent:
   the list endpoint is asked for a task of that model created since the intent, and that task
   is adopted. An intent left dangling by a killed process is reconciled the same way.
4. The video streams to ``<name>.part``, is verified, renamed; then the sidecar and the index.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Generator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from . import catalog
from .errors import (
    DetachedError,
    RateLimitError,
    ServiceError,
    SubmitUncertainError,
    TaskCanceledError,
    WaitTimeoutError,
    WanConnectionError,
    WanError,
)
from .protocol import Task, ensure_succeeded

if TYPE_CHECKING:
    from .client import AsyncWanClient
    from .request import VideoRequest
    from .results import VideoResult
    from .store import OutputStore

__all__ = ["Job", "JobEvent", "Runner"]

log = logging.getLogger("wan_notebook")

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
#: When the list call is used to learn statuses: at least this many tasks due at once.
LIST_BATCH_MIN = 3
#: How far before an intent a reconciled task may have been created (clock skew).
RECONCILE_SKEW = timedelta(minutes=2)


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


class Job:
    """One generation; awaitable (``await job`` gives the :class:`VideoResult`)."""

    def __init__(
        self,
        runner: Runner,
        request: VideoRequest | None,
        *,
        new: bool = False,
        task_id: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.runner = runner
        self.request = request
        self.new = new
        self.task_id = task_id
        self.timeout = timeout
        self.status: str | None = None
        self.phase: Phase = "queued"
        self.task: Task | None = None
        self.events: list[JobEvent] = []
        self.created_at = time.time()
        self._t0 = time.monotonic()
        self._t_end: float | None = None
        self._running_since: float | None = None
        self.cancel_message = ""
        self._detached = False
        self._subscribers: list[Callable[[JobEvent], None]] = []
        self._future: asyncio.Future[VideoResult] = runner.loop.create_future()
        self._task: asyncio.Task[None] | None = None
        self.expected_seconds = (
            request.expected_seconds
            if request is not None
            else catalog.MODELS[catalog.DEFAULT_MODEL].expected_seconds()
        )

    # ------------------------------------------------------------------ views

    @property
    def elapsed(self) -> float:
        """Seconds since the job was created (frozen once it is done)."""
        end = self._t_end if self._t_end is not None else time.monotonic()
        return end - self._t0

    def progress(self) -> float | None:
        """A 0..1 estimate of the generation, from the typical time for this request."""
        if self.phase in ("saved", "cached"):
            return 1.0
        if self.status == "SUCCEEDED" or self.phase == "downloading":
            return 0.99
        if self.status in (None, "PENDING"):
            return 0.0 if self.status is None else 0.02
        if self.status != "RUNNING" or self._running_since is None:
            return None
        expected = self.expected_seconds * self.runner.time_scale
        ran = time.monotonic() - self._running_since
        # approaches 0.95 asymptotically instead of stopping at 100 % when a task runs long
        return min(0.95, 0.95 * (1 - 2 ** (-2 * ran / max(expected, 1e-3))))

    def subscribe(self, callback: Callable[[JobEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every future event; returns an unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, kind: EventKind, **fields: Any) -> JobEvent:
        event = JobEvent(kind=kind, at=time.time(), **fields)
        self.events.append(event)
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # a broken view must never break the job
                log.exception("job event subscriber failed on %s", kind)
        return event

    def done(self) -> bool:
        """True once the job has a result or an error."""
        return self._future.done()

    def exception(self) -> BaseException | None:
        """The error the job ended with, if any (None while running)."""
        if not self._future.done() or self._future.cancelled():
            return None
        return self._future.exception()

    def __await__(self) -> Generator[Any, None, VideoResult]:
        return asyncio.shield(self._future).__await__()

    def result(self, timeout: float | None = None) -> VideoResult:
        """Wait synchronously for the result.

        From a thread other than the loop's, this blocks on the loop. On the loop's own thread
        (a notebook cell) it drives the loop until the job is done (``nest_asyncio2``, applied
        lazily, see DESIGN "Event loops").
        """
        loop = self.runner.loop
        if self._future.done():
            return self._future.result()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is None and not loop.is_running():
            return _drive(loop, self._wait(), timeout)
        if running is loop or (running is None and _loop_thread_is_current(loop)):
            _allow_nested(loop)
            return _drive(loop, self._wait(), timeout)
        fut = asyncio.run_coroutine_threadsafe(self._wait(), loop)
        return fut.result(timeout)

    async def _wait(self) -> VideoResult:
        return await asyncio.shield(self._future)

    def detach(self) -> None:
        """Stop following the task here without canceling it on the service.

        The task stays journaled; ``attach(task_id)`` (or ``%wanvideo attach``) picks it up.
        """
        if self._task is not None and not self._task.done():
            self._detached = True
            self._task.cancel()

    async def cancel(self) -> bool:
        """Cancel the task on the service. Only PENDING tasks can be canceled; otherwise
        returns False and ``cancel_message`` says why."""
        if self.done():
            self.cancel_message = f"the job already ended ({self.phase})"
            return False
        if self.task_id is None:
            if self._task is not None:
                self._task.cancel()
            self.cancel_message = "canceled before it was submitted"
            return True
        if self.status not in (None, "PENDING"):
            self.cancel_message = (
                f"task {self.task_id} is {self.status}: the service can only cancel PENDING "
                "tasks, so it will finish (and be billed if it succeeds)"
            )
            return False
        try:
            await self.runner.client.cancel(self.task_id)
        except WanError as exc:
            self.cancel_message = f"the service refused to cancel task {self.task_id}: {exc}"
            return False
        self.cancel_message = f"task {self.task_id} canceled"
        self.runner._poke(self)
        return True

    def __repr__(self) -> str:
        prompt = (self.request.prompt if self.request else "")[:40]
        return (
            f"<Job {self.phase} task_id={self.task_id!r} status={self.status!r} "
            f"prompt={prompt!r} elapsed={self.elapsed:.1f}s>"
        )

    # ------------------------------------------------------------------ running

    def _start(self) -> None:
        self._task = self.runner.loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            result = await self._execute()
        except asyncio.CancelledError:
            self.runner._unwatch(self)
            if self._detached and self.task_id:
                self.phase = "detached"
                error: BaseException = DetachedError(
                    f"stopped following task {self.task_id} here; it keeps running on the "
                    f"service and stays journaled: attach('{self.task_id}') picks it up again",
                    task_id=self.task_id,
                )
            else:
                self.phase = "canceled"
                error = TaskCanceledError(
                    "the job was stopped before its task was created; nothing was billed",
                    task_id=self.task_id or "",
                    status=self.status or "",
                )
            self._finish_error(error)
        except BaseException as exc:
            if self.phase != "canceled":
                self.phase = "failed"
            self._finish_error(exc)
        else:
            self._t_end = time.monotonic()
            if not self._future.done():
                self._future.set_result(result)

    def _finish_error(self, exc: BaseException) -> None:
        self._t_end = time.monotonic()
        self._emit("failed", error=exc, status=self.status, task=self.task)
        if not self._future.done():
            self._future.set_exception(exc)
        # a job nobody awaits must not log "exception was never retrieved"
        self._future.exception()

    async def _execute(self) -> VideoResult:
        runner, store, req = self.runner, self.runner.store, self.request
        if self.task_id is not None:  # attach()
            self.status = "PENDING"
            self._emit("submitted", status=None, attached=True)
            return await self._follow()
        assert req is not None
        if not self.new:
            found = await asyncio.to_thread(store.lookup, req)
            if found.kind == "saved":
                result = runner._result(found.saved, req, cached=True)
                self.task_id = result.task_id
                self.status = "SUCCEEDED"
                self.phase = "cached"
                self._emit("cached", result=result, status="SUCCEEDED")
                return result
            if found.kind in ("in_flight", "redownload"):
                self.task_id = found.task_id
                self.status = found.status
                self._emit("submitted", status=self.status, attached=True)
                return await self._follow()
        async with runner._slot(req.model) as release:
            task = await self._submit(req)
            self.task_id = task.task_id
            self.task = task
            self.status = task.status or "PENDING"
            self._emit("submitted", status=self.status, task=task)
            return await self._follow(release_slot=release)

    async def _submit(self, req: VideoRequest) -> Task:
        runner, store = self.runner, self.runner.store
        self.phase = "submitting"
        adopted = await runner._reconcile(req)
        if adopted is not None:
            return adopted
        intent = store.begin_intent(req)
        try:
            async with runner._creating():
                task = await runner.client.submit(req)
                # journals the task id at once, before any polling (and before a reconcile
                # elsewhere in this runner could mistake the task for an orphan)
                store.resolve_intent(
                    intent, task.task_id, request_id=task.request_id, submitted_at=_utcnow()
                )
        except SubmitUncertainError as uncertain:
            try:
                adopted = await runner._reconcile(req)
            except WanError as exc:  # the list call failed too: still only "uncertain"
                log.warning("could not look for the task of an interrupted create: %s", exc)
                raise uncertain from None
            if adopted is not None:
                return adopted
            raise  # the intent stays dangling: the next run reconciles it again
        except BaseException:
            store.abandon_intent(intent)
            raise
        return task

    async def _follow(self, *, release_slot: Callable[[], None] | None = None) -> VideoResult:
        """Wait for the task to end, then download and save its video.

        ``release_slot`` frees this job's quota slot as soon as the task has ended: the
        service counts only unfinished tasks, so the next task need not wait for a download.
        """
        assert self.task_id is not None
        runner = self.runner
        self.phase = "waiting"
        task = await runner._watch(self)
        if release_slot is not None:
            release_slot()
        if task.status == "SUCCEEDED":
            return await self._save(task)
        if runner.store.get(task.task_id) is not None:
            runner.store.record_failure(task.task_id, task.status, task.code, task.message)
        if task.status == "CANCELED":
            self.phase = "canceled"
        ensure_succeeded(task)  # raises the TaskError for FAILED, CANCELED or UNKNOWN
        raise AssertionError("unreachable")  # pragma: no cover

    def _on_task(self, task: Task) -> None:
        """Called by the poll loop with every observed task."""
        self.task = task
        if task.status != self.status:
            if task.status == "RUNNING":
                self._running_since = time.monotonic()
            self.status = task.status
            with contextlib.suppress(WanError):
                self.runner.store.record_status(
                    task.task_id, task.status, at=_utcnow(), video_url=task.video_url
                )
            self._emit("status", status=task.status, task=task)

    async def _save(self, task: Task) -> VideoResult:
        from . import media

        runner, store = self.runner, self.runner.store
        self.phase = "downloading"
        request = self.request or store.request_for(task.task_id)
        if request is None:  # attach() to a task this folder never journaled
            request = await runner._adopt_unknown(task)
            self.request = request
        if not _same_prompt(task, request):  # an adopted orphan that was not ours after all
            raise SubmitUncertainError(
                f"task {task.task_id} was adopted for this request after an interrupted "
                "create, but the service says it was made for another prompt; it was not "
                "saved. The task of this request may or may not exist: look with "
                f"client.list(model={request.model!r}) before submitting again.",
                model=request.model,
                submitted_at=_utcnow().isoformat(),
            )
        paths = store.paths_for(request, task.task_id, _task_created(task))
        self._emit("downloading", bytes_done=0, bytes_total=None, task=task)

        def progress(done: int, total: int | None) -> None:
            self._emit("downloading", bytes_done=done, bytes_total=total, task=task)

        if not paths.video.exists():
            await runner.client.download(
                task,
                paths.video,
                verify=media.verify_mp4,
                on_progress=progress,
                task_id=task.task_id,
                overwrite=False,
            )
        saved = await asyncio.to_thread(store.save_result, request, task, paths.video)
        result = runner._result(saved, request, cached=False)
        self.phase = "saved"
        self._emit("saved", result=result, status="SUCCEEDED", task=task)
        return result


class Runner:
    """Runs jobs on one event loop, under the per-model quota, with one shared poll loop."""

    def __init__(
        self,
        *,
        store: OutputStore | None = None,
        client: AsyncWanClient | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        region: str | None = None,
        timeout: float | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        list_batching: bool = True,
        concurrency: int | None = None,
    ) -> None:
        from .client import AsyncWanClient
        from .store import OutputStore

        self.store = store if store is not None else OutputStore()
        self.client = client or AsyncWanClient(api_key, base_url=base_url, region=region)
        self.timeout = timeout
        self.loop = loop or _current_loop()
        self.list_batching = list_batching
        self.concurrency = concurrency
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._watches: dict[str, _Watch] = {}
        self._wake = asyncio.Event()
        self._poller_task: asyncio.Task[None] | None = None
        self._reconcile_lock = asyncio.Lock()
        # create requests in flight, and whether a reconcile is looking at the list: a task
        # that a create made but whose id is not journaled yet must not look like an orphan
        self._creates = 0
        self._reconciling = False
        self._create_cond = asyncio.Condition()
        self.jobs: list[Job] = []

    @property
    def time_scale(self) -> float:
        """Seconds of this client's clock per catalog second (1 for the real service)."""
        return self.client.time_scale

    # ------------------------------------------------------------------ public

    def submit(self, request: VideoRequest, *, new: bool = False) -> Job:
        """Start a job for ``request`` on the loop and return it at once."""
        job = Job(self, request, new=new, timeout=self.timeout)
        self.jobs.append(job)
        job._start()
        return job

    def attach(self, task_id: str) -> Job:
        """Follow an existing task (no new submit) and save its video when it succeeds."""
        task_id = task_id.strip()
        request = self.store.request_for(task_id)
        job = Job(self, request, task_id=task_id, timeout=self.timeout)
        self.jobs.append(job)
        job._start()
        return job

    async def aclose(self) -> None:
        """Stop the poll loop and close the HTTP client."""
        if self._poller_task is not None:
            self._poller_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller_task
        await self.client.aclose()

    # ------------------------------------------------------------------ internals

    @contextlib.asynccontextmanager
    async def _slot(self, model: str):  # type: ignore[no-untyped-def]
        info = catalog.lookup(model, warn=False)  # any id: the catalog is open (issue 13)
        sem = self._slots.get(info.id)
        if sem is None:
            sem = self._slots[info.id] = asyncio.Semaphore(self.concurrency or info.concurrency)
        await sem.acquire()
        held = True

        def release() -> None:
            """Free the slot early (idempotent); leaving the block frees it otherwise."""
            nonlocal held
            if held:
                held = False
                sem.release()

        try:
            yield release
        finally:
            release()

    def _result(self, saved: Any, request: VideoRequest | None, *, cached: bool) -> VideoResult:
        """A :class:`VideoResult` for a store :class:`SavedResult`."""
        from .results import VideoResult

        return VideoResult(
            path=saved.video,
            task_id=saved.task_id,
            metadata=saved.metadata,
            request=request,
            cached=cached,
            sidecar=saved.sidecar,
            poster=saved.poster,
        )

    @contextlib.asynccontextmanager
    async def _creating(self):  # type: ignore[no-untyped-def]
        """Around a create request and the journaling of its task id (waits for a reconcile)."""
        async with self._create_cond:
            await self._create_cond.wait_for(lambda: not self._reconciling)
            self._creates += 1
        try:
            yield
        finally:
            async with self._create_cond:
                self._creates -= 1
                self._create_cond.notify_all()

    async def _reconcile(self, req: VideoRequest) -> Task | None:
        """Adopt a task that a dangling intent for this request may have created.

        Runs while no other create of this runner is in flight: a sibling's task that the
        service made but whose id is not journaled yet would otherwise be adopted here.
        """
        if not self.store.dangling_intents(req.digest):
            return None
        async with self._reconcile_lock:
            async with self._create_cond:
                self._reconciling = True  # new creates wait from now on
                await self._create_cond.wait_for(lambda: self._creates == 0)
            try:
                return await self._reconcile_now(req)
            finally:
                async with self._create_cond:
                    self._reconciling = False
                    self._create_cond.notify_all()

    async def _reconcile_now(self, req: VideoRequest) -> Task | None:
        store = self.store
        intents = store.dangling_intents(req.digest)
        if not intents:
            return None
        since = min(i.created_at for i in intents) - RECONCILE_SKEW
        known = store.known_task_ids(since=since)
        candidates = []
        await self._budget()
        async for item in self.client.list(model=req.model, start_time=since):
            if item.task_id not in known:
                candidates.append(item)
        for intent in intents:
            # the task created nearest to the intent first (several orphans: the likeliest);
            # a finished one tells its prompt, so another request's task is never adopted
            candidates.sort(key=lambda c: _distance(c.created, intent.created_at))
            while candidates:
                found = candidates.pop(0)
                await self._budget()
                task = await self.client.get(found.task_id)
                if not _same_prompt(task, req):
                    continue
                store.resolve_intent(
                    intent.id, found.task_id, request_id=found.request_id, submitted_at=_utcnow()
                )
                log.warning(
                    "adopted task %s: a create request for this prompt was interrupted after "
                    "it reached the service",
                    found.task_id,
                )
                return task
            store.abandon_intent(intent.id)
        return None

    async def _adopt_unknown(self, task: Task) -> VideoRequest:
        """Journal a succeeded task this folder never saw (``attach`` of a foreign id).

        The query tells the prompt and the usage tells size and duration; the list call tells
        the model. The request is rebuilt from those so the result is cached like any other.
        """
        from .request import VideoRequest

        model = None
        await self._budget()
        async for item in self.client.list(task_id=task.task_id):
            model = item.model
            break
        usage = task.usage
        size = usage.get("size") or usage.get("video_ratio")
        duration = usage.get("output_video_duration") or usage.get("video_duration")
        params: dict[str, Any] = {"model": model or catalog.DEFAULT_MODEL}
        if isinstance(size, str) and "*" in size:
            params["size"] = size
        elif usage.get("SR") and isinstance(usage.get("ratio"), str):  # new protocol (issue 13)
            params["resolution"], params["ratio"] = f"{usage['SR']}P", usage["ratio"]
        if isinstance(duration, (int, float)) and float(duration).is_integer():
            params["duration"] = int(duration)
        prompt = task.orig_prompt or f"task {task.task_id}"
        try:
            request = VideoRequest.create(prompt, **params)
        except WanError:
            request = VideoRequest.create(prompt[:800], model=params["model"])
        self.store.record_submitted(request, task.task_id, request_id=task.request_id)
        return request

    def _watch(self, job: Job) -> Awaitable[Task]:
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
        self._watches[job.task_id] = _Watch(
            job, poller, fut, due=now, deadline=now + timeout, model=model
        )
        self._wake.set()
        if self._poller_task is None or self._poller_task.done():
            self._poller_task = self.loop.create_task(self._poll_loop())
        return fut

    async def _budget(self) -> None:
        """Wait for a slot under the account's query rate limit."""
        core = self.client._core
        delay = core.budget.reserve(time.monotonic())
        if delay > 0:
            await asyncio.sleep(delay)

    def _unwatch(self, job: Job) -> None:
        """Stop polling for ``job`` (it was detached); the poll loop ends when none are left."""
        watch = self._watches.pop(job.task_id or "", None)
        if watch is not None and not watch.future.done():
            watch.future.cancel()
        self._wake.set()

    def _poke(self, job: Job) -> None:
        """Ask about ``job`` now (after a cancel, for example)."""
        if job.task_id in self._watches:
            self._watches[job.task_id].due = time.monotonic()
            self._wake.set()

    async def _poll_loop(self) -> None:
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
            if self.list_batching and len(due) >= LIST_BATCH_MIN:
                listed = await self._list_statuses(due)
            for watch in due:
                await self._poll_one(watch, listed.get(watch.job.task_id or ""))

    async def _list_statuses(self, due: list[_Watch]) -> dict[str, Any]:
        since = datetime.fromtimestamp(min(w.job.created_at for w in due), timezone.utc)
        wanted = {w.job.task_id for w in due}
        found: dict[str, Any] = {}
        try:
            await self._budget()
            async for item in self.client.list(start_time=since - RECONCILE_SKEW):
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
                await self._budget()
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
        self._watches.pop(watch.job.task_id or "", None)
        if watch.future.done():
            return
        if exc is not None:
            watch.future.set_exception(exc)
        else:
            watch.future.set_result(task)  # type: ignore[arg-type]


@dataclass
class _Watch:
    job: Job
    poller: Any
    future: asyncio.Future[Task]
    due: float
    deadline: float
    model: str
    warned: bool = False


def _same_prompt(task: Task, request: VideoRequest | None) -> bool:
    """False only when the task says it was made for another prompt (``orig_prompt`` comes
    with SUCCEEDED; the service may shorten an over-long prompt, so a prefix matches)."""
    if request is None or not task.orig_prompt:
        return True
    theirs, ours = " ".join(task.orig_prompt.split()), " ".join(request.prompt.split())
    return theirs.startswith(ours) or ours.startswith(theirs)


def _distance(created: datetime | None, intent_at: datetime) -> float:
    """Seconds between a listed task's creation and an intent (unknown: last choice)."""
    if created is None:
        return float("inf")
    if intent_at.tzinfo is None:
        intent_at = intent_at.replace(tzinfo=timezone.utc)
    return abs((created - intent_at).total_seconds())


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _task_created(task: Task) -> datetime:
    return task.submit_time.replace(tzinfo=None) if task.submit_time else datetime.now()


def _drive(loop: asyncio.AbstractEventLoop, coro: Any, timeout: float | None) -> Any:
    """Run ``coro`` on ``loop`` until done; on Ctrl-C the helper task is cleaned up quietly."""
    fut = asyncio.ensure_future(asyncio.wait_for(coro, timeout), loop=loop)
    try:
        return loop.run_until_complete(fut)
    except BaseException:
        fut.cancel()
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())
        raise


def _current_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()


def _loop_thread_is_current(loop: asyncio.AbstractEventLoop) -> bool:
    return getattr(loop, "_thread_id", None) in (None, __import__("threading").get_ident())


def _allow_nested(loop: asyncio.AbstractEventLoop) -> None:
    """Let a sync call drive the (already running) kernel loop; applied once, lazily."""
    if getattr(loop, "_nest_patched", False):
        return
    import nest_asyncio2

    nest_asyncio2.apply(loop)


def run_sync(make: Callable[[], Awaitable[Any]]) -> Any:
    """Run a coroutine to completion from sync code, inside or outside a running loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())  # type: ignore[arg-type]
    _allow_nested(loop)
    return loop.run_until_complete(make())


def _first(items: Iterable[Any]) -> Any:
    return next(iter(items), None)
