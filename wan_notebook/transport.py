"""The rules of one HTTP call, shared by both clients (no sockets here).

* **Bounded time.** Every call has a :class:`Deadline`: each phase's httpx timeout is capped
  by the time left, and the body is read chunk by chunk with the deadline checked between
  chunks, so a server that sends a byte every 2 s cannot hold a call past it.
* **Bounded size.** A JSON answer is streamed into memory up to :data:`MAX_JSON_BYTES`; a
  larger one (declared or sent) is refused, never buffered whole.
* **Nothing sent, nothing uncertain.** A failure is classified (:func:`problem_of`) as
  *not sent* (bad URL scheme, invalid URL, connect refused, DNS) or *after send*; only the
  latter can make a create uncertain.
* **No secret kept.** Answers are scrubbed of the API key (a proxy may echo the
  ``Authorization`` header), and failures are copied into a :class:`Problem` (type name, host,
  scrubbed text) so that no httpx exception, whose ``request`` carries the headers, is ever
  chained to one of ours.

:class:`ClientCore` holds a client's settings and the decisions between two I/O steps; the
sync and async shells in :mod:`.client` only move bytes.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import httpx

from . import catalog, protocol
from ._version import __version__
from .errors import (
    ConfigurationError,
    RateLimitError,
    ServiceError,
    ValidationError,
    WanConnectionError,
)
from .polling import DurationLearner, PollConfig, QueryBudget, TaskPoller
from .protocol import CallSpec, Task
from .protocol_new import model_error
from .request import PARAMS, VideoRequest
from .retry import Failure, RetryPolicy, Verdict, submit_uncertain
from .service_clock import ServiceClock
from .settings import (
    POLL_SCALE_ENV,
    Secret,
    resolve_api_key,
    resolve_base_url,
    resolve_poll_scale,
    resolve_workspace,
    speed_from_headers,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_JSON_BYTES",
    "Answer",
    "ClientCore",
    "Deadline",
    "Problem",
    "ResponseTooLarge",
    "Stalled",
    "problem_of",
    "read_capped",
    "scrub",
]

logger = logging.getLogger("wan_notebook")

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DEFAULT_WAIT_TIMEOUT = 1800.0
#: The largest JSON answer read into memory (a real one is a few KB; a list page ~100 KB).
MAX_JSON_BYTES = 4 * 1024 * 1024
REDACTED = "***"


# ---------------------------------------------------------------- time


class Deadline:
    """An absolute instant on the monotonic clock that one call (or a whole
    ``generate``) must end by."""

    def __init__(self, at: float) -> None:
        self.at = at

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """The deadline ``seconds`` from now (negative or NaN: already expired)."""
        if not math.isfinite(seconds):
            seconds = 0.0 if math.isnan(seconds) else seconds
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left (0 once expired)."""
        return max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        """True once the instant has passed."""
        return time.monotonic() >= self.at

    def timeout(self, base: httpx.Timeout) -> httpx.Timeout:
        """``base`` with every phase capped by the time left (at least 1 ms)."""
        left = max(self.remaining(), 0.001)

        def cap(value: float | None) -> float:
            return left if value is None else min(value, left)

        return httpx.Timeout(
            connect=cap(base.connect), read=cap(base.read), write=cap(base.write),
            pool=cap(base.pool),
        )  # fmt: skip

    def earliest(self, other: Deadline | None) -> Deadline:
        """The earlier of two deadlines."""
        return self if other is None or self.at <= other.at else other


def attempt_seconds(base: httpx.Timeout) -> float:
    """A single attempt's total bound when the caller gave none: connect + read timeouts."""
    parts = [base.connect or 0.0, base.read or 0.0]
    total = sum(p for p in parts if p)
    return total if total > 0 else DEFAULT_TIMEOUT.read or 60.0


# ---------------------------------------------------------------- size


class ResponseTooLarge(Exception):
    """Internal: an answer exceeded the cap (``declared`` is its Content-Length, if sent)."""

    def __init__(self, cap: int, declared: int | None) -> None:
        super().__init__(f"answer larger than {cap} bytes")
        self.cap = cap
        self.declared = declared


class Stalled(Exception):
    """Internal: the deadline passed while the body was still arriving."""


def declared_length(headers: httpx.Headers) -> int | None:
    """Content-Length as an int, or None if absent or malformed."""
    text = headers.get("content-length", "").strip()
    return int(text) if text.isdigit() else None


def _check_chunk(buf: bytearray, cap: int, deadline: Deadline) -> None:
    if len(buf) > cap:
        raise ResponseTooLarge(cap, None)
    if deadline.expired:
        raise Stalled()


def read_capped(resp: httpx.Response, cap: int, deadline: Deadline) -> bytes:
    """The body of a streamed response, at most ``cap`` bytes, before ``deadline``."""
    length = declared_length(resp.headers)
    if length is not None and length > cap:
        raise ResponseTooLarge(cap, length)
    buf = bytearray()
    for chunk in resp.iter_bytes():
        buf += chunk
        _check_chunk(buf, cap, deadline)
    return bytes(buf)


async def aread_capped(resp: httpx.Response, cap: int, deadline: Deadline) -> bytes:
    """The async twin of :func:`read_capped`."""
    length = declared_length(resp.headers)
    if length is not None and length > cap:
        raise ResponseTooLarge(cap, length)
    buf = bytearray()
    async for chunk in resp.aiter_bytes():
        buf += chunk
        _check_chunk(buf, cap, deadline)
    return bytes(buf)


# ---------------------------------------------------------------- secrets


def scrub(text: str, secret: Secret | str | None) -> str:
    """``text`` with the key replaced by ``***`` (server text may echo it)."""
    value = secret.reveal() if isinstance(secret, Secret) else secret
    if not value or value not in text:
        return text
    return text.replace(value, REDACTED)


def scrub_bytes(data: bytes, secret: Secret) -> bytes:
    """``data`` with the key replaced by ``***``."""
    value = secret.reveal().encode("utf-8", "ignore")
    return data.replace(value, REDACTED.encode()) if value and value in data else data


class Answer(NamedTuple):
    """A complete answer, already scrubbed of the key (the parsers in :mod:`.protocol` take
    its ``status_code, content, headers``)."""

    status_code: int
    headers: httpx.Headers
    content: bytes


# ---------------------------------------------------------------- failures


@dataclass(frozen=True)
class Problem:
    """What we keep of a failed attempt: no httpx object, no header, no key."""

    failure: Failure
    text: str
    #: a mistake no retry can fix (unsupported scheme, invalid URL)
    permanent: bool = False


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
_PERMANENT = (httpx.UnsupportedProtocol, httpx.InvalidURL)


def problem_of(exc: BaseException, secret: Secret) -> Problem:
    """Classify an httpx failure; the text is ``Type: message`` with the key scrubbed."""
    raw = str(exc).strip()
    text = scrub(f"{type(exc).__name__}: {raw}" if raw else type(exc).__name__, secret)
    if isinstance(exc, _PERMANENT):
        return Problem(Failure.NOT_SENT, text, permanent=True)
    if isinstance(exc, _NOT_SENT):
        return Problem(Failure.NOT_SENT, text)
    return Problem(Failure.AFTER_SEND, text)


STALLED = Problem(Failure.AFTER_SEND, "ReadTimeout: no complete answer before the deadline")


def check_base_url(url: str, source: str) -> None:
    """A clear ConfigurationError for a base URL httpx cannot send to (before any call)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"base_url {url!r} (from {source}) is not a valid URL ({exc}); use "
            "https://<host>/api/v1"
        ) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(
            f"base_url {url!r} (from {source}) must start with https:// (or http:// for a "
            "local emulator) and name a host, e.g. https://dashscope-intl.aliyuncs.com/api/v1"
        )


# ---------------------------------------------------------------- the core


class ClientCore:
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
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self.key, self.key_source = resolve_api_key(api_key)
        self.base_url, self.base_url_source = resolve_base_url(
            base_url, region=region, workspace=workspace
        )
        check_base_url(self.base_url, self.base_url_source)
        self.workspace, self.workspace_source = resolve_workspace(workspace)
        self.retry = RetryPolicy(max_retries=max_retries)
        scale, self.poll_scale_source = resolve_poll_scale(poll_scale)
        self.poll_config = PollConfig(time_scale=scale)
        self.wait_timeout = wait_timeout
        self.learner = DurationLearner()
        self.budget = QueryBudget(query_qps)
        self.rand = rand or random.random
        self.clock = clock or time.monotonic
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.max_json_bytes = MAX_JSON_BYTES
        #: the service's clock, learned from every answer's Date header
        self.service_clock = ServiceClock()
        # task id -> (local submit time, model, expected seconds); bounded
        self.submitted: OrderedDict[str, tuple[float, str, float]] = OrderedDict()

    def adapt_to(self, headers: Mapping[str, str]) -> None:
        """Poll at the pace of an emulator that announces its speed (``X-Wan-Emulator-Speed``),
        unless the poll scale was set explicitly (argument or ``WAN_NOTEBOOK_POLL_SCALE``)."""
        if self.poll_scale_source in ("argument", POLL_SCALE_ENV):
            return
        speed = speed_from_headers(headers)
        if speed is not None and self.poll_config.time_scale != 1.0 / speed:
            self.poll_config = dataclasses.replace(self.poll_config, time_scale=1.0 / speed)

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

    def deadline(self, outer: Deadline | None) -> Deadline:
        """One attempt's deadline: the default attempt bound, or ``outer`` if sooner."""
        return Deadline.after(attempt_seconds(self.timeout)).earliest(outer)

    def observe(self, resp: httpx.Response) -> None:
        """Learn from every answer's headers: the service's clock from ``Date``; an
        emulator's speed (issue 12)."""
        self.service_clock.observe(resp.headers.get("date"))
        self.adapt_to(resp.headers)

    def answer(self, resp: httpx.Response, body: bytes) -> Answer:
        """The scrubbed, complete answer of one streamed response."""
        headers = httpx.Headers([(k, scrub(v, self.key)) for k, v in resp.headers.items()])
        return Answer(resp.status_code, headers, scrub_bytes(body, self.key))

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

    # -- retry decisions: return a delay to sleep, or raise (never inside an except block)

    def on_response(self, spec: CallSpec, resp: Answer, attempt: int, ctx: dict[str, Any]) -> float:
        err = protocol.parse_error(
            resp.status_code, resp.content, resp.headers, context=ctx.get("what", spec.kind)
        )
        verdict = self.retry.verdict(spec.kind, attempt, status=resp.status_code)
        if verdict is Verdict.UNCERTAIN:
            raise submit_uncertain(
                ctx["model"], ctx["submitted_at"], f"HTTP {resp.status_code} {err.code}"
            )
        if verdict is Verdict.RAISE:
            # issue 13: "Model not exist." names the model and the region
            raise model_error(err, ctx.get("model"), catalog.region_of_url(self.base_url))
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

    def on_problem(self, spec: CallSpec, problem: Problem, attempt: int, ctx: dict) -> float:
        what = ctx.get("what", spec.kind)
        if problem.permanent:
            raise ConfigurationError(
                f"{what}: nothing was sent ({problem.text}). Check the base URL "
                f"{self.base_url!r}: it must be an http(s) URL."
            )
        verdict = self.retry.verdict(spec.kind, attempt, failure=problem.failure)
        if verdict is Verdict.UNCERTAIN:
            raise submit_uncertain(ctx["model"], ctx["submitted_at"], problem.text)
        if verdict is Verdict.RAISE:
            sent = "nothing was sent" if problem.failure is Failure.NOT_SENT else "no answer"
            raise WanConnectionError(
                f"{what}: could not reach {self.base_url} ({problem.text}; {sent}) after "
                f"{attempt + 1} attempt(s). Check the network and the base URL/region."
            )
        delay = self.retry.delay(attempt, None, self.rand)
        logger.warning(
            "%s: %s; retry %d/%d in %.2fs",
            what,
            problem.text,
            attempt + 1,
            self.retry.max_retries,
            delay,
        )
        return delay

    def too_large(self, spec: CallSpec, exc: ResponseTooLarge, ctx: dict) -> Exception:
        """The error for an oversized answer (a create's is uncertain: a task may exist)."""
        size = f"{exc.declared} bytes" if exc.declared is not None else f"over {exc.cap} bytes"
        if spec.kind == "create":
            return submit_uncertain(ctx["model"], ctx["submitted_at"], f"HTTP 200, {size}")
        what = ctx.get("what", spec.kind)
        return ServiceError(
            f"{what}: ResponseTooLarge: the answer was {size}; at most {exc.cap} are read. "
            + ServiceError.hint,
            code="ResponseTooLarge",
        )

    def expired(self, spec: CallSpec, ctx: dict) -> WanConnectionError:
        """The error when a call's deadline passed before a complete answer."""
        what = ctx.get("what", spec.kind)
        return WanConnectionError(f"{what}: no complete answer before the deadline")

    def log_download_retry(self, label: str, why: str) -> None:
        logger.warning("download of %s: %s; resuming", label, why)

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


def submitted_now() -> datetime:
    """The local time a create is sent (for the uncertain message's list hint)."""
    return datetime.now()
