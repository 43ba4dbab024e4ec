"""Response bodies for tasks: query output, usage, list items, and the prompt rewrite."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .. import catalog
from .mediacheck import edit_usage, media_usage, r2v_usage
from .newproto import new_usage
from .tasks import Task, TaskStore
from .validation import SERVICE_TZ
from .wan3media import wan3_usage

#: Where list items say the task ran when the emulator has no ``region`` (the default one).
REGION_ID = catalog.get_region(catalog.DEFAULT_REGION).region_id

_STYLE = (
    "cinematic lighting with soft volumetric haze",
    "natural daylight and gentle, realistic colours",
    "a shallow depth of field and a slow dolly-in",
    "smooth tracking camera movement and crisp detail",
    "warm golden-hour light and rich textures",
    "a steady wide shot that settles into a medium close-up",
)
_MOOD = (
    "The atmosphere is calm and immersive.",
    "The motion is fluid and lifelike.",
    "Every detail stays consistent from frame to frame.",
    "The scene feels vivid and grounded.",
)


def fmt_time(epoch: float) -> str:
    """``YYYY-MM-DD HH:mm:ss.SSS`` on the service's clock, Beijing time (UTC+8), whatever the
    machine's time zone (PROTOCOL 4)."""
    dt = datetime.fromtimestamp(epoch, SERVICE_TZ)
    return dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{dt.microsecond // 1000:03d}"


def actual_prompt(prompt: str, seed: int) -> str:
    """A deterministic, plausible "prompt_extend" rewrite of ``prompt``."""
    digest = hashlib.sha256(f"{seed}:{prompt}".encode()).digest()
    base = " ".join(prompt.split()).rstrip(" .。!！")
    return (
        f"{base}. The shot is composed with {_STYLE[digest[0] % len(_STYLE)]}. "
        f"{_MOOD[digest[1] % len(_MOOD)]}"
    )


def usage(task: Task) -> dict[str, Any]:
    """Billing usage in the model family's shape (PROTOCOL 4)."""
    req = task.request
    if req.media and req.model.smart_duration:  # Wan3.0 with media[]
        return wan3_usage(req)
    if any(role == "video" for role, _ in req.media):  # issue 14: video edit
        return edit_usage(req.model, req.resolution, req.duration, req.media)
    if any(role == "references" for role, _ in req.media):  # issue 14: reference-to-video
        return r2v_usage(req.model, req.size, req.duration, req.media, req.resolution)
    if req.media:  # issue 14: image-to-video families
        return media_usage(req.model, req.resolution, req.duration, req.sound)
    if req.model.usage_style == "new":
        return new_usage(req.model, req.resolution or "1080P", req.ratio or "16:9", req.duration)
    if req.model.usage_style == "wan2.6":
        return {
            "duration": req.duration,
            "input_video_duration": 0,
            "output_video_duration": req.duration,
            "SR": int(catalog.TIER_OF_SIZE[req.size].rstrip("P")),
            "size": req.size,
            "video_count": 1,
        }
    return {"video_duration": req.duration, "video_ratio": req.size, "video_count": 1}


def query_body(
    store: TaskStore,
    task: Task | None,
    task_id: str,
    now: float,
    video_url: Callable[[Task, float], str],
) -> dict[str, Any]:
    """The ``output`` (and ``usage``) of ``GET /tasks/{id}`` for the task's current state."""
    if task is None or store.expired(task, now):
        return {"output": {"task_id": task_id, "task_status": "UNKNOWN"}}
    out: dict[str, Any] = {
        "task_id": task.task_id,
        "task_status": task.status,
        "submit_time": fmt_time(task.created_wall),
    }
    if task.started_wall is not None:
        out["scheduled_time"] = fmt_time(task.started_wall)
    if task.finished_wall is not None:
        out["end_time"] = fmt_time(task.finished_wall)
    body: dict[str, Any] = {"output": out}
    if task.status == "SUCCEEDED":
        req = task.request
        out["orig_prompt"] = req.prompt
        if req.prompt_extend and req.model.returns_actual_prompt:
            out["actual_prompt"] = actual_prompt(req.prompt, task.seed)
        out["video_url"] = video_url(task, store.video_expires_in(task, now))
        body["usage"] = usage(task)
    elif task.status == "FAILED" and task.error is not None:
        out["code"], out["message"] = task.error
    return body


def list_item(
    task: Task, status: str, api_key_id: str, region_id: str = REGION_ID
) -> dict[str, Any]:
    """One ``data[]`` item of ``GET /tasks`` (times in epoch milliseconds)."""
    req = task.request
    item: dict[str, Any] = {
        "task_id": task.task_id,
        "status": status,
        "model_name": req.model_name,
        "region": region_id,
        "request_id": task.request_id,
        "api_key_id": api_key_id,
        "caller_parent_id": "1000000000000000",
        "caller_uid": "1000000000000000",
        "gmt_create": int(task.created_wall * 1000),
        "user_api_unique_key": (
            f"apikey:v1:aigc:video-generation:video-synthesis:{req.model_name}"
        ),
    }
    if task.started_wall is not None:
        item["start_time"] = int(task.started_wall * 1000)
    if task.finished_wall is not None:
        item["end_time"] = int(task.finished_wall * 1000)
    return item


def total_pages(total: int, page_size: int) -> int:
    """Pages needed for ``total`` items."""
    return math.ceil(total / page_size) if total else 0
