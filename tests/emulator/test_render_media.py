"""Emulated image-to-video honours its inputs: decoded first and last frames match the images
(small mean error after H.264), the size follows the image, and the store keys by content."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from wan_notebook import api
from wan_notebook.emulator.render_media import render_with_images

SPEED = 200.0
#: Mean absolute error (0-255) allowed between a decoded frame and its input image.
CLOSE = 4.0


@pytest.fixture(autouse=True)
def _pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", str(1 / SPEED))


def picture(seed: int, w: int = 640, h: int = 480) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    for (y, x), colour in zip(
        [(0, 0), (0, 1), (1, 0), (1, 1)], rng.integers(20, 235, (4, 3)), strict=True
    ):
        img[y * h // 2 : (y + 1) * h // 2, x * w // 2 : (x + 1) * w // 2] = colour
    img[..., 1] = (img[..., 1] * 0.6 + np.linspace(0, 90, h)[:, None]).astype(np.uint8)
    return img


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as box:
        return [f.to_ndarray(format="rgb24") for f in box.decode(video=0)]


def error(frame: np.ndarray, image: np.ndarray) -> float:
    scaled = Image.fromarray(image).resize((frame.shape[1], frame.shape[0]))
    return float(np.abs(frame.astype(np.float32) - np.asarray(scaled, np.float32)).mean())


def conn(emu) -> dict[str, str]:
    return {"api_key": emu.api_key, "base_url": emu.base_url}


def test_render_with_images_end_frames(tmp_path: Path) -> None:
    a, b = picture(1), picture(2)
    out = render_with_images(
        tmp_path / "v.mp4", first=Image.fromarray(a), last=Image.fromarray(b), width=320,
        height=240, duration=1.0, fps=30, seed=3, audio=None,
    )  # fmt: skip
    got = frames(out)
    assert len(got) == 30 and got[0].shape == (240, 320, 3)
    assert error(got[0], a) < CLOSE and error(got[-1], b) < CLOSE
    assert error(got[0], b) > 10 * CLOSE  # the two inputs are really different pictures
    assert error(got[15], a) > CLOSE and error(got[15], b) > CLOSE  # the middle moves


def test_kf2v_first_and_last_frame(emulator, tmp_path: Path) -> None:
    first, last = picture(3, 800, 600), picture(4, 800, 600)
    result = api.generate(
        "the light changes", model="wan2.2-kf2v-flash", resolution="480P", image=first,
        last_frame=last, output_dir=tmp_path, **conn(emulator),
    )  # fmt: skip
    got = frames(result.path)
    assert (result.width, result.height) == (720, 544)  # 4:3 at the 480P pixel total
    assert len(got) == 150
    assert error(got[0], first) < CLOSE and error(got[-1], last) < CLOSE
    inputs = result.metadata["request"]["inputs"]
    assert [i["role"] for i in inputs] == ["image", "last_frame"]
    assert all(len(i["sha256"]) == 64 and i["size"] > 0 for i in inputs)
    assert inputs[0]["thumb"].startswith("data:image/jpeg;base64,")


def test_i2v_first_frame_and_portrait_size(emulator, tmp_path: Path) -> None:
    image = picture(5, 360, 640)
    result = api.generate(
        "a slow pan", model="wan2.1-i2v-turbo", resolution="480P", duration=3, image=image,
        output_dir=tmp_path, **conn(emulator),
    )  # fmt: skip
    got = frames(result.path)
    assert (result.width, result.height) == (464, 832)  # 9:16 kept
    assert len(got) == 90 and error(got[0], image) < CLOSE


def test_same_picture_elsewhere_is_a_cache_hit_and_one_pixel_is_not(
    emulator, tmp_path: Path
) -> None:
    image = picture(6)
    a, b = tmp_path / "a.png", tmp_path / "copy" / "renamed.png"
    b.parent.mkdir()
    Image.fromarray(image).save(a)
    b.write_bytes(a.read_bytes())
    kw = dict(model="wan2.1-i2v-turbo", resolution="480P", duration=3, output_dir=tmp_path / "o")
    one = api.generate("waves", image=a, **kw, **conn(emulator))
    creates = emulator.stats()["requests"]["create"]
    two = api.generate("waves", image=b, **kw, **conn(emulator))
    assert two.cached and two.task_id == one.task_id
    assert emulator.stats()["requests"]["create"] == creates
    changed = image.copy()
    changed[100, 100, 2] ^= 1
    three = api.generate("waves", image=changed, **kw, **conn(emulator))
    assert not three.cached and three.task_id != one.task_id
    assert emulator.stats()["requests"]["create"] == creates + 1


def test_r2v_references_appear_in_the_frames(emulator, tmp_path: Path) -> None:
    red = np.zeros((480, 360, 3), np.uint8)
    red[:] = (200, 30, 30)
    green = np.zeros((480, 360, 3), np.uint8)
    green[:] = (20, 200, 30)
    result = api.generate(
        "character1 dances with character2", model="wan2.6-r2v", size="1280*720", duration=2,
        references=[red, green], output_dir=tmp_path, **conn(emulator),
    )  # fmt: skip
    assert (result.width, result.height) == (1280, 720)
    frame = frames(result.path)[0].astype(np.float32)
    # character1 on the left half, character2 on the right (their order in reference_urls)
    assert np.abs(frame[360, 320] - (200, 30, 30)).mean() < 6
    assert np.abs(frame[360, 960] - (20, 200, 30)).mean() < 6
    assert result.metadata["usage"] == {
        "duration": 2.0, "size": "1280*720", "input_video_duration": 0,
        "output_video_duration": 2, "SR": 720, "video_count": 1,
    }  # fmt: skip
    swapped = api.generate(
        "character1 dances with character2", model="wan2.6-r2v", size="1280*720", duration=2,
        references=[green, red], output_dir=tmp_path, **conn(emulator),
    )  # fmt: skip
    assert not swapped.cached  # the order names the characters: another request


def test_wan27_r2v_first_frame_then_the_references(emulator, tmp_path: Path) -> None:
    red = np.zeros((480, 360, 3), np.uint8)
    red[:] = (200, 30, 30)
    first = np.zeros((480, 640, 3), np.uint8)
    first[:] = (30, 30, 200)
    result = api.generate(
        "Image 1 walks in", model="wan2.7-r2v", resolution="720P", duration=2, references=[red],
        image=first, output_dir=tmp_path, **conn(emulator),
    )  # fmt: skip
    got = frames(result.path)
    assert (result.width, result.height) == (1104, 816)  # the first frame's 4:3 at 720P
    assert error(got[0], first) < CLOSE
    assert np.abs(got[-1][408, 552].astype(np.float32) - (200, 30, 30)).mean() < 6
    usage = result.metadata["usage"]
    assert usage["SR"] == 720 and usage["ratio"] == "4:3" and usage["duration"] == 2


def test_videoedit_is_visibly_derived_from_its_input(emulator, tmp_path: Path) -> None:
    from wan_notebook.emulator.render_media import EDIT_TINT

    clip = api.generate(
        "a slow pan", model="wan2.1-i2v-turbo", resolution="480P", duration=3,
        image=picture(8), output_dir=tmp_path, **conn(emulator),
    )  # fmt: skip
    red = np.zeros((300, 300, 3), np.uint8)
    red[:] = (220, 20, 20)
    edited = api.generate(
        "make it colder", model="wan2.7-videoedit", resolution="720P", video=clip,
        references=[red], output_dir=tmp_path, **conn(emulator),
    )  # fmt: skip
    assert edited.duration == 3.0  # duration 0: the input's length
    assert edited.metadata["usage"]["input_video_duration"] == 3.0
    src, out = frames(clip.path), frames(edited.path)
    assert len(out) == len(src) == 90
    for i in (0, 45, 89):
        expected = Image.fromarray(src[i]).resize((out[i].shape[1], out[i].shape[0]))
        tinted = np.clip(np.asarray(expected, np.float32) * EDIT_TINT, 0, 255).astype(np.uint8)
        body = slice(out[i].shape[0] // 3, None)  # below the reference thumbnails
        assert error(out[i][body], tinted[body]) < CLOSE
        assert error(out[i], src[i]) > 3 * CLOSE  # visibly not the input itself
    corner = out[0][20, out[0].shape[1] - 40].astype(np.float32)
    assert np.abs(corner - (220, 20, 20)).mean() < 8  # the reference shows
