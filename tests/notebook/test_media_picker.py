"""The form's media inputs (``notebook/media_picker.py``): an upload per input role with a
preview and the catalog check beside it; the request carries the file as ``generate`` would.
Driven in-process (widgets need no frontend) and against the emulator over loopback."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from wan_notebook.errors import ValidationError
from wan_notebook.notebook.form import GenerateForm

SPEED = 200.0
CLOSE = 4.0  # mean absolute error (0-255) between a decoded frame and its input image


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
    return img


def upload(array: np.ndarray, name: str = "still.png") -> tuple[dict[str, Any], ...]:
    """A FileUpload value (ipywidgets 8) holding ``array`` as a PNG."""
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    data = out.getvalue()
    return ({"name": name, "type": "image/png", "size": len(data), "content": memoryview(data),
             "last_modified": datetime.now(timezone.utc)},)  # fmt: skip


def first_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as box:
        return next(box.decode(video=0)).to_ndarray(format="rgb24")


def error(frame: np.ndarray, image: np.ndarray) -> float:
    scaled = Image.fromarray(image).resize((frame.shape[1], frame.shape[0]))
    return float(np.abs(frame.astype(np.float32) - np.asarray(scaled, np.float32)).mean())


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(tmp_path)
    return {"api_key": "sk-test", "base_url": "http://127.0.0.1:9/api/v1"}


def test_choosing_an_i2v_model_shows_the_image_picker(offline: dict[str, Any]) -> None:
    form = GenerateForm(prompt="the fox wakes up", **offline)
    assert form.media.widget.layout.display == "none" and not form.media.slots
    form.model.value = "wan2.1-i2v-turbo"
    assert form.media.widget.layout.display is None
    assert list(form.media.slots) == ["image"]
    assert form.media.slots["image"].upload.description.endswith("*")  # required
    assert [v for _, v in form.size.options] == ["480P", "720P"]  # the image sets the shape
    assert form.error is not None and "image is required" in form.error
    assert form.generate.disabled
    form.size.value = "480P"
    form.model.value = "wan2.2-i2v-flash"
    assert form.size.value == "480P"  # a tier both models offer is kept
    form.model.value = "wan2.1-kf2v-plus"  # first + last frame
    assert list(form.media.slots) == ["image", "last_frame"]
    assert not form.media.slots["last_frame"].upload.description.endswith("*")
    form.model.value = "wan2.5-t2v-preview"  # text to video: hidden again
    assert form.media.widget.layout.display == "none" and not form.media.slots
    assert form.error is None


def test_a_bad_image_shows_the_error_and_sends_nothing(emulator, tmp_path: Path) -> None:
    form = GenerateForm(
        prompt="the fox wakes up", output_dir=tmp_path, api_key=emulator.api_key,
        base_url=emulator.base_url,
    )  # fmt: skip
    form.model.value = "wan2.1-i2v-turbo"
    slot = form.media.slots["image"]
    slot.upload.value = upload(picture(1, 100, 100), "tiny.png")
    assert slot.upload.value == ()  # the bytes left the widget state
    assert slot.error is not None and "100x100" in slot.error and "240" in slot.error
    assert "100x100" in slot.message.value  # shown beside the upload
    assert slot.preview.value  # the preview still shows what was chosen
    assert form.error is not None and form.generate.disabled
    before = emulator.stats()
    form.generate.click()  # refused in the form
    assert "Cannot generate" in form.message.value or "100x100" in form.message.value
    with pytest.raises(Exception, match="100x100"):
        form.submit()
    after = emulator.stats()
    assert after["tasks_created"] == before["tasks_created"] == 0
    assert not form.jobs
    slot.clear.click()
    assert slot.error is None and not slot.inputs and "image is required" in form.error


def test_an_uploaded_image_previews_and_becomes_the_first_frame(emulator, tmp_path: Path) -> None:
    form = GenerateForm(
        prompt="the fox wakes up", output_dir=tmp_path, api_key=emulator.api_key,
        base_url=emulator.base_url,
    )  # fmt: skip
    form.model.value = "wan2.1-i2v-turbo"
    form.size.value = "480P"
    form.duration.value = 3
    still = picture(7, 640, 480)
    form.media.slots["image"].upload.value = upload(still)
    slot = form.media.slots["image"]
    assert slot.error is None and "ok" in slot.message.value
    thumb = Image.open(io.BytesIO(slot.preview.value))
    assert max(thumb.size) <= 160 and thumb.size[0] > thumb.size[1]  # a real thumbnail
    assert "640x480" in slot.info.value
    assert form.error is None and not form.generate.disabled
    request = form.request()
    assert [m.role for m in request.media] == ["image"] and request.resolution == "480P"
    assert any("image: the uploaded file" in n for n in form.as_cell().notes)
    job = form.submit()
    result = job.result(timeout=60)
    assert error(first_frame(result.path), still) < CLOSE
    assert result.metadata["request"]["inputs"][0]["role"] == "image"
    assert emulator.stats()["tasks_created"] == 1


def clip_bytes(seconds: float, colour: tuple[int, int, int], w: int = 320, h: int = 240) -> bytes:
    """A real MP4 (PyAV) of one colour."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as box:
        stream = box.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        pixels = np.zeros((h, w, 3), np.uint8) + np.array(colour, np.uint8)
        for _ in range(round(seconds * 30)):
            box.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, "rgb24")))
        box.mux(stream.encode())
    return out.getvalue()


def test_a_clip_previews_its_first_frame(offline: dict[str, Any]) -> None:
    form = GenerateForm(prompt="go on", **offline)
    form.model.value = "wan2.7-i2v"
    assert set(form.media.slots) == {"image", "last_frame", "audio_url", "first_clip"}
    data = clip_bytes(2.0, (200, 40, 40))
    form.media.slots["first_clip"].upload.value = (
        {"name": "red.mp4", "type": "video/mp4", "size": len(data), "content": memoryview(data),
         "last_modified": datetime.now(timezone.utc)},
    )  # fmt: skip
    slot = form.media.slots["first_clip"]
    assert slot.error is None and "2.0 s" in slot.info.value and "320x240" in slot.info.value
    thumb = np.asarray(Image.open(io.BytesIO(slot.preview.value)).convert("RGB"), np.float32)
    assert np.abs(thumb - np.array([200, 40, 40], np.float32)).mean() < 12  # the clip's frame
    assert form.error is None and [m.role for m in form.request().media] == ["first_clip"]
    form.media.set("image", picture(2))  # a clip and a first frame: not a documented combination
    assert form.error is not None and "does not take" in form.error and form.generate.disabled


def test_wan3_modes_shown_in_the_form(offline: dict[str, Any]) -> None:
    form = GenerateForm(prompt="a fox", **offline)
    form.model.value = "wan3.0-video"
    assert list(form.media.slots) == ["image", "last_frame", "references"]
    assert not any(s.upload.description.endswith("*") for s in form.media.slots.values())
    assert form.error is None  # text to video still
    form.media.set("image", picture(1))
    assert form.error is None and form.request().media[0].role == "image"
    form.media.set("references", [picture(2)])
    assert "mutually exclusive" in form.error and "image=" in form.error
    assert "mutually exclusive" in form.message.value and form.generate.disabled
    form.media.slots["image"].clear.click()
    assert form.error is None and [m.role for m in form.request().media] == ["references"]
    refs = form.media.slots["references"]
    assert refs.upload.multiple  # a list input: several files in one upload
    refs.upload.value = upload(picture(5), "a.png") + upload(picture(6), "b.png")
    assert refs.error is None and "a.png" in refs.info.value and "b.png" in refs.info.value
    assert [m.index for m in form.request().media] == [0, 1]  # Image 1, Image 2 in that order
    form.model.value = "wan2.5-t2v-preview"
    assert not form.media.slots and form.media.widget.layout.display == "none"


def test_a_form_can_start_on_a_model_with_inputs(offline: dict[str, Any]) -> None:
    empty = GenerateForm(prompt="wake up", model="wanx2.1-i2v-turbo", size="480P", **offline)
    assert empty.model.value == "wan2.1-i2v-turbo" and empty.size.value == "480P"
    assert "image is required" in empty.error  # to upload: not an error at construction
    still = picture(3)
    form = GenerateForm(
        prompt="wake up", model="wan2.1-kf2v-plus", image=still, last_frame=picture(4),
        duration=5, **offline,
    )  # fmt: skip
    assert form.error is None and [m.role for m in form.request().media] == ["image", "last_frame"]
    assert form.media.slots["image"].preview.value  # the preset file is previewed too
    wan3 = GenerateForm(prompt="go", model="wan3.0-video", size="832*480", references=[still],
                        **offline)  # fmt: skip
    assert wan3.error is None and wan3.request().resolution == "480P"
    with pytest.raises(ValidationError, match="100x100"):
        GenerateForm(prompt="x", model="wan2.1-i2v-turbo", image=picture(1, 100, 100), **offline)
    with pytest.raises(ValidationError, match=r"is not an input of wan2\.5-t2v-preview"):
        GenerateForm(prompt="x", model="wan2.5-t2v-preview", image=still, **offline)
    with pytest.raises(ValidationError, match="mutually exclusive"):
        GenerateForm(prompt="x", model="wan3.0-video", image=still, references=[still], **offline)
    with pytest.raises(ValidationError, match="duration"):
        GenerateForm(prompt="x", model="wan2.1-i2v-turbo", duration=9, **offline)


def test_every_media_model_starts_valid_once_given_its_inputs(offline: dict[str, Any]) -> None:
    from wan_notebook.notebook.media_picker import media_models

    form = GenerateForm(prompt="a fox", **offline)
    still = picture(9)
    for model in media_models():
        form.model.value = model.id
        assert form.error is not None  # every one needs some input
        if model.id == "wan2.7-videoedit":
            continue  # a clip: test_a_clip_previews_its_first_frame covers clip uploads
        role = "references" if "references" in form.media.slots else "image"
        form.media.set(role, [still] if role == "references" else still)
        assert form.error is None, (model.id, form.error)
        if model.id.startswith("wan2.7-r2v"):  # a first frame too: its shape, no ratio sent
            form.media.set("image", still)
            assert form.error is None and form.request().ratio is None
            form.media.set("image", None)
        form.media.set(role, None)
