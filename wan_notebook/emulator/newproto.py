"""New-protocol create bodies (wan2.7-t2v, Wan3.0) validated the way the service does (PROTOCOL 19).

What fails where (the documented reading; PROTOCOL 19 marks most channels UNCERTAIN):

- HTTP 4xx at create: the model id, JSON shape, wrong *types* (a string duration, a non-bool
  flag), an empty prompt (wan2.7; Wan3.0 needs prompt or media), a bad ``audio_url``;
- a FAILED task (create answers 200 PENDING): out-of-range *values* (resolution, ratio,
  duration), legacy image fields sent to wan2.7 (reported by third parties), Wan3.0 media
  mixes that are mutually exclusive (documented), unknown media types. Every new-protocol page
  documents this channel with its sample ``InvalidParameter`` "The size is not match ...".
- ignored: ``parameters.size`` / ``shot_type`` on wan2.7 ("配置也不生效"), ``parameters.audio`` on
  wan2.7 (sent by the SDK's example), the SDK's ``input.extend_prompt`` / ``input.function``.

Output: the documented pixel size per resolution x ratio, 30 fps, sound unless Wan3.0 has
``audio: false``. Wan3.0's ``duration: -1`` picks a length from the prompt; ``ratio: adaptive``
(no media) picks one from the prompt's words, else 16:9 (INFERRED, PROTOCOL 20.5).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .. import catalog
from .replies import ApiFailure

__all__ = ["new_usage", "pick_duration", "pick_ratio", "validate_new"]

_EXCLUSIVE_MSG = (
    "The two modes are mutually exclusive. Do not pass reference_xx and first_frame/last_frame "
    "at the same time."
)
_WAN3_MEDIA = frozenset(
    {"first_frame", "last_frame", "reference_image", "reference_video", "reference_audio",
     "file", "link"}
)  # fmt: skip
_LEGACY_INPUTS = ("img_url", "reference_urls", "reference_video_urls", "first_frame_url")
_SECONDS_RE = re.compile(r"(\d{1,3})\s*(?:s\b|sec\b|secs\b|seconds?\b|秒)", re.IGNORECASE)


def _bad(message: str) -> ApiFailure:
    return ApiFailure(400, "InvalidParameter", message)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def pick_duration(prompt: str, lo: int = 2, hi: int = 30) -> int:
    """Smart duration: "N seconds" in the prompt wins; otherwise longer prompts run longer."""
    m = _SECONDS_RE.search(prompt)
    if m:
        return max(lo, min(hi, int(m.group(1))))
    words = len(prompt.split()) or len(prompt) // 4
    return max(4, min(15, 4 + words // 12))


def pick_ratio(prompt: str) -> str:
    """Adaptive ratio without media: the prompt's words decide; landscape 16:9 otherwise."""
    text = prompt.lower()
    for words, ratio in (
        (("vertical", "portrait", "9:16", "竖屏"), "9:16"),
        (("square", "1:1", "方形"), "1:1"),
        (("3:4",), "3:4"),
        (("4:3",), "4:3"),
    ):
        if any(w in text for w in words):
            return ratio
    return "16:9"


def _flag(params: Mapping[str, Any], key: str, default: bool) -> bool:
    value = params.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad(f"parameters.{key} must be a boolean (true or false), got {value!r}.")
    return value


def _media_failure(model: catalog.Model, media: Any) -> str | None:
    """Why Wan3.0 would fail this ``media`` list as a task, or None."""
    if media is None:
        return None
    if not isinstance(media, list) or not all(
        isinstance(m, dict) and isinstance(m.get("type"), str) and isinstance(m.get("url"), str)
        for m in media
    ):
        return "input.media must be a list of {type, url} objects."
    types = [m["type"] for m in media]
    unknown = sorted(set(types) - _WAN3_MEDIA)
    if unknown:
        return f"input.media type {unknown[0]!r} is not supported by {model.id}."
    frames = {"first_frame", "last_frame"} & set(types)
    refs = {t for t in types if t.startswith("reference_") or t in ("file", "link")}
    if frames and refs:
        return _EXCLUSIVE_MSG
    if "file" in types and "link" in types:
        return "input.media: file and link cannot be used together."
    return None


def validate_new(
    model: catalog.Model,
    inp: Mapping[str, Any],
    params: Mapping[str, Any],
    *,
    check_audio_url: Callable[[str], None],
) -> dict[str, Any]:
    """The :class:`~.validation.CreateRequest` fields for a new-protocol body.

    Raises :class:`ApiFailure` for what the service rejects at create; what it fails later is
    returned as ``deferred_error=(code, message)`` (the task is created, then FAILS).
    """
    wan3 = model.smart_duration
    prompt = inp.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise _bad("input.prompt must be a string.")
    media = inp.get("media")
    if (prompt is None or not prompt.strip()) and not (wan3 and media):
        need = "prompt or media" if wan3 else "prompt"
        raise ApiFailure(
            400, "BadRequest.EmptyInput", f'Required input parameter "{need}" missing from request.'
        )
    prompt = (prompt or "")[: model.prompt_max]
    negative = inp.get("negative_prompt")
    if negative is not None and not isinstance(negative, str):
        raise _bad("input.negative_prompt must be a string.")

    resolution = params.get("resolution", model.default_resolution)
    ratio = params.get("ratio", model.default_ratio)
    duration = params.get("duration", model.default_duration)
    for key, value in (("resolution", resolution), ("ratio", ratio)):
        if not isinstance(value, str):
            raise _bad(f"parameters.{key} must be a string, got {value!r}.")
    if not _is_int(duration):
        raise _bad(f"parameters.duration must be an integer number of seconds, got {duration!r}.")
    seed = params.get("seed")
    if seed is not None and (not _is_int(seed) or not 0 <= seed <= catalog.SEED_MAX):
        raise _bad(f"parameters.seed must be an integer in [0, {catalog.SEED_MAX}], got {seed!r}.")
    prompt_extend = _flag(params, "prompt_extend", True)
    watermark = _flag(params, "watermark", False)
    sound = _flag(params, "audio", True) if wan3 else True

    audio_url = None
    if not wan3:
        raw = inp.get("audio_url")
        if raw not in (None, ""):
            if not isinstance(raw, str):
                raise _bad("input.audio_url must be a string.")
            check_audio_url(raw)
            audio_url = raw

    fail: str | None = None
    legacy = [k for k in _LEGACY_INPUTS if inp.get(k)]
    if legacy and not wan3:
        fail = f"input.{legacy[0]} is a legacy field; {model.id} does not take it."
    elif wan3:
        fail = _media_failure(model, media)
    if fail is None and resolution not in model.resolutions:
        fail = (
            f"The resolution is not match: {resolution!r} is not supported by {model.id}; "
            f"use {', '.join(model.resolutions)}."
        )
    if fail is None and ratio not in model.ratios:
        fail = (
            f"The ratio is not match: {ratio!r} is not supported by {model.id}; "
            f"use {', '.join(model.ratios)}."
        )
    if fail is None and duration not in model.durations and not (wan3 and duration == -1):
        fail = (
            f"The duration is not match: {duration} s is not supported by {model.id} "
            f"({model.duration_text()})."
        )
    if fail is not None:  # the task is accepted, then FAILS; render nothing
        resolution, ratio, duration = model.default_resolution, "16:9", model.default_duration
    if ratio == "adaptive":
        ratio = pick_ratio(prompt)
    if duration == -1:
        duration = pick_duration(prompt, 2, max(model.durations))
    size = model.pixel_size(resolution, ratio) or model.default_size
    return {
        "prompt": prompt,
        "negative_prompt": negative[: model.negative_prompt_max or 500] if negative else None,
        "size": size,
        "duration": duration,
        "seed": seed,
        "prompt_extend": prompt_extend,
        "watermark": watermark,
        "shot_type": None,
        "audio_url": audio_url,
        "resolution": resolution,
        "ratio": ratio,
        "sound": sound,
        "deferred_error": ("InvalidParameter", fail) if fail else None,
    }


def new_usage(model: catalog.Model, resolution: str, ratio: str, duration: int) -> dict[str, Any]:
    """``usage`` in the new shape: wan2.7-t2v integers (PROTOCOL 14.5), Wan3.0 floats + fps."""
    sr = int(resolution.rstrip("Pp"))
    if model.smart_duration:  # Wan3.0 (PROTOCOL 15.5)
        return {
            "video_count": 1,
            "duration": float(duration),
            "input_video_duration": 0.0,
            "output_video_duration": float(duration),
            "fps": model.fps,
            "SR": sr,
            "ratio": ratio,
        }
    return {
        "duration": duration,
        "input_video_duration": 0,
        "output_video_duration": duration,
        "video_count": 1,
        "ratio": ratio,
        "SR": sr,
    }
