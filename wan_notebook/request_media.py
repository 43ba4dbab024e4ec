"""Image-to-video requests (issue 14): the fields of a request whose model takes media.

Kept apart from :mod:`.request` (which calls it) so each module stays small; the checks every
request shares are passed in, so this module imports nothing from :mod:`.request`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import catalog, checks, request_new
from .errors import ValidationError
from .media_in import media_for

__all__ = ["check_int", "check_text", "media_fields"]


def check_text(name: str, value: Any, limit: int, model_id: str, *, required: bool) -> None:
    """A text parameter within the model's limit (the service would cut it silently)."""
    checks.text(value, name, required=required)
    if len(value) > limit:
        raise ValidationError(
            f"{name} is {len(value)} characters, over the {limit} that {model_id} reads; the "
            f"service would silently cut it to the first {limit} characters. Shorten it to at "
            f"most {limit} characters.",
            param=name,
            value=value,
            allowed=f"at most {limit} characters",
        )


def check_int(name: str, value: Any, allowed: str) -> None:
    """An integer (not a bool; a float like 5.0 is named with its integer spelling)."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            allowed = f"{allowed} (write {int(value)})"
        raise checks.type_error(name, value, allowed)


def media_fields(
    info: catalog.Model,
    prompt: str,
    *,
    shared: Callable[..., Any],
    normalise_size: Callable[[catalog.Model, Any], str],
    **kw: Any,
) -> dict[str, Any]:
    """The validated ``VideoRequest`` fields for a model that takes media (i2v, kf2v, r2v).

    ``shared`` is ``VideoRequest.create``: the checks every request shares (audio file, shot
    type, booleans, seed) run on a legacy-shaped copy; ``normalise_size`` its size check (r2v
    takes a ``size`` as text-to-video does)."""
    given = {
        "image": kw["image"], "last_frame": kw["last_frame"], "first_clip": kw["first_clip"],
        "references": kw["references"], "video": kw["video"],
    }  # fmt: skip
    audio_setting = _audio_setting(info, kw["audio_setting"])
    if any(r.role == "audio_url" for r in catalog.input_rules(info)):
        given["audio_url"] = kw.pop("audio_url")  # wan2.7-i2v: media[] driving_audio
        kw["audio_url"] = None
    media = media_for(info, given)
    check_text("prompt", prompt, info.prompt_max, info.id, required=bool(info.default_size))
    size = ""
    if info.default_size:  # r2v: size (or resolution x ratio mapped to one), no input shape
        if kw["resolution"] is not None or kw["ratio"] is not None:
            size = request_new.legacy_size(info, kw["resolution"], kw["ratio"])
        size = normalise_size(info, kw["size"] or size or info.default_size)
        kw.update(size=None, ratio=None, resolution=None)
    ratio = _ratio(info, kw.pop("ratio"), media)
    kw["ratio"] = None
    if kw["size"] not in (None, "") or kw["ratio"] is not None:
        name = "size" if kw["size"] not in (None, "") else "ratio"
        raise checks.fail(
            name, kw[name], f"is not a parameter of {info.id}: the video keeps the input "
            "image's aspect ratio", "use resolution= (" + "/".join(info.resolutions) + ")",
        )  # fmt: skip
    resolution = kw["resolution"]
    if resolution is None:
        resolution = None if size else info.default_resolution or None
    elif info.known and resolution not in info.resolutions:
        raise checks.fail(
            "resolution", resolution, f"is not offered by {info.id}",
            "use " + " or ".join(info.resolutions),
        )  # fmt: skip
    duration = kw["duration"]
    if duration is None:
        duration = info.default_duration
    else:
        allowed = f"{info.id} takes a duration {info.duration_text()}"
        check_int("duration", duration, allowed)
        if info.known and duration not in info.durations:
            raise checks.fail("duration", duration, f"is not allowed for {info.id}", allowed)
    longest = catalog.MAX_DURATION_WITH_VIDEO.get(info.id)
    if longest and duration > longest and any(m.kind == "video" for m in media):
        raise checks.fail(
            "duration", duration, f"is over {longest} s, the most {info.id} makes with a "
            "reference video", f"at most {longest}",
        )  # fmt: skip
    for name, ok in (
        ("audio_url", info.audio and info.audio_url_input),
        ("audio", info.audio and info.audio_switch),
        ("shot_type", info.shot_type),
    ):
        if kw[name] is not None and not ok:
            raise checks.fail(name, kw[name], f"is not supported by {info.id}", "leave it unset")
    legacy = shared(
        "-", model=catalog.DEFAULT_MODEL, audio_url=kw["audio_url"], audio=kw["audio"],
        shot_type=kw["shot_type"], prompt_extend=kw["prompt_extend"],
        watermark=kw["watermark"], seed=kw["seed"],
    )  # fmt: skip
    if kw["negative_prompt"] is not None:
        check_text(
            "negative_prompt", kw["negative_prompt"], info.negative_prompt_max, info.id,
            required=False,
        )  # fmt: skip
    return dict(
        prompt=prompt,
        model=kw["model"],
        size=size,
        duration=duration,
        negative_prompt=kw["negative_prompt"],
        audio_url=legacy.audio_url,
        audio=kw["audio"],
        shot_type=kw["shot_type"],
        prompt_extend=kw["prompt_extend"],
        watermark=kw["watermark"],
        seed=kw["seed"],
        resolution=resolution,
        ratio=ratio,
        audio_setting=audio_setting,
        _audio_sha256=legacy._audio_sha256,
        media=media,
    )


def _ratio(info: catalog.Model, ratio: Any, media: tuple[Any, ...]) -> str | None:
    """wan2.7-r2v's ``ratio`` (default 16:9; not sent with a first frame, which sets it);
    None for models whose output follows the input (a given ratio is then an error)."""
    if not info.ratios:
        if ratio is not None:
            raise checks.fail(
                "ratio", ratio, f"is not a parameter of {info.id}: the video keeps the input "
                "image's aspect ratio", "use resolution= (" + "/".join(info.resolutions) + ")",
            )  # fmt: skip
        return None
    if any(m.role == "image" for m in media):
        if ratio is not None:
            raise checks.fail(
                "ratio", ratio, f"is ignored by {info.id} with a first frame (image=)",
                "leave it unset: the first frame sets the aspect ratio",
            )  # fmt: skip
        return None
    if ratio is None:
        return info.default_ratio or None  # videoedit: none, the input's shape
    if ratio not in info.ratios:
        raise checks.fail("ratio", ratio, f"is not offered by {info.id}", ", ".join(info.ratios))
    return str(ratio)


def _audio_setting(info: catalog.Model, value: Any) -> str | None:
    """wan2.7-videoedit's ``audio_setting`` (auto: the model decides; origin: keep the input's
    sound); no other model takes it."""
    if value is None:
        return None
    if info.id != "wan2.7-videoedit":
        raise checks.fail(
            "audio_setting", value, f"is not a parameter of {info.id}",
            "leave it unset; wan2.7-videoedit takes it",
        )  # fmt: skip
    if value not in catalog.AUDIO_SETTINGS:
        raise checks.fail("audio_setting", value, "is not an audio setting", "'auto' or 'origin'")
    return str(value)
