"""Sans-IO protocol: build each HTTP call as a :class:`CallSpec`, parse each response.

Nothing here touches a socket, a clock or the API key: the client adds ``Authorization`` and
sends the spec. Parsing is lenient (PROTOCOL 4, 9, 11.4): ``"code": null`` or ``""``, ``SR`` as
a number or a string, int or float durations, unknown fields (kept in ``raw``), unknown status
strings (kept as they are) and a 200 body without ``output`` are all accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from .errors import (
    TaskCanceledError,
    TaskExpiredError,
    task_failed_error,
)
from .protocol_parsing import (
    SERVICE_TZ,
    _int,
    _json,
    _malformed,
    _number,
    _str,
    _usage,
    parse_error,
    parse_retry_after,
    parse_time,
)

__all__ = [
    "CREATE_PATH",
    "SERVICE_TZ",
    "TERMINAL_STATUSES",
    "CallSpec",
    "Task",
    "TaskPage",
    "TaskSummary",
    "UploadPolicy",
    "build_cancel",
    "build_create",
    "build_list",
    "build_query",
    "build_upload_policy",
    "ensure_succeeded",
    "format_list_time",
    "parse_cancel",
    "parse_create",
    "parse_error",
    "parse_list",
    "parse_query",
    "parse_retry_after",
    "parse_time",
    "parse_upload_policy",
    "redact_url",
]

CREATE_PATH = "/services/aigc/video-generation/video-synthesis"
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"})
KNOWN_STATUSES = frozenset({"PENDING", "RUNNING", *TERMINAL_STATUSES})
_JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


@dataclass(frozen=True)
class CallSpec:
    """One HTTP call, relative to the API base URL (``path`` starts with ``/``)."""

    kind: str  # create | query | cancel | list | upload_policy
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    params: dict[str, str] | None = None


# ---------------------------------------------------------------- building


def _common(workspace: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if workspace:
        headers["X-DashScope-WorkSpace"] = workspace
    return headers


def build_create(
    body: Mapping[str, Any], *, workspace: str | None = None, path: str = CREATE_PATH
) -> CallSpec:
    """The create call for a body from :meth:`VideoRequest.to_body`.

    ``X-DashScope-OssResourceResolve: enable`` is added when any input is an ``oss://`` URL
    (also inside lists and ``media[]`` items). ``path``: the model's endpoint (kf2v models
    post to ``image2video``, PROTOCOL 16.2).
    """
    headers = {**_common(workspace), **_JSON_HEADERS, "X-DashScope-Async": "enable"}
    inputs = body.get("input") or {}
    if any(_has_oss(v) for v in inputs.values()):
        headers["X-DashScope-OssResourceResolve"] = "enable"
    return CallSpec("create", "POST", path, headers, json=dict(body))


def _has_oss(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith("oss://")
    if isinstance(value, Mapping):
        return any(_has_oss(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_oss(v) for v in value)
    return False


def _task_path(task_id: str) -> str:
    if not isinstance(task_id, str) or not task_id.strip():
        raise ValueError(f"task_id must be a non-empty string, got {task_id!r}")
    return "/tasks/" + quote(task_id.strip(), safe="")


def build_query(task_id: str, *, workspace: str | None = None) -> CallSpec:
    """``GET /tasks/{id}``."""
    return CallSpec("query", "GET", _task_path(task_id), _common(workspace))


def build_cancel(task_id: str, *, workspace: str | None = None) -> CallSpec:
    """``POST /tasks/{id}/cancel`` with no body (as the docs and the sync SDK)."""
    return CallSpec("cancel", "POST", _task_path(task_id) + "/cancel", _common(workspace))


def format_list_time(value: datetime | str) -> str:
    """``YYYYMMDDhhmmss`` for the list call; strings are passed through if already in it.

    Datetimes are converted to the service's clock, UTC+8 (naive ones are taken as the
    machine's local time, as Python does).
    """
    if isinstance(value, datetime):
        return value.astimezone(SERVICE_TZ).strftime("%Y%m%d%H%M%S")
    text = str(value)
    if len(text) != 14 or not text.isdigit():
        raise ValueError(f"time {value!r} must be a datetime or 'YYYYMMDDhhmmss'")
    return text


def build_list(
    *,
    model: str | None = None,
    status: str | None = None,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
    task_id: str | None = None,
    page_no: int = 1,
    page_size: int = 10,
    workspace: str | None = None,
) -> CallSpec:
    """``GET /tasks`` with the documented query parameters (PROTOCOL 6)."""
    params: dict[str, str] = {"page_no": str(page_no), "page_size": str(page_size)}
    if model:
        params["model_name"] = model
    if status:
        params["status"] = status
    if start_time is not None:
        params["start_time"] = format_list_time(start_time)
    if end_time is not None:
        params["end_time"] = format_list_time(end_time)
    if task_id:
        params["task_id"] = task_id
    return CallSpec("list", "GET", "/tasks", _common(workspace), params=params)


def build_upload_policy(model: str, *, workspace: str | None = None) -> CallSpec:
    """``GET /uploads?action=getPolicy&model=...`` (PROTOCOL 11.6)."""
    return CallSpec(
        "upload_policy",
        "GET",
        "/uploads",
        _common(workspace),
        params={"action": "getPolicy", "model": model},
    )


# ---------------------------------------------------------------- parsing helpers


# ---------------------------------------------------------------- tasks


def redact_url(url: str | None) -> str | None:
    """A signed URL without its query string (the signature works as a bearer credential,
    so it never goes into a repr, a notebook or its HTML export)."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if not parts.query and not parts.fragment:
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) + "?…"


@dataclass(frozen=True)
class Task:
    """A task as the service last reported it. ``raw`` is the whole response body."""

    task_id: str
    status: str
    video_url: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    code: str | None = None
    message: str | None = None
    submit_time: datetime | None = None
    scheduled_time: datetime | None = None
    end_time: datetime | None = None
    orig_prompt: str | None = None
    actual_prompt: str | None = None
    request_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:
        shown = {
            "task_id": self.task_id,
            "status": self.status,
            "video_url": redact_url(self.video_url),
            "usage": self.usage,
            "code": self.code,
            "message": self.message,
            "submit_time": self.submit_time,
            "end_time": self.end_time,
            "orig_prompt": self.orig_prompt,
            "request_id": self.request_id,
        }
        body = ", ".join(f"{k}={v!r}" for k, v in shown.items() if v not in (None, {}))
        return f"Task({body})"

    @property
    def is_terminal(self) -> bool:
        """SUCCEEDED, FAILED, CANCELED or UNKNOWN: the status will not change again."""
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        """True when the task produced a video."""
        return self.status == "SUCCEEDED"

    @property
    def is_known_status(self) -> bool:
        """False for a status string the protocol does not document."""
        return self.status in KNOWN_STATUSES

    @property
    def queue_seconds(self) -> float | None:
        """scheduled_time - submit_time, in the service's clock."""
        return _diff(self.submit_time, self.scheduled_time)

    @property
    def run_seconds(self) -> float | None:
        """end_time - scheduled_time, in the service's clock."""
        return _diff(self.scheduled_time, self.end_time)

    @property
    def video_seconds(self) -> float | None:
        """The billed video length from ``usage`` (either usage style), if reported."""
        for key in ("output_video_duration", "video_duration", "duration"):
            value = self.usage.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                return float(value)
        return None

    @classmethod
    def from_output(
        cls, output: Mapping[str, Any], *, raw: dict[str, Any], task_id: str | None = None
    ) -> Task:
        """Build from an ``output`` object; ``task_id`` fills in a missing id."""
        return cls(
            task_id=_str(output.get("task_id")) or task_id or "",
            status=(_str(output.get("task_status")) or "").strip(),
            video_url=_str(output.get("video_url")),
            usage=_usage(raw.get("usage")),
            code=_str(output.get("code")) or _str(raw.get("code")),
            message=_str(output.get("message")) or _str(raw.get("message")),
            submit_time=parse_time(output.get("submit_time")),
            scheduled_time=parse_time(output.get("scheduled_time")),
            end_time=parse_time(output.get("end_time")),
            orig_prompt=_str(output.get("orig_prompt")),
            actual_prompt=_str(output.get("actual_prompt")),
            request_id=_str(raw.get("request_id")),
            raw=raw,
        )


def _diff(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None or (a.tzinfo is None) != (b.tzinfo is None):
        return None
    return (b - a).total_seconds()


def _output_of(data: dict[str, Any]) -> Mapping[str, Any]:
    """``output``, else ``data``, else the body minus ``request_id`` (as the SDK, 11.4)."""
    out = data.get("output")
    if isinstance(out, Mapping):
        return out
    out = data.get("data")
    if isinstance(out, Mapping):
        return out
    return {k: v for k, v in data.items() if k not in ("request_id", "usage")}


def _ok_body(status: int, body: Any, headers: Mapping[str, str] | None, ctx: str) -> dict:
    if status != 200:
        raise parse_error(status, body, headers, context=ctx)
    data = _json(body)
    if data is None:
        raise _malformed(status, "the body is not a JSON object", None, ctx)
    return data


def parse_create(
    status: int,
    body: bytes | str | Mapping[str, Any] | None,
    headers: Mapping[str, str] | None = None,
) -> Task:
    """The created task (``status`` is normally PENDING). An empty ``task_id`` means the 200
    body named no task: the caller must treat the submit as uncertain."""
    data = _ok_body(status, body, headers, "create task")
    output = data.get("output")
    return Task.from_output(output if isinstance(output, Mapping) else {}, raw=data)


def parse_query(
    status: int,
    body: bytes | str | Mapping[str, Any] | None,
    headers: Mapping[str, str] | None = None,
    *,
    task_id: str = "",
) -> Task:
    """A task query. A 200 body with no status gives ``status == ""`` (not terminal)."""
    data = _ok_body(status, body, headers, f"query task {task_id}".strip())
    return Task.from_output(_output_of(data), raw=data, task_id=task_id)


def parse_cancel(
    status: int,
    body: bytes | str | Mapping[str, Any] | None,
    headers: Mapping[str, str] | None = None,
    *,
    task_id: str = "",
) -> str | None:
    """Cancel accepted: returns the request id. 400 UnsupportedOperation raises as usual."""
    data = _ok_body(status, body, headers, f"cancel task {task_id}".strip())
    return _str(data.get("request_id"))


def ensure_succeeded(task: Task) -> Task:
    """Return a SUCCEEDED task; raise the matching TaskError for the other terminal states
    (FAILED -> TaskFailedError, moderation codes also ContentModerationError; CANCELED;
    UNKNOWN -> TaskExpiredError)."""
    if task.succeeded:
        return task
    if task.status == "FAILED":
        raise task_failed_error(task.task_id, task.code, task.message, task)
    if task.status == "CANCELED":
        raise TaskCanceledError(
            f"task {task.task_id} was CANCELED before it ran; nothing was billed",
            task_id=task.task_id,
            status=task.status,
            task=task,
        )
    raise TaskExpiredError(
        f"task {task.task_id} is UNKNOWN to the service: it is older than 24 h (its video "
        "can no longer be fetched) or the id never existed in this region/account",
        task_id=task.task_id,
        status=task.status,
        task=task,
    )


# ---------------------------------------------------------------- list


@dataclass(frozen=True)
class TaskSummary:
    """One row of the list call (PROTOCOL 6); times are aware UTC datetimes."""

    task_id: str
    status: str
    model: str | None = None
    region: str | None = None
    request_id: str | None = None
    created: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        """True when the status will not change again."""
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class TaskPage:
    """One page of the list call."""

    items: tuple[TaskSummary, ...]
    total: int | None
    total_page: int | None
    page_no: int
    page_size: int
    request_id: str | None = None

    @property
    def has_more(self) -> bool:
        """Whether a further page may hold more rows."""
        if self.total_page is not None:
            return self.page_no < self.total_page
        if self.total is not None:
            return self.page_no * self.page_size < self.total
        return len(self.items) >= self.page_size > 0


def parse_list(
    status: int,
    body: bytes | str | Mapping[str, Any] | None,
    headers: Mapping[str, str] | None = None,
    *,
    page_no: int = 1,
    page_size: int = 10,
) -> TaskPage:
    """A list page; rows without a task id are skipped."""
    data = _ok_body(status, body, headers, "list tasks")
    rows = data.get("data")
    if not isinstance(rows, list) and isinstance(data.get("output"), Mapping):
        data = {**data, **data["output"]}
        rows = data.get("data")
    items = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, Mapping) or not _str(row.get("task_id")):
            continue
        items.append(
            TaskSummary(
                task_id=str(row["task_id"]),
                status=(_str(row.get("status")) or _str(row.get("task_status")) or "").strip(),
                model=_str(row.get("model_name")),
                region=_str(row.get("region")),
                request_id=_str(row.get("request_id")),
                created=parse_time(row.get("gmt_create")),
                start_time=parse_time(row.get("start_time")),
                end_time=parse_time(row.get("end_time")),
                raw=dict(row),
            )
        )
    return TaskPage(
        items=tuple(items),
        total=_int(data.get("total")),
        total_page=_int(data.get("total_page")),
        page_no=_int(data.get("page_no")) or page_no,
        page_size=_int(data.get("page_size")) or page_size,
        request_id=_str(data.get("request_id")),
    )


# ---------------------------------------------------------------- uploads


@dataclass(frozen=True)
class UploadPolicy:
    """The temporary-upload policy (PROTOCOL 11.6). Its fields are a signed form, not a key."""

    upload_host: str
    upload_dir: str
    policy: str
    signature: str
    oss_access_key_id: str
    x_oss_object_acl: str | None = None
    x_oss_forbid_overwrite: str | None = None
    expire_in_seconds: float | None = None
    max_file_size_mb: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def key(self, filename: str) -> str:
        """The object key of a file: ``<upload_dir>/<filename>``."""
        return f"{self.upload_dir.rstrip('/')}/{filename}"

    def oss_url(self, filename: str) -> str:
        """The ``oss://`` URL to send after the upload."""
        return "oss://" + self.key(filename)

    def form_fields(self, filename: str, content_type: str) -> dict[str, str]:
        """The multipart form fields (the file part goes separately, named ``file``)."""
        fields = {
            "OSSAccessKeyId": self.oss_access_key_id,
            "Signature": self.signature,
            "policy": self.policy,
            "key": self.key(filename),
            "success_action_status": "200",
            "x-oss-content-type": content_type,
        }
        if self.x_oss_object_acl is not None:
            fields["x-oss-object-acl"] = self.x_oss_object_acl
        if self.x_oss_forbid_overwrite is not None:
            fields["x-oss-forbid-overwrite"] = self.x_oss_forbid_overwrite
        return fields


def parse_upload_policy(
    status: int,
    body: bytes | str | Mapping[str, Any] | None,
    headers: Mapping[str, str] | None = None,
) -> UploadPolicy:
    """The policy from ``data`` (or ``output``); missing required fields are an APIError."""
    data = _ok_body(status, body, headers, "get upload policy")
    obj = data.get("data")
    if not isinstance(obj, Mapping):
        obj = data.get("output") if isinstance(data.get("output"), Mapping) else {}
    required = ("upload_host", "upload_dir", "policy", "signature", "oss_access_key_id")
    missing = [k for k in required if not _str(obj.get(k))]
    if missing:
        raise _malformed(
            status,
            "upload policy lacks " + ", ".join(missing),
            _str(data.get("request_id")),
            "get upload policy",
        )
    exp = _number(obj.get("expire_in_seconds"))
    mx = _number(obj.get("max_file_size_mb"))
    return UploadPolicy(
        upload_host=str(obj["upload_host"]),
        upload_dir=str(obj["upload_dir"]),
        policy=str(obj["policy"]),
        signature=str(obj["signature"]),
        oss_access_key_id=str(obj["oss_access_key_id"]),
        x_oss_object_acl=_str(obj.get("x_oss_object_acl")),
        x_oss_forbid_overwrite=_str(obj.get("x_oss_forbid_overwrite")),
        expire_in_seconds=float(exp) if isinstance(exp, (int, float)) else None,
        max_file_size_mb=float(mx) if isinstance(mx, (int, float)) else None,
        raw=dict(obj),
    )
