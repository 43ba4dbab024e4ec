"""VideoResult.frame / last_frame / extend: a continuation starts where the clip ended."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from wan_notebook import api
from wan_notebook.errors import ValidationError

SPEED = 200.0


@pytest.fixture(autouse=True)
def _pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", str(1 / SPEED))


def picture(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((480, 640, 3), np.uint8)
    img[:240] = rng.integers(20, 235, 3)
    img[240:] = rng.integers(20, 235, 3)
    img[:, :320, 0] //= 2
    return img


def error(a: np.ndarray | Image.Image, b: np.ndarray | Image.Image) -> float:
    a_img = a if isinstance(a, Image.Image) else Image.fromarray(a)
    b_img = (b if isinstance(b, Image.Image) else Image.fromarray(b)).resize(a_img.size)
    return float(np.abs(np.asarray(a_img, np.float32) - np.asarray(b_img, np.float32)).mean())


def test_frames_and_a_continuation(emulator, tmp_path: Path) -> None:
    conn = {"api_key": emulator.api_key, "base_url": emulator.base_url}
    first, last = picture(1), picture(2)
    clip = api.generate(
        "dawn", model="wan2.2-kf2v-flash", resolution="480P", image=first, last_frame=last,
        output_dir=tmp_path, **conn,
    )  # fmt: skip
    assert error(clip.frame(0), first) < 4.0
    assert error(clip.last_frame(), last) < 4.0
    with av.open(str(clip.path)) as box:
        n = box.streams.video[0].frames
    assert error(clip.frame(n - 1), clip.last_frame()) == 0.0
    with pytest.raises(ValidationError, match="past the end"):
        clip.frame(n)
    with pytest.raises(ValidationError, match="index"):
        clip.frame("0")  # type: ignore[arg-type]

    more = clip.extend("day", model="wan2.1-i2v-turbo", resolution="480P", duration=3, **conn)
    assert more.path.parent == clip.path.parent  # the clip's folder by default
    assert more.model == "wan2.1-i2v-turbo" and more.task_id != clip.task_id
    # the continuation starts where the clip ended (two H.264 generations apart)
    assert error(more.frame(0), clip.last_frame()) < 4.0
    again = clip.extend("day", model="wan2.1-i2v-turbo", resolution="480P", duration=3, **conn)
    assert again.cached and again.task_id == more.task_id


def test_extend_refuses_an_image(emulator, tmp_path: Path) -> None:
    from wan_notebook.results import VideoResult, _continuation_model

    assert _continuation_model("wan2.6-t2v") == "wan2.6-i2v"
    assert _continuation_model("wanx2.1-i2v-turbo") == "wan2.1-i2v-turbo"
    assert _continuation_model("wan2.2-kf2v-flash") == "wan2.6-i2v"
    fake = VideoResult(path=tmp_path / "x.mp4", task_id="t", metadata={"model": "wan2.6-t2v"})
    with pytest.raises(ValidationError, match="first frame from the clip"):
        fake.extend("x", image=picture(0))


def test_wan27_continuation_starts_with_the_clip_and_goes_on_from_its_last_frame(
    emulator, tmp_path: Path
) -> None:
    conn = {"api_key": emulator.api_key, "base_url": emulator.base_url}
    clip = api.generate(
        "dusk", model="wan2.7-i2v", resolution="720P", duration=2, image=picture(7),
        output_dir=tmp_path, **conn,
    )  # fmt: skip
    uploads = emulator.stats()["requests"]["upload"]
    more = clip.extend("night", duration=4, **conn)  # model: the clip's own (wan2.7-i2v)
    assert more.model == "wan2.7-i2v" and more.duration == 4.0
    assert emulator.stats()["requests"]["upload"] == uploads + 1  # the clip went up as a file
    inputs = more.metadata["request"]["inputs"]
    assert [i["role"] for i in inputs] == ["first_clip"]
    n = 60  # the clip's frames come first (2 s at 30 fps), then the continuation
    assert error(more.frame(n - 1), clip.last_frame()) < 4.0
    assert error(more.frame(n), clip.last_frame()) < 4.0  # the continuation's first frame
    assert error(more.frame(0), clip.frame(0)) < 4.0
