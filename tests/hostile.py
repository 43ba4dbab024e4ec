"""A hostile DashScope look-alike on loopback, for what the emulator will not do.

A small real HTTP/1.1 server (raw asyncio streams, one thread, ``Connection: close``) that
answers the routes the client calls (create, query, list, the video URL) and misbehaves as
each test asks: a body sent a byte every 2 s, a 200 create whose body is not JSON, the
``Authorization`` header echoed into error bodies and headers, a 300 MB JSON answer, a 400 MB
"video", a list that always has more pages, a ``Date`` header from a skewed clock.

Every loop is bounded in count and time, and the server stops itself after ``lifetime``
seconds even if a test forgets to.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs

CREATE = "/api/v1/services/aigc/video-generation/video-synthesis"
MB = 1 << 20


class HostileServer:
    """``behaviour`` maps a route (create, query, list, video) to how it misbehaves:

    * create: ``ok``, ``non_json`` (200, an HTML page), ``no_task_id`` (200, JSON without a
      task), ``huge`` (a 300 MB create answer), ``echo_auth`` (400 whose body and headers
      echo the Authorization header), ``echo_auth_500``.
    * query: ``succeeded``, ``running``, ``drip`` (a byte every ``drip_every`` s),
      ``huge`` (300 MB of JSON, chunked), ``huge_declared`` (Content-Length 300 MB),
      ``echo_auth`` (401 echoing the header), ``echo_auth_500``.
    * list: ``more_pages`` (every page says there is another).
    * video: ``ok`` (``video_bytes``), ``drip``, ``huge`` (400 MB, chunked),
      ``huge_declared`` (Content-Length 400 MB).

    ``date_offset`` skews the ``Date`` header of every answer.
    """

    def __init__(self, lifetime: float = 180.0, drip_every: float = 2.0) -> None:
        self.behaviour: dict[str, str] = {
            "create": "ok", "query": "succeeded", "list": "more_pages", "video": "ok",
        }  # fmt: skip
        self.lifetime = lifetime
        self.drip_every = drip_every
        self.max_drip_bytes = int(lifetime / drip_every) + 1
        self.date_offset = timedelta(0)
        self.video_bytes = b"\x00\x00\x00\x18ftypmp42" + bytes(2000)
        self.video_usage: dict[str, Any] = {"duration": 2, "size": "832*480"}
        self.requests: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()  # body bytes written per route
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hostile-server", daemon=True)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> HostileServer:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("hostile server did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def video_url(self, task_id: str = "t1") -> str:
        return (
            f"http://127.0.0.1:{self.port}/video/{task_id}.mp4"
            "?Expires=1767225600&OSSAccessKeyId=LTAIsecretish&Signature=s1gn%2Fature"
        )

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        loop.call_later(self.lifetime, loop.stop)  # stops by itself
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    # ---------------------------------------------------------------- HTTP

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0") or 0)
            if length:
                await asyncio.wait_for(reader.readexactly(min(length, 10 * MB)), 30)
            path, _, query = target.partition("?")
            headers[":query"] = query
            await self._route(method, path, headers, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()

    def _head(self, status: int, headers: dict[str, str]) -> bytes:
        date = format_datetime(datetime.now(timezone.utc) + self.date_offset, usegmt=True)
        lines = [f"HTTP/1.1 {status} X", f"Date: {date}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send(
        self, writer: asyncio.StreamWriter, route: str, status: int, body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        hdrs = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        writer.write(self._head(status, {**hdrs, **(headers or {})}) + body)
        self.sent[route] += len(body)
        await writer.drain()

    async def _drip(self, writer: asyncio.StreamWriter, route: str, declared: int) -> None:
        writer.write(self._head(200, {"Content-Length": str(declared)}))
        await writer.drain()
        for _ in range(min(declared, self.max_drip_bytes)):
            writer.write(b" ")
            self.sent[route] += 1
            await writer.drain()
            await asyncio.sleep(self.drip_every)

    async def _flood(
        self, writer: asyncio.StreamWriter, route: str, total: int, prefix: bytes, declared: bool
    ) -> None:
        """``total`` bytes (``prefix`` then padding), chunked unless ``declared``."""
        hdrs = {"Content-Length": str(total)} if declared else {"Transfer-Encoding": "chunked"}
        writer.write(self._head(200, {"Content-Type": "application/json", **hdrs}))
        left, first = total, bool(prefix)
        while left > 0:
            piece = prefix if first else b"a" * min(MB, left)
            first = False
            piece = piece[:left]
            writer.write(piece if declared else b"%x\r\n%s\r\n" % (len(piece), piece))
            self.sent[route] += len(piece)
            left -= len(piece)
            await writer.drain()
        if not declared:
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    async def _route(
        self, method: str, path: str, headers: dict[str, str], writer: asyncio.StreamWriter
    ) -> None:
        auth = headers.get("authorization", "")
        if method == "POST" and path == CREATE:
            route = "create"
        elif path == "/api/v1/tasks":
            route = "list"
        elif path.startswith("/api/v1/tasks/"):
            route = "query"
        elif path.startswith("/video/"):
            route = "video"
        else:
            await self._send(writer, "other", 404, b'{"code": "NotFound"}')
            return
        self.requests[route] += 1
        how = self.behaviour.get(route, "ok")
        task_id = path.rsplit("/", 1)[-1] if route == "query" else "t1"
        if how == "echo_auth" or how == "echo_auth_500":
            status = 500 if how == "echo_auth_500" else (401 if route == "query" else 400)
            body = json.dumps({
                "request_id": "r-echo", "code": "InvalidParameter",
                "message": f"bad request; you sent Authorization: {auth}",
            }).encode()  # fmt: skip
            await self._send(writer, route, status, body, {"X-Echo-Authorization": auth})
        elif route == "create":
            if how == "non_json":
                body = b"<html><body>502 Bad Gateway? no: 200 OK from a portal</body></html>"
                await self._send(writer, route, 200, body, {"Content-Type": "text/html"})
            elif how in ("huge", "huge_declared"):
                prefix = b'{"output": {"task_id": "t1", "task_status": "PENDING", "pad": "'
                await self._flood(writer, route, 300 * MB, prefix, how == "huge_declared")
            elif how == "no_task_id":
                await self._send(writer, route, 200, b'{"request_id": "r1", "output": {}}')
            else:
                body = {"request_id": "r1", "output": {"task_id": "t1", "task_status": "PENDING"}}
                await self._send(writer, route, 200, json.dumps(body).encode())
        elif route == "query":
            if how == "drip":
                await self._drip(writer, route, 1000)
            elif how in ("huge", "huge_declared"):
                prefix = b'{"output": {"task_id": "t1", "task_status": "RUNNING", "pad": "'
                await self._flood(writer, route, 300 * MB, prefix, how == "huge_declared")
            else:
                status = "SUCCEEDED" if how == "succeeded" else "RUNNING"
                out = {"task_id": task_id, "task_status": status}
                if status == "SUCCEEDED":
                    out["video_url"] = self.video_url(task_id)
                body = {"request_id": "r2", "output": out, "usage": self.video_usage}
                await self._send(writer, route, 200, json.dumps(body).encode())
        elif route == "list":
            page = int(parse_qs(headers[":query"]).get("page_no", ["1"])[0])
            body = {
                "request_id": "r3", "total": 10**9, "total_page": 10**7, "page_no": page,
                "page_size": 1,
                "data": [{"task_id": str(uuid.uuid4()), "status": "SUCCEEDED",
                          "model_name": "wan2.6-t2v"}],
            }  # fmt: skip
            await self._send(writer, route, 200, json.dumps(body).encode())
        else:  # video
            if how == "drip":
                await self._drip(writer, route, 5000)
            elif how in ("huge", "huge_declared"):
                await self._flood(writer, route, 400 * MB, b"", how == "huge_declared")
            else:
                hdrs = {"Content-Type": "video/mp4"}
                await self._send(writer, route, 200, self.video_bytes, hdrs)
