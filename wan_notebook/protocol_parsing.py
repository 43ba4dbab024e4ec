"""Lenient parsing of the service's fields: JSON bodies, numbers, times, Retry-After, errors.

Split from :mod:`.protocol` (which re-exports the public names) so the call builders and the
task, list and upload parsers stay short; nothing here does I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from .errors import APIError, ServiceError, api_error

#: The service's clock: its time strings and list filters are Beijing time (UTC+8).
SERVICE_TZ = timezone(timedelta(hours=8), "UTC+8")


def _json(body: bytes | str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if isinstance(body, Mapping):
        return dict(body)
    if body is None:
        return None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _str(value: Any) -> str | None:
    """A non-empty string, or None (``null`` and ``""`` both mean absent)."""
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def _number(value: Any) -> Any:
    """``"720"`` -> 720, ``"10.0"`` -> 10.0; anything else unchanged."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                f = float(text)
            except ValueError:
                return value
            return f if math.isfinite(f) else value
    return value


def parse_time(value: Any) -> datetime | None:
    """``"YYYY-MM-DD HH:mm:ss.SSS"`` on the service's clock (aware, UTC+8); also without
    millis, ISO ``T`` form, or epoch milliseconds (aware, UTC). Anything unparseable gives
    None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or not 1e11 <= value < 1e14:  # epoch ms, 1973..5138
            return None
        return datetime.fromtimestamp(value / 1000.0, tz=timezone.utc)
    text = str(value).strip()
    if not text:
        return None
    if text.isdigit() and len(text) >= 12:
        return parse_time(int(text))
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=SERVICE_TZ)
        except ValueError:
            pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=SERVICE_TZ)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None if absent or bad."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        now = now or datetime.now(timezone.utc)
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _usage(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): _number(v) for k, v in value.items()}


def parse_error(
    status: int,
    body: bytes | str | Mapping[str, Any] | None,
    headers: Mapping[str, str] | None = None,
    *,
    context: str = "",
) -> APIError:
    """The :class:`APIError` for a non-200 response (code ``Unknown`` for a non-JSON body)."""
    headers = headers or {}
    data = _json(body)
    retry_after = parse_retry_after(_header(headers, "retry-after"))
    if data is None:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        text = " ".join(text.split())[:200] or None
        return api_error(status, "Unknown", text, None, context=context, retry_after=retry_after)
    return api_error(
        status,
        _str(data.get("code")),
        _str(data.get("message")) or _str(data.get("msg")),
        _str(data.get("request_id")),
        context=context,
        retry_after=retry_after,
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for k, v in headers.items():
        if k.lower() == name:
            return v
    return None


def _int(value: Any) -> int | None:
    value = _number(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) else None


def _malformed(status: int, what: str, request_id: str | None, context: str) -> ServiceError:
    text = f"{context}: MalformedResponse (HTTP {status}): {what}"
    if request_id:
        text += f" [request_id {request_id}]"
    return ServiceError(
        text + ". " + ServiceError.hint,
        status_code=status,
        code="MalformedResponse",
        request_id=request_id,
        service_message=what,
    )
