"""One request model for both protocols (issue 13 cases 2-4): resolution x ratio vs size,
bad input refused before the network naming the parameter, bodies per model, the new usage,
and the typed "Model not exist." error."""

from __future__ import annotations

import warnings

import pytest

from wan_notebook import protocol_new
from wan_notebook.errors import InvalidRequestError, NotFoundError, ValidationError, api_error
from wan_notebook.request import VideoRequest

#: Digests of legacy requests computed on main before issue 13 (saved folders must stay hits).
PINNED = [
    ({}, "647ae662d3cef9eac4878efc132f435f747e40a80d4727d6d4d7eeee23e8541f"),
    (
        {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 10, "seed": 7},
        "0b61914408e802623c1bc45dd81dc345bafc7f75efb5df4d8e25279f4bc85c79",
    ),
    (
        {"model": "wan2.6-t2v", "size": "1280*720", "shot_type": "multi", "audio": False,
         "negative_prompt": "blur"},
        "0c73b6674c0318490e96078ce532e8b730fc87a62ba95ab2b9fbfc0fb709bcb2",
    ),
    (
        {"model": "wan2.1-t2v-turbo", "watermark": True, "prompt_extend": False},
        "f2df9db7f83bcd1dd0092c656a50d0260e9f2da38f226b8c4f9d3c130eede1b1",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("params", "digest"), PINNED)
def test_legacy_digests_are_unchanged(params: dict, digest: str) -> None:
    assert VideoRequest.create("a red fox in the snow", **params).digest == digest


def err(**kw) -> ValidationError:
    prompt = kw.pop("prompt", "a fox")
    with pytest.raises(ValidationError) as info:
        VideoRequest.create(prompt, **kw)
    e = info.value
    assert e.param in str(e) and e.allowed and e.allowed in str(e)
    return e


def test_wan27_defaults_and_body() -> None:
    req = VideoRequest.create("a fox", model="wan2.7-t2v")
    assert (req.resolution, req.ratio, req.duration) == ("1080P", "16:9", 5)
    assert req.to_body() == {
        "model": "wan2.7-t2v",
        "input": {"prompt": "a fox"},
        "parameters": {
            "resolution": "1080P", "ratio": "16:9", "duration": 5,
            "prompt_extend": True, "watermark": False,
        },
    }  # fmt: skip


@pytest.mark.parametrize(
    ("size", "res", "ratio"),
    [("1280*720", "720P", "16:9"), ("1104*832", "720P", "4:3"), ("1648x1248", "1080P", "4:3"),
     ("720*1280", "720P", "9:16")],
)  # fmt: skip
def test_size_maps_to_resolution_ratio_with_the_same_key(size: str, res: str, ratio: str) -> None:
    a = VideoRequest.create("a fox", model="wan2.7-t2v", size=size)
    b = VideoRequest.create("a fox", model="wan2.7-t2v", resolution=res, ratio=ratio)
    assert (a.resolution, a.ratio) == (res, ratio)
    assert a.digest == b.digest and a.to_body() == b.to_body()
    assert "size" not in a.to_body()["parameters"]


def test_size_that_maps_to_nothing_lists_the_sizes() -> None:
    e = err(model="wan2.7-t2v", size="1088*832")  # the legacy 4:3 size
    assert e.param == "size" and "1104*832" in str(e) and "1648*1248" in str(e)


def test_resolution_ratio_on_a_legacy_model_map_to_size() -> None:
    a = VideoRequest.create("a fox", model="wan2.6-t2v", resolution="720P", ratio="4:3")
    b = VideoRequest.create("a fox", model="wan2.6-t2v", size="1088*832")
    assert a.size == "1088*832" and a.digest == b.digest and a.resolution is None
    body = a.to_body()["parameters"]
    assert body["size"] == "1088*832" and "resolution" not in body and "ratio" not in body
    e = err(model="wan2.2-t2v-plus", resolution="480P", ratio="4:3")
    assert e.param == "ratio"
    assert err(model="wan2.2-t2v-plus", resolution="720P", ratio="16:9").param == "resolution"


@pytest.mark.parametrize(
    ("kw", "param", "words"),
    [
        ({"ratio": "21:9"}, "ratio", "16:9"),
        ({"resolution": "480P"}, "resolution", "1080P"),
        ({"duration": -1}, "duration", "wan3.0-video"),
        ({"duration": 16}, "duration", "2 to 15"),
        ({"shot_type": "multi"}, "shot_type", "describe the shots in the prompt"),
        ({"audio": False}, "audio", "audio_url"),
        ({"prompt": "x" * 5001}, "prompt", "5000"),
        ({"size": "1280*720", "ratio": "9:16"}, "size", "either"),
    ],
)
def test_wan27_bad_input(kw: dict, param: str, words: str) -> None:
    e = err(model="wan2.7-t2v", **kw)
    assert e.param == param and words in str(e)


def test_wan27_prompt_limit_is_5000() -> None:
    assert VideoRequest.create("x" * 5000, model="wan2.7-t2v").prompt == "x" * 5000


def test_wan27_audio_url_goes_in_input() -> None:
    req = VideoRequest.create(
        "a fox", model="wan2.7-t2v", resolution="720P", ratio="9:16", duration=3,
        audio_url="https://example.com/a.mp3",
    )  # fmt: skip
    body = req.to_body()
    assert body["input"] == {"prompt": "a fox", "audio_url": "https://example.com/a.mp3"}
    assert "audio" not in body["parameters"] and "media" not in body["input"]


def test_wan3_smart_duration_adaptive_and_audio_switch() -> None:
    req = VideoRequest.create("a fox", model="wan3.0-video", duration=-1, audio=False)
    assert req.ratio == "adaptive" and req.resolution == "1080P"
    assert req.to_body()["parameters"] == {
        "resolution": "1080P", "ratio": "adaptive", "duration": -1,
        "prompt_extend": True, "watermark": False, "audio": False,
    }  # fmt: skip
    assert VideoRequest.create("a", model="wan3.0-video", resolution="480P").resolution == "480P"
    assert VideoRequest.create("x" * 20000, model="wan3.0-video-prime").duration == 5
    assert err(model="wan3.0-video", prompt="x" * 20001).param == "prompt"
    assert err(model="wan3.0-video", duration=31).param == "duration"
    assert err(model="wan3.0-video", ratio="21:9").param == "ratio"
    assert err(model="wan3.0-video", audio_url="https://e.com/a.mp3").param == "audio_url"
    assert err(model="wan3.0-video", negative_prompt="blur").param == "negative_prompt"
    assert err(model="wan3.0-video", shot_type="single").param == "shot_type"
    assert err(model="wan3.0-video", size="1280*720", resolution="1080P").param == "size"


def test_replace_switches_protocol() -> None:
    legacy = VideoRequest.create("a fox", model="wan2.6-t2v", size="1280*720")
    new = legacy.replace(model="wan2.7-t2v", resolution="720P", ratio="1:1")
    assert new.to_body()["parameters"]["ratio"] == "1:1" and new.size == ""
    back = new.replace(model="wan2.6-t2v")
    assert back.size == "1920*1080" and back.resolution is None


def test_unknown_models_checked_only_for_type() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        new = VideoRequest.create("a fox", model="wan3.9-video-test", ratio="5:4", duration=99)
        assert new.to_body() == {
            "model": "wan3.9-video-test", "input": {"prompt": "a fox"},
            "parameters": {"ratio": "5:4", "duration": 99, "prompt_extend": True,
                           "watermark": False},
        }  # fmt: skip
        legacy = VideoRequest.create("a fox", model="wanx9-t2v-test", protocol="legacy")
        assert legacy.to_body()["parameters"] == {"prompt_extend": True, "watermark": False}
        assert legacy.canonical()["protocol"] == "legacy"
        forced = VideoRequest.create("a fox", model="wanx9-t2v-test", protocol="new")
        assert forced.digest != legacy.digest
        with pytest.raises(ValidationError) as e:
            VideoRequest.create("a fox", model="wan3.9-video-test", duration="5")
        assert e.value.param == "duration"
        with pytest.raises(ValidationError) as e:
            VideoRequest.create("a fox", model="wan2.7-t2v", protocol="legacy")
        assert e.value.param == "protocol"


def test_media_items_and_body() -> None:
    body = protocol_new.new_body(
        model="wan3.0-video", prompt="p", resolution="720P",
        media=[protocol_new.media_item("first_frame", "https://e.com/a.png")],
    )  # fmt: skip
    assert body["input"]["media"] == [{"type": "first_frame", "url": "https://e.com/a.png"}]
    with pytest.raises(ValueError, match="media type"):
        protocol_new.media_item("img_url", "https://e.com/a.png")


def test_parse_new_usage() -> None:
    u = protocol_new.parse_new_usage(
        {"video_count": 1, "duration": 5.0, "input_video_duration": 0.0,
         "output_video_duration": 5.0, "fps": 30, "SR": "720", "ratio": "16:9", "x": 1}
    )  # fmt: skip
    assert u == protocol_new.NewUsage(5.0, 0.0, 5.0, 1, 720, "16:9", 30)
    assert u.billed_seconds == 5.0
    assert protocol_new.parse_new_usage(None) == protocol_new.NewUsage()
    assert protocol_new.parse_new_usage({"duration": "10.04"}).duration == 10.04


def test_model_not_exist_is_typed() -> None:
    raw = api_error(400, "InvalidParameter", "Model not exist.", "req-1")
    e = protocol_new.model_error(raw, "wan3.0-video", "singapore")
    assert isinstance(e, protocol_new.ModelNotAvailableError)
    assert isinstance(e, InvalidRequestError) and isinstance(e, NotFoundError)
    assert e.model == "wan3.0-video" and e.region == "singapore"
    assert "wan3.0-video" in str(e) and "singapore" in str(e) and "req-1" in str(e)
    other = api_error(400, "InvalidParameter", "The size is not match", None)
    assert protocol_new.model_error(other, "m", "r") is other
    nf = protocol_new.model_error(api_error(404, "ModelNotFound", None, None), "m", "beijing")
    assert isinstance(nf, protocol_new.ModelNotAvailableError)


def test_display_size() -> None:
    assert VideoRequest.create("a", model="wan2.6-t2v").display_size == "1920*1080"
    tall = VideoRequest.create("a", model="wan2.7-t2v", resolution="720P", ratio="9:16")
    assert tall.display_size == "720*1280"
    assert VideoRequest.create("a", model="wan3.0-video").display_size == "1080P adaptive"
