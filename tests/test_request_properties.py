"""Property tests of the request builder: every valid combination round-trips to the exact JSON
the service expects; every invalid one is rejected (before any I/O) naming the parameter."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from wan_notebook import catalog
from wan_notebook.errors import ValidationError
from wan_notebook.request import VideoRequest

MODELS = [
    m for m in catalog.MODELS.values() if m.protocol == "legacy"
]  # new: tests/test_request_new.py
TEXT = st.text(alphabet=string.ascii_letters + string.digits + " ,.!?'-", min_size=1)


@st.composite
def valid_params(draw: st.DrawFn) -> tuple[catalog.Model, dict]:
    model = draw(st.sampled_from(MODELS))
    model_id = draw(st.sampled_from(model.ids))
    prompt = draw(TEXT.filter(str.strip).map(lambda s: s[: model.prompt_max]))
    params: dict = {"model": model_id}
    if draw(st.booleans()):
        params["size"] = draw(st.sampled_from(model.sizes))
    if draw(st.booleans()):
        params["duration"] = draw(st.sampled_from(model.durations))
    if draw(st.booleans()):
        params["seed"] = draw(st.integers(0, catalog.SEED_MAX))
    if draw(st.booleans()):
        params["negative_prompt"] = draw(TEXT.map(lambda s: s[: model.negative_prompt_max]))
    params["prompt_extend"] = draw(st.booleans())
    if model.shot_type and params["prompt_extend"] and draw(st.booleans()):
        params["shot_type"] = draw(st.sampled_from(["single", "multi"]))
    if model.audio and draw(st.booleans()):
        params["audio_url"] = "https://example.com/" + draw(st.sampled_from(["a.mp3", "b.wav"]))
    params["watermark"] = draw(st.booleans())
    return model, {"prompt": prompt, **params}


def expected_body(model: catalog.Model, p: dict) -> dict:
    """The service's create body, written out independently of request.py."""
    inp = {"prompt": p["prompt"]}
    if p.get("negative_prompt"):
        inp["negative_prompt"] = p["negative_prompt"]
    if "audio_url" in p:
        inp["audio_url"] = p["audio_url"]
    params = {
        "size": p.get("size", model.default_size),
        "duration": p.get("duration", model.default_duration),
        "prompt_extend": p["prompt_extend"],
        "watermark": p["watermark"],
    }
    if "seed" in p:
        params["seed"] = p["seed"]
    if "shot_type" in p:
        params["shot_type"] = p["shot_type"]
    return {"model": p["model"], "input": inp, "parameters": params}


@settings(max_examples=300, deadline=None)
@given(valid_params())
def test_valid_requests_round_trip_to_the_exact_body(case: tuple[catalog.Model, dict]) -> None:
    model, p = case
    params = dict(p)
    prompt = params.pop("prompt")
    req = VideoRequest.create(prompt, **params)
    assert req.to_body() == expected_body(model, p)
    # defaults filled in: the same request spelled out has the same digest
    spelled = VideoRequest.create(prompt, **{**params, "size": req.size, "duration": req.duration})
    assert spelled.digest == req.digest
    assert VideoRequest.create(prompt, **params).canonical_json() == req.canonical_json()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(MODELS), st.sampled_from(sorted(catalog.TIER_OF_SIZE)))
def test_sizes_outside_the_model_are_rejected_naming_size(model, size) -> None:
    if size in model.sizes:
        assert VideoRequest.create("x", model=model.id, size=size).size == size
        return
    try:
        VideoRequest.create("x", model=model.id, size=size)
    except ValidationError as exc:
        assert exc.param == "size" and size in str(exc) and model.id in str(exc)
        assert model.sizes[0] in str(exc)  # says what is allowed
    else:
        raise AssertionError(f"{size} accepted for {model.id}")


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(MODELS), st.integers(-5, 40))
def test_durations_outside_the_model_are_rejected(model, duration) -> None:
    if duration in model.durations:
        assert VideoRequest.create("x", model=model.id, duration=duration).duration == duration
        return
    try:
        VideoRequest.create("x", model=model.id, duration=duration)
    except ValidationError as exc:
        assert exc.param == "duration" and str(duration) in str(exc)
    else:
        raise AssertionError(f"duration {duration} accepted for {model.id}")


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.integers(max_value=-1), st.integers(min_value=catalog.SEED_MAX + 1)))
def test_seed_out_of_range_is_rejected(seed: int) -> None:
    try:
        VideoRequest.create("x", seed=seed)
    except ValidationError as exc:
        assert exc.param == "seed" and str(catalog.SEED_MAX) in str(exc)
    else:
        raise AssertionError(seed)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["duration", "seed", "watermark", "prompt_extend", "size", "model"]),
    st.one_of(st.text(max_size=5), st.floats(allow_nan=False), st.lists(st.integers(), max_size=2)),
)
def test_wrong_types_name_the_parameter(param: str, value: object) -> None:
    try:
        VideoRequest.create("x", **{param: value})
    except ValidationError as exc:
        assert exc.param == param
    except Exception as exc:  # anything else is a bug
        raise AssertionError(f"{param}={value!r} raised {type(exc).__name__}: {exc}") from exc
    else:
        # a few text values are genuinely valid spellings (e.g. a size '832x480')
        assert param in ("size", "model")


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(MODELS), st.integers(1, 50))
def test_over_long_prompts_are_errors_not_silent_cuts(model, extra: int) -> None:
    prompt = "a" * (model.prompt_max + extra)
    try:
        VideoRequest.create(prompt, model=model.id)
    except ValidationError as exc:
        assert exc.param == "prompt" and str(model.prompt_max) in str(exc)
    else:
        raise AssertionError("over-long prompt accepted")
