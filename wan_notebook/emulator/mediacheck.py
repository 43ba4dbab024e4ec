"""Create-request validation for image-to-video models (legacy i2v and kf2v), as the service.

What the service can see without downloading anything is answered at create (HTTP 400: a
missing required image, a URL it cannot use, an ``oss://`` URL without the resolve header, one
bound to another model or older than 48 h). What it finds only after fetching the media (format,
pixel sides, file size) FAILS the task (PROTOCOL 19's pattern; the exact channel is UNCERTAIN
there). Limits come from :func:`wan_notebook.catalog.input_rules`, the same rules the client
checks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .. import catalog
from .replies import ApiFailure
from .uploads import FILE_TTL_S, UploadStore

__all__ = ["image_problem", "validate_media"]

_DATA_MIME = ("image/jpeg", "image/jpg", "image/png", "image/bmp", "image/webp")


def _invalid(message: str) -> ApiFailure:
    return ApiFailure(400, "InvalidParameter", message)


def image_problem(path: Path, rule: catalog.InputRule) -> tuple[str, str] | None:
    """``(code, message)`` if the file breaks the rule (the task then FAILS), else None."""
    from PIL import Image, UnidentifiedImageError

    size = path.stat().st_size
    if size > rule.max_bytes:
        limit = rule.max_bytes >> 20
        return "InvalidFile.Size", f"The image file size must be less than {limit}MB."
    try:
        with Image.open(path) as img:
            fmt, (w, h), mode = img.format or "", img.size, img.mode
            alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info)
    except (UnidentifiedImageError, OSError, ValueError):
        return "InvalidFile.Format", "The image format is not supported."
    if fmt not in rule.formats or (fmt == "PNG" and alpha):
        return "InvalidFile.Format", f"The image format is not supported ({fmt}, mode {mode})."
    if min(w, h) < rule.min_side or max(w, h) > rule.max_side:
        return (
            "InvalidFile.Resolution",
            "The image resolution is invalid, please make sure that the largest length of "
            f"image is smaller than {rule.max_side}, and the smallest length of image is larger "
            f"than {rule.min_side}.",
        )
    return None


def video_problem(path: Path, rule: catalog.InputRule) -> tuple[str, str] | None:
    """``(code, message)`` if a clip breaks the rule (format, sides, duration, size)."""
    import av

    if path.stat().st_size > rule.max_bytes:
        return (
            "InvalidFile.Size",
            f"The video file size must be less than {rule.max_bytes >> 20}MB.",
        )
    try:
        with av.open(str(path)) as box:
            vs = box.streams.video[0]
            w, h = vs.width, vs.height
            seconds = float(box.duration or 0) / 1_000_000
    except (av.error.FFmpegError, IndexError, OSError):
        return "InvalidFile.Format", "The video format is not supported."
    if rule.max_side and (min(w, h) < rule.min_side or max(w, h) > rule.max_side):
        return (
            "InvalidFile.Resolution",
            f"Invalid video resolution. The height or width of video must be {rule.min_side} ~ "
            f"{rule.max_side}.",
        )
    if not rule.min_seconds <= seconds <= rule.max_seconds:
        return (
            "InvalidFile.Duration",
            f"Invalid file duration. The file duration must be {rule.min_seconds:g} s ~ "
            f"{rule.max_seconds:g} s.",
        )
    return None


def _inline(url: str, folder: Path) -> Path:
    """Write a ``data:`` image to ``folder`` (content-addressed) and return its path."""
    head, _, payload = url.partition(",")
    mime = head[5:].split(";")[0].lower()
    if ";base64" not in head.lower() or mime not in _DATA_MIME:
        raise _invalid("The provided URL does not appear to be valid. Use data:{MIME};base64,...")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("The base64 data of the image is not valid.") from None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / hashlib.sha256(data).hexdigest()[:40]
    if not path.exists():
        tmp = path.with_name(path.name + f".{time.monotonic_ns()}.part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def _source(
    url: str, model_id: str, *, oss_resolve: bool, uploads: UploadStore, inline: Path
) -> str:
    """What the renderer reads for ``url``: a local path, or the http(s) URL itself."""
    lower = url.lower()
    if lower.startswith("data:"):
        return str(_inline(url, inline))
    if lower.startswith("oss://"):
        if not oss_resolve:
            raise ApiFailure(
                400, "InvalidURL", "oss:// URLs need the header X-DashScope-OssResourceResolve: "
                "enable.",
            )  # fmt: skip
        path = uploads.resolve(url)
        bound = uploads.binding(url)
        if path is None or (bound is not None and time.time() - bound[1] > FILE_TTL_S):
            raise ApiFailure(415, "BadRequest.InputDownloadFailed")
        if bound is not None and bound[0] and catalog.lookup(bound[0], warn=False).id != model_id:
            raise ApiFailure(
                400, "InvalidParameter.DataInspection",
                f"The file was uploaded for model {bound[0]}; a temporary file can be used "
                "only with the model it was uploaded for.",
            )  # fmt: skip
        return str(path)
    if lower.startswith(("http://", "https://")) and len(url) <= 2048:
        return url  # fetched by the render worker (loopback only; else a placeholder)
    raise ApiFailure(400, "InvalidURL")


def validate_media(
    model: catalog.Model,
    inp: Mapping[str, Any],
    params: Mapping[str, Any],
    *,
    oss_resolve: bool,
    uploads: UploadStore,
    check_audio_url: Callable[[str], None],
) -> dict[str, Any]:
    """The :class:`~.validation.CreateRequest` fields of an i2v / kf2v create body."""
    prompt = inp.get("prompt", "")
    if not isinstance(prompt, str):
        raise _invalid("input.prompt must be a string.")
    negative = inp.get("negative_prompt")
    if negative is not None and not isinstance(negative, str):
        raise _invalid("input.negative_prompt must be a string.")
    inline = uploads.root.parent / "inline"
    media: list[tuple[str, str]] = []
    deferred: tuple[str, str] | None = None
    given, deferred = _given(model, inp)
    audio_url = inp.get("audio_url") or None
    for rule in catalog.input_rules(model):
        if rule.many:  # r2v: reference_urls, or reference_image + reference_video items
            if not any(m[0] == rule.role for m in media):
                fields = dict.fromkeys(
                    r.field for r in catalog.input_rules(model) if r.role == rule.role
                )
                urls = [u for f in fields for u in given.get(f) or ()]
                if not urls and not rule.required:
                    continue
                if not urls and model.protocol == "new":  # a media[] problem: the task FAILS
                    deferred = deferred or (
                        "InvalidParameter",
                        f"input.media needs 1 to {rule.group} references.",
                    )
                    continue
                got = _list_media(model, rule, urls, oss_resolve, uploads, inline)
                deferred = deferred or got[1]
                media.extend(got[0])
            continue
        url = given.get(rule.field)
        if rule.kind == "audio" and url:  # driving_audio: the sound track, as audio_url
            check_audio_url(url)
            audio_url = url
            continue
        if url is None or url == "":
            if rule.required:
                raise _invalid(f"Field required: input.{rule.field}")
            continue
        if not isinstance(url, str):
            raise _invalid(f"input.{rule.field} must be a string.")
        src = _source(url, model.id, oss_resolve=oss_resolve, uploads=uploads, inline=inline)
        local = not src.startswith(("http:", "https:"))
        if deferred is None and local and rule.kind == "image":
            deferred = image_problem(Path(src), rule)
        elif deferred is None and local and rule.kind == "video":
            deferred = video_problem(Path(src), rule)
        media.append((rule.role, src))
    resolution = params.get("resolution", model.default_resolution)
    size = params.get("size", model.default_size) if model.default_size else None
    if size is not None and size not in model.sizes:  # r2v: a size, as text-to-video
        deferred = deferred or ("InvalidParameter", f"The size is not match: {size!r}.")
        size = model.default_size
    ratio = params.get("ratio", model.default_ratio) if model.ratios else None
    ratio = ratio or None  # videoedit: no default, the input's shape
    if ratio is not None and ratio not in model.ratios:
        deferred = deferred or ("InvalidParameter", f"The ratio is not match: {ratio!r}.")
        ratio = model.default_ratio
    if size is not None:
        resolution = catalog.TIER_OF_SIZE[size]
    elif resolution not in model.resolutions:
        deferred = deferred or (
            "InvalidParameter",
            f"The resolution is not match: {resolution!r} is not supported by {model.id}; use "
            + " or ".join(model.resolutions) + ".",
        )  # fmt: skip
        resolution = model.default_resolution
    duration = params.get("duration", model.default_duration)
    if not isinstance(duration, int) or isinstance(duration, bool):
        raise _invalid(
            f"parameters.duration must be an integer number of seconds, got {duration!r}."
        )
    if duration == 0 and model.default_duration == 0:  # videoedit: the input's length
        duration = round(_clip_seconds(dict(media).get("video", "")) or 5)
    elif duration not in model.durations:
        deferred = deferred or (
            "InvalidParameter",
            f"The duration is not match: {duration} s is not supported by {model.id}.",
        )
        duration = model.default_duration
    if audio_url is not None and model.protocol == "legacy":
        if not (model.audio and model.audio_url_input):
            raise _invalid(f"input.audio_url is not supported by {model.id}.")
        check_audio_url(audio_url)
    sound = bool(model.audio) and params.get("audio", True) is not False
    if ratio is not None and not any(role == "image" for role, _ in media):
        size = model.pixel_size(resolution, ratio)  # wan2.7-r2v without a first frame
    return {
        "prompt": prompt[: model.prompt_max],
        "negative_prompt": negative[: model.negative_prompt_max] if negative else None,
        "size": size or _size_of(dict(media), resolution),
        "duration": duration,
        "resolution": resolution if model.protocol == "new" or not size else None,
        "audio_url": audio_url,
        "sound": sound,
        "deferred_error": deferred,
        "media": tuple(media),
    }


def _list_media(
    model: catalog.Model,
    rule: catalog.InputRule,
    urls: Any,
    oss_resolve: bool,
    uploads: UploadStore,
    inline: Path,
) -> tuple[list[tuple[str, str]], tuple[str, str] | None]:
    """The items of a list field (``reference_urls``) and the first problem found in them."""
    if not urls:
        raise _invalid(f"Field required: input.{rule.field}")
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise _invalid(f"input.{rule.field} must be a list of URL strings.")
    kinds = {r.kind: r for r in catalog.input_rules(model) if r.role == rule.role}
    out, problem = [], None
    for url in urls:
        src = _source(url, model.id, oss_resolve=oss_resolve, uploads=uploads, inline=inline)
        out.append((rule.role, src))
        if problem is None and not src.startswith(("http:", "https:")):
            kind = "video" if _is_video(src) else "image"
            if kind not in kinds:
                problem = ("InvalidFile.Format", f"input.{rule.field} takes no {kind}s.")
            else:
                check = video_problem if kind == "video" else image_problem
                problem = check(Path(src), kinds[kind])
    n_video = sum(1 for _, s in out if not s.startswith(("http:", "https:")) and _is_video(s))
    counts = {"video": n_video, "image": len(out) - n_video}
    if len(out) > rule.group or any(counts[k] > r.many for k, r in kinds.items()):
        limits = " and ".join(f"{r.many} {k}s" for k, r in kinds.items())
        problem = problem or (
            "InvalidParameter",
            f"input.{rule.field}: at most {limits}, {rule.group} in all.",
        )
    return out, problem


def _given(model: catalog.Model, inp: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """``{field: url}`` of the body's media and a deferred error: legacy fields by name;
    wan2.7 ``media[]`` items by type (each at most once, in a documented combination)."""
    if model.protocol == "legacy":
        return dict(inp), None
    media = inp.get("media")
    if not media:
        return {}, ("InvalidParameter", "Field required: input.media")
    if not isinstance(media, list) or not all(
        isinstance(m, dict) and isinstance(m.get("type"), str) and isinstance(m.get("url"), str)
        for m in media
    ):
        raise _invalid("input.media must be a list of {type, url} objects.")
    types = [m["type"] for m in media]
    by_field = {r.field: r.role for r in catalog.input_rules(model)}
    lists = {r.field for r in catalog.input_rules(model) if r.many}
    single = [t for t in types if t not in lists]
    if len(set(single)) != len(single) or not set(types) <= set(by_field):
        why = "each type at most once" if len(set(single)) != len(single) else "its types"
        return {}, ("InvalidParameter", f"input.media is not valid for {model.id} ({why}).")
    problem = catalog.combo_problem(model, {by_field[t] for t in types}, wire=True)
    if problem is not None:
        return {}, ("InvalidParameter", problem)
    out: dict[str, Any] = {}
    for m in media:
        if m["type"] in lists:
            out.setdefault(m["type"], []).append(m["url"])
        else:
            out[m["type"]] = m["url"]
    return out, None


def _size_of(media: dict[str, str], tier: str) -> str:
    """Output pixels: the first frame's (or clip's) aspect ratio at the tier's pixel total
    (16:9 while the image is still to be fetched)."""
    from PIL import Image

    w, h = 16, 9
    src = media.get("image") or media.get("first_clip") or media.get("video") or ""
    if src and not src.lower().startswith(("http://", "https://")):
        try:
            with Image.open(src) as img:
                w, h = img.size
        except (OSError, ValueError):
            w, h = _video_size(src) or (16, 9)
    pw, ph = catalog.pixels_for_image(tier, w, h)
    return f"{pw}*{ph}"


def _clip_seconds(path: str) -> float | None:
    import av

    if not path or path.startswith(("http:", "https:")):
        return None
    try:
        with av.open(path) as box:
            return float(box.duration) / 1_000_000 if box.duration else None
    except (av.error.FFmpegError, OSError):
        return None


def _is_video(path: str) -> bool:
    """A video file (Pillow cannot read it, PyAV finds a video stream in it)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path):
            return False
    except (UnidentifiedImageError, OSError, ValueError):
        return _video_size(path) is not None


def _video_size(path: str) -> tuple[int, int] | None:
    import av

    try:
        with av.open(path) as box:
            vs = box.streams.video[0]
            return vs.width, vs.height
    except (av.error.FFmpegError, IndexError, OSError):
        return None


def render_size(image: Any, tier: str) -> tuple[int, int]:
    """Output pixels for a fetched image (the render worker's side of :func:`_size_of`)."""
    return catalog.pixels_for_image(tier, *image.size)


def decode_image(data: bytes) -> Any:
    """An RGB PIL image from bytes."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB")


def r2v_usage(
    model: catalog.Model,
    size: str,
    duration: int,
    media: tuple[tuple[str, str], ...],
    resolution: str | None = None,
) -> dict[str, Any]:
    """r2v usage: input video seconds + output seconds. Each input video is capped at 5 s
    divided by the number of references (wan2.6: images and videos) or of reference videos
    (wan2.7), PROTOCOL 18.4."""
    seconds = []
    for _, src in media:
        if src.startswith(("http:", "https:")):
            continue
        import av

        try:
            with av.open(src) as box:
                if box.streams.video and box.duration:
                    seconds.append(box.duration / 1_000_000)
        except (av.error.FFmpegError, OSError):
            continue
    refs = [m for m in media if m[0] == "references"]
    cap = 5.0 / max(1, len(seconds) if model.protocol == "new" else len(refs))
    billed = round(sum(min(s, cap) for s in seconds), 2)
    if model.protocol == "new":
        w, h = (int(x) for x in size.split("*"))
        cell = model.resolution_ratio_of(size)
        res = cell[0] if cell else resolution or model.default_resolution
        ratio = cell[1] if cell else _nearest_ratio(model, w / h)  # a first frame's shape
        return {
            "duration": round(billed + duration), "input_video_duration": round(billed),
            "output_video_duration": duration, "SR": int(res.rstrip("P")), "ratio": ratio,
            "video_count": 1,
        }  # fmt: skip
    return {
        "duration": float(billed + duration), "size": size, "input_video_duration": billed,
        "output_video_duration": duration, "SR": int(catalog.TIER_OF_SIZE[size].rstrip("P")),
        "video_count": 1,
    }  # fmt: skip


def _nearest_ratio(model: catalog.Model, aspect: float) -> str:
    def value(r: str) -> float:
        a, b = r.split(":")
        return int(a) / int(b)

    return min(model.ratios, key=lambda r: abs(value(r) - aspect))


def edit_usage(model: catalog.Model, resolution: str | None, duration: int, media: Any) -> dict:
    """wan2.7-videoedit usage: input + output seconds, floats (PROTOCOL 14.5: 5.02 + 5.02)."""
    seconds = round(_clip_seconds(dict(media).get("video", "")) or 0.0, 2)
    return {
        "duration": round(seconds + duration, 2), "input_video_duration": seconds,
        "output_video_duration": float(duration),
        "SR": int((resolution or model.default_resolution).rstrip("P")), "video_count": 1,
    }  # fmt: skip


def media_usage(model: catalog.Model, resolution: str | None, duration: int, sound: bool) -> dict:
    """``usage`` of an image-to-video task in its family's shape (PROTOCOL 14.5, 16.1, 16.2).
    wan2.7-i2v with a ``first_clip``: ``input_video_duration`` is UNCERTAIN (PROTOCOL 20.18);
    we report 0 and bill the whole ``duration``, as the docs' "按15秒计费" example."""
    sr = int((resolution or model.default_resolution or "720P").rstrip("P"))
    if "kf2v" in model.id:
        extra = {"SR": sr} if model.family == "wan2.2" else {"video_ratio": "standard"}
        return {"video_duration": duration, "video_count": 1, **extra}
    if model.family in ("wan2.6", "wan2.7"):  # wan2.7-i2v: no ratio (PROTOCOL 14.5)
        out: dict[str, Any] = {
            "duration": duration, "input_video_duration": 0, "output_video_duration": duration,
            "SR": sr, "video_count": 1,
        }  # fmt: skip
        if model.audio_switch:
            out["audio"] = sound
        return out
    if model.family in ("wan2.5", "wan2.2"):
        return {"duration": duration, "SR": sr, "video_count": 1}
    return {"video_duration": duration, "video_ratio": "standard", "video_count": 1}
