"""VideoRequest with image inputs: content-keyed digests, exact bodies, parameter checks."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wan_notebook import api, protocol
from wan_notebook.errors import ValidationError
from wan_notebook.request import VideoRequest


def picture(seed: int = 0, w: int = 640, h: int = 480) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_digest_is_the_content_not_the_path(tmp_path: Path) -> None:
    arr = picture()
    a, b = tmp_path / "a.png", tmp_path / "sub" / "b.png"
    b.parent.mkdir()
    Image.fromarray(arr).save(a)
    b.write_bytes(a.read_bytes())
    one = VideoRequest.create("waves", model="wan2.6-i2v", image=a)
    two = VideoRequest.create("waves", model="wan2.6-i2v", image=str(b))
    assert one.digest == two.digest and one == two
    assert str(tmp_path) not in one.canonical_json()
    changed = arr.copy()
    changed[0, 0, 0] ^= 1
    Image.fromarray(changed).save(b)
    assert VideoRequest.create("waves", model="wan2.6-i2v", image=b).digest != one.digest


def test_thumbnail_is_recorded_but_not_keyed() -> None:
    req = VideoRequest.create("waves", model="wan2.6-i2v", image=picture())
    record = req.canonical()["inputs"][0]
    assert record["thumb"].startswith("data:image/jpeg;base64,")
    assert record["width"] == 640 and record["size"] > 0 and len(record["sha256"]) == 64
    assert "thumb" not in req._canonical(records=False)["inputs"][0]


def test_i2v_body() -> None:
    req = VideoRequest.create(
        "waves", model="wan2.6-i2v", image=picture(), resolution="720P", duration=3, seed=4,
        shot_type="multi",
    )  # fmt: skip
    body = req.to_body(media_urls={"image": "oss://d/x.png"})
    assert body == {
        "model": "wan2.6-i2v",
        "input": {"prompt": "waves", "img_url": "oss://d/x.png"},
        "parameters": {"prompt_extend": True, "watermark": False, "resolution": "720P",
                       "duration": 3, "seed": 4, "shot_type": "multi"},
    }  # fmt: skip
    spec = protocol.build_create(body, path=req.model_info.endpoint)
    assert spec.path == protocol.CREATE_PATH
    assert spec.headers["X-DashScope-OssResourceResolve"] == "enable"
    assert req.display_size == "1104*816"  # 4:3 at the 720P pixel total, multiples of 16


def test_kf2v_body_on_image2video() -> None:
    req = VideoRequest.create("", model="wanx2.1-kf2v-plus", image=picture(), last_frame=picture(1))
    body = req.to_body(media_urls={"image": "data:image/png;base64,AA", "last_frame": "oss://l"})
    assert body["input"] == {
        "first_frame_url": "data:image/png;base64,AA",
        "last_frame_url": "oss://l",
    }
    assert body["parameters"] == {"prompt_extend": True, "watermark": False, "resolution": "720P"}
    spec = protocol.build_create(body, path=req.model_info.endpoint)
    assert spec.path == "/services/aigc/image2video/video-synthesis"


def test_local_content_needs_urls() -> None:
    req = VideoRequest.create("waves", model="wan2.6-i2v", image=picture())
    with pytest.raises(ValidationError, match="image is local content"):
        req.to_body()
    remote = VideoRequest.create("waves", model="wan2.6-i2v", image="https://e.com/a.png")
    assert remote.to_body()["input"]["img_url"] == "https://e.com/a.png"
    assert "X-DashScope-OssResourceResolve" not in protocol.build_create(remote.to_body()).headers


@pytest.mark.parametrize(
    ("params", "param", "match"),
    [
        ({"size": "1280*720"}, "size", "keeps the input image's aspect ratio"),
        ({"ratio": "16:9"}, "ratio", "keeps the input image's aspect ratio"),
        ({"resolution": "480P"}, "resolution", "720P or 1080P"),
        ({"duration": 16}, "duration", "from 2 to 15"),
        ({"audio": False}, "audio", "not supported by wan2.6-i2v"),
        ({"negative_prompt": "x" * 501}, "negative_prompt", "over the 500"),
    ],
)
def test_parameter_errors(params: dict, param: str, match: str) -> None:
    with pytest.raises(ValidationError, match=match) as err:
        VideoRequest.create("waves", model="wan2.6-i2v", image=picture(), **params)
    assert err.value.param == param


def test_silent_models_refuse_audio_url() -> None:
    with pytest.raises(ValidationError, match="audio_url"):
        VideoRequest.create(
            "x", model="wan2.2-i2v-plus", image=picture(), audio_url="https://e.com/a.mp3"
        )


def test_replace_keeps_the_inputs() -> None:
    req = VideoRequest.create("waves", model="wan2.2-kf2v-flash", image=picture(),
                              last_frame=picture(1))  # fmt: skip
    again = req.replace(prompt="calm sea")
    assert again.media == req.media and again.prompt == "calm sea"
    assert req.replace(resolution="1080P").resolution == "1080P"


def test_generate_many_dicts_take_media() -> None:
    reqs = api.requests_from(
        [{"prompt": "a", "image": picture()}, {"prompt": "b", "image": picture(1)}],
        {"model": "wan2.1-i2v-turbo", "resolution": "480P"},
    )
    assert [r.media[0].role for r in reqs] == ["image", "image"]
    assert reqs[0].digest != reqs[1].digest


def test_an_rgba_pil_image_is_sent_as_rgb() -> None:
    img = Image.fromarray(picture()).convert("RGBA")
    req = VideoRequest.create("x", model="wan2.6-i2v", image=img)
    sent = Image.open(io.BytesIO(req.media[0].data))
    assert sent.mode == "RGB"
