"""Request rules that differ by protocol: resolution x ratio vs size, smart duration, audio.

:class:`~wan_notebook.request.VideoRequest` calls these so that one request model serves both
protocols (PROTOCOL 14.1/14.2, 15.2):

- a new-protocol model (wan2.7, Wan3.0) takes ``resolution`` x ``ratio``; a ``size`` maps to
  them when the model's pixel table has exactly that size (``1280*720`` -> 720P 16:9);
- a legacy model (wan2.6 and older) takes ``size``; ``resolution``/``ratio`` map to it when a
  size of that tier has that ratio (720P 16:9 -> ``1280*720``).

Either spelling gives the same canonical request, hence the same cache key. Every error is a
:class:`~wan_notebook.errors.ValidationError` naming the parameter and what is allowed.
"""

from __future__ import annotations

import re
from typing import Any

from . import catalog
from .errors import ValidationError

__all__ = ["check_new_extras", "legacy_size", "new_dimensions", "new_duration"]

_SIZE_RE = re.compile(r"^\s*(\d+)\s*[*xX×]\s*(\d+)\s*$")
#: Index of each ratio in the legacy ``SIZES_BY_TIER`` rows.
_LEGACY_RATIO_INDEX = {"16:9": 0, "9:16": 1, "1:1": 2, "4:3": 3, "3:4": 4}


def _fail(param: str, value: Any, problem: str, allowed: str) -> ValidationError:
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return ValidationError(
        f"{param} {text} {problem}; {allowed}", param=param, value=value, allowed=allowed
    )


def _norm_resolution(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail("resolution", value, "is not a resolution", "write e.g. '720P' or '1080P'")
    text = value.strip().upper()
    return text if text.endswith("P") else text + "P"


def _norm_ratio(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail("ratio", value, "is not an aspect ratio", "write e.g. '16:9' or '9:16'")
    return value.strip().replace(" ", "").lower()


def _norm_size(value: Any) -> str:
    if not isinstance(value, str):
        raise _fail("size", value, "is not a string", "write width*height, e.g. '1280*720'")
    m = _SIZE_RE.match(value)
    if not m:
        raise _fail("size", value, "is not width*height", "write e.g. '1280*720'")
    return f"{int(m.group(1))}*{int(m.group(2))}"


def new_dimensions(
    info: catalog.Model, size: Any, resolution: Any, ratio: Any
) -> tuple[str | None, str | None]:
    """``(resolution, ratio)`` for a new-protocol model, from either spelling.

    Unknown (open-catalog) models are checked only for type; unset values stay None (the
    service's defaults).
    """
    res = None if resolution is None else _norm_resolution(resolution)
    rat = None if ratio is None else _norm_ratio(ratio)
    if size is not None:
        norm = _norm_size(size)
        cell = info.resolution_ratio_of(norm)
        if cell is None:
            if not info.known:
                raise _fail(
                    "size", size, f"cannot be sent to {info.id}: the new protocol takes "
                    "resolution and ratio", "pass resolution='720P', ratio='16:9' instead",
                )  # fmt: skip
            raise _fail(
                "size", size, f"is not a size {info.id} makes (it takes resolution x ratio)",
                "use one of " + ", ".join(info.sizes) + ", or resolution= and ratio=",
            )  # fmt: skip
        if (res is not None and res != cell[0]) or (rat is not None and rat != cell[1]):
            raise _fail(
                "size", size, f"is {cell[0]} {cell[1]}, which contradicts "
                f"resolution={res!r} ratio={rat!r}", "give either size or resolution/ratio",
            )  # fmt: skip
        res, rat = cell
    if not info.known:
        return res, rat
    if res is None:
        res = info.default_resolution
    elif res not in info.resolutions:
        raise _fail(
            "resolution", resolution, f"is not offered by {info.id}",
            "use " + " or ".join(info.resolutions),
        )  # fmt: skip
    if rat is None:
        rat = info.default_ratio
    elif rat not in info.ratios:
        raise _fail("ratio", ratio, f"is not offered by {info.id}", "use " + ", ".join(info.ratios))
    return res, rat


def new_duration(info: catalog.Model, duration: Any) -> int:
    """The duration for a new-protocol model: the default, one of its durations, or -1 (smart)."""
    if duration is None:
        return info.default_duration
    allowed = f"{info.id} takes a duration {info.duration_text()}"
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise _fail("duration", duration, "must be an integer", allowed)
    if not info.known:
        return duration
    if duration == -1:
        if info.smart_duration:
            return duration
        smart = ", ".join(m.id for m in catalog.MODELS.values() if m.smart_duration)
        raise _fail(
            "duration", duration, f"(smart duration) is not offered by {info.id}",
            f"{allowed}; -1 works on {smart}",
        )  # fmt: skip
    if duration not in info.durations:
        raise _fail("duration", duration, f"is not allowed for {info.id}", allowed)
    return duration


def check_new_extras(
    info: catalog.Model,
    *,
    negative_prompt: Any,
    audio_url: Any,
    audio: Any,
    shot_type: Any,
) -> None:
    """Refuse what a new-protocol model does not take (before any network call)."""
    if not info.known:
        return
    if shot_type is not None:
        raise _fail(
            "shot_type", shot_type, f"is not supported by {info.id}",
            "describe the shots in the prompt (e.g. 'Shot 1: ... Shot 2: ...')",
        )  # fmt: skip
    if negative_prompt is not None and info.negative_prompt_max == 0:
        raise _fail(
            "negative_prompt", negative_prompt, f"is not supported by {info.id}",
            "leave it unset and say what to avoid in the prompt",
        )  # fmt: skip
    if audio_url is not None and not info.audio_url_input:
        raise _fail(
            "audio_url", audio_url, f"is not supported by {info.id}",
            "use audio=True/False to switch its sound on or off",
        )  # fmt: skip
    if audio is not None and not info.audio_switch:
        raise _fail(
            "audio", audio, f"is not supported by {info.id}: it always makes sound (its own "
            "music and effects)", "leave it unset; pass audio_url for your own soundtrack",
        )  # fmt: skip


def legacy_size(info: catalog.Model, resolution: Any, ratio: Any) -> str:
    """The legacy ``size`` for a resolution x ratio, when one size is exactly that."""
    default_tier = catalog.TIER_OF_SIZE.get(info.default_size, "720P")
    res = default_tier if resolution is None else _norm_resolution(resolution)
    rat = "16:9" if ratio is None else _norm_ratio(ratio)
    sizes = catalog.SIZES_BY_TIER.get(res)
    index = _LEGACY_RATIO_INDEX.get(rat)
    if sizes is None or (info.known and res not in info.tiers):
        raise _fail(
            "resolution", resolution, f"is not offered by {info.id}",
            "use " + " or ".join(info.tiers) + " (or size=)",
        )  # fmt: skip
    if index is None or index >= len(sizes):
        can = ", ".join(r for r, i in _LEGACY_RATIO_INDEX.items() if i < len(sizes))
        raise _fail(
            "ratio", ratio, f"has no {res} size on {info.id}", f"use {can} (or size=)",
        )  # fmt: skip
    return sizes[index]
