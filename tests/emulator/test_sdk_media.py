"""The official dashscope SDK (2.0.2) runs image-to-video and kf2v against the emulator through
its own upload flow (``file://`` paths -> getPolicy -> OSS POST -> ``oss://`` + the resolve
header, PROTOCOL 11.6), and the videos start (and end) with the given pictures."""

from __future__ import annotations

from pathlib import Path

import av
import dashscope
import httpx
import numpy as np
import pytest
from dashscope import VideoSynthesis
from PIL import Image

from wan_notebook.emulator import Emulator


@pytest.fixture
def emu(emulator_factory, monkeypatch) -> Emulator:
    server = emulator_factory(speed=1000.0, rate_limits=True)
    monkeypatch.setattr(dashscope, "base_http_api_url", server.base_url)
    return server


def picture(path: Path, seed: int, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2] = rng.integers(20, 235, 3)
    img[h // 2 :] = rng.integers(20, 235, 3)
    Image.fromarray(img).save(path)
    return img


def video_frames(url: str) -> list[np.ndarray]:
    r = httpx.get(url, timeout=30)
    assert r.status_code == 200
    import io

    with av.open(io.BytesIO(r.content)) as box:
        return [f.to_ndarray(format="rgb24") for f in box.decode(video=0)]


def error(frame: np.ndarray, image: np.ndarray) -> float:
    scaled = Image.fromarray(image).resize((frame.shape[1], frame.shape[0]))
    return float(np.abs(frame.astype(np.float32) - np.asarray(scaled, np.float32)).mean())


def test_i2v_with_a_local_file(emu: Emulator, tmp_path: Path) -> None:
    image = picture(tmp_path / "still.png", 1)
    rsp = VideoSynthesis.call(
        model="wan2.6-i2v",
        prompt="the curtain moves",
        img_url="file://" + str(tmp_path / "still.png"),
        resolution="720P",
        duration=2,
        api_key=emu.api_key,
    )
    assert rsp.status_code == 200, rsp
    assert rsp.output.task_status == "SUCCEEDED", rsp
    assert rsp.usage.SR == 720 and rsp.usage.duration == 2
    requests = emu.stats()["requests"]
    assert requests["upload_policy"] == 1 and requests["upload"] == 1
    got = video_frames(rsp.output.video_url)
    assert got[0].shape == (816, 1104, 3)  # 4:3 kept at the 720P pixel total
    assert len(got) == 60 and error(got[0], image) < 4.0


def test_kf2v_first_and_last_frame(emu: Emulator, tmp_path: Path) -> None:
    first = picture(tmp_path / "a.png", 2)
    last = picture(tmp_path / "b.png", 3)
    rsp = VideoSynthesis.call(
        model="wan2.2-kf2v-flash",
        prompt="day turns to night",
        first_frame_url="file://" + str(tmp_path / "a.png"),
        last_frame_url=str(tmp_path / "b.png"),  # a bare existing path is uploaded too
        resolution="480P",
        api_key=emu.api_key,
    )
    assert rsp.status_code == 200, rsp
    assert rsp.output.task_status == "SUCCEEDED", rsp
    assert rsp.usage.video_duration == 5 and rsp.usage.SR == 480
    assert emu.stats()["requests"]["upload"] == 2
    got = video_frames(rsp.output.video_url)
    assert error(got[0], first) < 4.0 and error(got[-1], last) < 4.0


def test_r2v_reference_urls_uploaded_per_item(emu: Emulator, tmp_path: Path) -> None:
    picture(tmp_path / "c1.png", 4, (360, 480))
    picture(tmp_path / "c2.png", 5, (360, 480))
    rsp = VideoSynthesis.call(
        model="wan2.6-r2v",
        prompt="character1 hands character2 an umbrella",
        reference_urls=[str(tmp_path / "c1.png"), "file://" + str(tmp_path / "c2.png")],
        size="1280*720",
        duration=2,
        api_key=emu.api_key,
    )
    assert rsp.status_code == 200, rsp
    assert rsp.output.task_status == "SUCCEEDED", rsp
    assert emu.stats()["requests"]["upload"] == 2
    assert rsp.usage.size == "1280*720" and rsp.usage.output_video_duration == 2
    assert video_frames(rsp.output.video_url)[0].shape == (720, 1280, 3)


def test_wan3_first_frame_and_exclusive_modes(emu: Emulator, tmp_path: Path) -> None:
    """Wan3.0 media[] through the SDK's own upload: a first frame starts the video; frames and
    references together are accepted, then FAIL with the documented message (PROTOCOL 15.4)."""
    image = picture(tmp_path / "still.png", 7)
    url = "file://" + str(tmp_path / "still.png")
    rsp = VideoSynthesis.call(
        model="wan3.0-video", prompt="the curtain moves", resolution="480P", duration=2,
        media=[{"type": "first_frame", "url": url}], api_key=emu.api_key,
    )  # fmt: skip
    assert rsp.status_code == 200 and rsp.output.task_status == "SUCCEEDED", rsp
    assert error(video_frames(rsp.output.video_url)[0], image) < 4.0
    assert rsp.usage["fps"] == 30 and rsp.usage["SR"] == 480
    bad = VideoSynthesis.call(
        model="wan3.0-video", prompt="x", resolution="480P", duration=2, api_key=emu.api_key,
        media=[{"type": "first_frame", "url": url}, {"type": "reference_image", "url": url}],
    )  # fmt: skip
    assert bad.output.task_status == "FAILED" and bad.output.code == "InvalidParameter"
    assert "mutually exclusive" in bad.output.message
