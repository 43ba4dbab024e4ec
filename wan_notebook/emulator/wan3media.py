"""Wan3.0 ``media[]`` in the emulator (PROTOCOL 15.3-15.4, 19): where each item is read from,
and what the service would fail the task for after accepting it.

The mutually exclusive modes are checked by :mod:`.newproto` (a FAILED task with the documented
message). Here: URLs the service cannot use at all (create-time 4xx, as every media model), and
problems found once a file is fetched (format, sides, size, per-item and total seconds, counts,
``last_frame`` without ``first_frame``) as a deferred error, so the task FAILS. ``strict``
emulators raise deferred errors at create: the other reading of PROTOCOL 19's UNCERTAIN channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import catalog
from .mediacheck import (
    _clip_seconds,
    _is_video,
    _source,
    image_problem,
    video_problem,
)
from .newproto import new_usage
from .uploads import UploadStore

__all__ = ["wan3_media", "wan3_size", "wan3_soundtrack", "wan3_usage"]

#: media[] type -> the role the renderer reads (reference audio is not drawn).
_ROLE = {"first_frame": "image", "last_frame": "last_frame", "reference_image": "references",
         "reference_video": "references", "reference_audio": "reference_audio"}  # fmt: skip


def wan3_media(
    model: catalog.Model, inp: Mapping[str, Any], *, oss_resolve: bool, uploads: UploadStore
) -> tuple[tuple[tuple[str, str], ...], tuple[str, str] | None]:
    """``(media, deferred_error)`` of a Wan3.0 body whose ``media`` is a well-formed list."""
    items = inp.get("media")
    if not isinstance(items, list) or not items:
        return (), None
    rules = {r.field: r for r in catalog.input_rules(model)}
    inline = uploads.root.parent / "inline"
    media: list[tuple[str, str]] = []
    problem: tuple[str, str] | None = None
    counts: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for item in items:
        kind = item.get("type") if isinstance(item, dict) else None
        rule = rules.get(kind or "")
        if rule is None or not isinstance(item.get("url"), str):
            continue  # file / link / unknown: newproto's checks; not rendered
        src = _source(item["url"], model.id, oss_resolve=oss_resolve, uploads=uploads,
                      inline=inline)  # fmt: skip
        counts[kind] = counts.get(kind, 0) + 1
        local = not src.startswith(("http:", "https:"))
        if local and problem is None:
            if rule.kind == "image":
                problem = image_problem(Path(src), rule)
            elif rule.kind == "video":
                problem = video_problem(Path(src), rule)
        if local and rule.kind in ("video", "audio"):
            seconds[rule.kind] = seconds.get(rule.kind, 0.0) + (_clip_seconds(src) or 0.0)
        media.append((_ROLE[kind], src))
    for kind, n in counts.items():
        most = rules[kind].many or 1
        if problem is None and n > most:
            problem = ("InvalidParameter", f"input.media: at most {most} {kind} items.")
    for kind, total in seconds.items():
        if problem is None and total > catalog.WAN3_REFERENCE_SECONDS:
            problem = ("InvalidParameter", f"input.media: the reference {kind}s are {total:.1f} s "
                       f"in all, over {catalog.WAN3_REFERENCE_SECONDS:g} s.")  # fmt: skip
    if problem is None and "last_frame" in counts and "first_frame" not in counts:
        # undocumented officially; rejected per a third party (PROTOCOL 20.8)
        problem = ("InvalidParameter", "input.media: last_frame needs a first_frame.")
    return tuple(media), problem


def wan3_size(
    model: catalog.Model,
    fields: Mapping[str, Any],
    params: Mapping[str, Any],
    media: tuple[tuple[str, str], ...],
) -> str:
    """Output pixels: with a first frame, the image's shape at the tier's pixel total (as
    wan2.7-i2v, PROTOCOL 14.4). INFERRED for Wan3.0 (20.5): the first frame is "strictly the
    first frame", so its shape wins over an explicit ratio; without one, as asked."""
    first = dict(media).get("image")
    if first is None or first.startswith(("http:", "https:")):
        return str(fields["size"])
    from PIL import Image

    with Image.open(first) as img:
        w, h = catalog.pixels_for_image(str(fields["resolution"]), *img.size)
    return f"{w}*{h}"


def wan3_usage(req: Any) -> dict[str, Any]:
    """Wan3.0 ``usage`` with media (PROTOCOL 15.5): floats, ``fps``, the ratio of the output
    (an input-shaped one named by the nearest ratio), ``input_video_duration`` the reference
    videos' seconds. Whether ``duration`` includes them is UNCERTAIN (20.6): it does here, as
    the catalog's pricing rule for Wan3.0 ("input+output") bills them."""
    resolution = req.resolution or req.model.default_resolution
    cell = req.model.resolution_ratio_of(req.size)
    ratio = cell[1] if cell else _nearest(req.model, req.width / req.height)
    videos = [
        src for role, src in req.media
        if role == "references" and not src.startswith(("http:", "https:")) and _is_video(src)
    ]  # fmt: skip
    seconds = round(sum(_clip_seconds(src) or 0.0 for src in videos), 2)
    out = new_usage(req.model, resolution, ratio, req.duration)
    out["input_video_duration"] = seconds
    out["duration"] = round(seconds + float(req.duration), 2)
    return out


def _nearest(model: catalog.Model, aspect: float) -> str:
    """The listed ratio (not ``adaptive``) closest to ``aspect``."""
    fixed = [r for r in model.ratios if ":" in r]
    return min(fixed, key=lambda r: abs(int(r.split(":")[0]) / int(r.split(":")[1]) - aspect))


def wan3_soundtrack(inp: Mapping[str, Any]) -> str | None:
    """The URL of the first ``reference_audio`` item: the emulator's video plays it, so a test
    can tell it was used (the service's use of it is the model's; PROTOCOL 15.3 "音频1")."""
    for item in inp.get("media") or ():
        if isinstance(item, dict) and item.get("type") == "reference_audio":
            url = item.get("url")
            return url if isinstance(url, str) else None
    return None
