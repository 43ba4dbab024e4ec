"""Media limits from the catalog, checked before any network call, each error naming its
parameter; generate() sends nothing for a bad input (the emulator counts zero requests)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from media_helpers import picture
from PIL import Image

from wan_notebook import api, catalog
from wan_notebook.errors import ValidationError
from wan_notebook.media_in import coerce, media_for


def encoded(arr: np.ndarray, fmt: str, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).convert(mode).save(buf, format=fmt)
    return buf.getvalue()


def check(model: str, **given: object) -> None:
    media_for(catalog.get_model(model), given)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "WEBP"])
def test_accepted_formats(fmt: str) -> None:
    check("wan2.6-i2v", image=encoded(picture(), fmt))


def test_png_with_alpha_is_refused() -> None:
    with pytest.raises(ValidationError, match="alpha") as err:
        check("wan2.6-i2v", image=encoded(picture(), "PNG", "RGBA"))
    assert err.value.param == "image"


def test_gif_is_refused() -> None:
    with pytest.raises(ValidationError, match="GIF"):
        check("wan2.6-i2v", image=encoded(picture(), "GIF", "P"))


@pytest.mark.parametrize(("w", "h"), [(239, 480), (640, 200)])
def test_sides_below_240_px(w: int, h: int) -> None:
    with pytest.raises(ValidationError, match=rf"{w}x{h} px.*sides 240-8000 px"):
        check("wan2.2-kf2v-flash", image=picture(w, h))


def test_last_frame_is_checked_too() -> None:
    with pytest.raises(ValidationError) as err:
        check("wan2.2-kf2v-flash", image=picture(), last_frame=picture(100, 100))
    assert err.value.param == "last_frame"


def test_file_size_limit_depends_on_the_model(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 255, (2200, 2000, 3), dtype=np.uint8)
    big = tmp_path / "big.bmp"
    big.write_bytes(encoded(noise, "BMP"))  # 13.2 MB
    check("wan2.6-i2v", image=big)  # 20 MB for wan2.6
    with pytest.raises(ValidationError, match=r"13\.2 MB, over the 10 MB limit"):
        check("wan2.1-i2v-turbo", image=big)  # 10 MB for wan2.1


def test_audio_given_as_image_is_refused(tmp_path: Path) -> None:
    import wave

    wav = tmp_path / "a.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000)
    with pytest.raises(ValidationError, match="is an audio"):
        check("wan2.6-i2v", image=wav)


def test_required_image_and_unknown_inputs() -> None:
    with pytest.raises(ValidationError, match=r"image is required by wan2\.6-i2v"):
        check("wan2.6-i2v")
    with pytest.raises(ValidationError, match=r"not an input of wan2\.6-t2v.*wan2\.6-i2v"):
        check("wan2.6-t2v", image=picture())
    with pytest.raises(ValidationError, match=r"last_frame.*not an input of wan2\.6-i2v.*kf2v"):
        check("wan2.6-i2v", image=picture(), last_frame=picture())


def test_remote_urls_are_left_to_the_service() -> None:
    got = media_for(catalog.get_model("wan2.6-i2v"), {"image": "https://example.com/a.png"})
    assert got[0].url == "https://example.com/a.png"


def test_generate_sends_nothing_for_a_bad_image(emulator, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="image"):
        api.generate(
            "a cat", model="wan2.6-i2v", image=picture(100, 100), output_dir=tmp_path,
            api_key=emulator.api_key, base_url=emulator.base_url,
        )  # fmt: skip
    assert sum(emulator.stats()["requests"].values()) == 0
    assert not (tmp_path / "index.sqlite").exists()


def test_inputs_sorted_in_wire_order() -> None:
    got = media_for(
        catalog.get_model("wan2.2-kf2v-flash"), {"last_frame": picture(seed=1), "image": picture()}
    )
    assert [m.role for m in got] == ["image", "last_frame"]
    assert got[0].sha256 == coerce(picture(), "image").sha256
