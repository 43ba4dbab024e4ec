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


VALID_27 = [
    {"image"},
    {"image", "audio_url"},
    {"image", "last_frame"},
    {"image", "last_frame", "audio_url"},
    {"first_clip"},
    {"first_clip", "last_frame"},
]


@pytest.fixture(scope="module")
def media_27(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One input per wan2.7-i2v role: a picture, a 3 s clip, a 3 s wav."""
    import wave

    import av

    folder = tmp_path_factory.mktemp("m27")
    clip = folder / "clip.mp4"
    with av.open(str(clip), "w") as box:
        vs = box.add_stream("libx264", rate=30)
        vs.width, vs.height, vs.pix_fmt = 320, 240, "yuv420p"
        for i in range(90):
            frame = av.VideoFrame.from_ndarray(np.full((240, 320, 3), i, np.uint8), "rgb24")
            box.mux(vs.encode(frame))
        box.mux(vs.encode(None))
    wav = folder / "a.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 16000 * 3)
    return {"image": picture(), "last_frame": picture(1), "first_clip": clip, "audio_url": wav}


def test_wan27_i2v_takes_exactly_the_documented_combinations(media_27) -> None:
    from itertools import combinations

    roles = sorted(media_27)
    for n in range(len(roles) + 1):
        for combo in combinations(roles, n):
            given = {r: media_27[r] for r in combo}
            if set(combo) in VALID_27:
                req = VideoRequest.create("go", model="wan2.7-i2v", **given)
                assert {m.role for m in req.media} == set(combo)
            else:
                with pytest.raises(ValidationError, match=r"does not take .* it takes one of"):
                    VideoRequest.create("go", model="wan2.7-i2v", **given)


def test_wan27_i2v_body_is_media_items(media_27) -> None:
    req = VideoRequest.create(
        "go", model="wan2.7-i2v", image=media_27["image"], audio_url=media_27["audio_url"],
        resolution="720P", duration=4,
    )  # fmt: skip
    assert req.audio_url is None  # the driving audio is a media item here
    body = req.to_body(media_urls={"image": "data:image/png;base64,AA", "audio_url": "oss://a"})
    assert body == {
        "model": "wan2.7-i2v",
        "input": {"prompt": "go", "media": [
            {"type": "first_frame", "url": "data:image/png;base64,AA"},
            {"type": "driving_audio", "url": "oss://a"},
        ]},
        "parameters": {"resolution": "720P", "duration": 4, "prompt_extend": True,
                       "watermark": False},
    }  # fmt: skip
    assert protocol.build_create(body).headers["X-DashScope-OssResourceResolve"] == "enable"


def test_wan27_clip_limits(media_27, tmp_path: Path) -> None:
    import av

    short = tmp_path / "short.mp4"
    with av.open(str(short), "w") as box:
        vs = box.add_stream("libx264", rate=30)
        vs.width, vs.height, vs.pix_fmt = 320, 240, "yuv420p"
        for _ in range(30):  # 1 s: under the 2 s minimum
            box.mux(
                vs.encode(av.VideoFrame.from_ndarray(np.zeros((240, 320, 3), np.uint8), "rgb24"))
            )
        box.mux(vs.encode(None))
    with pytest.raises(ValidationError, match=r"first_clip .* 1\.0\d s long") as err:
        VideoRequest.create("go", model="wan2.7-i2v", first_clip=short)
    assert err.value.param == "first_clip"
    with pytest.raises(ValidationError, match="is an image"):
        VideoRequest.create("go", model="wan2.7-i2v", first_clip=media_27["image"])


def test_r2v_references_body_and_limits() -> None:
    a, b = picture(1), picture(2)
    req = VideoRequest.create(
        "character1 waves at character2", model="wan2.6-r2v", references=[a, b],
        size="1280x720", duration=3, shot_type="multi",
    )  # fmt: skip
    assert [m.slot for m in req.media] == ["references[0]", "references[1]"]
    body = req.to_body(media_urls={"references[0]": "oss://a", "references[1]": "https://b"})
    assert body["input"]["reference_urls"] == ["oss://a", "https://b"]
    assert body["parameters"]["size"] == "1280*720" and "resolution" not in body["parameters"]
    swapped = VideoRequest.create(
        "character1 waves at character2", model="wan2.6-r2v", references=[b, a],
        size="1280x720", duration=3, shot_type="multi",
    )  # fmt: skip
    assert swapped.digest != req.digest  # the order names the characters
    with pytest.raises(ValidationError, match="1 to 5 items"):
        VideoRequest.create("c", model="wan2.6-r2v", references=[a] * 6)
    with pytest.raises(ValidationError, match="references is required"):
        VideoRequest.create("c", model="wan2.6-r2v")
    with pytest.raises(ValidationError, match=r"references\[1\]: .*px") as err:
        VideoRequest.create("c", model="wan2.6-r2v", references=[a, picture(3, 100, 100)])
    assert err.value.param == "references"
    with pytest.raises(ValidationError, match="duration"):
        VideoRequest.create("c", model="wan2.6-r2v", references=[a], duration=11)
    with pytest.raises(ValidationError, match="audio"):
        VideoRequest.create("c", model="wan2.6-r2v", references=[a], audio=False)
    flash = VideoRequest.create("c", model="wan2.6-r2v-flash", references=[a], audio=False)
    assert flash.to_body(media_urls={"references[0]": "oss://a"})["parameters"]["audio"] is False


def test_wan27_r2v_media_items_ratio_and_duration(media_27) -> None:
    a, b = picture(1), picture(2)
    req = VideoRequest.create(
        "Image 1 meets Video 1", model="wan2.7-r2v", references=[a, media_27["first_clip"]],
        resolution="720P", ratio="9:16", duration=8,
    )  # fmt: skip
    body = req.to_body(media_urls={"references[0]": "oss://i", "references[1]": "oss://v"})
    assert body["input"]["media"] == [
        {"type": "reference_image", "url": "oss://i"},
        {"type": "reference_video", "url": "oss://v"},
    ]
    assert body["parameters"]["ratio"] == "9:16" and req.display_size == "720*1280"
    with pytest.raises(ValidationError, match="with a reference video") as err:
        VideoRequest.create("x", model="wan2.7-r2v", references=[media_27["first_clip"]],
                            duration=12)  # fmt: skip
    assert err.value.param == "duration"
    assert VideoRequest.create("x", model="wan2.7-r2v", references=[a], duration=12).duration == 12
    with_first = VideoRequest.create("x", model="wan2.7-r2v", references=[a], image=b)
    assert with_first.ratio is None  # the first frame sets the shape
    assert [m["type"] for m in with_first.to_body(
        media_urls={"image": "oss://f", "references[0]": "oss://r"})["input"]["media"]
    ] == ["first_frame", "reference_image"]  # fmt: skip
    with pytest.raises(ValidationError, match=r"ignored by wan2\.7-r2v with a first frame"):
        VideoRequest.create("x", model="wan2.7-r2v", references=[a], image=b, ratio="1:1")
    with pytest.raises(ValidationError, match="references is required"):
        VideoRequest.create("x", model="wan2.7-r2v", image=b)


def test_wan27_videoedit(media_27) -> None:
    clip = media_27["first_clip"]
    req = VideoRequest.create("make it snow", model="wan2.7-videoedit", video=clip,
                              references=[picture(1)], audio_setting="origin")  # fmt: skip
    assert req.duration == 0 and req.ratio is None  # the input's length and shape
    body = req.to_body(media_urls={"video": "oss://v", "references[0]": "oss://r"})
    assert body["input"]["media"] == [
        {"type": "video", "url": "oss://v"}, {"type": "reference_image", "url": "oss://r"},
    ]  # fmt: skip
    assert body["parameters"] == {"resolution": "1080P", "prompt_extend": True,
                                  "watermark": False, "audio_setting": "origin"}  # fmt: skip
    assert req.canonical()["audio_setting"] == "origin"
    other = VideoRequest.create("make it snow", model="wan2.7-videoedit", video=clip,
                                references=[picture(1)], audio_setting="auto")  # fmt: skip
    assert other.digest != req.digest
    with pytest.raises(ValidationError, match="video is required"):
        VideoRequest.create("x", model="wan2.7-videoedit", references=[picture(1)])
    with pytest.raises(ValidationError, match="1 to 4 items"):
        VideoRequest.create("x", model="wan2.7-videoedit", video=clip, references=[picture()] * 5)
    with pytest.raises(ValidationError, match=r"not a parameter of wan2\.6-t2v") as err:
        VideoRequest.create("x", model="wan2.6-t2v", audio_setting="auto")
    assert err.value.param == "audio_setting"
