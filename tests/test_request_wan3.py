"""Wan3.0 media inputs (request_wan3.py, PROTOCOL 15.3-15.4): the exclusive modes refused before
the network with the inputs named; the emulator fails the same bodies sent raw as the service
does (create 200, then a FAILED task); a first-frame video starts with the image."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from wan_notebook import api
from wan_notebook.errors import ValidationError
from wan_notebook.request import VideoRequest

CLOSE = 4.0


@pytest.fixture(autouse=True)
def _pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", str(1 / 200))


def picture(seed: int, w: int = 640, h: int = 480) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    for (y, x), colour in zip(
        [(0, 0), (0, 1), (1, 0), (1, 1)], rng.integers(20, 235, (4, 3)), strict=True
    ):
        img[y * h // 2 : (y + 1) * h // 2, x * w // 2 : (x + 1) * w // 2] = colour
    return img


def data_uri(array: np.ndarray) -> str:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"image": 1, "references": [2]}, "image="),
        ({"last_frame": 1, "references": [2]}, "last_frame="),
        ({"image": 1, "last_frame": 3, "references": [2]}, "image= and last_frame="),
    ],
)
def test_exclusive_modes_are_refused_before_the_network(given: dict, named: str) -> None:
    kw = {k: [picture(s) for s in v] if isinstance(v, list) else picture(v)
          for k, v in given.items()}  # fmt: skip
    for model in ("wan3.0-video", "wan3.0-video-prime"):
        with pytest.raises(ValidationError, match="mutually exclusive") as info:
            VideoRequest.create("a fox", model=model, **kw)
        assert named in str(info.value) and "references=" in str(info.value)


def test_last_frame_alone_and_clips_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"last_frame= only with a first frame \(image=\)"):
        VideoRequest.create("a fox", model="wan3.0-video", last_frame=picture(1))
    with pytest.raises(ValidationError, match="first_clip"):
        VideoRequest.create("a fox", model="wan3.0-video", first_clip=picture(1))
    with pytest.raises(ValidationError, match="image"):  # each input checked: too small
        VideoRequest.create("a fox", model="wan3.0-video", image=picture(1, 100, 100))


def test_media_items_as_protocol_says() -> None:
    refs = [picture(1), picture(2)]
    req = VideoRequest.create("", model="wan3.0-video", references=refs, audio=False)
    body = req.to_body(media_urls={"references[0]": "https://h/a.png",
                                   "references[1]": "https://h/b.png"})  # fmt: skip
    assert body["input"] == {
        "media": [
            {"type": "reference_image", "url": "https://h/a.png"},
            {"type": "reference_image", "url": "https://h/b.png"},
        ]
    }
    assert body["parameters"]["audio"] is False and body["parameters"]["ratio"] == "adaptive"
    plain = VideoRequest.create("a fox", model="wan3.0-video").to_body()  # still text-to-video
    assert (
        "media" not in plain["input"]
        and not VideoRequest.create("a fox", model="wan3.0-video").media
    )


def test_first_frame_video_starts_with_the_image(emulator, tmp_path: Path) -> None:
    still = picture(5, 800, 600)
    result = api.generate(
        "the fox wakes up", model="wan3.0-video", image=still, resolution="480P", duration=2,
        output_dir=tmp_path, api_key=emulator.api_key, base_url=emulator.base_url,
    )  # fmt: skip
    with av.open(str(result.path)) as box:
        frame = next(box.decode(video=0)).to_ndarray(format="rgb24")
    assert (
        frame.shape[1] * 3 == frame.shape[0] * 4
        or abs(frame.shape[1] / frame.shape[0] - 4 / 3) < 0.05
    )
    scaled = Image.fromarray(still).resize((frame.shape[1], frame.shape[0]))
    assert float(np.abs(frame.astype(np.float32) - np.asarray(scaled, np.float32)).mean()) < CLOSE
    assert result.metadata["request"]["inputs"][0]["role"] == "image"


def _raw(emulator, media: list[dict]) -> dict:
    """POST the body as the service would get it, then poll the task to its end."""
    headers = {"Authorization": f"Bearer {emulator.api_key}", "X-DashScope-Async": "enable"}
    body = {"model": "wan3.0-video", "input": {"prompt": "p", "media": media},
            "parameters": {"resolution": "480P", "duration": 2}}  # fmt: skip
    with httpx.Client(base_url=emulator.base_url, headers=headers) as c:
        created = c.post("/services/aigc/video-generation/video-synthesis", json=body)
        assert created.status_code == 200, created.text  # accepted: the task then FAILS
        task = created.json()["output"]["task_id"]
        for _ in range(2000):
            out = c.get(f"/tasks/{task}").json()["output"]
            if out["task_status"] in ("SUCCEEDED", "FAILED"):
                return out
            time.sleep(0.01)
    raise AssertionError("the task did not finish")


@pytest.mark.parametrize(
    "types",
    [("first_frame", "reference_image"), ("last_frame", "reference_image"),
     ("first_frame", "last_frame", "reference_image")],
)  # fmt: skip
def test_emulator_fails_the_same_bodies_sent_raw(emulator, types: tuple[str, ...]) -> None:
    uri = data_uri(picture(3))
    out = _raw(emulator, [{"type": t, "url": uri} for t in types])
    assert out["task_status"] == "FAILED" and out["code"] == "InvalidParameter"
    assert "mutually exclusive" in out["message"]


def test_emulator_last_frame_alone_fails_and_first_frame_succeeds(emulator) -> None:
    uri = data_uri(picture(3))
    out = _raw(emulator, [{"type": "last_frame", "url": uri}])
    assert out["task_status"] == "FAILED" and "first_frame" in out["message"]
    assert _raw(emulator, [{"type": "first_frame", "url": uri}])["task_status"] == "SUCCEEDED"


def clip(path: Path, seconds: float, w: int = 320, h: int = 240) -> Path:
    """A real MP4 of ``seconds`` at 30 fps (PyAV)."""
    with av.open(str(path), "w") as box:
        stream = box.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(round(seconds * 30)):
            frame = av.VideoFrame.from_ndarray(np.full((h, w, 3), i % 255, np.uint8), "rgb24")
            box.mux(stream.encode(frame))
        box.mux(stream.encode())
    return path


def test_reference_seconds_total_is_refused(tmp_path: Path) -> None:
    a, b = clip(tmp_path / "a.mp4", 8), clip(tmp_path / "b.mp4", 8)
    with pytest.raises(ValidationError, match=r"16\.0 s of reference video.*over the 15 s"):
        VideoRequest.create("Video 1 and Video 2", model="wan3.0-video", references=[a, b])


def test_references_video_and_usage(emulator, tmp_path: Path) -> None:
    still, moving = picture(8), clip(tmp_path / "ref.mp4", 2)
    result = api.generate(
        "Image 1 walks into Video 1", model="wan3.0-video-prime", references=[still, moving],
        resolution="480P", ratio="16:9", duration=2, output_dir=tmp_path,
        api_key=emulator.api_key, base_url=emulator.base_url,
    )  # fmt: skip
    usage = result.metadata["usage"]
    assert usage["fps"] == 30 and usage["ratio"] == "16:9" and usage["SR"] == 480
    assert usage["input_video_duration"] == pytest.approx(2.0, abs=0.1)
    assert usage["duration"] == pytest.approx(4.0, abs=0.1)
    roles = [i["role"] for i in result.metadata["request"]["inputs"]]
    assert roles == ["references", "references"]


def test_reference_images_appear_side_by_side(emulator, tmp_path: Path) -> None:
    red = np.zeros((480, 480, 3), np.uint8) + np.array([200, 30, 30], np.uint8)
    green = np.zeros((480, 480, 3), np.uint8) + np.array([20, 200, 30], np.uint8)
    result = api.generate(
        "Image 1 and Image 2", model="wan3.0-video", references=[red, green], resolution="720P",
        ratio="16:9", duration=2, output_dir=tmp_path, api_key=emulator.api_key,
        base_url=emulator.base_url,
    )  # fmt: skip
    assert (result.width, result.height) == (1280, 720)
    with av.open(str(result.path)) as box:
        frame = next(box.decode(video=0)).to_ndarray(format="rgb24").astype(np.float32)
    assert np.abs(frame[360, 320] - (200, 30, 30)).mean() < 6  # Image 1 on the left
    assert np.abs(frame[360, 960] - (20, 200, 30)).mean() < 6  # Image 2 on the right
