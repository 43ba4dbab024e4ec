"""OutputStore: the outputs folder next to the notebook, its journal and its index.

The memory of the toolkit: never pay twice, never lose a task. ::

    wan_outputs/
      20261124-153012_red-fox-in-a-trench-coat_3f9a1c2e.mp4    the video
      20261124-153012_red-fox-in-a-trench-coat_3f9a1c2e.json   its provenance (the sidecar)
      20261124-153012_red-fox-in-a-trench-coat_3f9a1c2e.png    a poster frame (needs PyAV)
      index.sqlite                                             journal + index (WAL)

How the jobs layer uses it (one request)::

    hit = store.lookup(request)                  # saved / redownload / in_flight / expired / none
    intent = store.begin_intent(request)         # before the create POST
    task = client.submit(request)                # (on SubmitUncertainError: leave it dangling)
    rec = store.resolve_intent(intent, task.task_id, request_id=task.request_id)
    store.record_status(rec.task_id, "RUNNING", at=...)          # each change while polling
    client.download(url, rec.paths.part -> rec.paths.video)     # verified, no-clobber rename
    store.save_result(request, task, rec.paths.video)           # sidecar + poster + index row

What is written where: the canonical request (``request.canonical()``, never a key) and a
whitelist of task fields. The task's ``raw`` body is never read. The signed ``video_url`` is
a bearer credential for 24 h: it is kept in ``index.sqlite`` (to re-download a lost file) and
never in the sidecar. Saved results are the truth on disk: :meth:`OutputStore.rebuild_index`
recreates the index from the sidecars.

All methods are synchronous and short, except :meth:`~OutputStore.save_result` (hashes and
probes the video) and a :meth:`~OutputStore.lookup` that finds a file whose size or mtime
changed (hashes it); call those through ``asyncio.to_thread`` from async code. Any thread or
process may use the same folder at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .. import catalog
from .._fsutil import atomic_write_bytes, sha256_file
from .._version import __version__
from ..errors import CorruptVideoError
from . import journal as _journal
from . import naming as _naming
from . import sidecar as _sidecar
from .claims import ClaimsMixin
from .index import CorruptIndexError, Index, StoreError
from .records import (
    Event,
    Intent,
    Lookup,
    LookupKind,
    Paths,
    RebuildReport,
    SavedResult,
    TaskRecord,
    from_iso,
    iso,
    now_utc,
    service_time,
)

if TYPE_CHECKING:
    from ..request import VideoRequest

__all__ = [
    "INDEX_NAME",
    "CorruptIndexError",
    "Event",
    "Intent",
    "Lookup",
    "LookupKind",
    "OutputStore",
    "Paths",
    "RebuildReport",
    "SavedResult",
    "StoreError",
    "TaskRecord",
    "load_sidecar",
    "paths_for",
]

INDEX_NAME = "index.sqlite"


class _TaskLike(Protocol):
    task_id: str
    status: str


def load_sidecar(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a result sidecar (any ``wan-notebook/result@N``; unknown fields are kept)."""
    return _sidecar.load(Path(path))


def paths_for(root: Path, prompt: str, task_id: str, created_at: datetime) -> Paths:
    """The first-choice paths of a result (the store adds ``-2``... when a name is taken)."""
    return _paths(root, _naming.stem_for(prompt, task_id, created_at))


def _paths(root: Path, stem: str) -> Paths:
    return Paths(
        stem=stem,
        video=_naming.confine(root, stem, ".mp4"),
        sidecar=_naming.confine(root, stem, ".json"),
        poster=_naming.confine(root, stem, ".png"),
        part=_naming.confine(root, stem, ".mp4.part"),
    )


def _media_probe(video: Path) -> dict[str, Any] | None:
    """media.probe(video).to_dict(), or None when PyAV is not installed."""
    try:
        from .. import media
    except ImportError:
        return None
    try:
        return media.probe(video).to_dict()
    except ImportError:
        return None


def _make_poster(video: Path, poster: Path) -> Path | None:
    """A poster frame, or None (no PyAV, or the frame could not be read: a poster is a nicety)."""
    try:
        from .. import media

        return media.make_poster(video, poster)
    except Exception:
        return None


# --- the store ---------------------------------------------------------------------------


class OutputStore(ClaimsMixin):
    """The outputs folder (default ``wan_outputs`` in the current directory) and its index.

    The folder is resolved once, at construction (in Jupyter the current directory is the
    notebook's folder), and created by the first write, not here.
    """

    def __init__(self, directory: str | os.PathLike[str] = "wan_outputs") -> None:
        self._root = Path(os.path.abspath(Path(directory).expanduser()))
        self._index = Index(self._root / INDEX_NAME)

    @property
    def root(self) -> Path:
        """The absolute outputs folder."""
        return self._root

    @property
    def index_path(self) -> Path:
        """``index.sqlite`` inside the folder."""
        return self._index.path

    def __repr__(self) -> str:
        return f"OutputStore({str(self._root)!r})"

    # -- naming ---------------------------------------------------------------------------

    def paths_for(self, request: VideoRequest, task_id: str, created_at: datetime) -> Paths:
        """Where a task's files go: the names reserved by :meth:`record_submitted` when the task
        is journaled (``created_at`` is then ignored), else the first-choice names."""
        record = self.get(_journal.check_task_id(task_id))
        if record is not None:
            return record.paths
        return paths_for(self._root, request.prompt, task_id, created_at)

    def paths(self, task_id: str) -> Paths:
        """The reserved paths of a journaled task."""
        record = self.get(task_id)
        if record is None:
            raise StoreError(f"task {task_id!r} is not in {self.index_path}")
        return record.paths

    # -- journal: intents -----------------------------------------------------------------

    def begin_intent(self, request: VideoRequest) -> int:
        """Journal a create request *before* sending it; returns the intent id.

        If the process dies between the POST and its answer, the intent stays ``open`` and
        :meth:`dangling_intents` lets the jobs layer look for the task in the list endpoint.
        """
        _, text = _journal.canonical(request)
        at = iso(now_utc())
        with self._index.write() as conn:
            cur = conn.execute(
                "INSERT INTO intents (digest, model, request_json, created_at, updated_at, state)"
                " VALUES (?, ?, ?, ?, ?, 'open')",
                (request.digest, request.model, text, at, at),
            )
            return int(cur.lastrowid or 0)

    def resolve_intent(
        self,
        intent_id: int,
        task_id: str,
        *,
        request_id: str | None = None,
        submitted_at: datetime | None = None,
    ) -> TaskRecord:
        """The service answered with ``task_id``: close the intent and journal the task, in
        one transaction. Also the way to adopt a task found later through the list endpoint."""
        task_id = _journal.check_task_id(task_id)
        at = submitted_at or now_utc()
        with self._index.write() as conn:
            row = conn.execute("SELECT * FROM intents WHERE id = ?", (intent_id,)).fetchone()
            if row is None:
                raise StoreError(f"no intent {intent_id} in {self.index_path}")
            request = json.loads(row["request_json"])
            _journal.insert_task(
                conn,
                self._root,
                task_id=task_id,
                digest=row["digest"],
                model=row["model"],
                prompt=str(request.get("prompt", "")),
                request_json=row["request_json"],
                request_id=request_id,
                at=at,
            )
            _journal.close_intent(conn, intent_id, "resolved", task_id)
        return self._require(task_id)

    def abandon_intent(self, intent_id: int) -> None:
        """The create request certainly made no task (an error answer, or never sent)."""
        with self._index.write() as conn:
            _journal.close_intent(conn, intent_id, "abandoned", None)

    def intent(self, intent_id: int) -> Intent | None:
        """One intent by id (any state), or None."""
        if not self._ready():
            return None
        with self._index.read() as conn:
            row = conn.execute("SELECT * FROM intents WHERE id = ?", (intent_id,)).fetchone()
        return None if row is None else self._intent(row)

    def dangling_intents(self, digest: str | None = None) -> list[Intent]:
        """Open intents (oldest first), optionally only those for one request digest."""
        if not self._ready():
            return []
        sql = "SELECT * FROM intents WHERE state = 'open'"
        args: tuple[Any, ...] = ()
        if digest is not None:
            sql += " AND digest = ?"
            args = (digest,)
        with self._index.read() as conn:
            rows = conn.execute(sql + " ORDER BY id", args).fetchall()
        return [self._intent(r) for r in rows]

    def adopt_for_intent(
        self,
        intent_id: int,
        task_id: str,
        *,
        request_id: str | None = None,
        submitted_at: datetime | None = None,
    ) -> bool:
        """Resolve an intent with a task that reconcile matched to it by content; False (and
        nothing written) if the intent is no longer open or the task is already journaled."""
        task_id = _journal.check_task_id(task_id)
        at = submitted_at or now_utc()
        with self._index.write() as conn:
            row = conn.execute(
                "SELECT * FROM intents WHERE id = ? AND state = 'open'", (intent_id,)
            ).fetchone()
            known = conn.execute("SELECT 1 FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
            if row is None or known is not None:
                return False
            request = json.loads(row["request_json"])
            _journal.insert_task(
                conn,
                self._root,
                task_id=task_id,
                digest=row["digest"],
                model=row["model"],
                prompt=str(request.get("prompt", "")),
                request_json=row["request_json"],
                request_id=request_id,
                at=at,
            )
            _journal.close_intent(conn, intent_id, "resolved", task_id)
        return True

    # -- journal: tasks -------------------------------------------------------------------

    def record_submitted(
        self,
        request: VideoRequest,
        task_id: str,
        *,
        request_id: str | None = None,
        submitted_at: datetime | None = None,
        intent_id: int | None = None,
    ) -> TaskRecord:
        """Journal a task the moment the service returned its id (before polling).

        Reserves the file names (a taken name gets ``-2``, ``-3``...). Calling it again for the
        same task is harmless; the same task id for a different request is an error.
        """
        task_id = _journal.check_task_id(task_id)
        _, text = _journal.canonical(request)
        at = submitted_at or now_utc()
        with self._index.write() as conn:
            self._insert_task(conn, request, text, task_id, request_id=request_id, at=at)
            if intent_id is not None:
                _journal.close_intent(conn, intent_id, "resolved", task_id)
        return self._require(task_id)

    def _insert_task(
        self,
        conn: sqlite3.Connection,
        request: VideoRequest,
        request_json: str,
        task_id: str,
        *,
        request_id: str | None,
        at: datetime,
        stem: str | None = None,
    ) -> None:
        """Journal ``task_id`` for ``request`` inside an open write transaction
        (``request_json`` is its canonical text, computed before the lock is taken)."""
        _journal.insert_task(
            conn,
            self._root,
            task_id=task_id,
            digest=request.digest,
            model=request.model,
            prompt=request.prompt,
            request_json=request_json,
            request_id=request_id,
            at=at,
            stem=stem,
        )

    def record_status(
        self,
        task_id: str,
        status: str,
        *,
        at: datetime | None = None,
        detail: str | None = None,
        video_url: str | None = None,
        request_id: str | None = None,
    ) -> bool:
        """Journal a polled status; True when it changed the task.

        A repeat of the current status changes nothing (no event per poll); a regression
        (RUNNING after SUCCEEDED, anything after a terminal status) is ignored; an
        undocumented status is kept as an event only. ``video_url`` (SUCCEEDED) is stored with
        its expiry for re-downloads.
        """
        with self._index.write() as conn:
            return _journal.apply_status(
                conn, task_id, status, at or now_utc(), detail, video_url, request_id
            )

    def record_failure(
        self,
        task_id: str,
        status: str,
        code: str | None,
        message: str | None,
        *,
        at: datetime | None = None,
        request_id: str | None = None,
    ) -> bool:
        """Journal a task that ended without a video (FAILED, CANCELED or UNKNOWN)."""
        if status not in _journal.FAILURES:
            raise ValueError(f"record_failure takes one of {_journal.FAILURES}, not {status!r}")
        code_text, message_text = _journal.clip(code, 200), _journal.clip(message)
        with self._index.write() as conn:
            changed = _journal.apply_status(
                conn, task_id, status, at or now_utc(), code_text, None, request_id
            )
            if changed:
                conn.execute(
                    "UPDATE tasks SET error_code = ?, error_message = ? WHERE task_id = ?",
                    (code_text, message_text, task_id),
                )
            return changed

    def get(self, task_id: str) -> TaskRecord | None:
        """The journaled task, or None."""
        if not self._ready():
            return None
        with self._index.read() as conn:
            row = conn.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        return None if row is None else self._record(row)

    def request_for(self, task_id: str) -> VideoRequest | None:
        """The journaled request of a task (same digest), or None for an unknown task.

        A local audio file comes back by name and recorded sha256 (enough for the digest and
        for saving; it cannot be submitted again without the file)."""
        record = self.get(task_id)
        if record is None:
            return None
        return _request_from_canonical(record.request, record.digest)

    def known_task_ids(self, *, since: datetime | None = None) -> set[str]:
        """Ids of journaled tasks (created at or after ``since``): for reconciling intents."""
        if not self._ready():
            return set()
        with self._index.read() as conn:
            if since is None:
                rows = conn.execute("SELECT task_id FROM tasks").fetchall()
            else:
                rows = conn.execute(
                    "SELECT task_id FROM tasks WHERE created_at >= ?", (iso(since),)
                ).fetchall()
        return {r[0] for r in rows}

    def history(self, task_id: str) -> list[Event]:
        """The task's status changes, oldest first."""
        if not self._ready():
            return []
        with self._index.read() as conn:
            rows = conn.execute(
                "SELECT * FROM events WHERE task_id = ? ORDER BY id", (task_id,)
            ).fetchall()
        return [Event(r["task_id"], r["status"], from_iso(r["at"]), r["detail"]) for r in rows]  # type: ignore[arg-type]

    def in_flight(self) -> list[TaskRecord]:
        """Every journaled PENDING/RUNNING task, oldest first (to offer resuming them)."""
        return self._select(
            "SELECT * FROM tasks WHERE status IN ('PENDING', 'RUNNING') ORDER BY created_at"
        )

    def unsaved(self, *, now: datetime | None = None) -> list[TaskRecord]:
        """SUCCEEDED tasks whose video was never saved and whose URL still works."""
        rows = self._select(
            "SELECT * FROM tasks WHERE status = 'SUCCEEDED' AND saved_at IS NULL "
            "ORDER BY created_at"
        )
        return [r for r in rows if r.url_alive(now)]

    # -- lookup ---------------------------------------------------------------------------

    def lookup(self, request: VideoRequest, *, now: datetime | None = None) -> Lookup:
        """What to do for ``request`` without paying again (see :class:`Lookup`).

        Verifying a saved file costs a ``stat``: its size and mtime are compared with the
        index, and only when they differ is the file hashed. A file that fails is moved aside
        to ``<name>.mp4.corrupt`` (never deleted) and the result becomes ``redownload`` or
        ``expired``. A SUCCEEDED task whose file is in place but was never recorded (a crash
        before :meth:`save_result` finished) is saved now.
        """
        if not self._ready():
            return Lookup("none")
        now = now or now_utc()
        digest = request.digest
        records = self._select(
            "SELECT * FROM tasks WHERE digest = ? ORDER BY created_at DESC", (digest,)
        )
        succeeded = [r for r in records if r.status == "SUCCEEDED"]
        for record in succeeded:
            result = self._verified(request, record)
            if result is not None:
                return Lookup("saved", task=self._require(record.task_id), saved=result)
        for record in succeeded:
            if record.url_alive(now):
                fresh = self._require(record.task_id)
                return Lookup("redownload", task=fresh, url=fresh.video_url, paths=fresh.paths)
        for record in records:
            if record.unfinished:
                return Lookup("in_flight", task=record, paths=record.paths)
        dangling = tuple(self.dangling_intents(digest))
        if succeeded:
            return Lookup("expired", task=self._require(succeeded[0].task_id), dangling=dangling)
        return Lookup("none", dangling=dangling)

    def results(
        self, *, model: str | None = None, text: str | None = None, limit: int | None = None
    ) -> list[SavedResult]:
        """Saved results whose video is on disk, newest first; ``model`` accepts any spelling
        of a model id, ``text`` matches the prompt case-insensitively."""
        records = self._select(
            "SELECT * FROM tasks WHERE status = 'SUCCEEDED' AND saved_at IS NOT NULL "
            "ORDER BY created_at DESC"
        )
        wanted = _model_key(model) if model else None
        needle = text.casefold() if text else None
        out: list[SavedResult] = []
        for record in records:
            if wanted is not None and _model_key(record.model) != wanted:
                continue
            if needle is not None and needle not in record.prompt.casefold():
                continue
            if not record.paths.video.is_file():
                continue
            out.append(self._saved(record))
            if limit is not None and len(out) >= limit:
                break
        return out

    # -- saving ---------------------------------------------------------------------------

    def save_result(
        self, request: VideoRequest, task: _TaskLike, video_path: str | os.PathLike[str]
    ) -> SavedResult:
        """Record a downloaded, verified video that is already at ``paths.video``.

        Probes the file (PyAV; skipped without it), hashes it, makes the poster, writes the
        sidecar atomically and updates the index row in one transaction (sidecar first: after
        a crash :meth:`lookup` finds it and completes the row). Reads only whitelisted fields
        of ``task`` (``task_id, status, video_url, usage, code, message, submit_time,
        scheduled_time, end_time, orig_prompt, actual_prompt, request_id``), never ``raw``.
        """
        task_id = _journal.check_task_id(task.task_id)
        if getattr(task, "status", "SUCCEEDED") not in ("SUCCEEDED", None):
            raise ValueError(f"task {task_id} is {task.status}; only SUCCEEDED tasks are saved")
        video = Path(os.path.abspath(video_path))
        record = self.get(task_id)
        if record is None:  # never journaled: adopt the caller's name if it is one of ours
            stem = video.name[: -len(".mp4")] if video.name.endswith(".mp4") else ""
            if video.parent != self._root or not _naming.STEM_RE.fullmatch(stem):
                stem = None
            _, text = _journal.canonical(request)
            at = getattr(task, "submit_time", None) or now_utc()
            with self._index.write() as conn:
                self._insert_task(conn, request, text, task_id, request_id=None, at=at, stem=stem)
            record = self._require(task_id)
        elif record.digest != request.digest:
            raise StoreError(f"task {task_id} was journaled for a different request")
        if video != record.paths.video:
            raise ValueError(
                f"save_result expects the video at {record.paths.video}, got {video}; "
                "download into TaskRecord.paths.part and move it to paths.video"
            )
        if not video.is_file():
            raise StoreError(f"{video} does not exist; nothing to save")
        media = _media_probe(video)
        sha = sha256_file(video)
        stat = video.stat()
        poster = record.paths.poster
        if not poster.is_file():
            poster = _make_poster(video, poster) or poster
        has_poster = poster.is_file()
        video_url = _journal.clip(getattr(task, "video_url", None))
        query_id = _journal.clip(getattr(task, "request_id", None), 200)
        saved_at = now_utc()
        with self._index.write() as conn:
            _journal.apply_status(conn, task_id, "SUCCEEDED", saved_at, None, video_url, query_id)
            row = conn.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
            sidecar = _sidecar.build(
                version=__version__,
                task_id=task_id,
                model=row["model"],
                digest=row["digest"],
                request=json.loads(row["request_json"]),
                status="SUCCEEDED",
                submit_request_id=row["submit_request_id"],
                query_request_id=row["query_request_id"],
                history=[
                    {"status": e["status"], "at": e["at"], "detail": e["detail"]}
                    for e in conn.execute(
                        "SELECT * FROM events WHERE task_id = ? ORDER BY id", (task_id,)
                    )
                ],
                usage=_sidecar.scalar_dict(getattr(task, "usage", None)),
                orig_prompt=_journal.clip(getattr(task, "orig_prompt", None), 10_000),
                actual_prompt=_journal.clip(getattr(task, "actual_prompt", None), 10_000),
                service_times={
                    "submit": service_time(getattr(task, "submit_time", None)),
                    "scheduled": service_time(getattr(task, "scheduled_time", None)),
                    "end": service_time(getattr(task, "end_time", None)),
                },
                created_at=row["created_at"],
                saved_at=iso(saved_at),
                video=video.name,
                size=stat.st_size,
                sha256=sha,
                poster=poster.name if has_poster else None,
                video_info=media,
            )
            atomic_write_bytes(record.paths.sidecar, _sidecar.dumps(sidecar))
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
        return self._saved(self._require(task_id))

    # -- rebuilding -----------------------------------------------------------------------

    def rebuild_index(self) -> RebuildReport:
        """Recreate index rows from the sidecars in the folder (the files are the truth).

        Existing rows are completed, not replaced (journal fields such as the re-download URL
        survive). Files are re-verified by hash at their next :meth:`lookup`. A file that is
        not a readable sidecar, or names a file outside the rules, is skipped and reported.
        """
        added = updated = 0
        skipped: list[tuple[str, str]] = []
        if not self._root.is_dir():
            return RebuildReport(0, 0, ())
        for path in sorted(self._root.glob("*.json")):
            if path.name.startswith("."):
                continue
            try:
                row = _journal.row_from_sidecar(path, self._root)
            except (StoreError, ValueError, TypeError, KeyError) as exc:
                skipped.append((path.name, str(exc)))
                continue
            try:
                with self._index.write() as conn:
                    was_added = _journal.upsert_saved(conn, row)
            except sqlite3.IntegrityError as exc:
                skipped.append((path.name, f"conflicts with another row: {exc}"))
                continue
            if was_added:
                added += 1
            else:
                updated += 1
        return RebuildReport(added, updated, tuple(skipped))

    # -- internals ------------------------------------------------------------------------

    def _ready(self) -> bool:
        """Whether there is an index to read; a missing one is rebuilt when sidecars exist."""
        if self._index.exists():
            return True
        if self._root.is_dir() and any(
            not p.name.startswith(".") for p in self._root.glob("*.json")
        ):
            self.rebuild_index()
            return self._index.exists()
        return False

    def _select(self, sql: str, args: tuple[Any, ...] = ()) -> list[TaskRecord]:
        if not self._ready():
            return []
        with self._index.read() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [self._record(r) for r in rows]

    def _require(self, task_id: str) -> TaskRecord:
        record = self.get(task_id)
        if record is None:
            raise StoreError(f"task {task_id!r} is not in {self.index_path}")
        return record

    def _record(self, row: sqlite3.Row) -> TaskRecord:
        return TaskRecord(
            task_id=row["task_id"],
            digest=row["digest"],
            model=row["model"],
            prompt=row["prompt"],
            status=row["status"],
            created_at=from_iso(row["created_at"]),  # type: ignore[arg-type]
            updated_at=from_iso(row["updated_at"]),  # type: ignore[arg-type]
            paths=_paths(self._root, row["stem"]),
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

    def _saved(self, record: TaskRecord) -> SavedResult:
        with self._index.read() as conn:
            row = conn.execute(
                "SELECT poster, media_json FROM tasks WHERE task_id = ?", (record.task_id,)
            ).fetchone()
        poster = record.paths.poster if row["poster"] and record.paths.poster.is_file() else None
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
            media=json.loads(row["media_json"]) if row["media_json"] else None,
            cached_hits=record.cached_hits,
            request=record.request,
            metadata=_read_metadata(record.paths.sidecar),
        )

    def _intent(self, row: sqlite3.Row) -> Intent:
        return Intent(
            id=row["id"],
            digest=row["digest"],
            model=row["model"],
            created_at=from_iso(row["created_at"]),  # type: ignore[arg-type]
            state=row["state"],
            task_id=row["task_id"],
            request=json.loads(row["request_json"]),
        )

    def _verified(self, request: VideoRequest, record: TaskRecord) -> SavedResult | None:
        """The saved result if its file checks out; heals or quarantines otherwise."""
        video = record.paths.video
        if not record.saved:
            return self._recover(request, record)
        try:
            stat = video.stat()
        except FileNotFoundError:
            return None
        with self._index.read() as conn:
            mtime = conn.execute(
                "SELECT mtime_ns FROM tasks WHERE task_id = ?", (record.task_id,)
            ).fetchone()[0]
        ok = stat.st_size == record.size and (
            stat.st_mtime_ns == mtime or sha256_file(video) == record.sha256
        )
        with self._index.write() as conn:
            if ok:
                conn.execute(
                    "UPDATE tasks SET cached_hits = cached_hits + 1, mtime_ns = ? "
                    "WHERE task_id = ?",
                    (stat.st_mtime_ns, record.task_id),
                )
            else:
                self._quarantine(conn, record)
        return self._saved(self._require(record.task_id)) if ok else None

    def _quarantine(self, conn: sqlite3.Connection, record: TaskRecord) -> None:
        """Move a corrupt video aside (never delete it) and mark the task unsaved."""
        video = record.paths.video
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

    def _recover(self, request: VideoRequest, record: TaskRecord) -> SavedResult | None:
        """A SUCCEEDED task with a file in place but no saved row: finish the save.

        A file only reaches its final name after the download verified it, so it is
        trusted; a sidecar written just before a crash is adopted when its hash matches.
        """
        paths = record.paths
        if not paths.video.is_file():
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
                with self._index.write() as conn:
                    _journal.upsert_saved(conn, row)
                return self._verified(request, self._require(record.task_id))
        task = _JournaledTask(record.task_id, record.video_url, record.query_request_id)
        try:
            return self.save_result(request, task, paths.video)
        except CorruptVideoError:  # the probe could not read it after all
            with self._index.write() as conn:
                self._quarantine(conn, record)
            return None


@dataclass(frozen=True)
class _JournaledTask:
    """The task fields the index holds, for finishing an interrupted save."""

    task_id: str
    video_url: str | None
    request_id: str | None
    status: str = "SUCCEEDED"


def _request_from_canonical(data: dict[str, Any], digest: str) -> VideoRequest:
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


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        return _sidecar.load(path)
    except StoreError:
        return {}


def _model_key(model: str) -> str:
    try:
        return catalog.get_model(model).id
    except KeyError:
        return model
