"""Connection-level faults: dropping a connection with no response, truncating a body.

An ASGI app cannot close a socket by itself, so the server uses :class:`WireProtocol`, a
uvicorn h11 protocol that puts its transport into the request scope as ``wan.transport``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

TRANSPORT_KEY = "wan.transport"


class WireProtocol(H11Protocol):
    """uvicorn's h11 protocol, exposing the connection's transport to the app."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            scope[TRANSPORT_KEY] = self.transport
            await inner(scope, receive, send)

        self.app = app


async def _close(scope: Scope, *, abort: bool) -> None:
    transport = scope.get(TRANSPORT_KEY)
    if transport is None:
        raise RuntimeError("connection faults need the emulator's server (WireProtocol)")
    if abort:
        transport.abort()
    else:
        transport.close()  # flushes what was written, then closes
    # Let uvicorn see the disconnect before the app returns, so it adds no response of its own:
    # close() hands the connection over only once the write buffer is flushed.
    for _ in range(500):
        if transport.get_write_buffer_size() == 0:
            break
        await asyncio.sleep(0.01)
    for _ in range(2):
        await asyncio.sleep(0.005)


class DropResponse(Response):
    """Close the TCP connection without sending any HTTP response."""

    def __init__(self) -> None:
        super().__init__(status_code=599)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["wan.dropped"] = True
        await _close(scope, abort=True)


class TruncatedFileResponse(Response):
    """Send the headers with the full Content-Length but only part of the body, then close."""

    def __init__(self, path: os.PathLike[str] | str, media_type: str, fraction: float = 0.5):
        super().__init__(status_code=200, media_type=media_type)
        self._path = path
        self._fraction = fraction

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        data = await asyncio.to_thread(_read, self._path)
        cut = min(len(data) - 1, max(0, int(len(data) * self._fraction)))
        headers = [
            (b"content-type", self.media_type.encode()),
            (b"content-length", str(len(data)).encode()),
            (b"accept-ranges", b"bytes"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data[:cut], "more_body": True})
        await _close(scope, abort=False)


def _read(path: os.PathLike[str] | str) -> bytes:
    with open(path, "rb") as f:
        return f.read()
