"""Request validation from the catalog, answering with the service's codes and statuses.

Exact wording of parameter errors is not documented (PROTOCOL 13.9); codes and statuses follow
PROTOCOL 7 and the messages say what was wrong and what is allowed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .. import catalog
from .mediacheck import validate_media
from .newproto import validate_new
from .replies import ApiFailure
from .uploads import UploadStore
from .wan3media import wan3_media, wan3_size, wan3_soundtrack

#: Largest JSON body accepted on create (the service's limit is not documented).
MAX_BODY_BYTES = 1 << 20
STATUSES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN")
SHOT_TYPES = ("single", "multi")
MAX_PAGE_SIZE = 100
_DAY_MS = 24 * 3600 * 1000
#: The service's clock: times it shows and list filters it reads are Beijing time (UTC+8).
SERVICE_TZ = timezone(timedelta(hours=8), "UTC+8")


@dataclass(frozen=True)
class CreateRequest:
    """A validated create request, as the service understood it (prompts already truncated)."""

    model: catalog.Model
    model_name: str
    prompt: str
    negative_prompt: str | None
    size: str
    duration: int
    seed: int | None
    prompt_extend: bool
    watermark: bool
    shot_type: str | None
    audio_url: str | None
    #: New protocol (issue 13): what was asked / chosen and whether the video has sound.
    resolution: str | None = None
    ratio: str | None = None
    sound: bool = True
    #: A problem the service finds only after accepting the task (PROTOCOL 7, 19): the task is
    #: created and then FAILS with this ``(code, message)``.
    deferred_error: tuple[str, str] | None = None
    #: Image-to-video inputs (issue 14): ``(role, local path or http(s) URL)``.
    media: tuple[tuple[str, str], ...] = ()

    @property
    def width(self) -> int:
        return int(self.size.split("*")[0])

    @property
    def height(self) -> int:
        return int(self.size.split("*")[1])


@dataclass(frozen=True)
class ListQuery:
    """Validated ``GET /tasks`` filters; times are epoch milliseconds (inclusive)."""

    task_id: str | None
    start_ms: int
    end_ms: int
    model_name: str | None
    status: str | None
    page_no: int
    page_size: int


def invalid(message: str) -> ApiFailure:
    """400 InvalidParameter with a specific message."""
    return ApiFailure(400, "InvalidParameter", message)


def parse_json(raw: bytes) -> Any:
    """Decode a JSON body; an empty body is ``{}``. NaN/Infinity and bad UTF-8 are rejected."""
    if not raw.strip():
        return {}

    def reject(token: str) -> Any:
        raise ValueError(f"{token} is not valid JSON")

    try:
        return json.loads(raw, parse_constant=reject)
    except (ValueError, RecursionError) as exc:
        raise invalid("The request body is not valid JSON.") from exc


def resolve_model(name: str, service: str, region: str | None = None) -> catalog.Model:
    """The catalog row for ``name`` on this create path, or the service's unknown-model error.

    CONFLICT (PROTOCOL 7, 13.5): for an unknown id some callers see 400 and some 404, and the
    generic table has 404 ``ModelNotFound``. We answer 400 ``InvalidParameter`` "Model not
    exist.", which several independent projects quote from the live service.
    The image2video path serves only first/last-frame (kf2v) models, and video-generation
    every other model (what the service answers to a kf2v model there is UNCERTAIN, PROTOCOL
    20.19: we answer "Model not exist.").
    With a ``region``, a model the catalog does not offer there does not exist either.
    """
    try:
        model = catalog.get_model(name)
    except KeyError:
        raise invalid("Model not exist.") from None
    on_path = (model.endpoint == catalog.CREATE_PATH) == (service == "video-generation")
    if on_path and (region is None or region in model.regions):
        return model
    raise invalid("Model not exist.")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _optional_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid(f"{where}.{key} must be a string.")
    return value


def _bool(params: Mapping[str, Any], key: str, default: bool) -> bool:
    value = params.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid(f"parameters.{key} must be a boolean (true or false), got {value!r}.")
    return value


def validate_create(
    payload: Any,
    *,
    service: str,
    oss_resolve: bool,
    oss_exists: Callable[[str], bool],
    region: str | None = None,
    strict: bool = False,
    uploads: UploadStore | None = None,
) -> CreateRequest:
    """Validate a create body the way the service does, or raise :class:`ApiFailure`.

    Unknown ``parameters`` keys and the SDK's ``input.extend_prompt`` / ``input.function`` are
    ignored. Over-long prompts are truncated, not rejected (PROTOCOL 2.2). ``parameters`` is
    optional (the model's defaults apply). A size or duration the model does not offer is
    accepted and recorded in ``deferred_error`` (the task then FAILS with ``InvalidParameter``,
    as the service reports it); ``strict`` rejects it at create with HTTP 400 instead.
    """
    if not isinstance(payload, dict):
        raise invalid("The request body must be a JSON object.")
    name = payload.get("model")
    if name is None or name == "":
        raise ApiFailure(400, "BadRequest.EmptyModel")
    if not isinstance(name, str):
        raise invalid("model must be a string.")
    model = resolve_model(name, service, region)

    inp = payload.get("input")
    if inp is None or inp == {}:
        raise ApiFailure(400, "BadRequest.EmptyInput")
    if not isinstance(inp, dict):
        raise invalid("input must be a JSON object.")
    params = payload.get("parameters")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise invalid("parameters must be a JSON object.")
    wan3 = model.smart_duration  # Wan3.0: optional media[], on the new-protocol path below
    if catalog.input_rules(model) and uploads is not None and not wan3:  # issue 14: i2v, kf2v
        return _media_request(model, name, inp, params, oss_resolve, oss_exists, uploads, strict)
    if model.protocol == "new":
        fields = validate_new(
            model, inp, params,
            check_audio_url=lambda url: _check_audio_url(
                url, oss_resolve=oss_resolve, oss_exists=oss_exists
            ),
        )  # fmt: skip
        if wan3 and uploads is not None and fields["deferred_error"] is None:
            media, problem = wan3_media(model, inp, oss_resolve=oss_resolve, uploads=uploads)
            fields.update(media=media, deferred_error=problem)
            fields["size"] = wan3_size(model, fields, params, media)
            track = wan3_soundtrack(inp)
            if track is not None and problem is None:
                _check_audio_url(track, oss_resolve=oss_resolve, oss_exists=oss_exists)
                fields["audio_url"] = track
        if strict and fields["deferred_error"] is not None:
            raise invalid(fields["deferred_error"][1])
        return CreateRequest(model=model, model_name=name, **fields)

    prompt = inp.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise invalid("input.prompt must be a string.")
    if prompt is None or not prompt.strip():
        raise ApiFailure(
            400, "BadRequest.EmptyInput", 'Required input parameter "prompt" missing from request.'
        )
    negative = _optional_str(inp, "negative_prompt", "input")

    deferred: list[str] = []
    size = params.get("size", model.default_size)
    if not isinstance(size, str):
        raise invalid(f"parameters.size must be a string 'W*H', got {size!r}.")
    if size not in model.sizes:
        deferred.append(
            f"The size is not match: {size!r} is not supported by {model.id}; "
            f"use one of {', '.join(model.sizes)}."
        )
        size = model.default_size
    duration = params.get("duration", model.default_duration)
    if not _is_int(duration):
        raise invalid(
            f"parameters.duration must be an integer number of seconds, got {duration!r}."
        )
    if duration not in model.durations:
        deferred.append(
            f"The duration is not match: {duration} s is not supported by {model.id} "
            f"({model.duration_text()})."
        )
        duration = model.default_duration
    if deferred and strict:
        raise invalid(deferred[0])
    seed = params.get("seed")
    if seed is not None and (not _is_int(seed) or not 0 <= seed <= catalog.SEED_MAX):
        raise invalid(
            f"parameters.seed must be an integer in [0, {catalog.SEED_MAX}], got {seed!r}."
        )
    prompt_extend = _bool(params, "prompt_extend", True)
    watermark = _bool(params, "watermark", False)

    shot_type = params.get("shot_type")
    if shot_type is not None:
        if not model.shot_type:
            raise invalid(f"parameters.shot_type is not supported by {model.id}.")
        if shot_type not in SHOT_TYPES:
            raise invalid(f"parameters.shot_type must be 'single' or 'multi', got {shot_type!r}.")

    audio_url = _optional_str(inp, "audio_url", "input")
    if audio_url is not None:
        if not model.audio:
            raise invalid(f"input.audio_url is not supported by {model.id}: it makes silent video.")
        _check_audio_url(audio_url, oss_resolve=oss_resolve, oss_exists=oss_exists)

    return CreateRequest(
        model=model,
        model_name=name,
        prompt=prompt[: model.prompt_max],
        negative_prompt=negative[: model.negative_prompt_max] if negative else None,
        size=size,
        duration=duration,
        seed=seed,
        prompt_extend=prompt_extend,
        watermark=watermark,
        shot_type=shot_type,
        audio_url=audio_url,
        deferred_error=("InvalidParameter", " ".join(deferred)) if deferred else None,
    )


def _media_request(
    model: catalog.Model,
    name: str,
    inp: dict[str, Any],
    params: dict[str, Any],
    oss_resolve: bool,
    oss_exists: Callable[[str], bool],
    uploads: UploadStore,
    strict: bool,
) -> CreateRequest:
    fields = validate_media(
        model, inp, params, oss_resolve=oss_resolve, uploads=uploads,
        check_audio_url=lambda url: _check_audio_url(
            url, oss_resolve=oss_resolve, oss_exists=oss_exists
        ),
    )  # fmt: skip
    if strict and fields["deferred_error"] is not None:
        raise invalid(fields["deferred_error"][1])
    seed = params.get("seed")
    if seed is not None and (not _is_int(seed) or not 0 <= seed <= catalog.SEED_MAX):
        raise invalid(
            f"parameters.seed must be an integer in [0, {catalog.SEED_MAX}], got {seed!r}."
        )
    shot_type = params.get("shot_type")
    if shot_type is not None and (not model.shot_type or shot_type not in SHOT_TYPES):
        raise invalid(f"parameters.shot_type {shot_type!r} is not supported by {model.id}.")
    return CreateRequest(
        model=model, model_name=name, seed=seed, shot_type=shot_type,
        prompt_extend=_bool(params, "prompt_extend", True),
        watermark=_bool(params, "watermark", False), **fields,
    )  # fmt: skip


def _check_audio_url(url: str, *, oss_resolve: bool, oss_exists: Callable[[str], bool]) -> None:
    lower = url.lower()
    if lower.startswith("oss://"):
        # The real API needs this header for oss:// inputs; its rejection wording is UNCERTAIN.
        if not oss_resolve:
            raise ApiFailure(
                400,
                "InvalidURL",
                "oss:// URLs need the header X-DashScope-OssResourceResolve: enable.",
            )
        if not oss_exists(url):
            raise ApiFailure(415, "BadRequest.InputDownloadFailed")
    elif not lower.startswith(("http://", "https://")) or len(url) > 2048:
        raise ApiFailure(400, "InvalidURL")


def _parse_stamp(value: str, name: str) -> int:
    if len(value) != 14 or not value.isdigit():
        raise invalid(f"{name} must be YYYYMMDDhhmmss, got {value!r}.")
    try:
        when = datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=SERVICE_TZ)
        return int(when.timestamp() * 1000)
    except (ValueError, OverflowError, OSError) as exc:
        raise invalid(f"{name} is not a valid time: {value!r}.") from exc


def _int_param(params: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise invalid(f"{name} must be an integer from {lo} to {hi}, got {raw!r}.")
    return int(raw)


def validate_list(params: Mapping[str, str], now_ms: int) -> ListQuery:
    """Validate the list filters (PROTOCOL 6): times on the service's clock (UTC+8, not the
    machine's local time), window at most 24 h."""
    start_raw, end_raw = params.get("start_time") or None, params.get("end_time") or None
    start = _parse_stamp(start_raw, "start_time") if start_raw else None
    end = _parse_stamp(end_raw, "end_time") if end_raw else None
    if start is None and end is None:
        start, end = now_ms - _DAY_MS, now_ms
    elif start is None:
        start = end - _DAY_MS  # type: ignore[operator]
    elif end is None:
        end = start + _DAY_MS
    assert start is not None and end is not None
    if end < start:
        raise invalid("end_time must not be earlier than start_time.")
    if end - start > _DAY_MS:
        raise invalid("The time range between start_time and end_time must not exceed 24 hours.")
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise invalid(f"status must be one of {', '.join(STATUSES)}, got {status!r}.")
    return ListQuery(
        task_id=params.get("task_id") or None,
        start_ms=start,
        end_ms=end + 999,  # the end second is inclusive
        model_name=params.get("model_name") or None,
        status=status,
        page_no=_int_param(params, "page_no", 1, 1, 1_000_000),
        page_size=_int_param(params, "page_size", 10, 1, MAX_PAGE_SIZE),
    )
