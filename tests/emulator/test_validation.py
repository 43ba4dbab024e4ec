"""Create-request validation from the catalog: codes, statuses and the error body shape."""

from __future__ import annotations

from typing import Any

import pytest
from emu_helpers import Api

from wan_notebook import catalog

OK_PARAMS = {"size": "832*480", "duration": 5}


def _body(model: str = "wan2.5-t2v-preview", **params: Any) -> dict[str, Any]:
    return {"model": model, "input": {"prompt": "a cat"}, "parameters": {**OK_PARAMS, **params}}


@pytest.fixture
def strict_api(emulator_factory: Any, api_for: Any) -> Api:
    """An emulator that rejects a size/duration the model lacks at create (HTTP 400), instead
    of the service's accepted-then-FAILED task (tests/emulator/test_fidelity.py)."""
    return api_for(emulator_factory(strict_create=True, rate_limits=False, log=False))


def _expect(api: Api, body: Any, status: int, code: str, text: str | None = None) -> None:
    r = api.create_raw(body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    data = r.json()
    assert set(data) == {"request_id", "code", "message"}
    assert data["code"] == code
    if text is not None:
        assert text in data["message"]
    assert api.emu.stats()["tasks_created"] == 0


@pytest.mark.parametrize(
    "body,status,code,text",
    [
        ({"input": {"prompt": "x"}, "parameters": {}}, 400, "BadRequest.EmptyModel", "model"),
        (
            {"model": "", "input": {"prompt": "x"}, "parameters": {}},
            400,
            "BadRequest.EmptyModel",
            None,
        ),
        ({"model": 5, "input": {"prompt": "x"}, "parameters": {}}, 400, "InvalidParameter", None),
        (
            {"model": "wan9-t2v", "input": {"prompt": "x"}, "parameters": {}},
            400,
            "InvalidParameter",
            "Model not exist.",
        ),
        (  # image-to-video is emulated since issue 14: its image is required
            {"model": "wan2.6-i2v", "input": {"prompt": "x"}, "parameters": {}},
            400,
            "InvalidParameter",
            "Field required: input.img_url",
        ),
        ({"model": "wan2.5-t2v-preview", "parameters": {}}, 400, "BadRequest.EmptyInput", None),
        (
            {"model": "wan2.5-t2v-preview", "input": None, "parameters": {}},
            400,
            "BadRequest.EmptyInput",
            None,
        ),
        (
            {"model": "wan2.5-t2v-preview", "input": "x", "parameters": {}},
            400,
            "InvalidParameter",
            None,
        ),
        (
            {"model": "wan2.5-t2v-preview", "input": {"prompt": "x"}, "parameters": []},
            400,
            "InvalidParameter",
            None,
        ),
        (
            {"model": "wan2.5-t2v-preview", "input": {"negative_prompt": "x"}, "parameters": {}},
            400,
            "BadRequest.EmptyInput",
            "prompt",
        ),
        (
            {"model": "wan2.5-t2v-preview", "input": {"prompt": ""}, "parameters": {}},
            400,
            "BadRequest.EmptyInput",
            "prompt",
        ),
        (
            {"model": "wan2.5-t2v-preview", "input": {"prompt": "   "}, "parameters": {}},
            400,
            "BadRequest.EmptyInput",
            "prompt",
        ),
        (
            {"model": "wan2.5-t2v-preview", "input": {"prompt": 7}, "parameters": {}},
            400,
            "InvalidParameter",
            "prompt",
        ),
        (
            {
                "model": "wan2.5-t2v-preview",
                "input": {"prompt": "x", "negative_prompt": 1},
                "parameters": {},
            },
            400,
            "InvalidParameter",
            "negative_prompt",
        ),
        ([1, 2], 400, "InvalidParameter", None),
        ("null", 400, "InvalidParameter", None),
    ],
)
def test_structure(api: Api, body: Any, status: int, code: str, text: str | None) -> None:
    if body == "null":
        body = b"null"
    _expect(api, body, status, code, text)


@pytest.mark.parametrize(
    "model,size",
    [
        ("wan2.5-t2v-preview", "16:9"),
        ("wan2.5-t2v-preview", "720P"),
        ("wan2.5-t2v-preview", "1280x720"),
        ("wan2.5-t2v-preview", "1000*1000"),
        ("wan2.6-t2v", "832*480"),  # 480P is not a wan2.6 tier
        ("wan2.2-t2v-plus", "1280*720"),  # wan2.2 has 480P and 1080P only
        ("wan2.1-t2v-plus", "832*480"),
        ("wan2.5-t2v-preview", 1280),
    ],
)
def test_size_not_in_model_set(strict_api: Api, model: str, size: Any) -> None:
    _expect(strict_api, _body(model, size=size, duration=5), 400, "InvalidParameter", "size")


@pytest.mark.parametrize(
    "model,duration",
    [
        ("wan2.5-t2v-preview", 7),
        ("wan2.5-t2v-preview", "5"),
        ("wan2.5-t2v-preview", 5.0),
        ("wan2.5-t2v-preview", True),
        ("wan2.2-t2v-plus", 10),
        ("wan2.6-t2v", 1),
        ("wan2.6-t2v", 16),
        ("wan2.6-t2v-us", 15),
    ],
)
def test_duration_not_allowed(strict_api: Api, model: str, duration: Any) -> None:
    size = catalog.get_model(model).sizes[0]
    body = _body(model, size=size, duration=duration)
    _expect(strict_api, body, 400, "InvalidParameter", "duration")


@pytest.mark.parametrize("seed", [-1, catalog.SEED_MAX + 1, 1.5, "7", True])
def test_seed_out_of_range_or_not_integer(api: Api, seed: Any) -> None:
    _expect(api, _body(seed=seed), 400, "InvalidParameter", "seed")


def test_seed_bounds_accepted(api: Api) -> None:
    api.emu.set_speed(0.01)  # no renders needed
    for seed in (0, catalog.SEED_MAX):
        assert api.create_raw(_body(seed=seed)).status_code == 200


def test_shot_type(api: Api) -> None:
    _expect(api, _body(shot_type="multi"), 400, "InvalidParameter", "shot_type")
    wan26 = _body("wan2.6-t2v", size="1280*720", shot_type="panorama")
    _expect(api, wan26, 400, "InvalidParameter", "shot_type")
    api.emu.set_speed(0.01)
    for shot in ("single", "multi"):
        assert (
            api.create_raw(_body("wan2.6-t2v", size="1280*720", shot_type=shot)).status_code == 200
        )


@pytest.mark.parametrize("key", ["prompt_extend", "watermark"])
def test_boolean_parameters_have_boolean_type(api: Api, key: str) -> None:
    _expect(api, _body(**{key: "true"}), 400, "InvalidParameter", key)


def test_audio_url_on_silent_model(api: Api) -> None:
    body = _body("wan2.2-t2v-plus")
    body["input"]["audio_url"] = "http://127.0.0.1/a.wav"
    _expect(api, body, 400, "InvalidParameter", "audio_url")


@pytest.mark.parametrize("url", ["ftp://x/a.wav", "a.wav", "file:///tmp/a.wav", 12])
def test_audio_url_scheme(api: Api, url: Any) -> None:
    body = _body()
    body["input"]["audio_url"] = url
    code = "InvalidParameter" if not isinstance(url, str) else "InvalidURL"
    _expect(api, body, 400, code)


def test_oss_audio_needs_header_and_an_upload(api: Api) -> None:
    body = _body()
    body["input"]["audio_url"] = "oss://dashscope-instant/x/a.wav"
    _expect(api, body, 400, "InvalidURL", "X-DashScope-OssResourceResolve")
    r = api.create_raw(body, headers=api.headers(**{"X-DashScope-OssResourceResolve": "enable"}))
    assert r.status_code == 415 and r.json()["code"] == "BadRequest.InputDownloadFailed"


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"model": }', b"\xff\xfe", b'{"model": NaN}', b"[" * 100000 + b"]" * 100000],
)
def test_malformed_json(api: Api, raw: bytes) -> None:
    _expect(api, raw, 400, "InvalidParameter")


def test_body_too_large(api: Api) -> None:
    body = _body()
    body["input"]["prompt"] = "x" * (2 << 20)
    _expect(api, body, 413, "BadRequest.TooLarge", "Payload Too Large")


def test_long_prompts_are_truncated_not_rejected(api: Api) -> None:
    api.emu.set_speed(0.01)
    for model, limit in (("wan2.5-t2v-preview", 1500), ("wan2.2-t2v-plus", 800)):
        prompt = "".join(chr(0x4E00 + i % 500) for i in range(limit + 300))  # CJK counts 1 each
        body = _body(model)
        body["input"] = {"prompt": prompt, "negative_prompt": "n" * 900}
        r = api.create_raw(body)
        assert r.status_code == 200, r.text
        snap = api.emu.task(r.json()["output"]["task_id"])
        assert snap["prompt"] == prompt[:limit]
        assert snap["negative_prompt"] == "n" * catalog.NEGATIVE_PROMPT_MAX


def test_ignored_fields(api: Api) -> None:
    api.emu.set_speed(0.01)
    body = _body(audio=True, resolution="720P", enable_thinking=False, whatever={"a": 1})
    body["input"].update({"extend_prompt": True, "function": "video-synthesis", "x": 1})
    body["extra"] = 1
    assert api.create_raw(body).status_code == 200


def test_defaults_and_aliases(api: Api) -> None:
    api.emu.set_speed(0.01)
    r = api.create_raw({"model": "wanx2.1-t2v-turbo", "input": {"prompt": "x"}, "parameters": {}})
    assert r.status_code == 200
    snap = api.emu.task(r.json()["output"]["task_id"])
    assert snap["model"] == "wan2.1-t2v-turbo" and snap["model_name"] == "wanx2.1-t2v-turbo"
    assert snap["size"] == "1280*720" and snap["duration"] == 5
    assert snap["prompt_extend"] is True and snap["watermark"] is False
