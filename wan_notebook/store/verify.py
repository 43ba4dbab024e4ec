"""Trust, but verify: a saved result is checked before it is served, and healed when it can be.

- **The video**: the first time a process serves a saved file it is hashed and compared with
  the journaled sha256 (size and mtime can be kept by a corruption: a same-size overwrite with
  its mtime restored). The verified ``(path, size, mtime, inode, sha256)`` is remembered for
  the life of the process, so repeated lookups cost one ``stat``. A file that fails is moved
  aside (``.corrupt``, never deleted) and the task becomes ``redownload``/``expired``.
- **The sidecar**: deleted by hand, it is rewritten from the journal; garbled (not JSON, not
  ours, or another task's), it is moved aside (``.garbled-<n>``) and rewritten.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._fsutil import atomic_write_bytes, move_aside, sha256_file
from .._version import __version__
from ..errors import CorruptVideoError
from . import journal as _journal
from . import sidecar as _sidecar
from .index import Index, StoreError, StoreWriteError
from .records import SavedResult, TaskRecord, iso, now_utc, service_time

if TYPE_CHECKING:
    from ..request import VideoRequest

__all__ = [
    "Healing",
    "JournaledTask",
    "check_video",
    "ensure_sidecar",
    "forget_verified",
    "quarantine",
    "remember",
    "sidecar_from_row",
]

log = logging.getLogger("wan_notebook.store")

_VERIFIED: set[tuple[str, int, int, int, int, str]] = set()
_SIDECARS_READ: set[tuple[str, int, int, int]] = set()
_VERIFIED_LOCK = threading.Lock()


@dataclass(frozen=True)
class JournaledTask:
    """The task fields the index holds, for finishing an interrupted save."""

    task_id: str
    video_url: str | None
    request_id: str | None
    status: str = "SUCCEEDED"


def _key(video: Path, stat: os.stat_result, sha256: str) -> tuple[str, int, int, int, int, str]:
    # ctime too: an in-place overwrite can restore size and mtime, never the ctime
    return (str(video), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, sha256)


def forget_verified() -> None:
    """Forget every verification of this process (the next lookups hash again)."""
    with _VERIFIED_LOCK:
        _VERIFIED.clear()
        _SIDECARS_READ.clear()


def remember(video: Path, stat: os.stat_result, sha256: str) -> None:
    """Record that ``video`` (as ``stat`` describes it) was just hashed to ``sha256``."""
    with _VERIFIED_LOCK:
        _VERIFIED.add(_key(video, stat, sha256))


def check_video(video: Path, size: int | None, sha256: str | None) -> os.stat_result | None:
    """The file's stat if it is the journaled file (by hash, once per process), else None.

    ``FileNotFoundError`` when there is no file at all.
    """
    stat = video.stat()
    if size is None or sha256 is None or stat.st_size != size:
        return None
    key = _key(video, stat, sha256)
    with _VERIFIED_LOCK:
        if key in _VERIFIED:
            return stat
    if sha256_file(video) != sha256:
        return None
    after = video.stat()
    if _key(video, after, sha256) != key:  # changed while hashing: judge it next time
        return None
    with _VERIFIED_LOCK:
        _VERIFIED.add(key)
    return stat


def quarantine(conn: sqlite3.Connection, record: TaskRecord) -> None:
    """Move a corrupt video aside (never delete it) and mark the task unsaved."""
    video = record.paths.video
    target = video.with_name(video.name + ".corrupt")
    for n in range(1, 1000):
        target = video.with_name(video.name + (".corrupt" if n == 1 else f".corrupt-{n}"))
        if not target.exists():
            with contextlib.suppress(FileNotFoundError):
                os.rename(video, target)
            break
    conn.execute(
        "UPDATE tasks SET saved_at = NULL, mtime_ns = NULL WHERE task_id = ?",
        (record.task_id,),
    )
    detail = f"corrupt file moved to {target.name}"
    _journal.add_event(conn, record.task_id, "SUCCEEDED", iso(now_utc()), detail)


def sidecar_from_row(
    conn: sqlite3.Connection,
    row: sqlite3.Row,
    *,
    task: Any = None,
    video_info: dict[str, Any] | None = None,
    poster: str | None = None,
) -> dict[str, Any]:
    """The sidecar of a saved task from its journal row (and, at save time, whitelisted
    fields of the service's ``task``: usage, prompts, service times; never ``raw``)."""
    task_id = row["task_id"]
    history = [
        {"status": e["status"], "at": e["at"], "detail": e["detail"]}
        for e in conn.execute("SELECT * FROM events WHERE task_id = ? ORDER BY id", (task_id,))
    ]
    if video_info is None and row["media_json"]:
        video_info = json.loads(row["media_json"])
    return _sidecar.build(
        version=__version__,
        task_id=task_id,
        model=row["model"],
        digest=row["digest"],
        request=json.loads(row["request_json"]),
        status="SUCCEEDED",
        submit_request_id=row["submit_request_id"],
        query_request_id=row["query_request_id"],
        history=history,
        usage=_sidecar.scalar_dict(getattr(task, "usage", None)),
        orig_prompt=_journal.clip(getattr(task, "orig_prompt", None), 10_000),
        actual_prompt=_journal.clip(getattr(task, "actual_prompt", None), 10_000),
        service_times={
            "submit": service_time(getattr(task, "submit_time", None)),
            "scheduled": service_time(getattr(task, "scheduled_time", None)),
            "end": service_time(getattr(task, "end_time", None)),
        },
        created_at=row["created_at"],
        saved_at=row["saved_at"],
        video=row["stem"] + ".mp4",
        size=row["size"],
        sha256=row["sha256"],
        poster=poster,
        video_info=video_info,
    )


def _sidecar_problem(path: Path, record: TaskRecord) -> str | None:
    """Why the sidecar at ``path`` is not this task's, or None when it is."""
    try:
        data = _sidecar.load(path)
    except StoreError as exc:
        return str(exc)
    file = data.get("file")
    if data.get("task_id") != record.task_id or not isinstance(file, dict):
        return "it names another task"
    if file.get("sha256") != record.sha256 or file.get("size") != record.size:
        return "it names another file"
    return None


def _sidecar_key(path: Path) -> tuple[str, int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino)


def ensure_sidecar(index: Index, record: TaskRecord) -> Path | None:
    """Rewrite a saved task's sidecar from the journal when it is missing or garbled (read
    once per process and version of the file); a garbled one is kept aside as
    ``<name>.garbled-<n>``. Returns where a garbled one went."""
    path = record.paths.sidecar
    if index.read_only:
        return None
    aside = None
    key = _sidecar_key(path)
    if key is not None:
        with _VERIFIED_LOCK:
            if key in _SIDECARS_READ:
                return None
        if _sidecar_problem(path, record) is None:
            with _VERIFIED_LOCK:
                _SIDECARS_READ.add(key)
            return None
        aside = move_aside(path, "garbled")
    with index.write() as conn:
        row = conn.execute("SELECT * FROM tasks WHERE task_id = ?", (record.task_id,)).fetchone()
        if row is None or row["saved_at"] is None:
            return aside
        poster = record.paths.poster.name if record.paths.poster.is_file() else None
        data = sidecar_from_row(conn, row, poster=poster)
        data["rewritten_from_journal"] = iso(now_utc())
        atomic_write_bytes(path, _sidecar.dumps(data))
    key = _sidecar_key(path)
    if key is not None:
        with _VERIFIED_LOCK:
            _SIDECARS_READ.add(key)
    return aside


class Healing:
    """The part of :class:`~wan_notebook.store.OutputStore` that serves a saved result only
    after checking it, and heals what it can (mixed in; uses the store's methods)."""

    _index: Index
    _root: Path
    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    read_only: bool
    _saved: Callable[[TaskRecord], SavedResult]
    _require: Callable[[str], TaskRecord]
    save_result: Callable[..., SavedResult]

    def _verified(self, request: VideoRequest, record: TaskRecord) -> SavedResult | None:
        """The saved result if its file is the journaled one (hashed once per process);
        a corrupt file is quarantined, a missing or garbled sidecar rewritten."""
        video = record.paths.video
        if not record.saved:
            return self._recover(request, record)
        try:
            stat = check_video(video, record.size, record.sha256)
        except FileNotFoundError:
            return None
        if self.read_only:  # serve what is there; nothing can be recorded or moved
            return self._saved(record) if stat is not None else None
        if stat is None:
            with self._write() as conn:
                quarantine(conn, record)
            return None
        try:
            with self._write() as conn:
                conn.execute(
                    "UPDATE tasks SET cached_hits = cached_hits + 1, mtime_ns = ? "
                    "WHERE task_id = ?",
                    (stat.st_mtime_ns, record.task_id),
                )
            ensure_sidecar(self._index, record)
        except (StoreWriteError, OSError) as exc:
            # a full disk must not keep a verified result from being served
            log.warning("served %s without recording it: %s", video.name, exc)
        return self._saved(self._require(record.task_id))

    def _recover(self, request: VideoRequest, record: TaskRecord) -> SavedResult | None:
        """A SUCCEEDED task with a file in place but no saved row: finish the save.

        A file only reaches its final name after the download verified it, so it is
        trusted; a sidecar written just before a crash is adopted when its hash matches.
        """
        paths = record.paths
        if not paths.video.is_file() or self.read_only:
            return None
        if paths.sidecar.is_file():
            try:
                row = _journal.row_from_sidecar(paths.sidecar, self._root)
            except (StoreError, ValueError, TypeError, KeyError):
                row = None
            if (
                row is not None
                and row["task_id"] == record.task_id
                and sha256_file(paths.video) == row["sha256"]
            ):
                with self._write() as conn:
                    _journal.upsert_saved(conn, row)
                return self._verified(request, self._require(record.task_id))
        task = JournaledTask(record.task_id, record.video_url, record.query_request_id)
        try:
            return self.save_result(request, task, paths.video)
        except CorruptVideoError:  # the probe could not read it after all
            with self._write() as conn:
                quarantine(conn, record)
            return None
