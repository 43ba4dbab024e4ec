"""WanClient (sync, httpx.Client) and AsyncWanClient (asyncio, httpx.AsyncClient).

Both are thin shells that only do I/O: requests come from :mod:`.protocol`, what to retry and
how long to wait from :mod:`.retry`, when to poll from :mod:`.polling`. The decisions between
two I/O steps live in small state objects shared by the twins (``_Core``, ``_Waiter``,
``_Download``), so the sync and async code paths cannot drift apart.

The API key is held as a :class:`~.settings.Secret` and only revealed to build the
``Authorization`` header of calls to the API base URL; it is never sent to the upload host or
the video URL, and never appears in a repr, a log line or an exception message (httpx
exceptions, whose ``request`` carries the headers, are never chained).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import mimetypes
import os
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from . import catalog, protocol
from ._fsutil import move_no_clobber
from ._version import __version__
from .errors import (
    CorruptVideoError,
    DownloadError,
    RateLimitError,
    ServiceError,
    ValidationError,
    VideoExpiredError,
    WaitTimeoutError,
    WanConnectionError,
    WanError,
)
from .polling import DurationLearner, PollConfig, QueryBudget, TaskPoller
from .protocol import CallSpec, Task, TaskPage, TaskSummary, ensure_succeeded
from .request import PARAMS, VideoRequest
from .retry import Failure, RetryPolicy, Verdict, submit_uncertain
from .service_clock import ServiceClock
from .settings import (
    Secret,
    resolve_api_key,
    resolve_base_url,
    resolve_poll_scale,
    resolve_workspace,
)

__all__ = ["AsyncWanClient", "GenerateResult", "WanClient"]

logger = logging.getLogger("wan_notebook")

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DEFAULT_WAIT_TIMEOUT = 1800.0
DOWNLOAD_ATTEMPTS = 5
LIST_WINDOW = timedelta(hours=24)


class GenerateResult(NamedTuple):
    """What :meth:`WanClient.generate` returns (unpacks as ``task, path``)."""

    task: Task
    path: Path


def _failure_of(exc: httpx.TransportError) -> Failure:
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return Failure.NOT_SENT
    if isinstance(exc, httpx.ProxyError):
        return Failure.NOT_SENT
    return Failure.AFTER_SEND


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _task_id_of(task_or_id: Task | TaskSummary | str) -> tuple[str, Task | None]:
    if isinstance(task_or_id, Task):
        return task_or_id.task_id, task_or_id
    if isinstance(task_or_id, TaskSummary):
        return task_or_id.task_id, None
    if isinstance(task_or_id, str) and task_or_id.strip():
        return task_or_id.strip(), None
    raise ValidationError(
        f"task {task_or_id!r} is not a task id or Task",
        param="task",
        value=task_or_id,
        allowed="a Task or a task id string",
    )


def _as_datetime(value: datetime | str, name: str) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone().replace(tzinfo=None) if value.tzinfo else value
    text = protocol.format_list_time(value)
    return datetime.strptime(text, "%Y%m%d%H%M%S")


def _list_windows(
    start: datetime | str | None, end: datetime | str | None
) -> list[tuple[datetime | str | None, datetime | str | None]]:
    """Split a start..end range longer than 24 h into <= 24 h windows, newest first."""
    if start is None or end is None:
        return [(start, end)]
    s, e = _as_datetime(start, "start_time"), _as_datetime(end, "end_time")
    if e < s:
        raise ValidationError(
            f"end_time {e} is before start_time {s}",
            param="end_time",
            value=end,
            allowed="a time after start_time",
        )
    windows: list[tuple[datetime | str | None, datetime | str | None]] = []
    hi = e
    while hi > s:
        lo = max(s, hi - LIST_WINDOW)
        windows.append((lo, hi))
        hi = lo - timedelta(seconds=1)
    return windows or [(s, e)]


class _Core:
    """Settings and decisions shared by both clients (no I/O)."""

    def __init__(
        self,
        api_key: str | Secret | None,
        *,
        region: str | None,
        base_url: str | None,
        workspace: str | None,
        max_retries: int,
        poll_scale: float | None,
        wait_timeout: float,
        query_qps: float,
        rand: Callable[[], float] | None,
        clock: Callable[[], float] | None,
    ) -> None:
        self.key, self.key_source = resolve_api_key(api_key)
        self.base_url, self.base_url_source = resolve_base_url(
            base_url, region=region, workspace=workspace
        )
        self.workspace, self.workspace_source = resolve_workspace(workspace)
        self.retry = RetryPolicy(max_retries=max_retries)
        self.poll_config = PollConfig(time_scale=resolve_poll_scale(poll_scale)[0])
        self.wait_timeout = wait_timeout
        self.learner = DurationLearner()
        self.budget = QueryBudget(query_qps)
        self.rand = rand or random.random
        self.clock = clock or time.monotonic
        # [claims branch, minimal hook] the service's clock, from every answer's Date header
        self.service_clock = ServiceClock()
        # task id -> (local submit time, model, expected seconds); bounded
        self.submitted: OrderedDict[str, tuple[float, str, float]] = OrderedDict()

    def describe(self, name: str) -> str:
        return f"{name}(base_url={self.base_url!r}, api_key=<from {self.key_source}>)"

    def url(self, spec: CallSpec) -> str:
        return self.base_url + spec.path

    def headers(self, spec: CallSpec) -> dict[str, str]:
        return {
            **spec.headers,
            "User-Agent": f"wan-notebook/{__version__}",
            "Authorization": "Bearer " + self.key.reveal(),
        }

    def build_request(self, prompt_or_request: str | VideoRequest, params: dict) -> VideoRequest:
        if isinstance(prompt_or_request, VideoRequest):
            return prompt_or_request.replace(**params) if params else prompt_or_request
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            name = unknown[0]
            raise ValidationError(
                f"{name} is not a parameter of a video request; use " + ", ".join(PARAMS),
                param=name,
                value=params[name],
                allowed=", ".join(PARAMS),
            )
        return VideoRequest.create(prompt_or_request, **params)

    def remember(self, task: Task, req: VideoRequest, at: float) -> None:
        self.submitted[task.task_id] = (at, req.model, req.expected_seconds)
        while len(self.submitted) > 1000:
            self.submitted.popitem(last=False)

    # -- retry decisions: return a delay to sleep, or raise

    def on_response(
        self, spec: CallSpec, resp: httpx.Response, attempt: int, ctx: dict[str, Any]
    ) -> float:
        err = protocol.parse_error(
            resp.status_code, resp.content, resp.headers, context=ctx.get("what", spec.kind)
        )
        verdict = self.retry.verdict(spec.kind, attempt, status=resp.status_code)
        if verdict is Verdict.UNCERTAIN:
            raise submit_uncertain(
                ctx["model"], ctx["submitted_at"], f"HTTP {resp.status_code} {err.code}"
            )
        if verdict is Verdict.RAISE:
            raise err
        retry_after = err.retry_after if isinstance(err, RateLimitError) else None
        delay = self.retry.delay(attempt, retry_after, self.rand)
        logger.warning(
            "%s: HTTP %s %s; retry %d/%d in %.2fs",
            ctx.get("what", spec.kind),
            resp.status_code,
            err.code,
            attempt + 1,
            self.retry.max_retries,
            delay,
        )
        return delay

    def on_exception(
        self, spec: CallSpec, exc: httpx.TransportError, attempt: int, ctx: dict[str, Any]
    ) -> float:
        what = ctx.get("what", spec.kind)
        verdict = self.retry.verdict(spec.kind, attempt, failure=_failure_of(exc))
        if verdict is Verdict.UNCERTAIN:
            raise submit_uncertain(ctx["model"], ctx["submitted_at"], _describe(exc)) from None
        if verdict is Verdict.RAISE:
            raise WanConnectionError(
                f"{what}: could not reach {self.base_url} ({_describe(exc)}) after "
                f"{attempt + 1} attempt(s). Check the network and the base URL/region."
            ) from None
        delay = self.retry.delay(attempt, None, self.rand)
        logger.warning(
            "%s: %s; retry %d/%d in %.2fs",
            what,
            _describe(exc),
            attempt + 1,
            self.retry.max_retries,
            delay,
        )
        return delay

    def poller(self, task_id: str, now: float) -> tuple[TaskPoller, str]:
        known = self.submitted.get(task_id)
        if known is not None:
            at, model, expected = known
        else:
            at, model = None, catalog.DEFAULT_MODEL
            expected = catalog.get_model(model).expected_seconds()
        factor = self.learner.factor(model)
        return TaskPoller(
            expected, now=now, submitted_at=at, config=self.poll_config, factor=factor
        ), model


class _Waiter:
    """The decisions of one ``wait()``: when to poll, what each answer means."""

    def __init__(
        self,
        core: _Core,
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
        self.warned: set[str] = set()
        if task is not None:
            self.poller.observe(task, now)
        self.first = task is None

    def next_sleep(self) -> float:
        """Seconds to sleep before the next poll; raises WaitTimeoutError past the deadline."""
        now = self.core.clock()
        if now >= self.deadline:
            status = self.last.status if self.last else "unknown"
            raise WaitTimeoutError(
                f"task {self.task_id} was still {status} after the wait deadline; it keeps "
                f"running on the service: call wait() again, or get({self.task_id!r}) later",
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
        self.poller.observe(task, now)
        self.last = task
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
            logger.warning("polling task %s: %s; will poll again", self.task_id, exc)
            return
        raise exc


class _Download:
    """The file side of a download: .part file, Range resume, verify, atomic rename."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        task_id: str | None,
        verify: Callable[[Path], Any] | None,
        on_progress: Callable[[int, int | None], Any] | None,
        overwrite: bool = True,
    ) -> None:
        self.overwrite = overwrite
        self.path = Path(path)
        # one .part per process: two processes downloading one task never write one file
        self.part = self.path.with_name(f"{self.path.name}.{os.getpid()}.part")
        self.task_id = task_id
        self.verify = verify
        self.on_progress = on_progress
        self.have = 0
        self.total: int | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.part.open("wb")
        self.errors: list[str] = []
        #: the server's Retry-After on the last 429/503 (honoured before the next attempt)
        self.retry_after: float | None = None

    def label(self) -> str:
        return f"task {self.task_id}" if self.task_id else "the video"

    def headers(self) -> dict[str, str]:
        return {"Range": f"bytes={self.have}-"} if self.have else {}

    def start(self, resp: httpx.Response) -> bool:
        """Check the status; returns False when this attempt should be retried."""
        status = resp.status_code
        if status == 403:
            self.abort()
            raise VideoExpiredError(
                f"the video URL of {self.label()} was refused (HTTP 403): signed URLs expire "
                "24 h after the task finished, and the video cannot be fetched again",
                task_id=self.task_id,
            )
        if status in (200, 206):
            if status == 200 and self.have:
                self.file.seek(0)
                self.file.truncate()
                self.have = 0
            if status == 206:
                crange = resp.headers.get("content-range", "")
                try:
                    start = int(crange.split()[1].split("-")[0])
                    total_text = crange.rsplit("/", 1)[1]
                    self.total = int(total_text) if total_text != "*" else self.total
                except (IndexError, ValueError):
                    start = -1
                if start != self.have:
                    self.file.seek(0)
                    self.file.truncate()
                    self.have = 0
                    self.errors.append(f"bad Content-Range {crange!r}")
                    return False
            else:
                length = resp.headers.get("content-length")
                self.total = int(length) if length and length.isdigit() else None
            return True
        if status in (429, 500, 502, 503, 504):
            self.errors.append(f"HTTP {status}")
            self.retry_after = protocol.parse_retry_after(resp.headers.get("retry-after"))
            return False
        self.abort()
        raise DownloadError(
            f"downloading {self.label()} failed: HTTP {status}", task_id=self.task_id
        )

    def write(self, chunk: bytes) -> None:
        try:
            self.file.write(chunk)
        except OSError as exc:
            self.abort()
            if exc.errno == errno.ENOSPC:
                raise DownloadError(
                    f"disk full while saving {self.label()} to {self.path}: free some space "
                    "and download again (the partial file was removed)",
                    task_id=self.task_id,
                ) from None
            raise DownloadError(
                f"cannot write {self.part}: {exc.strerror}", task_id=self.task_id
            ) from None
        self.have += len(chunk)
        if self.on_progress is not None:
            self.on_progress(self.have, self.total)

    def complete(self) -> bool:
        return self.total is None or self.have >= self.total

    def failed(self, why: str) -> None:
        self.errors.append(why)

    def pause(self, failures: int, retry: RetryPolicy, rand: Callable[[], float]) -> float:
        """Seconds to wait before the next attempt: the server's Retry-After if it sent one,
        else backoff by the number of attempts that failed without any progress."""
        delay = retry.delay(max(failures - 1, 0), self.retry_after, rand)
        self.retry_after = None
        return delay

    def give_up(self) -> DownloadError:
        self.abort()
        return DownloadError(
            f"downloading {self.label()} failed: {DOWNLOAD_ATTEMPTS} attempts brought no data ("
            + "; ".join(self.errors[-3:])
            + ")",
            task_id=self.task_id,
        )

    def finish(self) -> Path:
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
        except OSError as exc:
            self.abort()
            if exc.errno == errno.ENOSPC:
                raise DownloadError(
                    f"disk full while saving {self.label()} to {self.path}", task_id=self.task_id
                ) from None
            raise
        self.file.close()
        if self.total is not None and self.have != self.total:
            self.abort()
            raise CorruptVideoError(
                f"{self.label()}: got {self.have} bytes, expected {self.total}",
                task_id=self.task_id,
            )
        if self.verify is not None:
            try:
                self.verify(self.part)
            except DownloadError:
                self.abort()
                raise
            except Exception as exc:
                self.abort()
                raise CorruptVideoError(
                    f"{self.label()}: the downloaded file failed verification: {exc}",
                    task_id=self.task_id,
                ) from None
        if self.overwrite:
            os.replace(self.part, self.path)
        else:
            try:
                move_no_clobber(self.part, self.path)
            except FileExistsError:
                self.part.unlink(missing_ok=True)
                raise DownloadError(
                    f"{self.path.name} already exists; not overwriting it", task_id=self.task_id
                ) from None
        try:
            fd = os.open(self.path.parent, os.O_RDONLY)
        except OSError:
            return self.path
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
        return self.path

    def abort(self) -> None:
        try:
            self.file.close()
        finally:
            self.part.unlink(missing_ok=True)


def _video_url(task_or_url: Task | str, task_id: str | None) -> tuple[str, str | None]:
    if isinstance(task_or_url, Task):
        if not task_or_url.video_url:
            raise DownloadError(
                f"task {task_or_url.task_id} has no video_url (status {task_or_url.status})",
                task_id=task_or_url.task_id,
            )
        return task_or_url.video_url, task_id or task_or_url.task_id
    return str(task_or_url), task_id


def _upload_parts(path: Path, policy: protocol.UploadPolicy) -> tuple[dict, str]:
    size = path.stat().st_size
    if policy.max_file_size_mb and size > policy.max_file_size_mb * 1024 * 1024:
        raise ValidationError(
            f"audio file {path.name} is {size / 1e6:.1f} MB, over the upload limit of "
            f"{policy.max_file_size_mb:g} MB",
            param="audio_url",
            value=str(path),
            allowed=f"at most {policy.max_file_size_mb:g} MB",
        )
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return policy.form_fields(path.name, mime), mime


class WanClient:
    """Synchronous client for Wan video generation.

    ``api_key`` (else ``DASHSCOPE_API_KEY``, ``DASHSCOPE_API_KEY_FILE_PATH``,
    ``~/.dashscope/api_key``), ``region`` (else ``DASHSCOPE_REGION``, default Singapore) or
    ``base_url`` (else ``DASHSCOPE_HTTP_BASE_URL``), ``workspace`` (else
    ``DASHSCOPE_WORKSPACE_ID``). ``poll_scale`` (else ``WAN_NOTEBOOK_POLL_SCALE``, default 1)
    multiplies the poll schedule's times (use ``1/speed`` against an emulator);
    ``wait_timeout`` is the default deadline of :meth:`wait`.
    """

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
        self._core = _Core(
            api_key,
            region=region,
            base_url=base_url,
            workspace=workspace,
            max_retries=max_retries,
            poll_scale=poll_scale,
            wait_timeout=wait_timeout,
            query_qps=query_qps,
            rand=rand,
            clock=clock,
        )
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
        """The service's clock as its ``Date`` headers tell it (for skew-proof windows)."""
        return self._core.service_clock

    # -- plumbing

    def _call(self, spec: CallSpec, ctx: dict[str, Any] | None = None) -> httpx.Response:
        core, ctx = self._core, ctx or {}
        attempt = 0
        while True:
            try:
                resp = self._http.request(
                    spec.method,
                    core.url(spec),
                    headers=core.headers(spec),
                    json=spec.json,
                    params=spec.params,
                )
            except httpx.TransportError as exc:
                delay = core.on_exception(spec, exc, attempt, ctx)
            else:
                core.service_clock.observe(resp.headers.get("date"))  # [claims hook]
                if resp.status_code == 200:
                    return resp
                delay = core.on_response(spec, resp, attempt, ctx)
            self._sleep(delay)
            attempt += 1

    # -- API

    def submit(self, prompt_or_request: str | VideoRequest, **params: Any) -> Task:
        """Validate, upload a local audio file if any, and create the task (PENDING)."""
        core = self._core
        req = core.build_request(prompt_or_request, params)
        oss = self.upload(req.local_audio_path, req.model) if req.local_audio_path else None
        spec = protocol.build_create(req.to_body(audio_url=oss), workspace=core.workspace)
        submitted_at, mono = datetime.now(), core.clock()
        ctx = {"what": f"create task ({req.model})", "model": req.model}
        ctx["submitted_at"] = submitted_at
        resp = self._call(spec, ctx)
        task = protocol.parse_create(resp.status_code, resp.content, resp.headers)
        if not task.task_id:
            raise submit_uncertain(req.model, submitted_at, "HTTP 200 without a task id")
        core.remember(task, req, mono)
        return task

    def get(self, task_or_id: Task | str) -> Task:
        """Query a task once."""
        task_id, _ = _task_id_of(task_or_id)
        spec = protocol.build_query(task_id, workspace=self._core.workspace)
        resp = self._call(spec, {"what": f"query task {task_id}"})
        return protocol.parse_query(resp.status_code, resp.content, resp.headers, task_id=task_id)

    def wait(
        self,
        task_or_id: Task | str,
        *,
        timeout: float | None = None,
        on_update: Callable[[Task], Any] | None = None,
    ) -> Task:
        """Poll until the task ends; return it if SUCCEEDED, else raise TaskFailedError,
        TaskCanceledError or TaskExpiredError; WaitTimeoutError at the deadline."""
        task_id, task = _task_id_of(task_or_id)
        if task is not None and task.is_terminal:
            return ensure_succeeded(task)
        waiter = _Waiter(self._core, task_id, task, timeout, on_update)
        while True:
            self._sleep(waiter.next_sleep())
            try:
                task = self.get(task_id)
            except WanError as exc:
                waiter.transient(exc)
                continue
            done = waiter.seen(task)
            if done is not None:
                return done

    def cancel(self, task_or_id: Task | str) -> None:
        """Cancel a PENDING task (400 UnsupportedOperation otherwise)."""
        task_id, _ = _task_id_of(task_or_id)
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
    ) -> Iterator[TaskSummary]:
        """Iterate tasks of the account (all pages); a range over 24 h is split into windows."""
        seen: set[str] = set()
        for lo, hi in _list_windows(start_time, end_time):
            page_no = 1
            while True:
                page = self.list_page(
                    page_no=page_no, page_size=page_size, model=model, status=status,
                    start_time=lo, end_time=hi, task_id=task_id,
                )  # fmt: skip
                for item in page.items:
                    if item.task_id not in seen:
                        seen.add(item.task_id)
                        yield item
                if not page.items or not page.has_more:
                    break
                page_no += 1

    def upload(self, path: str | os.PathLike[str], model: str) -> str:
        """Upload a local file through the temporary-upload policy; returns its oss:// URL."""
        path = Path(path)
        spec = protocol.build_upload_policy(model, workspace=self._core.workspace)
        resp = self._call(spec, {"what": "get upload policy"})
        policy = protocol.parse_upload_policy(resp.status_code, resp.content, resp.headers)
        fields, mime = _upload_parts(path, policy)
        upload_spec = CallSpec("upload", "POST", "")
        attempt = 0
        while True:
            try:
                with path.open("rb") as f:
                    resp = self._http.post(
                        policy.upload_host, data=fields, files={"file": (path.name, f, mime)}
                    )
            except httpx.TransportError as exc:
                delay = self._core.on_exception(upload_spec, exc, attempt, {"what": "upload"})
            else:
                if resp.status_code in (200, 204) or (attempt and resp.status_code == 409):
                    return policy.oss_url(path.name)
                delay = self._core.on_response(upload_spec, resp, attempt, {"what": "upload"})
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
    ) -> Path:
        """Stream the video to ``<path>.part``, resume with Range after a drop, check the
        length, ``verify(part)``, then rename into place (``overwrite=False``: never over an
        existing file). Returns ``path``."""
        url, task_id = _video_url(task_or_url, task_id)
        dl = _Download(path, task_id, verify, on_progress, overwrite)
        try:
            failures = 0  # attempts that brought no new bytes: at most DOWNLOAD_ATTEMPTS
            for attempt in range(DOWNLOAD_ATTEMPTS * 4):
                if attempt:
                    self._sleep(dl.pause(failures, self._core.retry, self._core.rand))
                before = dl.have
                try:
                    with self._http.stream("GET", url, headers=dl.headers()) as resp:
                        if dl.start(resp):
                            for chunk in resp.iter_bytes():  # as read: a cut keeps them all
                                dl.write(chunk)
                            if dl.complete():
                                return dl.finish()
                            dl.failed(f"short body ({dl.have} of {dl.total} bytes)")
                except httpx.TransportError as exc:
                    dl.failed(_describe(exc))
                    logger.warning("download of %s: %s; resuming", dl.label(), _describe(exc))
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
        """Submit, wait and download (to ``path``, default ``./<task_id>.mp4``)."""
        task = self.submit(prompt, **params)
        task = self.wait(task, timeout=timeout, on_update=on_update)
        target = Path(path) if path is not None else Path.cwd() / f"{task.task_id}.mp4"
        return GenerateResult(task, self.download(task, target, verify=verify))

    # -- lifecycle

    def close(self) -> None:
        """Close the HTTP connections (only if this client created them)."""
        if self._own_http:
            self._http.close()

    def __enter__(self) -> WanClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncWanClient:
    """The asyncio twin of :class:`WanClient` (same arguments, awaitable methods)."""

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
        self._core = _Core(
            api_key,
            region=region,
            base_url=base_url,
            workspace=workspace,
            max_retries=max_retries,
            poll_scale=poll_scale,
            wait_timeout=wait_timeout,
            query_qps=query_qps,
            rand=rand,
            clock=clock,
        )
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
        """The service's clock as its ``Date`` headers tell it (for skew-proof windows)."""
        return self._core.service_clock

    async def _call(self, spec: CallSpec, ctx: dict[str, Any] | None = None) -> httpx.Response:
        core, ctx = self._core, ctx or {}
        attempt = 0
        while True:
            try:
                resp = await self._http.request(
                    spec.method,
                    core.url(spec),
                    headers=core.headers(spec),
                    json=spec.json,
                    params=spec.params,
                )
            except httpx.TransportError as exc:
                delay = core.on_exception(spec, exc, attempt, ctx)
            else:
                core.service_clock.observe(resp.headers.get("date"))  # [claims hook]
                if resp.status_code == 200:
                    return resp
                delay = core.on_response(spec, resp, attempt, ctx)
            await self._sleep(delay)
            attempt += 1

    async def submit(self, prompt_or_request: str | VideoRequest, **params: Any) -> Task:
        """Validate, upload a local audio file if any, and create the task (PENDING)."""
        core = self._core
        req = core.build_request(prompt_or_request, params)
        oss = await self.upload(req.local_audio_path, req.model) if req.local_audio_path else None
        spec = protocol.build_create(req.to_body(audio_url=oss), workspace=core.workspace)
        submitted_at, mono = datetime.now(), core.clock()
        ctx = {"what": f"create task ({req.model})", "model": req.model}
        ctx["submitted_at"] = submitted_at
        resp = await self._call(spec, ctx)
        task = protocol.parse_create(resp.status_code, resp.content, resp.headers)
        if not task.task_id:
            raise submit_uncertain(req.model, submitted_at, "HTTP 200 without a task id")
        core.remember(task, req, mono)
        return task

    async def get(self, task_or_id: Task | str) -> Task:
        """Query a task once."""
        task_id, _ = _task_id_of(task_or_id)
        spec = protocol.build_query(task_id, workspace=self._core.workspace)
        resp = await self._call(spec, {"what": f"query task {task_id}"})
        return protocol.parse_query(resp.status_code, resp.content, resp.headers, task_id=task_id)

    async def wait(
        self,
        task_or_id: Task | str,
        *,
        timeout: float | None = None,
        on_update: Callable[[Task], Any] | None = None,
    ) -> Task:
        """Poll until the task ends (see :meth:`WanClient.wait`)."""
        task_id, task = _task_id_of(task_or_id)
        if task is not None and task.is_terminal:
            return ensure_succeeded(task)
        waiter = _Waiter(self._core, task_id, task, timeout, on_update)
        while True:
            await self._sleep(waiter.next_sleep())
            try:
                task = await self.get(task_id)
            except WanError as exc:
                waiter.transient(exc)
                continue
            done = waiter.seen(task)
            if done is not None:
                return done

    async def cancel(self, task_or_id: Task | str) -> None:
        """Cancel a PENDING task (400 UnsupportedOperation otherwise)."""
        task_id, _ = _task_id_of(task_or_id)
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
    ) -> AsyncIterator[TaskSummary]:
        """Iterate tasks of the account (all pages); a range over 24 h is split into windows."""
        seen: set[str] = set()
        for lo, hi in _list_windows(start_time, end_time):
            page_no = 1
            while True:
                page = await self.list_page(
                    page_no=page_no, page_size=page_size, model=model, status=status,
                    start_time=lo, end_time=hi, task_id=task_id,
                )  # fmt: skip
                for item in page.items:
                    if item.task_id not in seen:
                        seen.add(item.task_id)
                        yield item
                if not page.items or not page.has_more:
                    break
                page_no += 1

    async def upload(self, path: str | os.PathLike[str], model: str) -> str:
        """Upload a local file through the temporary-upload policy; returns its oss:// URL."""
        path = Path(path)
        spec = protocol.build_upload_policy(model, workspace=self._core.workspace)
        resp = await self._call(spec, {"what": "get upload policy"})
        policy = protocol.parse_upload_policy(resp.status_code, resp.content, resp.headers)
        fields, mime = _upload_parts(path, policy)
        upload_spec = CallSpec("upload", "POST", "")
        attempt = 0
        while True:
            try:
                content = path.read_bytes()
                resp = await self._http.post(
                    policy.upload_host, data=fields, files={"file": (path.name, content, mime)}
                )
            except httpx.TransportError as exc:
                delay = self._core.on_exception(upload_spec, exc, attempt, {"what": "upload"})
            else:
                if resp.status_code in (200, 204) or (attempt and resp.status_code == 409):
                    return policy.oss_url(path.name)
                delay = self._core.on_response(upload_spec, resp, attempt, {"what": "upload"})
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
    ) -> Path:
        """Stream the video to disk (see :meth:`WanClient.download`)."""
        url, task_id = _video_url(task_or_url, task_id)
        dl = _Download(path, task_id, verify, on_progress, overwrite)
        try:
            failures = 0  # attempts that brought no new bytes: at most DOWNLOAD_ATTEMPTS
            for attempt in range(DOWNLOAD_ATTEMPTS * 4):
                if attempt:
                    await self._sleep(dl.pause(failures, self._core.retry, self._core.rand))
                before = dl.have
                try:
                    async with self._http.stream("GET", url, headers=dl.headers()) as resp:
                        if dl.start(resp):
                            async for chunk in resp.aiter_bytes():  # as read: a cut keeps all
                                dl.write(chunk)
                            if dl.complete():
                                return dl.finish()
                            dl.failed(f"short body ({dl.have} of {dl.total} bytes)")
                except httpx.TransportError as exc:
                    dl.failed(_describe(exc))
                    logger.warning("download of %s: %s; resuming", dl.label(), _describe(exc))
                if dl.have <= before:
                    failures += 1
                    if failures >= DOWNLOAD_ATTEMPTS:
                        break
            raise dl.give_up()
        except BaseException:
            if not dl.file.closed:
                dl.abort()
            raise

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
        """Submit, wait and download (to ``path``, default ``./<task_id>.mp4``)."""
        task = await self.submit(prompt, **params)
        task = await self.wait(task, timeout=timeout, on_update=on_update)
        target = Path(path) if path is not None else Path.cwd() / f"{task.task_id}.mp4"
        return GenerateResult(task, await self.download(task, target, verify=verify))

    async def aclose(self) -> None:
        """Close the HTTP connections (only if this client created them)."""
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncWanClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
