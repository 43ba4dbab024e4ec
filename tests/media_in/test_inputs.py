"""coerce(): every accepted form becomes a MediaInput keyed by its content, never its path."""

from __future__ import annotations

import base64
import io
import wave
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from media_helpers import picture
from PIL import Image

from wan_notebook.errors import ParameterTypeError, ValidationError
from wan_notebook.media_in import MediaInput, coerce


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_same_picture_from_two_paths_bytes_and_file_url_is_one_input(tmp_path: Path) -> None:
    data = png_bytes(picture())
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = tmp_path / "a" / "cat.png", tmp_path / "b" / "other-name.png"
    first.write_bytes(data)
    second.write_bytes(data)
    inputs = [
        coerce(first, "image"),
        coerce(str(second), "image"),
        coerce("file://" + str(first), "image"),
        coerce(data, "image"),
        coerce(bytearray(data), "image"),
        coerce("data:image/png;base64," + base64.b64encode(data).decode(), "image"),
    ]
    assert {i.key()["sha256"] for i in inputs} == {inputs[0].sha256}
    assert all(i.key() == inputs[0].key() for i in inputs)
    assert inputs[0].mime == "image/png" and (inputs[0].width, inputs[0].height) == (640, 480)
    assert "cat" not in str(inputs[0].key()) and str(tmp_path) not in str(inputs[0].key())


def test_pil_image_and_numpy_array_give_the_same_png() -> None:
    arr = picture(320, 256)
    from_array = coerce(arr, "image")
    from_pil = coerce(Image.fromarray(arr), "image")
    assert from_array.sha256 == from_pil.sha256
    assert from_array.mime == "image/png" and from_array.size == len(from_array.data)
    back = np.asarray(from_array.image())
    assert np.array_equal(back, arr)  # lossless: the service gets exactly these pixels
    rgba = Image.fromarray(arr).convert("RGBA")
    assert coerce(rgba, "image").alpha is False  # a PIL image is sent as RGB


def test_one_changed_pixel_changes_the_key() -> None:
    arr = picture()
    other = arr.copy()
    other[10, 10, 0] ^= 1
    assert coerce(arr, "image").key() != coerce(other, "image").key()


def test_role_is_part_of_the_key() -> None:
    arr = picture()
    assert coerce(arr, "image").key() != coerce(arr, "last_frame").key()


def test_fileupload_values_of_ipywidgets_8_and_7() -> None:
    data = png_bytes(picture())
    v8 = ({"name": "cat.png", "type": "image/png", "size": len(data),
           "content": memoryview(data), "last_modified": 0},)  # fmt: skip
    v7 = {"cat.png": {"metadata": {"name": "cat.png"}, "content": data}}
    assert coerce(v8, "image").sha256 == coerce(v7, "image").sha256 == coerce(data, "image").sha256
    assert coerce(v8, "image").name == "cat.png"
    with pytest.raises(ParameterTypeError, match="image"):
        coerce((), "image")  # an empty upload widget: nothing chosen


def test_real_filupload_widget_value() -> None:
    widgets = pytest.importorskip("ipywidgets")
    data = png_bytes(picture())
    up = widgets.FileUpload(accept="image/*")
    now = datetime.now(timezone.utc)
    up.value = ({"name": "x.png", "type": "image/png", "size": len(data),
                 "content": memoryview(data), "last_modified": now},)  # fmt: skip
    assert coerce(up.value, "image").sha256 == coerce(data, "image").sha256


def test_remote_urls_are_kept_as_given() -> None:
    for url in ("https://example.com/cat.png", "oss://dashscope-instant/x/cat.png"):
        inp = coerce(url, "image")
        assert inp.url == url and inp.key() == {"role": "image", "url": url} and not inp.data


def test_video_and_audio_are_recognised(tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 16000 * 3)
    audio = coerce(wav, "audio_url")
    assert audio.kind == "audio" and audio.mime == "audio/wav"
    assert audio.seconds == pytest.approx(3.0, abs=0.05)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (12, "is an int"),
        ("", "is empty"),
        ("/no/such/file.png", "neither a URL nor an existing file"),
        ("data:image/png,abc", "without ;base64"),
        ("data:image/png;base64,@@@", "not valid base64"),
        (b"", "empty"),
        (b"not an image at all", "not an image, video or audio file"),
        (np.zeros((10, 10), np.uint8), "H x W x 3 uint8"),
        (np.zeros((10, 10, 3), np.float32), "H x W x 3 uint8"),
    ],
)
def test_bad_values_name_the_parameter(value: object, match: str) -> None:
    with pytest.raises(ValidationError, match=match) as err:
        coerce(value, "image", "last_frame")
    assert err.value.param == "last_frame"


def test_mediainput_passes_through_and_takes_the_new_role() -> None:
    inp = coerce(picture(), "image")
    assert coerce(inp, "image") is inp
    moved = coerce(inp, "last_frame")
    assert isinstance(moved, MediaInput) and moved.role == "last_frame"
    assert moved.sha256 == inp.sha256


def test_thumbnail_is_a_small_jpeg() -> None:
    inp = coerce(picture(1600, 1200), "image")
    assert inp.thumb is not None and inp.thumb.startswith("data:image/jpeg;base64,")
    thumb = Image.open(io.BytesIO(base64.b64decode(inp.thumb.split(",", 1)[1])))
    assert max(thumb.size) <= 64
    assert "thumb" in inp.record() and "thumb" not in inp.key()
