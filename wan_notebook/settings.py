"""Where the API key, base URL and workspace come from, without ever showing the key.

Resolution follows the official SDK (PROTOCOL 11.5) with one change: the region defaults to
Singapore (``catalog.DEFAULT_REGION``) instead of Beijing, because the docs' samples use it.

A process may also hold one *current connection* (:func:`set_connection`: what
``%wanvideo connect`` / ``%wanvideo emulator`` / ``%wanvideo key`` choose), so every entry point
of a kernel (the magic, ``generate``, ``generate_many``, the widgets) talks to the same service.
Order, for each setting: the explicit argument, the environment variable(s), the current
connection, then the files and the region's host.

Every resolver returns ``(value, source)`` so ``%wanvideo config`` can say *where* a setting came
from (``"argument"``, ``"env DASHSCOPE_API_KEY"``, ``"file ~/.dashscope/api_key"``, ...) while
the key itself stays wrapped in :class:`Secret`, whose ``repr``/``str`` never reveal it.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import catalog, checks
from .errors import ConfigurationError

__all__ = [
    "Connection",
    "Secret",
    "clear_connection",
    "current_connection",
    "resolve_api_key",
    "resolve_base_url",
    "resolve_region",
    "resolve_workspace",
    "set_connection",
]

ENV_KEY = "DASHSCOPE_API_KEY"
ENV_KEY_FILE = "DASHSCOPE_API_KEY_FILE_PATH"
ENV_BASE_URL = "DASHSCOPE_HTTP_BASE_URL"
ENV_REGION = "DASHSCOPE_REGION"
ENV_WORKSPACE = "DASHSCOPE_WORKSPACE_ID"
DEFAULT_KEY_FILE = "~/.dashscope/api_key"


class Secret:
    """A string that is hidden from ``repr``, ``str``, f-strings and logs.

    Use :meth:`reveal` at the single place where the value goes on the wire.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        self._value = value

    def reveal(self) -> str:
        """The plain value; only for building the ``Authorization`` header."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class Connection:
    """The process-wide service choice: what ``%wanvideo connect`` / ``emulator`` / ``key`` set.

    ``base_url`` ``None`` means "the key only" (the base URL then comes from the environment or
    the region). ``poll_scale`` is a hint (``1/speed`` for an emulator); ``source`` says who
    made the choice, for ``%wanvideo config``. The key is a :class:`Secret`.
    """

    base_url: str | None
    api_key: Secret | None
    poll_scale: float | None = None
    source: str = "set_connection()"

    def __repr__(self) -> str:
        key = "set" if self.api_key else "none"
        return f"Connection(base_url={self.base_url!r}, api_key=<{key}>, source={self.source!r})"


_connection: Connection | None = None
_connection_lock = threading.Lock()


def set_connection(
    base_url: str | None,
    api_key: str | Secret | None,
    *,
    poll_scale: float | None = None,
    source: str = "set_connection()",
) -> Connection:
    """Make ``base_url`` + ``api_key`` this process's default service (replacing any before).

    Clients created afterwards without explicit settings (and with no environment variable
    naming them) use it: ``generate()``, ``generate_many()``, ``BatchGrid``, ``GenerateForm``
    and the magic alike.
    """
    global _connection
    if base_url is not None and not isinstance(base_url, str):
        raise TypeError(f"base_url must be a string or None, got {type(base_url).__name__}")
    if poll_scale is not None and not 0 < float(poll_scale) <= 10:
        raise ConfigurationError(f"poll_scale must be in (0, 10]; got {poll_scale}")
    conn = Connection(
        base_url=base_url.rstrip("/") if base_url else None,
        api_key=Secret(api_key) if api_key else None,
        poll_scale=float(poll_scale) if poll_scale is not None else None,
        source=source,
    )
    with _connection_lock:
        _connection = conn
    return conn


def current_connection() -> Connection | None:
    """The connection set by :func:`set_connection` (``None`` if there is none)."""
    return _connection


def clear_connection() -> Connection | None:
    """Forget the current connection; returns the one that was set."""
    global _connection
    with _connection_lock:
        old, _connection = _connection, None
    return old


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _read_key_file(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    except OSError as exc:  # e.g. permission denied: say so rather than fall through silently
        raise ConfigurationError(f"cannot read the API key file {path}: {exc.strerror}") from None
    return text or None


def resolve_api_key(
    api_key: str | Secret | None = None,
    *,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> tuple[Secret, str]:
    """Find the API key: argument, ``DASHSCOPE_API_KEY``, ``DASHSCOPE_API_KEY_FILE_PATH``,
    the current connection (:func:`set_connection`), then ``~/.dashscope/api_key``.
    Returns ``(Secret, source)``.

    Raises :class:`ConfigurationError` listing every place that was looked at, and
    :class:`~wan_notebook.errors.SettingError` for a key that is not a usable string (never
    showing it).
    """
    if isinstance(api_key, Secret):
        api_key = Secret(checks.api_key(api_key.reveal()) or "")
    else:
        api_key = checks.api_key(api_key)
    if api_key:
        return Secret(api_key), "argument"
    e = _env(env)
    if e.get(ENV_KEY, "").strip():
        return Secret(checks.api_key(e[ENV_KEY], f"env {ENV_KEY}") or ""), f"env {ENV_KEY}"
    looked = ["api_key= argument", f"env {ENV_KEY}"]
    file_env = e.get(ENV_KEY_FILE, "").strip()
    if file_env:
        path = Path(file_env).expanduser()
        looked.append(f"file {path} (from {ENV_KEY_FILE})")
        value = _read_key_file(path)
        if value:
            source = f"file {path} (from {ENV_KEY_FILE})"
            return Secret(checks.api_key(value, source) or ""), source
    else:
        looked.append(f"env {ENV_KEY_FILE}")
    conn = _connection
    if conn is not None and conn.api_key:
        return conn.api_key, f"connection ({conn.source})"
    looked.append("the current connection (%wanvideo connect)")
    default = (home / ".dashscope" / "api_key") if home else Path(DEFAULT_KEY_FILE).expanduser()
    looked.append(f"file {default}")
    value = _read_key_file(default)
    if value:
        return Secret(checks.api_key(value, f"file {default}") or ""), f"file {default}"
    raise ConfigurationError(
        "no DashScope API key found; looked at: "
        + ", ".join(looked)
        + ". Set DASHSCOPE_API_KEY or pass api_key=... (keys are per region)."
    )


def resolve_region(
    region: str | None = None, *, env: Mapping[str, str] | None = None
) -> tuple[catalog.Region, str]:
    """The region from the argument, ``DASHSCOPE_REGION``, or the default (Singapore).

    An unknown name raises :class:`~wan_notebook.errors.SettingError` naming ``region``.
    """
    if region is not None and region != "":
        return checks.region(region), "argument"  # type: ignore[return-value]
    text = _env(env).get(ENV_REGION, "").strip()
    if not text:
        return catalog.get_region(catalog.DEFAULT_REGION), "default"
    source = f"env {ENV_REGION}"
    return checks.region(text, source), source  # type: ignore[return-value]


def resolve_workspace(
    workspace: str | None = None, *, env: Mapping[str, str] | None = None
) -> tuple[str | None, str]:
    """The workspace id from the argument or ``DASHSCOPE_WORKSPACE_ID`` (``None`` if unset)."""
    if workspace:
        return workspace, "argument"
    value = _env(env).get(ENV_WORKSPACE, "").strip()
    if value:
        return value, f"env {ENV_WORKSPACE}"
    return None, "unset"


def resolve_base_url(
    base_url: str | None = None,
    *,
    region: str | None = None,
    workspace: str | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """The HTTP API base URL (``.../api/v1``, no trailing slash).

    Order: argument, ``DASHSCOPE_HTTP_BASE_URL``, the current connection (unless a ``region``
    or ``workspace`` argument asks for a region's host), then the region's host (the workspace
    host when a workspace is known and the region has one). A given or configured URL that is
    not ``http(s)://host/...`` raises :class:`~wan_notebook.errors.SettingError` naming
    ``base_url`` and where it came from, before any request.
    """
    if base_url is not None and base_url != "":
        return checks.base_url(base_url), "argument"
    e = _env(env)
    if e.get(ENV_BASE_URL, "").strip():
        source = f"env {ENV_BASE_URL}"
        return checks.base_url(e[ENV_BASE_URL], source), source
    conn = _connection
    if conn is not None and conn.base_url and not region and not workspace:
        return conn.base_url, f"connection ({conn.source})"
    reg, reg_source = resolve_region(region, env=env)
    ws, _ = resolve_workspace(workspace, env=env)
    try:
        url = reg.base_url(ws)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    return url, f"region {reg.name} ({reg_source})"


POLL_SCALE_ENV = "WAN_NOTEBOOK_POLL_SCALE"
#: Every environment variable that picks the service, the key or the poll pace: what a kernel
#: meant to talk only to an emulator must not inherit.
SETTINGS_ENV = (ENV_KEY, ENV_KEY_FILE, ENV_BASE_URL, ENV_REGION, ENV_WORKSPACE, POLL_SCALE_ENV)
#: The response header in which the local emulator announces its speed (simulated seconds per
#: wall second); clients poll at its pace without any setting. The real service never sends it.
SPEED_HEADER = "X-Wan-Emulator-Speed"


def parse_poll_scale(text: str) -> float:
    """``"0.005"``, ``"1/200"`` or ``"1 / 200"`` as a float; ValueError if neither."""
    num, slash, den = text.partition("/")
    value = float(num) / float(den) if slash else float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def resolve_poll_scale(
    poll_scale: float | None = None, *, env: Mapping[str, str] | None = None
) -> tuple[float, str]:
    """How fast the poll schedule runs compared with the real service, and where it came from.

    1.0 for the real service. An emulator running ``speed`` times faster wants ``1 / speed``.
    Order: the argument, ``WAN_NOTEBOOK_POLL_SCALE`` (a number or a fraction such as
    ``1/30``), the current connection's hint, else 1.0 (``"default"``). Clients also adapt
    by themselves to an emulator's :data:`SPEED_HEADER` unless the scale was set explicitly.
    """
    if poll_scale is not None:
        value, source = float(poll_scale), "argument"
    else:
        text = _env(env).get(POLL_SCALE_ENV, "").strip()
        conn = _connection
        if text:
            try:
                value = parse_poll_scale(text)
            except (ValueError, ZeroDivisionError):
                raise ConfigurationError(
                    f"{POLL_SCALE_ENV}={text!r} is not a number or a fraction; use e.g. 1/200 or "
                    "0.005 for an emulator at speed 200, or unset it for the real service"
                ) from None
            source = POLL_SCALE_ENV
        elif conn is not None and conn.poll_scale is not None:
            value, source = conn.poll_scale, f"connection ({conn.source})"
        else:
            return 1.0, "default"
    if not 0 < value <= 10:
        raise ConfigurationError(f"poll_scale must be in (0, 10]; got {value} ({source})")
    return value, source


def speed_from_headers(headers: Mapping[str, str]) -> float | None:
    """The speed an emulator announces in :data:`SPEED_HEADER`, or ``None`` (absent or junk)."""
    raw = headers.get(SPEED_HEADER) or headers.get(SPEED_HEADER.lower())
    if not raw:
        return None
    try:
        speed = float(raw)
    except ValueError:
        return None
    return speed if math.isfinite(speed) and 0.1 <= speed <= 1e6 else None
