"""Sans-IO pieces of the new protocol (wan2.7, Wan3.0): create bodies, ``usage``, model errors.

The new protocol keeps the legacy endpoint, task states and query shape, but its body takes
``parameters.resolution`` + ``parameters.ratio`` (never ``size`` or ``shot_type``), media as an
``input.media[]`` list of ``{"type", "url"}`` items (PROTOCOL 14.2, 14.3, 15.2, 15.3), and its
``usage`` reports ``duration``, ``input_video_duration``, ``output_video_duration``, ``SR``,
``ratio`` and (Wan3.0) ``fps`` (PROTOCOL 14.5, 15.5).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import APIError, InvalidRequestError, NotFoundError

__all__ = [
    "MEDIA_TYPES",
    "ModelNotAvailableError",
    "NewUsage",
    "media_item",
    "model_error",
    "new_body",
    "parse_new_usage",
]

#: Every ``media[].type`` the new protocol defines (wan2.7 i2v/r2v/videoedit and Wan3.0).
MEDIA_TYPES = frozenset(
    {
        "first_frame",
        "last_frame",
        "driving_audio",
        "first_clip",
        "reference_image",
        "reference_video",
        "reference_audio",
        "video",
        "file",
        "link",
    }
)


def media_item(type_: str, url: str, **extra: str) -> dict[str, str]:
    """One ``media[]`` item ``{"type", "url", ...}`` (extra keys, e.g. ``reference_voice``)."""
    if type_ not in MEDIA_TYPES:
        raise ValueError(f"media type {type_!r} is not one of {', '.join(sorted(MEDIA_TYPES))}")
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"media url must be a non-empty string, got {url!r}")
    return {"type": type_, "url": url, **extra}


def new_body(
    *,
    model: str,
    prompt: str | None,
    resolution: str | None = None,
    ratio: str | None = None,
    duration: int | None = None,
    negative_prompt: str | None = None,
    audio_url: str | None = None,
    audio: bool | None = None,
    prompt_extend: bool = True,
    watermark: bool = False,
    seed: int | None = None,
    media: Iterable[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """The create JSON for a new-protocol model. Unset values are omitted (service defaults).

    wan2.7-t2v: ``input.audio_url`` carries its soundtrack and there is no ``media``; Wan3.0
    text-to-video: no ``media``, ``parameters.audio`` switches sound; ``duration=-1`` is
    Wan3.0's smart duration. None of ``size``/``shot_type`` is ever written.
    """
    inp: dict[str, Any] = {}
    if prompt is not None:
        inp["prompt"] = prompt
    if negative_prompt:
        inp["negative_prompt"] = negative_prompt
    if audio_url is not None:
        inp["audio_url"] = audio_url
    items = [dict(m) for m in media]
    if items:
        inp["media"] = items
    params: dict[str, Any] = {}
    if resolution is not None:
        params["resolution"] = resolution
    if ratio is not None:
        params["ratio"] = ratio
    if duration is not None and duration != 0:
        params["duration"] = duration
    params["prompt_extend"] = prompt_extend
    params["watermark"] = watermark
    if seed is not None:
        params["seed"] = seed
    if audio is not None:
        params["audio"] = audio
    return {"model": model, "input": inp, "parameters": params}


def _num(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            f = float(value.strip())
        except ValueError:
            return None
        return int(f) if f.is_integer() else f
    return None


@dataclass(frozen=True)
class NewUsage:
    """``usage`` of a new-protocol task (every field None when not reported)."""

    duration: float | None = None
    input_video_duration: float | None = None
    output_video_duration: float | None = None
    video_count: int | None = None
    sr: int | None = None
    ratio: str | None = None
    fps: int | None = None

    @property
    def billed_seconds(self) -> float | None:
        """What the provider bills: ``duration`` (input + output seconds where it applies)."""
        return self.duration if self.duration is not None else self.output_video_duration


def parse_new_usage(usage: Mapping[str, Any] | None) -> NewUsage:
    """Lenient parse: ``SR`` as number or string, int or float durations, unknown keys ignored."""
    if not isinstance(usage, Mapping):
        return NewUsage()

    def num(key: str) -> Any:
        return _num(usage.get(key))

    ratio = usage.get("ratio")
    sr, fps, count = num("SR"), num("fps"), num("video_count")
    return NewUsage(
        duration=num("duration"),
        input_video_duration=num("input_video_duration"),
        output_video_duration=num("output_video_duration"),
        video_count=int(count) if count is not None else None,
        sr=int(sr) if sr is not None else None,
        ratio=str(ratio) if isinstance(ratio, str) and ratio else None,
        fps=int(fps) if fps is not None else None,
    )


class ModelNotAvailableError(InvalidRequestError, NotFoundError):
    """The service does not know this model id in this region ("Model not exist.").

    ``model`` and ``region`` say which; it also matches ``InvalidRequestError`` (HTTP 400
    InvalidParameter) and ``NotFoundError`` (404 ModelNotFound), the two ways it is reported.
    """

    def __init__(self, message: str, *, model: str, region: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.model = model
        self.region = region


def _is_model_missing(err: APIError) -> bool:
    text = (getattr(err, "service_message", None) or "").lower()
    return err.code == "ModelNotFound" or (
        err.code == "InvalidParameter" and "model not exist" in text
    )


def model_error(err: APIError, model: str | None, region: str) -> APIError:
    """``err`` as a :class:`ModelNotAvailableError` when it says the model does not exist."""
    if model is None or not isinstance(err, APIError) or not _is_model_missing(err):
        return err
    request_id = getattr(err, "request_id", None)
    text = (
        f"model {model!r} does not exist in region {region} (the service answered "
        f"{err.code}: {getattr(err, 'service_message', None) or 'Model not exist.'})"
        + (f" [request_id {request_id}]" if request_id else "")
        + ". Check the id's spelling and whether the model is offered in this region "
        "(`wanvideo models` lists the catalog's regions per model)."
    )
    return ModelNotAvailableError(
        text,
        model=model,
        region=region,
        status_code=getattr(err, "status_code", None),
        code=err.code,
        request_id=request_id,
        service_message=getattr(err, "service_message", None),
    )
