"""The store's value types (what :class:`~wan_notebook.store.OutputStore` returns) and the
time helpers they share. Plain frozen dataclasses: no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from .. import catalog

__all__ = [
    "URL_MARGIN",
    "Event",
    "Intent",
    "Lookup",
    "LookupKind",
    "Paths",
    "RebuildReport",
    "SavedResult",
    "TaskRecord",
    "url_expiry",
]

LookupKind = Literal["saved", "redownload", "in_flight", "expired", "none"]
#: A signed URL this close to expiry is treated as expired (a download takes time).
URL_MARGIN = timedelta(minutes=2)
UNFINISHED = ("PENDING", "RUNNING")
#: A task this close to the end of its lifetime on the service is not polled for a new URL.
TASK_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True)
class Paths:
    """Where one result's files go; every path is inside the outputs folder."""

    stem: str
    video: Path
    sidecar: Path
    poster: Path
    #: The download in progress; its suffix keeps it from ever looking finished.
    part: Path


@dataclass(frozen=True)
class Event:
    """One status change of a task, as journaled."""

    task_id: str
    status: str
    at: datetime
    detail: str | None = None


@dataclass(frozen=True)
class Intent:
    """A create request sent (or about to be) whose task id is not known yet."""

    id: int
    digest: str
    model: str
    created_at: datetime
    state: Literal["open", "resolved", "abandoned"]
    task_id: str | None
    request: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class TaskRecord:
    """A journaled task: what was asked, its last status, where its files go."""

    task_id: str
    digest: str
    model: str
    prompt: str
    status: str
    created_at: datetime
    updated_at: datetime
    paths: Paths
    submit_request_id: str | None
    query_request_id: str | None
    #: Signed, valid ~24 h, works without a key: kept out of reprs and sidecars.
    video_url: str | None = field(repr=False)
    url_expires_at: datetime | None
    error_code: str | None
    error_message: str | None
    saved_at: datetime | None
    size: int | None
    sha256: str | None
    cached_hits: int
    request: dict[str, Any] = field(repr=False)

    @property
    def saved(self) -> bool:
        """True once :meth:`OutputStore.save_result` recorded the file."""
        return self.saved_at is not None

    @property
    def unfinished(self) -> bool:
        """PENDING or RUNNING: still worth polling."""
        return self.status in UNFINISHED

    def service_keeps(self, now: datetime | None = None) -> bool:
        """Whether the service should still know this task (created less than its 24 h
        lifetime ago, with a margin), so polling it can give a fresh video URL."""
        lifetime = timedelta(seconds=catalog.TASK_LIFETIME_S) - TASK_MARGIN
        return (now or now_utc()) < self.created_at + lifetime

    def url_alive(self, now: datetime | None = None) -> bool:
        """Whether ``video_url`` can still be downloaded (with a safety margin)."""
        if not self.video_url or self.url_expires_at is None:
            return False
        return (now or now_utc()) + URL_MARGIN < self.url_expires_at


@dataclass(frozen=True)
class SavedResult:
    """A saved video with its sidecar and (optional) poster."""

    task_id: str
    model: str
    prompt: str
    digest: str
    video: Path
    sidecar: Path
    poster: Path | None
    size: int
    sha256: str
    created_at: datetime
    saved_at: datetime
    #: Probed from the file: width, height, fps, duration, has_audio, video/audio codec
    #: (None without PyAV).
    media: dict[str, Any] | None
    cached_hits: int = 0
    request: dict[str, Any] = field(default_factory=dict, repr=False)
    #: The sidecar's contents (see :mod:`wan_notebook._sidecar`); ``{}`` if it is unreadable.
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Lookup:
    """What the store knows about a request, best outcome first.

    ``saved``: ``saved`` is on disk and verified. ``redownload``: the task SUCCEEDED, the file
    is missing or was corrupt (moved aside to ``*.corrupt``) and ``url`` still works; download
    it to ``paths`` (``url`` is None when no working URL is journaled but the task is young
    enough for the service to keep it: poll the task for a fresh URL). ``in_flight``:
    ``task`` is PENDING/RUNNING, re-attach to it. ``expired``: the file is gone, the URL
    expired and the service no longer keeps the task. ``none``: nothing usable (FAILED and
    CANCELED tasks are journaled but never served). ``dangling`` lists open intents for the
    same request (a create whose answer never came): reconcile them before paying again.
    """

    kind: LookupKind
    task: TaskRecord | None = None
    saved: SavedResult | None = None
    url: str | None = field(default=None, repr=False)
    paths: Paths | None = None
    dangling: tuple[Intent, ...] = ()

    @property
    def task_id(self) -> str | None:
        """The task this outcome is about (None for ``none``)."""
        return self.task.task_id if self.task is not None else None

    @property
    def status(self) -> str | None:
        """That task's journaled status."""
        return self.task.status if self.task is not None else None


@dataclass(frozen=True)
class RebuildReport:
    """What :meth:`OutputStore.rebuild_index` did: counts and each skipped file with why."""

    added: int
    updated: int
    skipped: tuple[tuple[str, str], ...]


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def iso(value: datetime) -> str:
    """Fixed-width UTC ISO 8601 (sorts as text); a naive datetime is taken as local time."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def service_time(value: Any) -> str | None:
    """A service time stamp as text: naive ones stay naive (the service's own clock)."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    return None


def _signed_expiry(url: str) -> datetime | None:
    """The instant a signed OSS URL says it stops working, on the *service's* clock: its
    ``Expires`` (V1) or ``x-oss-date`` + ``x-oss-expires`` (V4) query fields; None if absent."""
    try:
        query = {k.lower(): v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        if "expires" in query:
            return datetime.fromtimestamp(int(query["expires"]), tz=timezone.utc)
        if "x-oss-date" in query and "x-oss-expires" in query:
            start = datetime.strptime(query["x-oss-date"], "%Y%m%dT%H%M%SZ")
            return start.replace(tzinfo=timezone.utc) + timedelta(
                seconds=int(query["x-oss-expires"])
            )
    except (ValueError, OverflowError, OSError):
        pass
    return None


def url_expiry(url: str, at: datetime, *, service_now: datetime | None = None) -> datetime:
    """When a signed URL received at local time ``at`` stops working, on the *local* clock.

    The URL's own expiry is on the service's clock. With ``service_now`` (the service's time
    at ``at``, from its ``Date`` header) the URL's remaining lifetime is measured on the
    service's clock and added to ``at``: a local clock a day fast or slow changes nothing.
    Without it, the lifetime is measured against ``at``; a lifetime that is impossible for a
    URL the service has just handed out (already expired, or longer than the task's 24 h)
    means the local clock is wrong, and the service's promise (``at`` + 24 h) is used instead:
    better to try the download (a 403 says it expired) than to pay for the video again.
    """
    at = at.astimezone(timezone.utc)
    promised = timedelta(seconds=catalog.TASK_LIFETIME_S)
    expires = _signed_expiry(url)
    if expires is None:
        return at + promised
    if service_now is not None:
        if service_now.tzinfo is None:
            service_now = service_now.replace(tzinfo=timezone.utc)
        return at + (expires - service_now)
    lifetime = expires - at
    if timedelta(0) < lifetime <= promised + URL_SKEW_SLACK:
        return expires
    return at + promised


#: How far beyond the promised 24 h a fresh URL's lifetime may reach before the local clock
#: is taken to be slow (signing happens a little after the task ends).
URL_SKEW_SLACK = timedelta(hours=1)
