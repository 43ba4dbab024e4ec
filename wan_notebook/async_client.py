"""AsyncWanClient: the asyncio twin of :class:`~.client.WanClient` (same arguments, awaitable
methods, the same shared decisions from :mod:`.transport`, :mod:`.waiting`, :mod:`.downloads`
and :mod:`.listing`). Each attempt also runs under ``asyncio.wait_for``, so even a response
head sent a byte at a time cannot outlive the deadline."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from . import media_in, protocol
from .calls import GenerateResult, created, deadline_of, task_id_of, upload_parts
from .downloads import DOWNLOAD_ATTEMPTS, DOWNLOAD_TIMEOUT, Download, video_byte_cap, video_url_of
from .errors import WanError
from .listing import MAX_LIST_PAGES, Pager, check_max_pages, list_windows
from .protocol import CallSpec, Task, TaskPage, TaskSummary, ensure_succeeded
from .request import VideoRequest
from .service_clock import ServiceClock
from .settings import Secret
from .transport import (
    DEFAULT_TIMEOUT,
    DEFAULT_WAIT_TIMEOUT,
    STALLED,
    Answer,
    ClientCore,
    Deadline,
    Problem,
    ResponseTooLarge,
    Stalled,
    aread_capped,
    problem_of,
    submitted_now,
)
from .waiting import Waiter

__all__ = ["AsyncWanClient"]


class AsyncWanClient:
    """The asyncio twin of :class:`~.client.WanClient` (same arguments, awaitable methods)."""

    #: Where temporary uploads are remembered for reuse (issue 14; the Runner sets its
    #: store's). None: every run uploads again.
    upload_memory: media_in.UploadMemory | None = None

    def __init__(
        self,
        api_key: str | Secret | None = None,
        *,
        region: str | None = None,
        base_url: str | None = None,
        workspace: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 4,
        http_client: httpx.AsyncClient | None = None,
        poll_scale: float | None = None,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
        query_qps: float = 16.0,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] | None = None,
        rand: Callable[[], float] | None = None,
    ) -> None:
        self._core = ClientCore(
            api_key, region=region, base_url=base_url, workspace=workspace,
            max_retries=max_retries, poll_scale=poll_scale, wait_timeout=wait_timeout,
            query_qps=query_qps, rand=rand, clock=clock,
            timeout=http_client.timeout if http_client is not None else timeout,
        )  # fmt: skip
        self._own_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self._sleep = sleep or asyncio.sleep

    def __repr__(self) -> str:
        return self._core.describe(type(self).__name__)

    @property
    def base_url(self) -> str:
        """The API base URL in use."""
        return self._core.base_url

    @property
    def key_source(self) -> str:
        """Where the API key came from (never the key itself)."""
        return self._core.key_source

    @property
    def time_scale(self) -> float:
        """Seconds of this client's clock per real-service second (``poll_scale``)."""
        return self._core.poll_config.time_scale

    @property
    def service_clock(self) -> ServiceClock:
        """The service's clock, learned from the ``Date`` header of every answer."""
        return self._core.service_clock

    # -- plumbing

    async def _exchange(self, spec: CallSpec, deadline: Deadline) -> Answer:
        core = self._core
        async with self._http.stream(
            spec.method, core.url(spec), headers=core.headers(spec), json=spec.json,
            params=spec.params, timeout=deadline.timeout(core.timeout),
        ) as resp:  # fmt: skip
            core.observe(resp)
            return core.answer(resp, await aread_capped(resp, core.max_json_bytes, deadline))

    async def _attempt(self, spec: CallSpec, deadline: Deadline) -> Answer | Problem:
        try:
            # wait_for bounds the head too (httpx bounds each read, not their sum)
            return await asyncio.wait_for(
                self._exchange(spec, deadline), timeout=deadline.remaining() + 0.5
            )
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            return problem_of(exc, self._core.key)
        except (Stalled, asyncio.TimeoutError):
            return STALLED

    async def _call(
        self, spec: CallSpec, ctx: dict[str, Any] | None = None, deadline: Deadline | None = None
    ) -> Answer:
        core, ctx = self._core, ctx or {}
        attempt = 0
        while True:
            if deadline is not None and deadline.expired:
                raise core.expired(spec, ctx)
            try:
                got = await self._attempt(spec, core.deadline(deadline))
            except ResponseTooLarge as exc:
                too_large = exc
            else:
                too_large = None
            if too_large is not None:
                raise core.too_large(spec, too_large, ctx)
            if isinstance(got, Problem):
                delay = core.on_problem(spec, got, attempt, ctx)
            elif got.status_code == 200:
                return got
            else:
                delay = core.on_response(spec, got, attempt, ctx)
            if deadline is not None:
                delay = min(delay, deadline.remaining())
            await self._sleep(delay)
            attempt += 1

    # -- API

    async def submit(
        self, prompt_or_request: str | VideoRequest, *, _deadline: Deadline | None = None,
        **params: Any,
    ) -> Task:  # fmt: skip
        """Validate, upload a local audio file if any, and create the task (PENDING)."""
        core = self._core
        req = core.build_request(prompt_or_request, params)
        oss = await self.upload(req.local_audio_path, req.model) if req.local_audio_path else None
        urls = await media_in.aprepare(self, req.model, req.media, self.upload_memory)
        spec = protocol.build_create(
            req.to_body(audio_url=oss, media_urls=urls), workspace=core.workspace,
            path=req.model_info.endpoint,
        )  # fmt: skip
        mono = core.clock()
        ctx = {"what": f"create task ({req.model})", "model": req.model}
        ctx["submitted_at"] = submitted_now()
        task = created(core, await self._call(spec, ctx, _deadline), ctx)
        core.remember(task, req, mono)
        return task

    async def get(self, task_or_id: Task | str, *, _deadline: Deadline | None = None) -> Task:
        """Query a task once."""
        task_id, _ = task_id_of(task_or_id)
        spec = protocol.build_query(task_id, workspace=self._core.workspace)
        resp = await self._call(spec, {"what": f"query task {task_id}"}, _deadline)
        return protocol.parse_query(resp.status_code, resp.content, resp.headers, task_id=task_id)

    async def wait(
        self,
        task_or_id: Task | str,
        *,
        timeout: float | None = None,
        on_update: Callable[[Task], Any] | None = None,
    ) -> Task:
        """Poll until the task ends (see :meth:`WanClient.wait`)."""
        task_id, task = task_id_of(task_or_id)
        if task is not None and task.is_terminal:
            return ensure_succeeded(task)
        waiter = Waiter(self._core, task_id, task, timeout, on_update)
        while True:
            await self._sleep(waiter.next_sleep())
            try:
                task = await self.get(task_id, _deadline=waiter.call_deadline())
            except WanError as exc:
                waiter.transient(exc)
                continue
            done = waiter.seen(task)
            if done is not None:
                return done

    async def cancel(self, task_or_id: Task | str) -> None:
        """Cancel a PENDING task (400 UnsupportedOperation otherwise)."""
        task_id, _ = task_id_of(task_or_id)
        spec = protocol.build_cancel(task_id, workspace=self._core.workspace)
        resp = await self._call(spec, {"what": f"cancel task {task_id}"})
        protocol.parse_cancel(resp.status_code, resp.content, resp.headers, task_id=task_id)

    async def list_page(self, *, page_no: int = 1, page_size: int = 10, **filters: Any) -> TaskPage:
        """One page of the task list."""
        spec = protocol.build_list(
            page_no=page_no, page_size=page_size, workspace=self._core.workspace, **filters
        )
        resp = await self._call(spec, {"what": "list tasks"})
        return protocol.parse_list(
            resp.status_code, resp.content, resp.headers, page_no=page_no, page_size=page_size
        )

    async def list(
        self,
        *,
        model: str | None = None,
        status: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        task_id: str | None = None,
        page_size: int = 50,
        max_pages: int = MAX_LIST_PAGES,
    ) -> AsyncIterator[TaskSummary]:
        """Iterate tasks of the account (see :meth:`WanClient.list`)."""
        check_max_pages(max_pages)
        seen: set[str] = set()
        for lo, hi in list_windows(start_time, end_time):
            pager = Pager(max_pages, seen)
            while True:
                page = await self.list_page(
                    page_no=pager.page_no, page_size=page_size, model=model, status=status,
                    start_time=lo, end_time=hi, task_id=task_id,
                )  # fmt: skip
                for item in pager.new_rows(page):
                    yield item
                if not pager.advance(page):
                    break

    async def upload(self, path: str | os.PathLike[str], model: str) -> str:
        """Upload a local file through the temporary-upload policy; returns its oss:// URL."""
        core, path = self._core, Path(path)
        spec = protocol.build_upload_policy(model, workspace=core.workspace)
        resp = await self._call(spec, {"what": "get upload policy"})
        policy = protocol.parse_upload_policy(resp.status_code, resp.content, resp.headers)
        fields, mime = upload_parts(path, policy)
        upload_spec, ctx = CallSpec("upload", "POST", ""), {"what": "upload"}
        attempt = 0
        while True:
            got: Answer | Problem
            try:
                content = path.read_bytes()
                resp = await self._http.post(
                    policy.upload_host, data=fields, files={"file": (path.name, content, mime)}
                )
                got = core.answer(resp, resp.content)
            except (httpx.TransportError, httpx.InvalidURL) as exc:
                got = problem_of(exc, core.key)
            if isinstance(got, Problem):
                delay = core.on_problem(upload_spec, got, attempt, ctx)
            elif got.status_code in (200, 204) or (attempt and got.status_code == 409):
                return policy.oss_url(path.name)
            else:
                delay = core.on_response(upload_spec, got, attempt, ctx)
            await self._sleep(delay)
            attempt += 1

    async def download(
        self,
        task_or_url: Task | str,
        path: str | os.PathLike[str],
        *,
        verify: Callable[[Path], Any] | None = None,
        on_progress: Callable[[int, int | None], Any] | None = None,
        task_id: str | None = None,
        overwrite: bool = True,
        timeout: float | None = None,
        max_bytes: int | None = None,
    ) -> Path:
        """Stream the video to disk (see :meth:`WanClient.download`)."""
        deadline = Deadline.after(DOWNLOAD_TIMEOUT if timeout is None else timeout)
        return await self._download(task_or_url, path, verify, on_progress, task_id, overwrite,
                                    deadline, timeout, max_bytes)  # fmt: skip

    async def _download(
        self, task_or_url: Task | str, path: str | os.PathLike[str],
        verify: Callable[[Path], Any] | None, on_progress: Callable[[int, int | None], Any] | None,
        task_id: str | None, overwrite: bool, deadline: Deadline, timeout: float | None,
        max_bytes: int | None,
    ) -> Path:  # fmt: skip
        url, task_id = video_url_of(task_or_url, task_id)
        task = task_or_url if isinstance(task_or_url, Task) else None
        cap = max_bytes if max_bytes is not None else video_byte_cap(task)
        dl = Download(path, task_id, verify, on_progress, overwrite, cap)
        core = self._core
        try:
            failures = 0  # attempts that brought no new bytes: at most DOWNLOAD_ATTEMPTS
            for attempt in range(DOWNLOAD_ATTEMPTS * 4):
                if attempt:
                    pause = dl.pause(failures, core.retry, core.rand)
                    await self._sleep(min(pause, deadline.remaining()))
                if deadline.expired:
                    raise dl.timed_out(timeout)
                before = dl.have
                try:
                    why = await asyncio.wait_for(
                        self._fetch(url, dl, deadline, timeout),
                        timeout=deadline.remaining() + 0.5,
                    )
                except (httpx.TransportError, httpx.InvalidURL) as exc:
                    problem = problem_of(exc, core.key)
                    why = problem.text
                    core.log_download_retry(dl.label(), why)
                    if problem.permanent:  # no retry can fix it: raised below
                        dl.permanent = problem.text
                        break
                except asyncio.TimeoutError:
                    why = "no data before the deadline"
                if why is None:
                    return dl.finish()
                dl.failed(why)
                if dl.have <= before:
                    failures += 1
                    if failures >= DOWNLOAD_ATTEMPTS:
                        break
            raise dl.give_up()
        except BaseException:
            if not dl.file.closed:
                dl.abort()
            raise

    async def _fetch(
        self, url: str, dl: Download, deadline: Deadline, timeout: float | None
    ) -> str | None:
        """One attempt: None when the file is complete, else why it is not."""
        core = self._core
        async with self._http.stream(
            "GET", url, headers=dl.headers(), timeout=deadline.timeout(core.timeout)
        ) as resp:
            core.observe(resp)
            if not dl.start(resp):
                return dl.errors[-1] if dl.errors else f"HTTP {resp.status_code}"
            async for chunk in resp.aiter_bytes():  # as read: a cut keeps them all
                dl.write(chunk)
                if deadline.expired:
                    raise dl.timed_out(timeout)
            if dl.complete():
                return None
            return f"short body ({dl.have} of {dl.total} bytes)"

    async def generate(
        self,
        prompt: str | VideoRequest,
        path: str | os.PathLike[str] | None = None,
        *,
        timeout: float | None = None,
        on_update: Callable[[Task], Any] | None = None,
        verify: Callable[[Path], Any] | None = None,
        **params: Any,
    ) -> GenerateResult:
        """Submit, wait and download (see :meth:`WanClient.generate`)."""
        total = deadline_of(timeout)
        task = await self.submit(prompt, _deadline=total, **params)
        left = None if total is None else total.at - time.monotonic()
        task = await self.wait(task, timeout=left, on_update=on_update)
        target = Path(path) if path is not None else Path.cwd() / f"{task.task_id}.mp4"
        deadline = total or Deadline.after(DOWNLOAD_TIMEOUT)
        path_ = await self._download(task, target, verify, None, None, True, deadline, timeout,
                                     None)  # fmt: skip
        return GenerateResult(task, path_)

    async def aclose(self) -> None:
        """Close the HTTP connections (only if this client created them)."""
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncWanClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
