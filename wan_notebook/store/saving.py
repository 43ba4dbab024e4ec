"""Saving a downloaded video: probe, hash, poster, sidecar and index row, crash-safe."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from .._fsutil import atomic_write_bytes, sha256_file
from . import journal as _journal
from . import sidecar as _sidecar
from . import spending as _spending
from .records import TaskRecord, iso, now_utc
from .verify import sidecar_from_row

__all__ = ["make_poster", "media_probe", "save_files"]


def media_probe(video: Path) -> dict[str, Any] | None:
    """media.probe(video).to_dict(), or None when PyAV is not installed."""
    try:
        from .. import media
    except ImportError:
        return None
    try:
        return media.probe(video).to_dict()
    except ImportError:
        return None


def make_poster(video: Path, poster: Path) -> Path | None:
    """A poster frame, or None (no PyAV, or the frame could not be read: a poster is a nicety)."""
    try:
        from .. import media

        return media.make_poster(video, poster)
    except Exception:
        return None


def save_files(
    write: Callable[[], AbstractContextManager[sqlite3.Connection]],
    record: TaskRecord,
    task: Any,
    video: Path,
    region: str | None = None,
) -> tuple[os.stat_result, str]:
    """Probe and hash ``video``, make its poster, then in one write transaction mark the task
    saved and write its sidecar (before the commit: after a crash here, lookup finds the
    sidecar and adopts it). Returns the file's stat and sha256."""
    task_id = record.task_id
    media = media_probe(video)
    sha = sha256_file(video)
    stat = video.stat()
    poster = record.paths.poster
    if not poster.is_file():
        poster = make_poster(video, poster) or poster
    has_poster = poster.is_file()
    video_url = _journal.clip(getattr(task, "video_url", None))
    query_id = _journal.clip(getattr(task, "request_id", None), 200)
    saved_at = now_utc()
    with write() as conn:
        _journal.apply_status(conn, task_id, "SUCCEEDED", saved_at, None, video_url, query_id)
        conn.execute(
            "UPDATE tasks SET saved_at = ?, size = ?, sha256 = ?, mtime_ns = ?, poster = ?, "
            "media_json = ?, updated_at = ? WHERE task_id = ?",
            (
                iso(saved_at),
                stat.st_size,
                sha,
                stat.st_mtime_ns,
                int(has_poster),
                None if media is None else json.dumps(media),
                iso(saved_at),
                task_id,
            ),
        )
        row = conn.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        sidecar = sidecar_from_row(
            conn, row, task=task, video_info=media, poster=poster.name if has_poster else None
        )
        sidecar["cost"] = _spending.cost_of_saved(conn, row, sidecar, region)  # issue 15
        atomic_write_bytes(record.paths.sidecar, _sidecar.dumps(sidecar))
    return stat, sha
