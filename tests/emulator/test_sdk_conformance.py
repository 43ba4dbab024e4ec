"""The official dashscope SDK (2.0.2) works against the emulator, and its videos decode.

The SDK reads DASHSCOPE_HTTP_BASE_URL only at import time, so each test points the module
attribute ``dashscope.base_http_api_url`` (read at call time) at its emulator and passes
``api_key=`` explicitly.
"""

from __future__ import annotations

import asyncio
import io
import wave
from pathlib import Path
from typing import Any

import dashscope
import httpx
import pytest
from dashscope import VideoSynthesis
from dashscope.aigc import AioVideoSynthesis

from wan_notebook import catalog
from wan_notebook.emulator import Emulator


@pytest.fixture
def emu(emulator_factory, monkeypatch) -> Emulator:
    # Rate limits stay on: the SDK's polling must live within them as it would in real use.
    server = emulator_factory(speed=1000.0, rate_limits=True)
    monkeypatch.setattr(dashscope, "base_http_api_url", server.base_url)
    return server


def check_video(
    url: str, tmp_path: Path, *, model: str, size: str, duration: int, audio: bool
) -> None:
    """Download the video and decode it: size, duration (within 0.1 s), frame rate, audio."""
    from wan_notebook.media import probe

    path = tmp_path / (url.split("/files/")[1].split("?")[0])
    r = httpx.get(url, timeout=30)
    assert r.status_code == 200
    path.write_bytes(r.content)
    info = probe(path)
    width, height = (int(x) for x in size.split("*"))
    assert (info.width, info.height) == (width, height)
    assert abs(info.duration - duration) <= 0.1
    assert round(info.fps) == catalog.get_model(model).fps
    assert info.has_audio is audio


def _succeeded(rsp: Any) -> str:
    assert rsp.status_code == 200, rsp
    assert rsp.output.task_status == "SUCCEEDED", rsp
    assert rsp.output.video_url
    return rsp.output.video_url


def test_call(emu: Emulator, tmp_path: Path) -> None:
    rsp = VideoSynthesis.call(
        model="wan2.5-t2v-preview",
        prompt="a paper boat on a rainy street",
        size="832*480",
        duration=5,
        seed=7,
        api_key=emu.api_key,
    )
    url = _succeeded(rsp)
    assert rsp.output.orig_prompt == "a paper boat on a rainy street"
    assert rsp.output.actual_prompt
    assert rsp.usage.video_duration == 5 and rsp.usage.video_ratio == "832*480"
    check_video(url, tmp_path, model="wan2.5-t2v-preview", size="832*480", duration=5, audio=True)


def test_async_call_fetch_wait_silent_model(emu: Emulator, tmp_path: Path) -> None:
    created = VideoSynthesis.async_call(
        model="wan2.2-t2v-plus", prompt="fog over hills", size="832*480", api_key=emu.api_key
    )
    assert created.status_code == 200 and created.output.task_status == "PENDING"
    fetched = VideoSynthesis.fetch(created, api_key=emu.api_key)
    assert fetched.status_code == 200
    assert fetched.output.task_id == created.output.task_id
    assert fetched.output.task_status in ("PENDING", "RUNNING")
    done = VideoSynthesis.wait(created, api_key=emu.api_key)
    url = _succeeded(done)
    check_video(url, tmp_path, model="wan2.2-t2v-plus", size="832*480", duration=5, audio=False)
    assert emu.stats()["tasks_created"] == 1


def test_wan26_usage_and_shot_type(emu: Emulator, tmp_path: Path) -> None:
    rsp = VideoSynthesis.call(
        model="wan2.6-t2v",
        prompt="two friends talk in a cafe",
        size="1280*720",
        duration=2,
        shot_type="multi",
        prompt_extend=True,
        api_key=emu.api_key,
    )
    url = _succeeded(rsp)
    assert rsp.usage["SR"] == 720 and rsp.usage["output_video_duration"] == 2
    assert "actual_prompt" not in rsp.output
    check_video(url, tmp_path, model="wan2.6-t2v", size="1280*720", duration=2, audio=True)


def test_cancel_and_list(emu: Emulator) -> None:
    emu.set_speed(0.01)  # stays PENDING
    created = VideoSynthesis.async_call(
        model="wan2.5-t2v-preview", prompt="to cancel", size="832*480", api_key=emu.api_key
    )
    task_id = created.output.task_id
    canceled = VideoSynthesis.cancel(created, api_key=emu.api_key)
    assert canceled.status_code == 200
    fetched = VideoSynthesis.fetch(task_id, api_key=emu.api_key)
    assert fetched.output.task_status == "CANCELED"
    again = VideoSynthesis.cancel(task_id, api_key=emu.api_key)
    assert again.status_code == 400 and again.code == "UnsupportedOperation"
    waited = VideoSynthesis.wait(task_id, api_key=emu.api_key)  # terminal at once
    assert waited.output.task_status == "CANCELED"

    listed = VideoSynthesis.list(api_key=emu.api_key, status="CANCELED", page_size=5)
    assert listed.status_code == 200
    assert listed.output["total"] == 1
    assert listed.output["data"][0]["task_id"] == task_id
    assert listed.output["page_size"] == 5


def test_unknown_task(emu: Emulator) -> None:
    rsp = VideoSynthesis.wait("0385dc79-5ff8-4d82-bcb6-000000000000", api_key=emu.api_key)
    assert rsp.status_code == 200 and rsp.output.task_status == "UNKNOWN"


def test_aio_call_and_twins(emu: Emulator, tmp_path: Path) -> None:
    async def scenario() -> tuple[Any, ...]:
        full = await AioVideoSynthesis.call(
            model="wan2.5-t2v-preview", prompt="aio call", size="832*480", api_key=emu.api_key
        )
        created = await AioVideoSynthesis.async_call(
            model="wan2.5-t2v-preview", prompt="aio async", size="832*480", api_key=emu.api_key
        )
        fetched = await AioVideoSynthesis.fetch(created, api_key=emu.api_key)
        waited = await AioVideoSynthesis.wait(created, api_key=emu.api_key)
        emu.set_speed(0.01)
        pending = await AioVideoSynthesis.async_call(
            model="wan2.5-t2v-preview", prompt="aio cancel", size="832*480", api_key=emu.api_key
        )
        canceled = await AioVideoSynthesis.cancel(pending, api_key=emu.api_key)
        after = await AioVideoSynthesis.fetch(pending, api_key=emu.api_key)
        listed = await AioVideoSynthesis.list(api_key=emu.api_key)
        return full, created, fetched, waited, canceled, after, listed

    full, created, fetched, waited, canceled, after, listed = asyncio.run(scenario())
    for rsp in (full, waited):
        url = _succeeded(rsp)
        check_video(
            url, tmp_path, model="wan2.5-t2v-preview", size="832*480", duration=5, audio=True
        )
    assert created.output.task_status == "PENDING"
    assert fetched.output.task_id == created.output.task_id
    assert canceled.status_code == 200
    assert after.output.task_status == "CANCELED"
    assert listed.status_code == 200 and listed.output["total"] == 3


def _wav(path: Path, seconds: float = 3.0, rate: int = 22050) -> Path:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        period = rate // 440
        w.writeframes(
            b"".join(
                (6000 if (i % period) < period // 2 else -6000).to_bytes(2, "little", signed=True)
                for i in range(int(seconds * rate))
            )
        )
    path.write_bytes(buf.getvalue())
    return path


def test_local_audio_file_goes_through_upload(emu: Emulator, tmp_path: Path) -> None:
    wav = _wav(tmp_path / "voice.wav")
    rsp = VideoSynthesis.call(
        model="wan2.5-t2v-preview",
        prompt="a singer on stage",
        audio_url=f"file://{wav}",
        size="832*480",
        api_key=emu.api_key,
    )
    url = _succeeded(rsp)
    stats = emu.stats()["requests"]
    assert stats["upload_policy"] == 1 and stats["upload"] == 1
    snap = emu.task(rsp.output.task_id)
    assert snap["audio_url"].startswith("oss://dashscope-instant/")
    assert snap["audio_url"].endswith("/voice.wav")
    assert Path(snap["audio"]).read_bytes() == wav.read_bytes()
    check_video(url, tmp_path, model="wan2.5-t2v-preview", size="832*480", duration=5, audio=True)


def test_error_cases(emu: Emulator) -> None:
    bad_key = VideoSynthesis.async_call(
        model="wan2.5-t2v-preview", prompt="x", size="832*480", api_key="sk-wrong"
    )
    assert bad_key.status_code == 401 and bad_key.code == "InvalidApiKey"
    assert bad_key.message == "Invalid API-key provided."
    bad_size = VideoSynthesis.async_call(
        model="wan2.5-t2v-preview", prompt="x", size="1280x720", api_key=emu.api_key
    )
    # as the service: accepted, then the task FAILS with InvalidParameter (PROTOCOL 7, 19)
    assert bad_size.status_code == 200 and bad_size.request_id
    failed = VideoSynthesis.wait(bad_size, api_key=emu.api_key)
    assert failed.output.task_status == "FAILED" and failed.output.code == "InvalidParameter"
    assert "size is not match" in failed.output.message
    from dashscope.common.error import InvalidTask

    with pytest.raises(InvalidTask):  # call() raises when the create fails (PROTOCOL 11.3)
        VideoSynthesis.call(model="wan2.5-t2v-preview", prompt="x", api_key="sk-wrong")
    r = httpx.post(
        emu.base_url + "/services/aigc/video-generation/video-synthesis",
        headers={"Authorization": f"Bearer {emu.api_key}"},
        json={"model": "wan2.5-t2v-preview", "input": {"prompt": "x"}, "parameters": {}},
    )
    assert r.status_code == 403
    assert r.json()["message"] == "current user api does not support synchronous calls"
    assert emu.stats()["tasks_created"] == 1  # only the accepted bad-size task


def test_failed_task_is_a_200_failed(emu: Emulator) -> None:
    emu.faults.add("create", "fail_task", code="DataInspectionFailed")
    rsp = VideoSynthesis.call(
        model="wan2.5-t2v-preview", prompt="x", size="832*480", api_key=emu.api_key
    )
    assert rsp.status_code == 200
    assert rsp.output.task_status == "FAILED"
    assert rsp.output.code == "DataInspectionFailed"


def test_503_on_poll_is_retried_by_the_sdk(emu: Emulator, tmp_path: Path) -> None:
    emu.faults.add("query", "error", status=503, times=2)
    rsp = VideoSynthesis.call(
        model="wan2.2-t2v-plus", prompt="retry me", size="832*480", api_key=emu.api_key
    )
    _succeeded(rsp)
    assert emu.stats()["status_codes"]["503"] == 2
