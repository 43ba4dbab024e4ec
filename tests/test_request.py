"""VideoRequest validation: every rule, and every message names the parameter."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from wan_notebook import catalog
from wan_notebook.errors import ValidationError
from wan_notebook.request import VideoRequest


def err(**kw) -> ValidationError:
    prompt = kw.pop("prompt", "a fox")
    with pytest.raises(ValidationError) as info:
        VideoRequest.create(prompt, **kw)
    e = info.value
    assert e.param in str(e)
    assert e.allowed and e.allowed in str(e)
    return e


def test_defaults_filled_from_catalog():
    a = VideoRequest.create("x")
    m = catalog.get_model(catalog.DEFAULT_MODEL)
    assert a == VideoRequest.create("x", size=m.default_size, duration=m.default_duration)
    assert a.digest == VideoRequest.create("x", size="1920*1080", duration=5).digest
    assert a.model_info is m


def test_unknown_model_is_sent_as_given_with_a_warning():
    """Issue 13: the catalog is open; only a non-string or empty id is refused."""
    with pytest.warns(UserWarning, match="not in this version's catalog"):
        req = VideoRequest.create("a fox", model="wan9-t2v-test-request")
    assert req.to_body()["model"] == "wan9-t2v-test-request"
    e = err(model="")
    assert e.param == "model" and "wan2.6-t2v" in str(e)


@pytest.mark.parametrize("spelling", ["1280x720", "1280X720", "1280 × 720", " 1280*720 "])
def test_size_spellings_normalised(spelling):
    assert VideoRequest.create("x", size=spelling).size == "1280*720"


def test_size_not_allowed_for_model_lists_allowed():
    e = err(model="wan2.5-t2v-preview", size="1280x721")
    assert e.param == "size" and "832*480" in str(e) and "wan2.5-t2v-preview" in str(e)
    e = err(model="wan2.1-t2v-plus", size="1920*1080")
    assert "1080P" in str(e) and "1280*720" in str(e)


def test_size_tier_and_ratio_get_suggestions():
    e = err(size="720P")
    assert "1280*720" in str(e) and "tier" in str(e)
    e = err(size="16:9")
    assert "1280*720" in str(e) and "1920*1080" in str(e)
    e = err(model="wan2.2-t2v-plus", size="4:3")
    assert e.param == "size"
    e = err(size=1280)
    assert e.param == "size"


@pytest.mark.parametrize("bad", ["5", 5.5, 5.0, True])
def test_duration_must_be_int(bad):
    e = err(duration=bad)
    assert e.param == "duration" and "integer" in str(e)


def test_duration_range_per_model():
    assert VideoRequest.create("x", duration=15).duration == 15
    e = err(model="wan2.2-t2v-plus", duration=10)
    assert "fixed at 5" in str(e)
    e = err(model="wan2.5-t2v-preview", duration=7)
    assert "5 or 10" in str(e)


def test_prompt_rules():
    e = err(prompt="")
    assert e.param == "prompt"
    e = err(prompt=123)
    assert e.param == "prompt"
    long = "a" * 801
    e = err(prompt=long, model="wan2.1-t2v-turbo")
    assert "silently cut" in str(e) and "800" in str(e)
    assert VideoRequest.create("a" * 1500).prompt == "a" * 1500
    e = err(prompt="a" * 1501)
    assert "1500" in str(e)


def test_negative_prompt_limit():
    e = err(negative_prompt="n" * 501)
    assert e.param == "negative_prompt" and "silently cut" in str(e)


@pytest.mark.parametrize("name", ["prompt_extend", "watermark"])
def test_bool_flags_must_be_bool(name):
    e = err(**{name: "yes"})
    assert e.param == name
    e = err(**{name: 1})
    assert e.param == name


def test_seed():
    assert VideoRequest.create("x", seed=0).seed == 0
    assert VideoRequest.create("x", seed=catalog.SEED_MAX).seed == catalog.SEED_MAX
    for bad in (-1, catalog.SEED_MAX + 1):
        assert err(seed=bad).param == "seed"
    assert "without quotes" in str(err(seed="42"))


def test_shot_type():
    assert VideoRequest.create("x", shot_type="multi").shot_type == "multi"
    assert err(shot_type="wide").param == "shot_type"
    e = err(model="wan2.5-t2v-preview", shot_type="multi")
    assert "wan2.6-t2v" in str(e)
    with pytest.warns(UserWarning, match="prompt_extend"):
        VideoRequest.create("x", shot_type="single", prompt_extend=False)


def test_audio_flag_only_on_audio_models():
    r = VideoRequest.create("x", audio=False)
    assert r.to_body()["parameters"]["audio"] is False
    assert "audio" not in VideoRequest.create("x").to_body()["parameters"]
    assert err(model="wan2.2-t2v-plus", audio=True).param == "audio"
    assert err(audio="no").param == "audio"


def test_audio_url_rules(tmp_path: Path):
    url = "https://example.com/a.mp3"
    r = VideoRequest.create("x", audio_url=url)
    assert r.local_audio_path is None and r.to_body()["input"]["audio_url"] == url
    assert err(model="wan2.1-t2v-turbo", audio_url=url).param == "audio_url"
    assert err(audio_url=str(tmp_path / "missing.mp3")).param == "audio_url"
    txt = tmp_path / "a.txt"
    txt.write_text("x")
    assert "wav" in str(err(audio_url=str(txt)))
    big = tmp_path / "big.wav"
    with big.open("wb") as f:
        f.truncate(15 * 1024 * 1024 + 1)
    assert "15 MB" in str(err(audio_url=big))


def test_local_audio_canonical_is_location_independent(tmp_path: Path):
    a = tmp_path / "one" / "voice.wav"
    b = tmp_path / "two" / "voice.wav"
    for p in (a, b):
        p.parent.mkdir()
        p.write_bytes(b"RIFF fake")
    ra = VideoRequest.create("x", audio_url=str(a))
    rb = VideoRequest.create("x", audio_url=f"file://{b}")
    assert ra.local_audio_path == a.resolve()
    assert ra.digest == rb.digest
    assert ra.canonical()["audio_file"] == "voice.wav"
    assert "audio_url" not in ra.canonical()
    with pytest.raises(ValidationError):
        ra.to_body()
    assert ra.to_body(audio_url="oss://dir/voice.wav")["input"]["audio_url"].startswith("oss://")
    b.write_bytes(b"RIFF other")
    assert VideoRequest.create("x", audio_url=str(b)).digest != ra.digest


def test_body_and_canonical_shape():
    r = VideoRequest.create(
        "a cat", size="1280*720", duration=10, negative_prompt="blurry", seed=7,
        shot_type="multi", watermark=True,
    )  # fmt: skip
    body = r.to_body()
    assert body == {
        "model": "wan2.6-t2v",
        "input": {"prompt": "a cat", "negative_prompt": "blurry"},
        "parameters": {
            "size": "1280*720", "duration": 10, "prompt_extend": True, "watermark": True,
            "seed": 7, "shot_type": "multi",
        },
    }  # fmt: skip
    canon = json.loads(r.canonical_json())
    assert canon == r.canonical()
    assert r.canonical_json() == json.dumps(canon, sort_keys=True, separators=(",", ":"))
    assert len(r.digest) == 64
    assert r.digest != r.replace(seed=8).digest


def test_replace_validates_and_rederives_defaults():
    r = VideoRequest.create("x")
    assert r.replace(duration=10).duration == 10
    with pytest.raises(ValidationError):
        r.replace(duration="10")
    r2 = r.replace(model="wan2.1-t2v-turbo")
    assert r2.size == "1280*720" and r2.duration == 5
    with pytest.raises(ValidationError) as info:
        r.replace(colour="red")
    assert info.value.param == "colour"


def test_no_warning_without_shot_type():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        VideoRequest.create("x", prompt_extend=False)
