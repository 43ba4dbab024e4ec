"""The create body of a legacy image-to-video or kf2v request (PROTOCOL 16.1, 16.2).

i2v: ``input.img_url`` + ``parameters.resolution`` (a tier; the output keeps the image's aspect
ratio) + ``duration``; kf2v: ``input.first_frame_url`` / ``last_frame_url`` on the
``image2video`` endpoint, with ``duration`` fixed by the model and so not sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import catalog
from ..protocol_new import media_item, new_body

__all__ = ["field_of", "media_body"]


def field_of(model: catalog.Model, role: str, kind: str) -> str:
    """The wire field (or media[] type) of an input: by role, and by kind where a role has
    several (wan2.7-r2v: reference_image / reference_video)."""
    rules = [r for r in catalog.input_rules(model) if r.role == role]
    for rule in rules:
        if rule.kind == kind:
            return rule.field
    return rules[0].field


def media_body(
    model: catalog.Model,
    *,
    model_name: str,
    prompt: str,
    negative_prompt: str | None,
    urls: Sequence[tuple[str, str, str]],
    resolution: str | None,
    duration: int,
    audio_url: str | None,
    audio: bool | None,
    shot_type: str | None,
    prompt_extend: bool,
    watermark: bool,
    seed: int | None,
    size: str = "",
    ratio: str | None = None,
    audio_setting: str | None = None,
) -> dict[str, Any]:
    """The exact JSON; ``urls`` holds ``(role, field, url)`` for each input, in the request's
    order (a list input such as ``references`` keeps its order: character1 is the first)."""
    many = {r.role for r in catalog.input_rules(model) if r.many}
    if model.protocol == "new":  # wan2.7: media[] items (PROTOCOL 14.2, 14.3)
        items = [media_item(field, url) for _role, field, url in urls]
        body = new_body(
            model=model_name, prompt=prompt or None, resolution=resolution, ratio=ratio,
            duration=duration,
            negative_prompt=negative_prompt, prompt_extend=prompt_extend, watermark=watermark,
            seed=seed, media=items,
        )  # fmt: skip
        if audio is not None and model.audio_switch:  # Wan3.0: parameters.audio
            body["parameters"]["audio"] = audio
        if audio_setting is not None:  # wan2.7-videoedit
            body["parameters"]["audio_setting"] = audio_setting
        return body
    inp: dict[str, Any] = {}
    if prompt:
        inp["prompt"] = prompt
    if negative_prompt:
        inp["negative_prompt"] = negative_prompt
    for role, field, url in urls:
        if role in many:
            inp.setdefault(field, []).append(url)
        else:
            inp[field] = url
    if audio_url is not None:
        inp["audio_url"] = audio_url
    params: dict[str, Any] = {"prompt_extend": prompt_extend, "watermark": watermark}
    if size:  # r2v: a size, as text-to-video (PROTOCOL 16.3)
        params["size"] = size
    if resolution:
        params["resolution"] = resolution
    if duration and len(model.durations) != 1:
        params["duration"] = duration
    elif duration and model.endpoint == catalog.CREATE_PATH:
        params["duration"] = duration  # i2v documents the field even where it is fixed
    if seed is not None:
        params["seed"] = seed
    if shot_type is not None:
        params["shot_type"] = shot_type
    if audio is not None:
        params["audio"] = audio
    return {"model": model_name, "input": inp, "parameters": params}
