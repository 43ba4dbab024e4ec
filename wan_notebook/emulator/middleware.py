"""ASGI middleware: the access log and status counters, and the never-a-traceback catch-all."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .replies import error_response

if TYPE_CHECKING:
    from .clock import SimClock

access_log = logging.getLogger("wan_notebook.emulator.access")
log = logging.getLogger("wan_notebook.emulator")


class AccessLog:
    """Counts every response status; with ``enabled()``, logs one line per request.

    The line has the method, the path *without* the query string (signatures live there),
    the status and the time taken; headers (so the API key) are never logged.
    """

    def __init__(
        self, app: ASGIApp, *, count: Callable[[int | None], None], enabled: Callable[[], bool]
    ) -> None:
        self.app = app
        self._count = count
        self._enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status: int | None = None

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._count(status)
            if self._enabled():
                ms = (time.perf_counter() - start) * 1000
                shown = "dropped" if status is None else str(status)
                path = scope.get("path", "").encode("unicode_escape").decode("ascii")
                access_log.info("%s %s %s %.1f ms", scope.get("method"), path, shown, ms)


class CatchAll:
    """Any unexpected exception becomes the service's JSON 500, logged only at debug level."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            log.debug(
                "unhandled error on %s %s", scope.get("method"), scope.get("path"), exc_info=True
            )
            if not started:
                await error_response(500, "InternalError")(scope, receive, send)


class SpeedHeader:
    """Adds ``X-Wan-Emulator-Speed: <speed>`` to every answer, so clients poll at our pace.

    (uvicorn adds ``Date`` itself: the service clock of the client reads it.)
    """

    def __init__(self, app: ASGIApp, *, speed: Callable[[], float]) -> None:
        from ..settings import SPEED_HEADER

        self.app = app
        self._speed = speed
        self._name = SPEED_HEADER.lower().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((self._name, f"{self._speed():g}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)


class DateHeader:
    """Adds the ``Date`` header from the emulator's wall clock (uvicorn's own is switched off,
    so a clock offset shows in it as on a service whose clock differs from the client's)."""

    def __init__(self, app: ASGIApp, clock: SimClock) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_date(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"date"]
                date = formatdate(self.clock.wall(), usegmt=True).encode("latin-1")
                message = {**message, "headers": [*headers, (b"date", date)]}
            await send(message)

        await self.app(scope, receive, send_with_date)
