"""The official dashscope SDK 2.0.2 drives the new-protocol models on the emulator (issue 13
case 6), and the videos it is given decode at the documented size, duration and frame rate.

As in test_sdk_conformance.py, the SDK's module attribute ``dashscope.base_http_api_url`` (read
at call time) is pointed at the emulator and ``api_key=`` is passed explicitly.
"""

from __future__ import annotations

from pathlib import Path

import dashscope
import httpx
import pytest
from dashscope import VideoSynthesis

from wan_notebook.emulator import Emulator
from wan_notebook.media import probe


@pytest.fixture
def emu(emulator_factory, monkeypatch) -> Emulator:
    # Rate limits on, as in real use; a fast clock for Wan3.0's ~12-minute typical run.
    server = emulator_factory(speed=2000.0, rate_limits=True)
    monkeypatch.setattr(dashscope, "base_http_api_url", server.base_url)
    return server


def check_video(url: str, tmp_path: Path, *, size: str, seconds: float, audio: bool) -> None:
    path = tmp_path / "video.mp4"
    r = httpx.get(url, timeout=30)
    assert r.status_code == 200
    path.write_bytes(r.content)
    info = probe(path)
    assert f"{info.width}*{info.height}" == size
    assert abs(info.duration - seconds) <= 0.1
    assert round(info.fps) == 30
    assert info.has_audio is audio


@pytest.mark.parametrize("model", ["wan2.7-t2v", "wan2.7-t2v-2026-04-25", "wan2.7-t2v-2026-06-12"])
def test_call_wan27(emu: Emulator, tmp_path: Path, model: str) -> None:
    rsp = VideoSynthesis.call(
        model=model,
        prompt="a koi pond in the rain",
        resolution="720P",
        ratio="9:16",
        duration=3,
        audio=True,  # as the SDK's own example sends it: accepted, no effect (always sound)
        api_key=emu.api_key,
    )
    assert rsp.status_code == 200 and rsp.output.task_status == "SUCCEEDED", rsp
    assert rsp.output.orig_prompt == "a koi pond in the rain"
    assert rsp.usage.duration == 3 and rsp.usage.output_video_duration == 3
    assert rsp.usage["SR"] == 720 and rsp.usage["ratio"] == "9:16"
    check_video(rsp.output.video_url, tmp_path, size="720*1280", seconds=3, audio=True)
    # what the SDK sent: the new body, nothing legacy
    task = emu.task(rsp.output.task_id)
    assert task["size"] == "720*1280" and task["shot_type"] is None


@pytest.mark.parametrize("model", ["wan3.0-video", "wan3.0-video-prime"])
def test_async_call_wait_wan3(emu: Emulator, tmp_path: Path, model: str) -> None:
    created = VideoSynthesis.async_call(
        model=model,
        prompt="a kite over a square field, 4 seconds",
        resolution="480P",
        ratio="adaptive",
        duration=-1,
        audio=False,
        api_key=emu.api_key,
    )
    assert created.status_code == 200 and created.output.task_status == "PENDING", created
    rsp = VideoSynthesis.wait(created, api_key=emu.api_key)
    assert rsp.status_code == 200 and rsp.output.task_status == "SUCCEEDED", rsp
    # adaptive picked 1:1 ("square"), smart duration picked 4 s from the prompt
    assert rsp.usage["ratio"] == "1:1" and rsp.usage["fps"] == 30
    assert rsp.usage.duration == 4.0 and rsp.usage["SR"] == 480
    check_video(rsp.output.video_url, tmp_path, size="624*624", seconds=4, audio=False)


def test_wan3_with_sound_at_720p(emu: Emulator, tmp_path: Path) -> None:
    rsp = VideoSynthesis.call(
        model="wan3.0-video",
        prompt="waves on a pebble beach",
        resolution="720P",
        ratio="4:3",
        duration=2,
        api_key=emu.api_key,
    )
    assert rsp.output.task_status == "SUCCEEDED", rsp
    check_video(rsp.output.video_url, tmp_path, size="1104*832", seconds=2, audio=True)


def test_unknown_model_is_400_model_not_exist(emu: Emulator) -> None:
    rsp = VideoSynthesis.async_call(model="wan3.9-video", prompt="x", api_key=emu.api_key)
    assert rsp.status_code == 400 and rsp.code == "InvalidParameter"
    assert rsp.message.startswith("Model not exist.")
