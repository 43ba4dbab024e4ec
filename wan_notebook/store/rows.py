"""From index rows to the store's value types, and back to requests."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import catalog
from . import naming as _naming
from . import sidecar as _sidecar
from .index import StoreError
from .records import Intent, Paths, SavedResult, TaskRecord, from_iso

if TYPE_CHECKING:
    from ..request import VideoRequest

__all__ = [
    "intent_from_row",
    "model_key",
    "paths",
    "read_metadata",
    "record_from_row",
    "request_from_canonical",
    "saved_from",
]


def paths(root: Path, stem: str) -> Paths:
    """The files of one result stem, confined to ``root``."""
    return Paths(
        stem=stem,
        video=_naming.confine(root, stem, ".mp4"),
        sidecar=_naming.confine(root, stem, ".json"),
        poster=_naming.confine(root, stem, ".png"),
        part=_naming.confine(root, stem, ".mp4.part"),
    )


def record_from_row(row: sqlite3.Row, root: Path) -> TaskRecord:
    """A ``tasks`` row as a :class:`TaskRecord`."""
    return TaskRecord(
        task_id=row["task_id"],
        digest=row["digest"],
        model=row["model"],
        prompt=row["prompt"],
        status=row["status"],
        created_at=from_iso(row["created_at"]),  # type: ignore[arg-type]
        updated_at=from_iso(row["updated_at"]),  # type: ignore[arg-type]
        paths=paths(root, row["stem"]),
        submit_request_id=row["submit_request_id"],
        query_request_id=row["query_request_id"],
        video_url=row["video_url"],
        url_expires_at=from_iso(row["url_expires_at"]),
        error_code=row["error_code"],
        error_message=row["error_message"],
        saved_at=from_iso(row["saved_at"]),
        size=row["size"],
        sha256=row["sha256"],
        cached_hits=row["cached_hits"],
        request=json.loads(row["request_json"]),
    )


def saved_from(record: TaskRecord, has_poster: bool, media_json: str | None) -> SavedResult:
    """A saved task as a :class:`SavedResult` (its sidecar read for ``metadata``)."""
    poster = record.paths.poster if has_poster and record.paths.poster.is_file() else None
    return SavedResult(
        task_id=record.task_id,
        model=record.model,
        prompt=record.prompt,
        digest=record.digest,
        video=record.paths.video,
        sidecar=record.paths.sidecar,
        poster=poster,
        size=record.size or 0,
        sha256=record.sha256 or "",
        created_at=record.created_at,
        saved_at=record.saved_at or record.updated_at,
        media=json.loads(media_json) if media_json else None,
        cached_hits=record.cached_hits,
        request=record.request,
        metadata=read_metadata(record.paths.sidecar),
    )


def intent_from_row(row: sqlite3.Row) -> Intent:
    """An ``intents`` row as an :class:`Intent`."""
    return Intent(
        id=row["id"],
        digest=row["digest"],
        model=row["model"],
        created_at=from_iso(row["created_at"]),  # type: ignore[arg-type]
        state=row["state"],
        task_id=row["task_id"],
        request=json.loads(row["request_json"]),
    )


def request_from_canonical(data: dict[str, Any], digest: str) -> VideoRequest:
    """Rebuild a VideoRequest with exactly the journaled canonical form (no re-validation:
    the catalog may have changed since, and the task exists anyway)."""
    from ..request import VideoRequest

    names = ("prompt", "model", "size", "duration", "negative_prompt", "audio", "shot_type")
    kwargs: dict[str, Any] = {n: data.get(n) for n in names}
    kwargs.update(prompt_extend=data.get("prompt_extend", True), watermark=data.get("watermark"))
    kwargs["seed"] = data.get("seed")
    if "audio_file" in data:
        kwargs["audio_url"] = data["audio_file"]
        kwargs["_audio_sha256"] = data.get("audio_sha256")
    else:
        kwargs["audio_url"] = data.get("audio_url")
    if isinstance(data.get("inputs"), list):  # issue 14: media inputs by their recorded key
        kwargs.update(_media_of(data))
    try:
        request = VideoRequest(**kwargs)
        same = request.digest == digest
    except (TypeError, ValueError, OSError):
        same = False
    if not same:
        raise StoreError(
            "the journaled request cannot be rebuilt with the same digest by this version of "
            "wan-notebook; its canonical form is in the task's sidecar/index row"
        )
    return request


def _media_of(data: dict[str, Any]) -> dict[str, Any]:
    """The media fields of a journaled media request: each input by its key (the bytes are
    not kept; enough for the digest, the sidecar and attaching, not for submitting again)."""
    from ..media_in import MediaInput

    media = []
    for item in data["inputs"]:
        url = item.get("url")
        digest = item.get("sha256") or hashlib.sha256(str(url).encode()).hexdigest()
        media.append(
            MediaInput(
                role=str(item.get("role")),
                kind="remote" if url else "image",
                sha256=digest,
                size=int(item.get("size") or 0),
                mime=str(item.get("mime") or ""),
                name="",
                width=item.get("width"),
                height=item.get("height"),
                seconds=item.get("seconds"),
                url=url,
                thumb=item.get("thumb"),
            )
        )
    return {"media": tuple(media), "resolution": data.get("resolution"), "size": ""}


def read_metadata(path: Path) -> dict[str, Any]:
    try:
        return _sidecar.load(path)
    except StoreError:
        return {}


def model_key(model: str) -> str:
    try:
        return catalog.get_model(model).id
    except KeyError:
        return model
