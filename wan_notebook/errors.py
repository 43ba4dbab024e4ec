"""The exception tree. Every error says what went wrong and what to do next.

::

    WanError
    ├── ConfigurationError              no API key, unknown region, bad settings
    ├── ValidationError (ValueError)    a parameter is invalid (raised before any I/O)
    │   ├── ParameterTypeError (TypeError)  ... because it has the wrong type
    │   └── SettingError                ... a setting (base_url, api_key); also a ConfigurationError
    ├── WanConnectionError              the service could not be reached or the link dropped
    │   └── SubmitUncertainError        a create request failed after it may have been accepted
    ├── ListTruncatedError              the task list still had pages at the page cap
    ├── APIError                        the service answered with an error (status, code, ...)
    │   ├── AuthenticationError         401 InvalidApiKey
    │   ├── PermissionDeniedError       403 AccessDenied*, Model/Workspace.AccessDenied
    │   ├── NotFoundError               404 ModelNotFound, WorkSpaceNotFound
    │   ├── InvalidRequestError         400 InvalidParameter, BadRequest.*, InvalidURL, ...
    │   ├── ContentModerationError      DataInspectionFailed, IPInfringementSuspect
    │   ├── RateLimitError              429 Throttling, Throttling.RateQuota, LimitRequests
    │   ├── QuotaExceededError          AllocationQuota, Arrearage, billing codes
    │   └── ServiceError                5xx InternalError*, ModelUnavailable, 408 timeouts
    ├── TaskError                       the task ended without a video
    │   ├── TaskFailedError             FAILED (moderation codes also match ContentModerationError)
    │   ├── TaskCanceledError           CANCELED
    │   └── TaskExpiredError            UNKNOWN: older than 24 h, or never existed
    ├── BudgetExceededError             the estimate's high exceeds the cost cap (nothing sent)
    ├── WaitTimeoutError                the task did not finish before the deadline
    ├── DetachedError                   we stopped following the task; it runs on
    └── DownloadError                   the video could not be saved
        ├── VideoExpiredError           the signed URL is past its 24 h lifetime
        ├── DownloadTimeoutError        the download did not finish before its deadline
        └── CorruptVideoError           the file is truncated or does not decode

No message, repr, ``args`` or attribute of these classes contains the API key: messages are
built only from the service's code/message (scrubbed of the key: a proxy may echo it), request
ids, task ids and our own text, and none is chained to an httpx exception (whose ``request``
carries the headers).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MODERATION_CODES",
    "QUOTA_CODES",
    "APIError",
    "AuthenticationError",
    "ConfigurationError",
    "ContentModerationError",
    "CorruptVideoError",
    "DetachedError",
    "DownloadError",
    "DownloadTimeoutError",
    "InvalidRequestError",
    "ListTruncatedError",
    "NotFoundError",
    "ParameterTypeError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitError",
    "ServiceError",
    "SettingError",
    "SubmitUncertainError",
    "TaskCanceledError",
    "TaskError",
    "TaskExpiredError",
    "TaskFailedError",
    "ValidationError",
    "VideoExpiredError",
    "WaitTimeoutError",
    "WanConnectionError",
    "WanError",
    "api_error",
    "task_failed_error",
]


class WanError(Exception):
    """Base of every error raised by wan_notebook."""


class ConfigurationError(WanError):
    """Settings are missing or contradictory (no API key, unknown region, ...)."""


class ValidationError(WanError, ValueError):
    """A request parameter is invalid; raised before any network call.

    ``param`` names the parameter, ``value`` is what was given, ``allowed`` says what the
    model accepts.
    """

    def __init__(self, message: str, *, param: str, value: Any = None, allowed: str = "") -> None:
        super().__init__(message)
        self.param = param
        self.value = value
        self.allowed = allowed


class ParameterTypeError(ValidationError, TypeError):
    """A parameter has the wrong type (``timeout="10"``, ``new="yes"``, ``attach(None)``).

    Catchable as :class:`ValidationError` (every entry point reports it as a usage error) and
    as ``TypeError`` (what Python code expects for a wrong type).
    """


class SettingError(ConfigurationError, ValidationError):
    """A connection setting given or found is unusable (a ``base_url`` that is not http(s), an
    ``api_key`` that is not a string); raised before any request.

    A :class:`ConfigurationError` for code that catches settings problems, and a
    :class:`ValidationError` naming ``param`` for the entry points' usage errors. ``value`` is
    never the API key.
    """


class WanConnectionError(WanError):
    """The service could not be reached, timed out, or dropped the connection."""


class SubmitUncertainError(WanConnectionError):
    """A create request failed in a way that leaves open whether a task was created.

    It is deliberately not resent: resending could pay twice; the message says how to look
    for the task (the list call, filtered by model and time).
    """

    def __init__(self, message: str, *, model: str, submitted_at: str) -> None:
        super().__init__(message)
        self.model = model
        self.submitted_at = submitted_at


class ListTruncatedError(WanError):
    """The task list still said "more pages" when the page cap was reached.

    A service that always claims more pages must not make a caller loop forever; the rows
    already yielded are real, the rest of the window was not read.
    """

    def __init__(self, message: str, *, pages: int) -> None:
        super().__init__(message)
        self.pages = pages


class APIError(WanError):
    """The service answered with an error body ``{request_id, code, message}``."""

    hint = ""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        service_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.service_message = service_message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, code={self.code!r}, "
            f"request_id={self.request_id!r})"
        )


class AuthenticationError(APIError):
    """401: the API key was missing or not accepted."""

    hint = (
        "Check DASHSCOPE_API_KEY. Keys belong to one region: a Singapore key does not work "
        "against Beijing or Virginia, so the key's region must match the base URL."
    )


class PermissionDeniedError(APIError):
    """403: this account or workspace may not use the model or call."""

    hint = "Make sure the model is activated for this account and workspace in Model Studio."


class NotFoundError(APIError):
    """404: the model or workspace does not exist here."""

    hint = "Check the model id and that the model is offered in the region you are calling."


class InvalidRequestError(APIError):
    """400: the service rejected the request's parameters."""

    hint = "Fix the request parameters named in the message."


class ContentModerationError(APIError):
    """Input or output was flagged (DataInspectionFailed, IPInfringementSuspect)."""

    hint = "Rephrase the prompt; flagged content is never billed."


class RateLimitError(APIError):
    """429: too many requests; retried automatically before this is raised."""

    hint = "Slow down or lower concurrency; queries share a 20 QPS account limit."

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class QuotaExceededError(APIError):
    """The account's quota or balance does not allow this call."""

    hint = "Check the account's balance, free-tier setting and quota in the console."


class ServiceError(APIError):
    """5xx or a service-side timeout; transient, retried before this is raised."""

    hint = "The service had a problem; try again later."


class TaskError(WanError):
    """The task ended without a video."""

    def __init__(
        self,
        message: str,
        *,
        task_id: str,
        status: str,
        code: str | None = None,
        service_message: str | None = None,
        task: Any = None,
    ) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.status = status
        self.code = code
        self.service_message = service_message
        self.task = task


class TaskFailedError(TaskError):
    """The task ended FAILED; ``code`` and ``service_message`` say why."""


class _ModeratedTaskFailedError(TaskFailedError, ContentModerationError):
    """A task FAILED by moderation: catchable as either parent."""

    def __init__(self, message: str, **kw: Any) -> None:
        TaskFailedError.__init__(self, message, **kw)
        self.status_code = None
        self.request_id = None


class TaskCanceledError(TaskError):
    """The task was canceled before it ran."""


class TaskExpiredError(TaskError):
    """The service reports UNKNOWN: the id is older than 24 h, or never existed."""


class BudgetExceededError(WanError):
    """The estimate's ``high`` exceeds the cost cap (or a price is unknown, so no cap can
    hold); raised before any request is sent. ``estimate`` is the
    :class:`~wan_notebook.cost.CostEstimate`, ``cap`` the cap in ``currency``."""

    def __init__(self, message: str, *, estimate: Any, cap: float, currency: str) -> None:
        super().__init__(message)
        self.estimate = estimate
        self.cap = cap
        self.currency = currency


class WaitTimeoutError(WanError):
    """The task was still running at the deadline; it keeps running on the service."""

    def __init__(self, message: str, *, task_id: str, status: str) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.status = status


class DetachedError(WanError):
    """This session stopped following the task (Ctrl-C, ``Job.detach``); it keeps running on
    the service and stays journaled, so ``attach(task_id)`` picks it up again."""

    def __init__(self, message: str, *, task_id: str | None) -> None:
        super().__init__(message)
        self.task_id = task_id


class DownloadError(WanError):
    """The video could not be downloaded or verified."""

    def __init__(self, message: str, *, task_id: str | None = None) -> None:
        super().__init__(message)
        self.task_id = task_id


class VideoExpiredError(DownloadError):
    """The signed video URL has expired (403 after 24 h); the video cannot be fetched again."""


class DownloadTimeoutError(DownloadError):
    """The download did not finish before its deadline (a stalled or dripping server)."""


class CorruptVideoError(DownloadError):
    """The file is truncated, not an MP4, or does not decode."""


MODERATION_CODES = frozenset({"DataInspectionFailed", "IPInfringementSuspect"})
QUOTA_CODES = frozenset(
    {
        "Arrearage",
        "Throttling.AllocationQuota",
        "AllocationQuota.FreeTierOnly",
        "PrepaidBillOverdue",
        "PostpaidBillOverdue",
        "CommodityNotPurchased",
    }
)
_PERMISSION_CODES = frozenset(
    {"AccessDenied", "AccessDenied.Unpurchased", "Model.AccessDenied", "Workspace.AccessDenied"}
)


def _class_for(status: int | None, code: str) -> type[APIError]:
    if code in MODERATION_CODES:
        return ContentModerationError
    if code in QUOTA_CODES or code.startswith("AllocationQuota"):
        return QuotaExceededError
    if code == "InvalidApiKey" or status == 401:
        return AuthenticationError
    if code in _PERMISSION_CODES or status == 403:
        return PermissionDeniedError
    if code.startswith("Throttling") or code == "LimitRequests" or status == 429:
        return RateLimitError
    if status == 404:
        return NotFoundError
    if status is not None and (status >= 500 or status == 408):
        return ServiceError
    return InvalidRequestError


def api_error(
    status: int | None,
    code: str | None,
    message: str | None,
    request_id: str | None,
    *,
    context: str = "",
    retry_after: float | None = None,
) -> APIError:
    """Build the right :class:`APIError` subclass for an error response."""
    code = code or "Unknown"
    cls = _class_for(status, code)
    parts = [f"{context}: " if context else "", f"{code}"]
    if status is not None:
        parts.append(f" (HTTP {status})")
    if message:
        parts.append(f": {message}")
    if request_id:
        parts.append(f" [request_id {request_id}]")
    if cls.hint:
        parts.append(f". {cls.hint}")
    kw: dict[str, Any] = dict(
        status_code=status, code=code, request_id=request_id, service_message=message
    )
    if cls is RateLimitError:
        return RateLimitError("".join(parts), retry_after=retry_after, **kw)
    return cls("".join(parts), **kw)


def task_failed_error(
    task_id: str, code: str | None, message: str | None, task: Any = None
) -> TaskFailedError:
    """The error for a FAILED task; moderation failures also match ContentModerationError."""
    text = f"task {task_id} FAILED: {code or 'no code'}"
    if message:
        text += f": {message}"
    if code in MODERATION_CODES:
        text += ". " + ContentModerationError.hint
        cls: type[TaskFailedError] = _ModeratedTaskFailedError
    else:
        text += ". Failed tasks are not billed; fix the cause and submit again."
        cls = TaskFailedError
    return cls(
        text, task_id=task_id, status="FAILED", code=code, service_message=message, task=task
    )
