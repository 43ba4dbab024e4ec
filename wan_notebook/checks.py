"""The checks every entry point shares: one function, and one message, per parameter.

``generate``/``generate_many``/``attach`` (and their async twins), the ``%%wanvideo`` magic,
the ``wanvideo`` CLI, the emulator's command line, the form and ``BatchGrid`` all call these
before anything is sent or written, so a bad value gets the same clear error everywhere: it
names the parameter, shows the value (never an API key) and says what is allowed.

Errors are :class:`~wan_notebook.errors.ValidationError` (a wrong range or shape) or its
subclass :class:`~wan_notebook.errors.ParameterTypeError` (a wrong type, also a ``TypeError``).
:func:`argtype` turns a check into an argparse ``type=`` function, so command lines report
the same message as a one-line usage error (exit code 2, no traceback).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from . import catalog
from .errors import ParameterTypeError, SettingError, ValidationError

__all__ = [
    "ARG_BASE_URL",
    "ARG_OUTPUT_DIR",
    "ARG_PORT",
    "ARG_REGION",
    "ARG_TASK_ID",
    "ARG_TIMEOUT",
    "TIMEOUT_ALLOWED",
    "SettingTypeError",
    "api_key",
    "arg_positive",
    "arg_positive_int",
    "argtype",
    "base_url",
    "callback",
    "fail",
    "flag",
    "non_negative_int",
    "optional_text",
    "output_dir",
    "port",
    "positive_int",
    "positive_number",
    "region",
    "task_id",
    "text",
    "timeout",
    "type_error",
]

T = TypeVar("T")

TIMEOUT_ALLOWED = "use a finite number of seconds > 0 (or leave it unset: the default deadline)"
_TASK_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}")
_URL_SCHEMES = ("http", "https")
#: control characters a prompt may hold: newline, tab, and the carriage return of a CRLF
_TEXT_CONTROLS_OK = frozenset("\n\t")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fail(
    param: str,
    value: Any,
    problem: str,
    allowed: str,
    *,
    show_value: bool = True,
    cls: type[ValidationError] = ValidationError,
) -> ValidationError:
    """The error for ``param``: ``"<param> <value> <problem>; <allowed>"``.

    ``show_value=False`` leaves the value out of the message and the exception (a secret).
    """
    shown = f" {_short(value)}" if show_value else ""
    return cls(
        f"{param}{shown} {problem}; {allowed}",
        param=param,
        value=value if show_value else None,
        allowed=allowed,
    )


def type_error(param: str, value: Any, allowed: str, *, show_value: bool = True) -> ValidationError:
    """A :class:`ParameterTypeError`: ``param`` is a ``type(value)``, not what is allowed."""
    hint = ""
    if isinstance(value, str) and _number(value) is not None:
        hint = f" (write {value.strip()} without quotes)"
    what = f"is {_a(type(value).__name__)}{hint}"
    return fail(param, value, what, allowed, show_value=show_value, cls=ParameterTypeError)


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiouAEIOU" else "a ") + noun


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ---------------------------------------------------------------- flags and numbers


def flag(value: Any, param: str) -> bool:
    """A real ``bool`` (``new="yes"`` or ``new=1`` is a mistake, not a truthy value)."""
    if not isinstance(value, bool):
        raise type_error(param, value, "use True or False")
    return value


def timeout(value: Any, param: str = "timeout") -> float | None:
    """A deadline in seconds: finite and > 0, or None for the default.

    NaN would remove the deadline and 0 or less would give up after paying for a task.
    """
    if value is None:
        return None
    if not _is_number(value):
        raise type_error(param, value, TIMEOUT_ALLOWED)
    if not math.isfinite(value) or value <= 0:
        raise fail(param, value, _not_positive(value), TIMEOUT_ALLOWED)
    return float(value)


def positive_number(value: Any, param: str) -> float:
    """A finite number > 0 (an emulator's speed, a lifetime in seconds)."""
    allowed = "use a finite number > 0"
    if not _is_number(value):
        raise type_error(param, value, allowed)
    if not math.isfinite(value) or value <= 0:
        raise fail(param, value, _not_positive(value), allowed)
    return float(value)


def _not_positive(value: float) -> str:
    return "is not a finite number" if not math.isfinite(value) else "is not > 0"


def _int(value: Any, param: str, allowed: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            allowed = f"{allowed} (write {int(value)})"
        raise type_error(param, value, allowed)
    return value


def positive_int(value: Any, param: str, *, allow_none: bool = True) -> int | None:
    """An integer >= 1 (``concurrency``, ``--render-workers``, ``--limit``); None if allowed."""
    allowed = "use an integer >= 1" + (" (or leave it unset: the default)" if allow_none else "")
    if value is None and allow_none:
        return None
    if _int(value, param, allowed) < 1:
        raise fail(param, value, "is less than 1", allowed)
    return value


def non_negative_int(value: Any, param: str) -> int:
    """An integer >= 0 (``max_retries``: how many times to resend)."""
    allowed = "use an integer >= 0"
    if _int(value, param, allowed) < 0:
        raise fail(param, value, "is negative", allowed)
    return value


def port(value: Any, param: str = "port") -> int:
    """A TCP port, 0 (any free port) to 65535."""
    allowed = "use an integer from 0 (any free port) to 65535"
    if not 0 <= _int(value, param, allowed) <= 65535:
        raise fail(param, value, "is not a TCP port", allowed)
    return value


# ---------------------------------------------------------------- text


def text(value: Any, param: str, *, required: bool) -> str:
    """Prompt text: a str that UTF-8 can carry, without control characters other than
    newline and tab (CRLF counts as a newline); ``required`` text needs a visible character
    (only spaces, ``\\x00`` or zero-width characters would still make, and bill, a video)."""
    allowed = "describe the video in words"
    if not isinstance(value, str):
        raise type_error(param, value, "pass text (a str)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        problem = f"holds a lone surrogate {value[exc.start]!r} at index {exc.start}"
        raise fail(param, value, problem, "pass valid Unicode text") from None
    for i, char in enumerate(value.replace("\r\n", "\n")):
        if unicodedata.category(char) == "Cc" and char not in _TEXT_CONTROLS_OK:
            problem = f"holds the control character {char!r} at index {i}"
            raise fail(param, value, problem, "remove it (newlines and tabs are fine)")
    if required and not any(unicodedata.category(c)[0] in "LNPS" for c in value):
        problem = "is empty" if not value.strip() else "has no visible character"
        raise fail(param, value, problem, allowed)
    return value


def optional_text(value: Any, param: str, allowed: str) -> str | None:
    """None or a str (e.g. ``region``; what it may say is checked where it is used)."""
    if value is not None and not isinstance(value, str):
        raise type_error(param, value, allowed)
    return value


def callback(value: Any, param: str) -> Callable[..., Any] | None:
    """None or a callable (``on_event``, ``on_job``): caught now, not at the first event."""
    if value is not None and not callable(value):
        raise type_error(param, value, "pass a function (or None)")
    return value


# ---------------------------------------------------------------- ids, paths, settings


def task_id(value: Any, param: str = "task_id") -> str:
    """A task id as the service writes them (``0385dc79-5ff8-4d82-...``), stripped.

    Letters, digits, ``-``, ``_``, ``.`` and ``:``, starting with a letter or digit: a path
    (``../../etc/passwd``) or a URL is not a task id, and no request is made for it.
    """
    allowed = "use a task id as the service prints it, e.g. 0385dc79-5ff8-4d82-bcb6-..."
    if not isinstance(value, str):
        raise type_error(param, value, allowed)
    stripped = value.strip()
    if not _TASK_ID_RE.fullmatch(stripped):
        raise fail(param, value, "is not a task id", allowed)
    return stripped


def output_dir(value: Any, param: str = "output_dir") -> str | os.PathLike[str]:
    """A folder that is, or can be created as, a directory (checked without creating it).

    ``/dev/null``, a file, or a path under a file is refused; whether the folder is writable
    is decided later (a read-only folder still serves what it has).
    """
    allowed = "use a folder path (str or pathlib.Path) that is or can become a directory"
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise type_error(param, value, allowed)
    raw = os.fspath(value)
    if not isinstance(raw, str) or not raw.strip():
        raise fail(param, value, "is empty", allowed)
    if "\x00" in raw:
        raise fail(param, value, "holds a NUL character", allowed)
    path = Path(os.path.abspath(Path(raw).expanduser()))
    for folder in (path, *path.parents):
        try:
            if folder.is_dir():
                break
            if folder.exists():
                where = "is not a directory" if folder == path else f"is under {folder}, a file"
                raise fail(param, value, where, allowed)
        except OSError as exc:  # e.g. a name too long for the file system
            raise fail(param, value, f"cannot be used ({exc.strerror})", allowed) from None
    return value


def api_key(value: Any, source: str = "argument") -> str | None:
    """None, or the key stripped of surrounding whitespace; never shown in any message.

    A key holds printable ASCII only: anything else could not go into the Authorization
    header, and the failure would echo the key.
    """
    param = "api_key" if source == "argument" else f"api_key (from {source})"
    allowed = "use the DashScope API key string (sk-...)"
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail(
            param, value, f"is {_a(type(value).__name__)}, not a str", allowed,
            show_value=False, cls=SettingTypeError,
        )  # fmt: skip
    key = value.strip()
    if any(not 33 <= ord(c) <= 126 for c in key):
        raise fail(
            param, value, "holds spaces, control or non-ASCII characters (not shown)", allowed,
            show_value=False, cls=SettingError,
        )  # fmt: skip
    return key


def base_url(value: Any, source: str = "argument") -> str:
    """An ``http(s)://host[:port]/path`` URL without spaces, query or fragment; returned
    stripped and without a trailing slash. A mistyped one (``ftp://``, no scheme, spaces) is
    refused here, before any request, so nothing can be half-sent to it."""
    param = "base_url" if source == "argument" else f"base_url (from {source})"
    allowed = "use an http(s) URL such as https://dashscope-intl.aliyuncs.com/api/v1"
    if not isinstance(value, str):
        raise fail(param, value, f"is {_a(type(value).__name__)}", allowed, cls=SettingTypeError)
    url = value.strip()
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in url):
        raise fail(param, value, "holds spaces or control characters", allowed, cls=SettingError)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range or not a number
        httpx.Request("GET", url)  # what the client builds: a host it cannot encode fails here
    except Exception as exc:  # ValueError, httpx.InvalidURL, idna errors
        raise fail(param, value, f"is not a URL ({exc})", allowed, cls=SettingError) from None
    if parts.scheme.lower() not in _URL_SCHEMES:
        problem = f"has the scheme {parts.scheme!r}" if parts.scheme else "has no http(s)://"
        raise fail(param, value, problem, allowed, cls=SettingError)
    if not parts.hostname:
        raise fail(param, value, "has no host", allowed, cls=SettingError)
    if parts.query or parts.fragment or parts.username or parts.password:
        problem = "has a query, fragment or credentials"
        raise fail(param, value, problem, allowed, cls=SettingError)
    return url.rstrip("/")


def region(value: Any, source: str = "argument") -> catalog.Region | None:
    """None, or the catalog's region for a name, region id or alias (case-insensitive)."""
    param = "region" if source == "argument" else f"region (from {source})"
    allowed = "use one of " + ", ".join(sorted(catalog.REGIONS)) + " (or a region id)"
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail(param, value, f"is {_a(type(value).__name__)}", allowed, cls=SettingTypeError)
    try:
        return catalog.get_region(value)
    except ValueError:
        raise fail(param, value, "is not a region", allowed, cls=SettingError) from None


class SettingTypeError(SettingError, ParameterTypeError):
    """A setting of the wrong type: both a :class:`SettingError` and a ``TypeError``."""


# ---------------------------------------------------------------- command lines


def argtype(
    parse: Callable[[str], Any], check: Callable[[Any], T], name: str
) -> Callable[[str], T]:
    """An argparse ``type=`` function: ``parse`` the text, then ``check`` it; a mistake becomes
    argparse's one-line usage error with the check's message (exit code 2, no traceback)."""

    def convert(text: str) -> T:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {name}") from None
        try:
            return check(value)
        except ValidationError as exc:  # argparse names the flag itself: say it once
            message = str(exc)
            if message.startswith(exc.param + " "):
                message = message[len(exc.param) + 1 :]
            raise argparse.ArgumentTypeError(message) from None

    convert.__name__ = name
    return convert


def _same(text: str) -> str:
    return text


#: argparse ``type=`` functions for the shared options of the command lines and the magic
ARG_TIMEOUT = argtype(float, lambda v: timeout(v), "a number of seconds")
ARG_OUTPUT_DIR = argtype(_same, lambda v: output_dir(v, "--dir"), "a folder")
ARG_TASK_ID = argtype(_same, task_id, "a task id")
ARG_BASE_URL = argtype(_same, base_url, "a URL")
ARG_PORT = argtype(int, lambda v: port(v, "--port"), "an integer")
ARG_REGION = argtype(_same, lambda v: region(v) and v, "a region")


def arg_positive(flag_name: str) -> Callable[[str], float]:
    """``type=`` for a finite number > 0 named ``flag_name`` (``--speed``, ``--lifetime``)."""
    return argtype(float, lambda v: positive_number(v, flag_name), "a number")


def arg_positive_int(flag_name: str) -> Callable[[str], int]:
    """``type=`` for an integer >= 1 named ``flag_name`` (``--render-workers``, ``--limit``)."""
    return argtype(int, lambda v: positive_int(v, flag_name, allow_none=False), "an integer")
