"""Both clients against the real emulator over loopback: happy paths, errors, faults, leaks."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import wave
from pathlib import Path

import httpx
import pytest

from wan_notebook import errors
from wan_notebook.client import AsyncWanClient, WanClient
from wan_notebook.errors import ConfigurationError

SCALE = 1 / 200  # the fixtures' emulator speed
FAST = {"size": "1280*720", "duration": 2}


def client(emu, **kw) -> WanClient:
    kw.setdefault("poll_scale", SCALE)
    kw.setdefault("timeout", 5.0)
    kw.setdefault("rand", lambda: 0.01)  # tiny backoffs keep the suite fast
    return WanClient(kw.pop("api_key", emu.api_key), base_url=emu.base_url, **kw)


def aclient(emu, **kw) -> AsyncWanClient:
    kw.setdefault("poll_scale", SCALE)
    kw.setdefault("timeout", 5.0)
    kw.setdefault("rand", lambda: 0.01)
    return AsyncWanClient(kw.pop("api_key", emu.api_key), base_url=emu.base_url, **kw)


def test_happy_path_generate(emulator, tmp_path: Path):
    seen: list[str] = []
    verified: list[Path] = []
    with client(emulator) as c:
        task, path = c.generate(
            "a red fox", tmp_path / "out" / "fox.mp4", on_update=lambda t: seen.append(t.status),
            verify=verified.append, seed=3, **FAST,
        )  # fmt: skip
    assert task.succeeded and task.video_url and task.orig_prompt == "a red fox"
    assert seen[-1] == "SUCCEEDED" and len(seen) == len(set(seen))
    assert path == tmp_path / "out" / "fox.mp4" and path.stat().st_size > 1000
    assert path.read_bytes()[4:8] == b"ftyp"
    assert verified == [tmp_path / "out" / f"fox.mp4.{os.getpid()}.part"]  # one per process
    assert not verified[0].exists()
    assert task.end_time and task.scheduled_time and task.submit_time
    assert emulator.stats()["tasks_created"] == 1


def test_async_happy_path_cancel_and_list(emulator, tmp_path: Path):
    async def main():
        async with aclient(emulator) as c:
            task, path = await c.generate("async cat", tmp_path / "cat.mp4", **FAST)
            assert task.succeeded and path.exists()
            emulator.set_speed(0.5)  # the next task stays PENDING long enough to cancel
            pending = await c.submit("to cancel", **FAST)
            await c.cancel(pending)
            with pytest.raises(errors.TaskCanceledError):
                await c.wait(pending, timeout=5)
            with pytest.raises(errors.InvalidRequestError, match="PENDING"):
                await c.cancel(task)  # SUCCEEDED: UnsupportedOperation
            return [s async for s in c.list(page_size=1)], task, pending

    items, task, pending = asyncio.run(main())
    ids = {i.task_id for i in items}
    assert {task.task_id, pending.task_id} <= ids
    assert len(items) == len(ids)


def test_list_paging(emulator):
    with client(emulator) as c:
        made = {c.submit(f"task {i}", **FAST).task_id for i in range(3)}
        items = list(c.list(page_size=2))
        assert made <= {i.task_id for i in items}
        assert emulator.stats()["requests"]["list"] >= 2
        one = list(c.list(task_id=sorted(made)[0]))
        assert [i.task_id for i in one] == [sorted(made)[0]]


def test_wrong_key_is_authentication_error_without_retry(emulator):
    with client(emulator, api_key="sk-wrong") as c, pytest.raises(errors.AuthenticationError):
        c.submit("x", **FAST)
    assert emulator.stats()["requests"]["create"] == 1


def test_input_moderation_and_task_failure(emulator):
    emulator.faults.add("create", "moderate_input", times=1)
    emulator.faults.add("create", "fail_task", code="InternalError.Algo", message="boom",
                        match="doomed")  # fmt: skip
    with client(emulator) as c:
        with pytest.raises(errors.ContentModerationError):
            c.submit("flagged", **FAST)
        task = c.submit("doomed", **FAST)
        with pytest.raises(errors.TaskFailedError) as info:
            c.wait(task, timeout=60)
    assert info.value.code == "InternalError.Algo" and task.task_id in str(info.value)


def test_moderated_task_failure_is_both(emulator):
    emulator.faults.add("create", "fail_task", code="DataInspectionFailed", message="bad")
    with client(emulator) as c, pytest.raises(errors.ContentModerationError) as info:
        c.wait(c.submit("x", **FAST), timeout=60)
    assert isinstance(info.value, errors.TaskFailedError)


def test_expired_and_unknown_tasks(emulator, tmp_path: Path):
    with client(emulator) as c:
        task = c.wait(c.submit("x", **FAST), timeout=60)
        emulator.expire(task.task_id)
        with pytest.raises(errors.TaskExpiredError):
            c.wait(task.task_id, timeout=5)
        with pytest.raises(errors.VideoExpiredError) as info:
            c.download(task, tmp_path / "v.mp4")
        assert task.task_id in str(info.value)
        assert not list(tmp_path.iterdir())
        with pytest.raises(errors.TaskExpiredError):
            c.wait("00000000-0000-0000-0000-000000000000", timeout=5)


def test_wait_timeout(emulator):
    emulator.set_speed(0.5)
    with client(emulator) as c:
        task = c.submit("slow", **FAST)
        with pytest.raises(errors.WaitTimeoutError) as info:
            c.wait(task, timeout=0.3)
    assert info.value.task_id == task.task_id


def test_429_burst_honours_retry_after(emulator):
    emulator.faults.add("query", "error", status=429, code="Throttling.RateQuota",
                        message="slow down", retry_after=1, times=2)  # fmt: skip
    slept: list[float] = []
    with client(emulator) as c:
        task = c.submit("x", **FAST)
        with WanClient(emulator.api_key, base_url=emulator.base_url, sleep=slept.append) as c2:
            got = c2.get(task)
    assert got.task_id == task.task_id
    assert slept == [1.0, 1.0]
    assert emulator.stats()["status_codes"]["429"] == 2


def test_429_and_503_on_create_are_retried_once_created(emulator):
    emulator.faults.add("create", "error", status=429, code="Throttling", retry_after=0, times=1)
    emulator.faults.add("create", "error", status=503, code="ModelUnavailable", times=1)
    with client(emulator) as c:
        task = c.submit("x", **FAST)
    stats = emulator.stats()
    assert task.task_id and stats["requests"]["create"] == 3 and stats["tasks_created"] == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_query_5xx_retried(emulator, status):
    emulator.faults.add("query", "error", status=status, code="InternalError", times=2)
    with client(emulator) as c:
        task = c.wait(c.submit("x", **FAST), timeout=60)
    assert task.succeeded


def test_query_errors_exhausting_retries_raise(emulator):
    emulator.faults.add("query", "error", status=500, code="InternalError")
    with client(emulator, max_retries=2) as c, pytest.raises(errors.ServiceError):
        c.get("whatever")
    assert emulator.stats()["requests"]["query"] == 3


@pytest.mark.parametrize("status", [500, 502, 504])
def test_create_ambiguous_status_is_not_resent(emulator, status):
    emulator.faults.add("create", "error", status=status, code="InternalError", times=1)
    with client(emulator) as c, pytest.raises(errors.SubmitUncertainError) as info:
        c.submit("x", **FAST)
    assert "may exist" in str(info.value) and "list(" in str(info.value)
    assert emulator.stats()["requests"]["create"] == 1


def test_drop_after_create_is_uncertain_and_creates_exactly_one(emulator):
    emulator.faults.add("create", "drop", after=True, times=1)
    with client(emulator) as c:
        with pytest.raises(errors.SubmitUncertainError) as info:
            c.submit("x", model="wan2.6-t2v", **FAST)
        found = list(c.list(model="wan2.6-t2v"))
    stats = emulator.stats()
    assert stats["tasks_created"] == 1 and stats["requests"]["create"] == 1
    assert len(found) == 1  # the hint in the message works
    assert "wan2.6-t2v" in str(info.value)


def test_drop_on_query_and_list_is_retried(emulator):
    emulator.faults.add("query", "drop", times=2)
    emulator.faults.add("list", "drop", times=1)
    with client(emulator) as c:
        task = c.wait(c.submit("x", **FAST), timeout=60)
        assert task.succeeded
        assert any(i.task_id == task.task_id for i in c.list())


def test_slow_responses_vs_timeout(emulator):
    emulator.faults.add("query", "slow", delay=1.0, times=1)
    with client(emulator, timeout=0.3) as c:
        task = c.submit("x", **FAST)
        assert c.get(task).task_id == task.task_id  # first attempt timed out, retried
        emulator.faults.add("create", "slow", delay=1.0, times=1)
        with pytest.raises(errors.SubmitUncertainError, match="ReadTimeout"):
            c.submit("y", **FAST)
    emulator.faults.clear()
    with client(emulator, timeout=3.0) as c:
        emulator.faults.add("query", "slow", delay=0.2, times=1)
        assert c.get(task).task_id == task.task_id  # slow but within the timeout


def test_connection_refused_is_retried_then_connection_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    slept: list[float] = []
    with (
        WanClient("sk-x", base_url=f"http://127.0.0.1:{port}/api/v1", sleep=slept.append,
                  max_retries=2) as c,
        pytest.raises(errors.WanConnectionError) as info,
    ):  # fmt: skip
        c.submit("x", **FAST)
    assert not isinstance(info.value, errors.SubmitUncertainError)
    assert len(slept) == 2


def test_truncated_download_resumes_with_range(emulator, tmp_path: Path):
    progress: list[tuple[int, int | None]] = []
    with client(emulator) as c:
        task = c.wait(c.submit("x", **FAST), timeout=60)
        clean = c.download(task, tmp_path / "clean.mp4")
        emulator.faults.add("video", "truncate", times=2)
        path = c.download(task, tmp_path / "resumed.mp4",
                          on_progress=lambda a, b: progress.append((a, b)))  # fmt: skip
    assert path.read_bytes() == clean.read_bytes()
    assert emulator.stats()["requests"]["video"] >= 4
    assert progress[-1] == (clean.stat().st_size, clean.stat().st_size)
    assert not list(tmp_path.glob("resumed.mp4*.part"))


def test_truncation_every_time_gives_up_without_a_finished_file(emulator, tmp_path: Path):
    with client(emulator) as c:
        task = c.wait(c.submit("x", **FAST), timeout=60)
        emulator.faults.add("video", "truncate")
        with pytest.raises(errors.DownloadError, match="attempts"):
            c.download(task, tmp_path / "v.mp4")
    assert not list(tmp_path.iterdir())


def test_verify_failure_leaves_nothing(emulator, tmp_path: Path):
    def verify(part: Path) -> None:
        raise ValueError("not a video")

    with client(emulator) as c:
        task = c.wait(c.submit("x", **FAST), timeout=60)
        with pytest.raises(errors.CorruptVideoError, match="not a video"):
            c.download(task, tmp_path / "v.mp4", verify=verify)
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_is_reported_and_leaves_no_file(emulator, tmp_path: Path):
    # Real ENOSPC: the .part name is a symlink to /dev/full, whose writes fail with ENOSPC.
    target = tmp_path / "v.mp4"
    with client(emulator) as c:
        task = c.wait(c.submit("x", **FAST), timeout=60)
        os.symlink("/dev/full", f"{target}.{os.getpid()}.part")
        with pytest.raises(errors.DownloadError, match="disk full"):
            c.download(task, target)
    assert not list(tmp_path.iterdir())


def _wav(path: Path, seconds: float = 3.0) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(struct.pack("<h", 0) * int(8000 * seconds))
    return path


def test_local_audio_is_uploaded(emulator, tmp_path: Path):
    audio = _wav(tmp_path / "voice.wav")
    with client(emulator) as c:
        task = c.submit("a singer", audio_url=str(audio), **FAST)
        done = c.wait(task, timeout=120)
    stats = emulator.stats()["requests"]
    assert stats["upload_policy"] == 1 and stats["upload"] == 1
    assert done.succeeded
    state = emulator.task(task.task_id)
    assert "oss://" in repr(state) and "voice.wav" in repr(state)


def test_async_local_audio_and_errors(emulator, tmp_path: Path):
    audio = _wav(tmp_path / "voice.wav")
    emulator.faults.add("create", "drop", after=True, match="uncertain")

    async def main():
        async with aclient(emulator) as c:
            task = await c.submit("a singer", audio_url=str(audio), **FAST)
            with pytest.raises(errors.SubmitUncertainError):
                await c.submit("uncertain", **FAST)
            return await c.wait(task, timeout=120)

    assert asyncio.run(main()).succeeded
    assert emulator.stats()["tasks_created"] == 2


def test_no_key_is_a_configuration_error(monkeypatch, tmp_path: Path):
    for name in ("DASHSCOPE_API_KEY", "DASHSCOPE_API_KEY_FILE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigurationError, match="DASHSCOPE_API_KEY"):
        WanClient()


def test_canary_key_never_leaks(emulator_factory, canary_key, caplog, tmp_path: Path):
    emu = emulator_factory(api_keys=(canary_key,), rate_limits=False)
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "wan_notebook", ""):
        logging.getLogger(name).setLevel(logging.DEBUG)
    texts: list[str] = []

    def catch(fn, *a, **kw):
        try:
            return fn(*a, **kw)
        except Exception as exc:
            texts.extend([str(exc), repr(exc), str(exc.__cause__), str(exc.__context__)])
            return None

    emu.faults.add("query", "error", status=429, code="Throttling", retry_after=0, times=1)
    emu.faults.add("create", "drop", after=True, match="drop me")
    with client(emu, api_key=canary_key, max_retries=1) as c:
        texts += [repr(c), str(c), c.key_source, repr(c._core.key)]
        task = c.wait(c.submit("x", **FAST), timeout=60)
        texts.append(repr(task))
        catch(c.submit, "drop me", **FAST)
        catch(c.submit, "x", size="bogus")
        c.download(task, tmp_path / "v.mp4")
        emu.expire(task.task_id)
        catch(c.wait, task.task_id, timeout=5)
        catch(c.download, task, tmp_path / "w.mp4")
        catch(c.cancel, task)
        emu.faults.add("query", "error", status=500, code="InternalError")
        catch(c.get, task)
    with client(emu, api_key=canary_key + "x") as bad:
        catch(bad.get, "t")
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(r.__dict__) for r in caplog.records]
    assert len(texts) > 20 and any("429" in t or "Throttling" in t for t in texts)
    leaked = [t for t in texts if canary_key in t]
    assert not leaked
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert canary_key.encode() not in f.read_bytes()


def test_injected_http_client_is_not_closed(emulator):
    http = httpx.Client(timeout=5)
    with client(emulator, http_client=http) as c:
        c.submit("x", **FAST)
    assert not http.is_closed
    http.close()
