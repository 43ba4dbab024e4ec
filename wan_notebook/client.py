"""WanClient (sync, httpx.Client) and AsyncWanClient (asyncio, httpx.AsyncClient).

Both are thin shells that only move bytes: requests come from :mod:`.protocol`, the rules of
one call (deadline, size cap, failure classification, redaction, retry decisions) from
:mod:`.transport`, the wait from :mod:`.waiting`, the file side of a download from
:mod:`.downloads`, list pagination from :mod:`.listing`. The sync and async code paths share
those objects, so they cannot drift apart.

The API key is held as a :class:`~.settings.Secret` and only revealed to build the
``Authorization`` header of calls to the API base URL; it is never sent to the upload host or
the video URL, and never appears in a repr, a log line or an exception (answers are scrubbed
of it, and no httpx exception, whose ``request`` carries the headers, is ever chained: every
``raise`` of ours happens outside the ``except`` block that saw the httpx error).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from . import media_in, protocol
from .async_client import AsyncWanClient
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
    problem_of,
    read_capped,
    submitted_now,
)
from .waiting import Waiter

__all__ = ["DOWNLOAD_ATTEMPTS", "AsyncWanClient", "GenerateResult", "WanClient"]


class WanClient:
    """Synchronous client for Wan video generation.

    ``api_key`` (else ``DASHSCOPE_API_KEY``, ``DASHSCOPE_API_KEY_FILE_PATH``,
    ``~/.dashscope/api_key``), ``region`` (else ``DASHSCOPE_REGION``, default Singapore) or
    ``base_url`` (else ``DASHSCOPE_HTTP_BASE_URL``), ``workspace`` (else
    ``DASHSCOPE_WORKSPACE_ID``). ``poll_scale`` (else ``WAN_NOTEBOOK_POLL_SCALE``, default 1)
    multiplies the poll schedule's times (use ``1/speed`` against an emulator);
    ``wait_timeout`` is the default deadline of :meth:`wait`. ``timeout`` bounds each phase of
    one HTTP attempt (connect, each read); a whole attempt is bounded by connect + read.
    """

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
        http_client: httpx.Client | None = None,
        poll_scale: float | None = None,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
        query_qps: float = 16.0,
        sleep: Callable[[float], None] | None = None,
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
        self._http = http_client or httpx.Client(timeout=timeout)
        self._sleep = sleep or time.sleep

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

    def _attempt(self, spec: CallSpec, deadline: Deadline) -> Answer | Problem:
        core = self._core
        try:
            with self._http.stream(
                spec.method, core.url(spec), headers=core.headers(spec), json=spec.json,
                params=spec.params, timeout=deadline.timeout(core.timeout),
            ) as resp:  # fmt: skip
                core.observe(resp)
                return core.answer(resp, read_capped(resp, core.max_json_bytes, deadline))
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            return problem_of(exc, core.key)
        except Stalled:
            return STALLED

    def _call(
        self, spec: CallSpec, ctx: dict[str, Any] | None = None, deadline: Deadline | None = None
    ) -> Answer:
        core, ctx = self._core, ctx or {}
        attempt = 0
        while True:
            if deadline is not None and deadline.expired:
                raise core.expired(spec, ctx)
            try:
                got = self._attempt(spec, core.deadline(deadline))
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
            self._sleep(delay)
            attempt += 1

    # -- API

    def submit(
        self, prompt_or_request: str | VideoRequest, *, _deadline: Deadline | None = None,
        **params: Any,
    ) -> Task:  # fmt: skip
        """Validate, upload a local audio file if any, and create the task (PENDING).

        Raises :class:`~.errors.SubmitUncertainError` when a task may exist (the create
        may have reached the service, or its answer was not a well-formed create answer)."""
        core = self._core
        req = core.build_request(prompt_or_request, params)
        oss = self.upload(req.local_audio_path, req.model) if req.local_audio_path else None
        urls = media_in.prepare(self, req.model, req.media, self.upload_memory)
        spec = protocol.build_create(
            req.to_body(audio_url=oss, media_urls=urls), workspace=core.workspace,
            path=req.model_info.endpoint,
        )  # fmt: skip
        mono = core.clock()
        ctx = {"what": f"create task ({req.model})", "model": req.model}
        ctx["submitted_at"] = submitted_now()
        task = created(core, self._call(spec, ctx, _deadline), ctx)
        core.remember(task, req, mono)
        return task

    def get(self, task_or_id: Task | str, *, _deadline: Deadline | None = None) -> Task:
        """Query a task once."""
        task_id, _ = task_id_of(task_or_id)
        spec = protocol.build_query(task_id, workspace=self._core.workspace)
        resp = self._call(spec, {"what": f"query task {task_id}"}, _deadline)
        return protocol.parse_query(resp.status_code, resp.content, resp.headers, task_id=task_id)

    def wait(
        self,
        task_or_id: Task | str,
        *,
        timeout: float | None = None,
        on_update: Callable[[Task], Any] | None = None,
    ) -> Task:
        """Poll until the task ends; return it if SUCCEEDED, else raise TaskFailedError,
        TaskCanceledError or TaskExpiredError; WaitTimeoutError at the deadline (which also
        bounds each status query, even one a server answers a byte at a time)."""
        task_id, task = task_id_of(task_or_id)
        if task is not None and task.is_terminal:
            return ensure_succeeded(task)
        waiter = Waiter(self._core, task_id, task, timeout, on_update)
        while True:
            self._sleep(waiter.next_sleep())
            try:
                task = self.get(task_id, _deadline=waiter.call_deadline())
            except WanError as exc:
                waiter.transient(exc)
                continue
            done = waiter.seen(task)
            if done is not None:
                return done

    def cancel(self, task_or_id: Task | str) -> None:
        """Cancel a PENDING task (400 UnsupportedOperation otherwise)."""
        task_id, _ = task_id_of(task_or_id)
        spec = protocol.build_cancel(task_id, workspace=self._core.workspace)
        resp = self._call(spec, {"what": f"cancel task {task_id}"})
        protocol.parse_cancel(resp.status_code, resp.content, resp.headers, task_id=task_id)

    def list_page(self, *, page_no: int = 1, page_size: int = 10, **filters: Any) -> TaskPage:
        """One page of the task list."""
        spec = protocol.build_list(
            page_no=page_no, page_size=page_size, workspace=self._core.workspace, **filters
        )
        resp = self._call(spec, {"what": "list tasks"})
        return protocol.parse_list(
            resp.status_code, resp.content, resp.headers, page_no=page_no, page_size=page_size
        )

    def list(
        self,
        *,
        model: str | None = None,
        status: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        task_id: str | None = None,
        page_size: int = 50,
        max_pages: int = MAX_LIST_PAGES,
    ) -> Iterator[TaskSummary]:
        """Iterate tasks of the account (all pages, at most ``max_pages`` per 24 h window:
        :class:`~.errors.ListTruncatedError` past that); a range over 24 h is split."""
        check_max_pages(max_pages)
        seen: set[str] = set()
        for lo, hi in list_windows(start_time, end_time):
            pager = Pager(max_pages, seen)
            while True:
                page = self.list_page(
                    page_no=pager.page_no, page_size=page_size, model=model, status=status,
                    start_time=lo, end_time=hi, task_id=task_id,
                )  # fmt: skip
                yield from pager.new_rows(page)
                if not pager.advance(page):
                    break

    def upload(self, path: str | os.PathLike[str], model: str) -> str:
        """Upload a local file through the temporary-upload policy; returns its oss:// URL."""
        core, path = self._core, Path(path)
        spec = protocol.build_upload_policy(model, workspace=core.workspace)
        resp = self._call(spec, {"what": "get upload policy"})
        policy = protocol.parse_upload_policy(resp.status_code, resp.content, resp.headers)
        fields, mime = upload_parts(path, policy)
        upload_spec, ctx = CallSpec("upload", "POST", ""), {"what": "upload"}
        attempt = 0
        while True:
            got: Answer | Problem
            try:
                with path.open("rb") as f:
                    resp = self._http.post(
                        policy.upload_host, data=fields, files={"file": (path.name, f, mime)}
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
            self._sleep(delay)
            attempt += 1

    def download(
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
        """Stream the video to ``<path>.part``, resume with Range after a drop, check the
        length, ``verify(part)``, then rename into place (``overwrite=False``: never over an
        existing file). Returns ``path``.

        ``timeout`` (default 30 min) bounds the whole download; ``max_bytes`` (default: a
        generous multiple of what the task's duration and size can take) bounds what is
        written, so a runaway server never fills the disk."""
        deadline = Deadline.after(DOWNLOAD_TIMEOUT if timeout is None else timeout)
        return self._download(task_or_url, path, verify, on_progress, task_id, overwrite,
                              deadline, timeout, max_bytes)  # fmt: skip

    def _download(
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
                    self._sleep(min(pause, deadline.remaining()))
                if deadline.expired:
                    raise dl.timed_out(timeout)
                before, why = dl.have, None
                try:
                    with self._http.stream(
                        "GET", url, headers=dl.headers(), timeout=deadline.timeout(core.timeout)
                    ) as resp:
                        core.observe(resp)
                        if dl.start(resp):
                            for chunk in resp.iter_bytes():  # as read: a cut keeps them all
                                dl.write(chunk)
                                if deadline.expired:
                                    raise dl.timed_out(timeout)
                            if dl.complete():
                                return dl.finish()
                            why = f"short body ({dl.have} of {dl.total} bytes)"
                except (httpx.TransportError, httpx.InvalidURL) as exc:
                    problem = problem_of(exc, core.key)
                    why = problem.text
                    core.log_download_retry(dl.label(), why)
                    if problem.permanent:  # no retry can fix it: raised below
                        dl.permanent = problem.text
                        break
                if why is not None:
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

    def generate(
        self,
        prompt: str | VideoRequest,
        path: str | os.PathLike[str] | None = None,
        *,
        timeout: float | None = None,
        on_update: Callable[[Task], Any] | None = None,
        verify: Callable[[Path], Any] | None = None,
        **params: Any,
    ) -> GenerateResult:
        """Submit, wait and download (to ``path``, default ``./<task_id>.mp4``).

        ``timeout`` bounds the whole call: the create, every status query (each read of it)
        and the download; past it, WaitTimeoutError (the task runs on) or
        DownloadTimeoutError."""
        total = deadline_of(timeout)
        task = self.submit(prompt, _deadline=total, **params)
        left = None if total is None else total.at - time.monotonic()
        task = self.wait(task, timeout=left, on_update=on_update)
        target = Path(path) if path is not None else Path.cwd() / f"{task.task_id}.mp4"
        deadline = total or Deadline.after(DOWNLOAD_TIMEOUT)
        return GenerateResult(
            task, self._download(task, target, verify, None, None, True, deadline, timeout, None)
        )

    # -- lifecycle

    def close(self) -> None:
        """Close the HTTP connections (only if this client created them)."""
        if self._own_http:
            self._http.close()

    def __enter__(self) -> WanClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
