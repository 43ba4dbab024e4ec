"""Download resilience (regressions found by benchmarks/chaos.py): Retry-After, resume."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from wan_notebook.client import DOWNLOAD_ATTEMPTS, AsyncWanClient, WanClient
from wan_notebook.emulator import Emulator


def test_download_honours_retry_after(emulator: Emulator, tmp_path: Path) -> None:
    """Under a 429 burst the client waits what the server asks, not a 0..0.5 s jitter."""
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(50_000))
    url = emulator.add_file(src)
    emulator.faults.add("video", "error", status=429, retry_after=0.25, times=3)
    slept: list[float] = []
    with WanClient(emulator.api_key, base_url=emulator.base_url, sleep=slept.append) as client:
        out = client.download(url, tmp_path / "out.bin")
    assert out.read_bytes() == src.read_bytes()
    assert slept == [0.25, 0.25, 0.25]


class _CuttingServer(ThreadingHTTPServer):
    """Serves ``data`` honouring Range, but every answer stops after ``piece`` bytes."""

    data = b""
    piece = 0
    requests = 0


class _Handler(BaseHTTPRequestHandler):
    server: _CuttingServer

    def do_GET(self) -> None:
        srv = self.server
        srv.requests += 1
        start = 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(srv.data) - 1}/{len(srv.data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(srv.data) - start))
        self.end_headers()
        self.wfile.write(srv.data[start : start + srv.piece])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def cutting_server() -> Iterator[_CuttingServer]:
    srv = _CuttingServer(("127.0.0.1", 0), _Handler)
    srv.data = os.urandom(100_000)
    srv.piece = 10_000  # ten cut answers are needed: more than DOWNLOAD_ATTEMPTS
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_attempts_that_make_progress_do_not_count(
    cutting_server: _CuttingServer, tmp_path: Path
) -> None:
    """A connection cut mid-body after new bytes resumes with Range as often as it helps."""
    assert len(cutting_server.data) // cutting_server.piece > DOWNLOAD_ATTEMPTS
    url = f"http://127.0.0.1:{cutting_server.server_address[1]}/v.mp4"
    with WanClient("sk-test", base_url="http://127.0.0.1:9/api/v1", sleep=lambda s: None) as c:
        out = c.download(url, tmp_path / "v.mp4")
    assert out.read_bytes() == cutting_server.data
    assert cutting_server.requests == 10


def test_async_download_resumes_the_same_way(
    cutting_server: _CuttingServer, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{cutting_server.server_address[1]}/v.mp4"

    async def no_sleep(_s: float) -> None:
        return None

    async def main() -> Path:
        base = "http://127.0.0.1:9/api/v1"
        async with AsyncWanClient("sk-test", base_url=base, sleep=no_sleep) as client:
            return await client.download(url, tmp_path / "v.mp4")

    assert asyncio.run(main()).read_bytes() == cutting_server.data
