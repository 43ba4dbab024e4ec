"""Both clients against a hostile server on loopback (issue 11 cases 6, 9, and errors before
sending): what the emulator cannot be made to do. See ``tests/hostile.py``.

Bounds on elapsed time here are generous outer bounds (5x the deadline under test) that only
tell "ended" from "hung"; they are not speed targets.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hostile import MB, HostileServer

from wan_notebook import errors
from wan_notebook.client import AsyncWanClient, WanClient
from wan_notebook.downloads import MIN_VIDEO_CAP

FAST = {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5}


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer().start()
    yield server
    server.stop()


def sync_client(server: HostileServer, **kw: Any) -> WanClient:
    kw.setdefault("rand", lambda: 0.01)
    kw.setdefault("poll_scale", 0.01)
    return WanClient("sk-hostile-test", base_url=server.base_url, **kw)


def run_async(server: HostileServer, fn: Callable[[AsyncWanClient], Any], **kw: Any) -> Any:
    kw.setdefault("rand", lambda: 0.01)
    kw.setdefault("poll_scale", 0.01)

    async def main() -> Any:
        async with AsyncWanClient("sk-hostile-test", base_url=server.base_url, **kw) as c:
            return await fn(c)

    return asyncio.run(main())


# ---------------------------------------------------------------- case 6


@pytest.mark.parametrize("answer", ["non_json", "no_task_id"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_create_answered_200_without_a_task_is_uncertain(
    hostile: HostileServer, answer: str, flavour: str
) -> None:
    """A 200 that is not a well-formed create answer may hide a task: never "try again"."""
    hostile.behaviour["create"] = answer
    with pytest.raises(errors.SubmitUncertainError) as info:
        if flavour == "sync":
            with sync_client(hostile) as c:
                c.submit("a fox", **FAST)
        else:
            run_async(hostile, lambda c: c.submit("a fox", **FAST))
    assert "may exist" in str(info.value) and "HTTP 200" in str(info.value)
    assert hostile.requests["create"] == 1  # not resent


# ---------------------------------------------------------------- case 9: time


@pytest.mark.slow
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_generate_timeout_bounds_a_status_query_sent_a_byte_every_2s(
    hostile: HostileServer, tmp_path: Path, flavour: str
) -> None:
    hostile.behaviour["query"] = "drip"
    started = time.monotonic()
    with pytest.raises(errors.WaitTimeoutError) as info:
        if flavour == "sync":
            with sync_client(hostile) as c:
                c.generate("a fox", tmp_path / "v.mp4", timeout=8, **FAST)
        else:
            run_async(hostile, lambda c: c.generate("a fox", tmp_path / "v.mp4", timeout=8, **FAST))
    assert time.monotonic() - started < 40  # ended (the drip would last 6 minutes)
    assert info.value.task_id == "t1" and "deadline" in str(info.value)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_generate_timeout_bounds_a_download_sent_a_byte_every_2s(
    hostile: HostileServer, tmp_path: Path, flavour: str
) -> None:
    hostile.behaviour["video"] = "drip"
    target = tmp_path / "v.mp4"
    started = time.monotonic()
    with pytest.raises(errors.DownloadTimeoutError) as info:
        if flavour == "sync":
            with sync_client(hostile) as c:
                c.generate("a fox", target, timeout=8, **FAST)
        else:
            run_async(hostile, lambda c: c.generate("a fox", target, timeout=8, **FAST))
    assert time.monotonic() - started < 40
    assert "t1" in str(info.value) and "8 s" in str(info.value)
    assert not list(tmp_path.iterdir())  # no .part left behind


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_list_that_always_has_more_pages_stops_at_the_page_cap(
    hostile: HostileServer, flavour: str
) -> None:
    """891 calls in 40 s before: now at most ``max_pages`` calls, then a clear error."""
    if flavour == "sync":
        with sync_client(hostile) as c, pytest.raises(errors.ListTruncatedError) as info:
            rows = []
            for row in c.list(page_size=1, max_pages=30):
                rows.append(row)
    else:

        async def collect(c: AsyncWanClient) -> list:
            return [r async for r in c.list(page_size=1, max_pages=30)]

        with pytest.raises(errors.ListTruncatedError) as info:
            run_async(hostile, collect)
    assert info.value.pages == 30 and "max_pages=30" in str(info.value)
    assert hostile.requests["list"] == 30


def test_the_default_list_has_a_page_cap(hostile: HostileServer) -> None:
    with sync_client(hostile) as c, pytest.raises(errors.ListTruncatedError) as info:
        for _ in c.list(page_size=1):
            pass
    assert hostile.requests["list"] == info.value.pages <= 1000


# ---------------------------------------------------------------- case 9: size


def _rss_peak_reset() -> bool:
    """Reset the process's peak RSS (Linux ``clear_refs`` 5); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/self/status")


@pytest.mark.parametrize("how", ["huge", "huge_declared"])
def test_a_300_mb_status_answer_is_refused_with_bounded_memory(
    hostile: HostileServer, how: str
) -> None:
    if not _rss_peak_reset():
        pytest.skip("cannot reset the peak RSS here")
    hostile.behaviour["query"] = how
    before = _status_kb("VmRSS")
    with sync_client(hostile, max_retries=0) as c, pytest.raises(errors.ServiceError) as info:
        c.get("t1")
    grown_mb = (_status_kb("VmHWM") - before) / 1024
    assert info.value.code == "ResponseTooLarge"
    assert grown_mb < 100, f"peak RSS grew by {grown_mb:.0f} MB reading a 300 MB answer"
    assert hostile.sent["query"] < 300 * MB


def test_an_oversized_create_answer_is_uncertain(hostile: HostileServer) -> None:
    """A 300 MB "create answer" is refused unread, and a task may exist."""
    hostile.behaviour["create"] = "huge"
    with sync_client(hostile) as c, pytest.raises(errors.SubmitUncertainError) as info:
        c.submit("a fox", **FAST)
    assert "bytes" in str(info.value) and hostile.requests["create"] == 1


@pytest.mark.parametrize("how", ["huge", "huge_declared"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_400_mb_video_is_stopped_at_a_sane_multiple_of_its_size(
    hostile: HostileServer, tmp_path: Path, how: str, flavour: str
) -> None:
    """The task says 2 s of 832x480: nothing near 400 MB is written (at most the floor cap)."""
    hostile.behaviour["video"] = how
    target = tmp_path / "v.mp4"
    with pytest.raises(errors.DownloadError, match="more than") as info:
        if flavour == "sync":
            with sync_client(hostile) as c:
                c.download(c.get("t1"), target)
        else:

            async def fetch(c: AsyncWanClient) -> Any:
                return await c.download(await c.get("t1"), target)

            run_async(hostile, fetch)
    assert not isinstance(info.value, errors.DownloadTimeoutError)
    assert not list(tmp_path.iterdir())
    assert hostile.requests["video"] == 1  # not retried
    if how == "huge_declared":
        assert "announced" in str(info.value)  # refused before a byte was written
    assert hostile.sent["video"] < MIN_VIDEO_CAP + 64 * MB  # the server could not push on


# ---------------------------------------------------------------- nothing sent


@pytest.mark.parametrize(
    "base_url", ["ftp://dashscope.example/api/v1", "dashscope-intl.aliyuncs.com/api/v1", "http://"]
)
def test_a_base_url_that_cannot_be_sent_to_is_refused_before_any_call(base_url: str) -> None:
    """It used to say "a task may exist and may be billed" though nothing was sent."""
    for cls in (WanClient, AsyncWanClient):
        with pytest.raises(errors.ConfigurationError, match="base_url") as info:
            cls("sk-x", base_url=base_url)
        assert not isinstance(info.value, errors.SubmitUncertainError)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("where", ["closed-port", "unknown-host"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_create_that_never_connected_is_not_uncertain(where: str, flavour: str) -> None:
    """Connect refused and DNS failure: nothing reached a server, so no task can exist."""
    # (the port is chosen here, not in the test id: every xdist worker must collect one name)
    if where == "closed-port":
        base_url = f"http://127.0.0.1:{_free_port()}/api/v1"
    else:
        base_url = "http://no-such-host.invalid/api/v1"

    async def no_sleep(_s: float) -> None:
        return None

    with pytest.raises(errors.WanConnectionError) as info:
        if flavour == "sync":
            with WanClient("sk-x", base_url=base_url, max_retries=1, sleep=lambda s: None) as c:
                c.submit("a fox", **FAST)
        else:

            async def main() -> None:
                async with AsyncWanClient(
                    "sk-x", base_url=base_url, max_retries=1, sleep=no_sleep
                ) as c:
                    await c.submit("a fox", **FAST)

            asyncio.run(main())
    assert not isinstance(info.value, errors.SubmitUncertainError)
    assert "nothing was sent" in str(info.value)


# ---------------------------------------------------------------- the service's clock


def test_the_service_clock_follows_the_date_header(hostile: HostileServer) -> None:
    """A local clock 10 min fast (here: a service 10 min slow) is measured from Date."""
    hostile.date_offset = -timedelta(minutes=10)
    with sync_client(hostile) as c:
        assert c.service_clock.offset is None
        c.get("t1")
        offset = c.service_clock.offset
    assert offset is not None and abs(offset + timedelta(minutes=10)) < timedelta(seconds=30)

    async def query(c: AsyncWanClient) -> Any:
        await c.get("t1")
        return c.service_clock.offset

    offset = run_async(hostile, query)
    assert offset is not None and abs(offset + timedelta(minutes=10)) < timedelta(seconds=30)


def test_a_video_url_that_cannot_be_fetched_fails_at_once(tmp_path: Path) -> None:
    """An unsupported scheme is not retried five times as if the link had dropped."""
    slept: list[float] = []
    client = WanClient("sk-x", base_url="http://127.0.0.1:9/api/v1", sleep=slept.append)
    with client as c, pytest.raises(errors.DownloadError, match="cannot download") as info:
        c.download("ftp://videos.example/v.mp4", tmp_path / "v.mp4")
    assert "UnsupportedProtocol" in str(info.value) and slept == []
    assert not list(tmp_path.iterdir())
