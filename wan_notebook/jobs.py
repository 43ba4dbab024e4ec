"""Jobs: submit -> wait -> download -> persist, as observable state machines.

A :class:`Job` is one generation. It emits :class:`JobEvent` s (``submitted``, ``status``,
``downloading``, ``saved``, ``failed``, ``cached``) that any view subscribes to: the notebook
panel, the CLI progress bar and the tests all watch the same events, and no view ever polls
the service itself.

A :class:`Runner` runs many jobs on one event loop. It holds one :class:`AsyncWanClient`, the
:class:`OutputStore`, a semaphore per model sized by the catalog's concurrency quota (tasks
beyond it would only wait PENDING on the service), and one shared poll loop
(:mod:`wan_notebook.watch`).

Order of writes, so that no crash loses a task or pays twice:

1. ``store.lookup(request)``: a saved result is returned at once with no network request.
2. The request's digest is *claimed* in the journal (:mod:`wan_notebook.claiming`): one owner
   per request across jobs, runners, processes and kernels of a folder. Every other job for
   the same request follows the owner's task instead of creating one.
3. The owner looks again: a journaled unfinished task is re-attached; a result whose file is
   gone is downloaded again.
4. An *intent* is journaled before the create request; the task id is journaled the moment
   the service returns it, before any polling, and published on the claim.
5. A create that failed ambiguously (the connection dropped after sending) is never resent:
   the task it made is found by its content (:mod:`wan_notebook.reconcile`), never by order.
   An intent left dangling by a killed process is reconciled the same way.
6. The video streams to ``<name>.<pid>.part``, is verified, renamed; then the sidecar and the
   index; then the claim is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Generator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from . import catalog
from .claiming import LeaseKeeper, follow_owner, sweep_stale_parts
from .claiming import claim_lease as _lease_seconds
from .errors import DetachedError, SubmitUncertainError, TaskCanceledError, WanError
from .job_events import EventKind, JobEvent, Phase
from .loops import _allow_nested, _current_loop, _drive, _loop_thread_is_current, run_sync
from .media_in import UploadMemory
from .protocol import Task, ensure_succeeded
from .reconcile import Reconciler, adopt_unknown, same_prompt
from .store.claims import forget_owner, new_owner
from .watch import Watcher

if TYPE_CHECKING:
    from .client import AsyncWanClient
    from .request import VideoRequest
    from .results import VideoResult
    from .store import OutputStore

__all__ = ["Job", "JobEvent", "Runner", "run_sync"]

log = logging.getLogger("wan_notebook")


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
        self._owner = new_owner()  # this job's identity on a request's claim
        self._followed: str | None = None  # the task of another job this one followed
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

    def add_done_callback(self, callback: Callable[[Job], None]) -> None:
        """Call ``callback(job)`` once the job has a result or an error (budgets, issue 15)."""
        self._future.add_done_callback(lambda _f: callback(self))

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
        self.runner._watcher.poke(self)
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
            self.runner._watcher.unwatch(self)
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
        store, req = self.runner.store, self.request
        if self.task_id is not None:  # attach()
            self.status = "PENDING"
            self._emit("submitted", status=None, attached=True)
            return await self._follow()
        assert req is not None
        if not self.new:
            found = await asyncio.to_thread(store.lookup, req)
            if found.kind == "saved":
                return self._cached(found.saved)
        return await self._claimed(req)

    def _cached(self, saved: Any) -> VideoResult:
        result = self.runner._result(saved, self.request, cached=True)
        self.task_id = result.task_id
        self.status = "SUCCEEDED"
        self.phase = "cached"
        self._emit("cached", result=result, status="SUCCEEDED")
        return result

    async def _claimed(self, req: VideoRequest) -> VideoResult:
        """Own the request's claim and do the work, or follow the job that owns it."""
        runner, store = self.runner, self.runner.store
        timeout = self.timeout if self.timeout is not None else runner.client._core.wait_timeout
        try:
            while True:
                owned, _claim, _dead = await asyncio.to_thread(
                    store.claim, req.digest, self._owner, lease=runner.claim_lease, now=time.time()
                )
                if owned:
                    runner._leases.hold(self._owner)
                    try:
                        return await self._as_owner(req)
                    finally:
                        runner._leases.drop(self._owner)
                        try:  # synchronous: also runs when the job was cancelled (detach)
                            store.release_claim(req.digest, self._owner)
                        except Exception as exc:  # the lease runs out instead
                            log.warning("could not release the claim on this request: %s", exc)
                await follow_owner(self, runner.claim_lease, timeout=timeout)
        finally:
            forget_owner(self._owner)  # ended: an unreleased claim of ours is free to take

    async def _as_owner(self, req: VideoRequest) -> VideoResult:
        """The claim is ours: follow a journaled task of this request, or create one."""
        runner, store = self.runner, self.runner.store
        while True:
            if not self.new or self._followed is not None:
                found = await asyncio.to_thread(store.lookup, req)
                if found.kind == "saved":
                    return self._cached(found.saved)
                if found.kind in ("in_flight", "redownload"):
                    if self.task_id != found.task_id:
                        self.task_id = found.task_id
                        self.status = found.status
                        self._emit("submitted", status=self.status, attached=True)
                    store.claim_task(req.digest, self._owner, found.task_id)
                    return await self._follow()
            async with runner._slot(req.model) as release:
                task = await self._submit(req)
                if task is None:
                    continue  # the request's task was journaled meanwhile: follow it
                self.task_id = task.task_id
                self.task = task
                self.status = task.status or "PENDING"
                store.claim_task(req.digest, self._owner, task.task_id)
                self._emit("submitted", status=self.status, task=task)
                return await self._follow(release_slot=release)

    async def _submit(self, req: VideoRequest) -> Task | None:
        runner, store = self.runner, self.runner.store
        self.phase = "submitting"
        timeout = self.timeout if self.timeout is not None else runner.client._core.wait_timeout
        deadline = time.monotonic() + timeout
        adopted = await runner._reconcile(req, deadline=deadline)
        if adopted is not None:
            return adopted
        if not self.new:  # another job's reconcile may have journaled this request's task
            found = await asyncio.to_thread(store.lookup, req)
            if found.kind in ("saved", "in_flight", "redownload"):
                return None
        intent = store.begin_intent(req)
        try:
            task = await runner.client.submit(req)
            # journals the task id at once, before any polling
            store.resolve_intent(
                intent, task.task_id, request_id=task.request_id, submitted_at=_utcnow()
            )
        except SubmitUncertainError as uncertain:
            # a task may exist: find it by its content; if none shows up (yet), the intent
            # stays open and the next run looks again (a task may take a moment to be listed)
            adopted = await runner._reconcile(req, deadline=deadline, settle=False)
            if adopted is not None:
                return adopted
            raise uncertain from None
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
        task = await runner._watcher.watch(self)
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

    def _on_task(self, task: Task, *, record: bool = True) -> None:
        """Called by the poll loop with every observed task (and by a follower with the
        owner's journaled status: ``record=False``, the owner journals it)."""
        self.task = task
        if task.status != self.status:
            if task.status == "RUNNING":
                self._running_since = time.monotonic()
            self.status = task.status
            if record:
                with contextlib.suppress(WanError):
                    self.runner.store.record_status(
                        task.task_id,
                        task.status,
                        at=_utcnow(),
                        video_url=task.video_url,
                        clock=getattr(self.runner.client, "service_clock", None),
                    )
            self._emit("status", status=task.status, task=task)

    async def _save(self, task: Task) -> VideoResult:
        from . import media

        runner, store = self.runner, self.runner.store
        self.phase = "downloading"
        request = self.request or store.request_for(task.task_id)
        if request is None:  # attach() to a task this folder never journaled
            request = await adopt_unknown(runner.client, store, task)
            self.request = request
        # a task adopted after an interrupted create that says it was made for another prompt
        if task.orig_prompt and not same_prompt(task.orig_prompt, request.prompt):
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
            sweep_stale_parts(paths.video)  # only the claim's owner downloads this task
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
        claim_lease: float | None = None,
    ) -> None:
        from .client import AsyncWanClient
        from .store import OutputStore

        self.store = store if store is not None else OutputStore()
        self.client = client or AsyncWanClient(api_key, base_url=base_url, region=region)
        if getattr(self.client, "upload_memory", 0) is None:  # issue 14: reuse uploads 48 h
            self.client.upload_memory = UploadMemory(self.store.root)
        self.timeout = timeout
        self.loop = loop or _current_loop()
        self.list_batching = list_batching
        self.concurrency = concurrency
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._watcher = Watcher(self.client, self.loop, list_batching)
        self._reconciler = Reconciler(self.client, self.store)
        #: seconds without a heartbeat before a request's claim counts as abandoned
        self.claim_lease = _lease_seconds(claim_lease)
        self._leases = LeaseKeeper(self.store, self.claim_lease)
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
        await self._watcher.aclose()
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

    async def _reconcile(
        self, req: VideoRequest, *, deadline: float, settle: bool = True
    ) -> Task | None:
        """The task a dangling intent of ``req`` made, found by content (see
        :mod:`wan_notebook.reconcile`); None when none exists (with ``settle``, the intents
        are then closed). A failing list call leaves everything open: "uncertain"."""
        if not self.store.dangling_intents(req.digest):
            return None
        try:
            return await self._reconciler.reconcile(req, deadline=deadline, settle=settle)
        except SubmitUncertainError:
            raise
        except WanError as exc:
            raise SubmitUncertainError(
                "uncertain: run again later. A create request for this prompt was "
                f"interrupted earlier and its task could not be looked for ({exc}); the "
                "intent stays journaled, so a later run finds the task instead of paying "
                "again.",
                model=req.model,
                submitted_at=_utcnow().isoformat(),
            ) from None


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _task_created(task: Task) -> datetime:
    return task.submit_time.replace(tzinfo=None) if task.submit_time else datetime.now()
