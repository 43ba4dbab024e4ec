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
probes the video), a :meth:`~OutputStore.lookup` that serves a file for the first time in
this process (hashes it) and the first use of a folder whose index must be rebuilt; call
those through ``asyncio.to_thread`` from async code. Any thread or process may use the same
folder at once. The index is a cache of the folder (see :mod:`.rebuild`); a read-only folder
serves what it has and refuses new work before anything is sent.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from . import journal as _journal
from . import naming as _naming
from . import rebuild as _rebuild
from . import rows as _rows
from . import saving as _saving
from . import sidecar as _sidecar
from . import spending as _spending
from . import verify as _verify
from .claims import ClaimsMixin
from .index import CorruptIndexError, Index, ReadOnlyStoreError, StoreError, StoreWriteError
from .intents import IntentsMixin
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
)

if TYPE_CHECKING:
    from ..request import VideoRequest
    from ..service_clock import ServiceClock

__all__ = [
    "INDEX_NAME",
    "CorruptIndexError",
    "Event",
    "Intent",
    "Lookup",
    "LookupKind",
    "OutputStore",
    "Paths",
    "ReadOnlyStoreError",
    "RebuildReport",
    "SavedResult",
    "StoreError",
    "StoreWriteError",
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
    return _rows.paths(root, _naming.stem_for(prompt, task_id, created_at))


# --- the store ---------------------------------------------------------------------------


class OutputStore(ClaimsMixin, IntentsMixin, _verify.Healing):
    """The outputs folder (default ``wan_outputs`` in the current directory) and its index.

    The folder is resolved once, at construction (in Jupyter the current directory is the
    notebook's folder), and created by the first write, not here.
    """

    def __init__(self, directory: str | os.PathLike[str] = "wan_outputs") -> None:
        self._root = Path(os.path.abspath(Path(directory).expanduser()))
        self._index = Index(self._root / INDEX_NAME)
        # (device, inode) of the index file this store checked (see _ensure)
        self._opened: tuple[int, int] | None = None
        self._open_lock = threading.Lock()
        # intent id -> task id whose journaling failed (never abandon those intents)
        self._unjournaled: dict[int, str] = {}
        #: The region whose prices the sidecar's ``cost`` uses (None: DASHSCOPE_REGION/default).
        self.price_region: str | None = None

    @property
    def root(self) -> Path:
        """The absolute outputs folder."""
        return self._root

    @property
    def index_path(self) -> Path:
        """``index.sqlite`` inside the folder."""
        return self._index.path

    @property
    def read_only(self) -> bool:
        """Whether the folder cannot be written: saved results are served, nothing is made."""
        return self._index.read_only

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
        with self._write() as conn:
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
        service_now: datetime | None = None,
        clock: ServiceClock | None = None,
    ) -> bool:
        """Journal a polled status; True when it changed the task.

        A repeat of the current status changes nothing (no event per poll); a regression
        (RUNNING after SUCCEEDED, anything after a terminal status) is ignored; an
        undocumented status is kept as an event only. ``video_url`` (SUCCEEDED) is stored with
        its expiry for re-downloads, on the local clock but measured on the service's: pass
        ``service_now`` (the service's time when the answer came, at local time ``at``) or
        ``clock`` (a ``ServiceClock`` fed with the service's ``Date`` headers); see
        :func:`~wan_notebook.store.records.url_expiry`.
        """
        at = at or now_utc()
        if service_now is None and clock is not None and clock.offset is not None:
            service_now = clock.to_service(at)
        with self._write() as conn:
            return _journal.apply_status(
                conn, task_id, status, at, detail, video_url, request_id, service_now=service_now
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
        with self._write() as conn:
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
        if not self._ensure(create=False):
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
        return _rows.request_from_canonical(record.request, record.digest)

    def known_task_ids(self, *, since: datetime | None = None) -> set[str]:
        """Ids of journaled tasks (created at or after ``since``): for reconciling intents."""
        if not self._ensure(create=False):
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
        if not self._ensure(create=False):
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

        A saved file is hashed the first time this process serves it (size, mtime, ctime
        and inode are remembered, so later lookups cost a ``stat``). A file that fails is
        moved aside to ``<name>.mp4.corrupt`` (never deleted) and the result becomes
        ``redownload`` or ``expired``. A SUCCEEDED task whose file is in place but was never
        recorded (a crash before :meth:`save_result` finished) is saved now.
        """
        if not self._ensure(create=False):
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
        for record in succeeded:
            # No usable URL (an index rebuilt from sidecars has none), but the service still
            # keeps the task: polling it gives a fresh URL, which beats paying again.
            if record.service_keeps(now):
                fresh = self._require(record.task_id)
                return Lookup("redownload", task=fresh, url=None, paths=fresh.paths)
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
        wanted = _rows.model_key(model) if model else None
        needle = text.casefold() if text else None
        out: list[SavedResult] = []
        for record in records:
            if wanted is not None and _rows.model_key(record.model) != wanted:
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
            with self._write() as conn:
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
        stat, sha = _saving.save_files(self._write, record, task, video, self.price_region)
        _verify.remember(video, stat, sha)
        return self._saved(self._require(task_id))

    def spend(self) -> list[dict[str, Any]]:
        """What this folder spent, by day, model and currency (issue 15; see
        :func:`wan_notebook.store.spending.summary`)."""
        return _spending.summary(self)

    # -- rebuilding -----------------------------------------------------------------------

    def rebuild_index(self) -> RebuildReport:
        """Recreate index rows from the sidecars in the folder (the files are the truth).

        An unusable index file is first moved aside (kept). Existing rows are completed, not
        replaced (journal fields such as the re-download URL survive). Files are re-verified
        by hash at their next :meth:`lookup`. A file that is not a readable sidecar, or names
        a file outside the rules, is skipped and reported.
        """
        if not self._root.is_dir():
            return RebuildReport(0, 0, ())
        with self._open_lock:
            _, report = _rebuild.ensure_index(self._index, self._root, create=True, rebuild=True)
        return report or RebuildReport(0, 0, ())

    # -- internals ------------------------------------------------------------------------

    def _ensure(self, *, create: bool) -> bool:
        """Make the index usable before its first use by this store (see
        :func:`~wan_notebook.store.rebuild.ensure_index`); True when there is one to read.

        Cheap after the first call: one ``stat`` shows the file is the one already checked.
        """
        try:
            st = os.stat(self._index.path)
            current: tuple[int, int] | None = (st.st_dev, st.st_ino) if st.st_size else None
        except FileNotFoundError:
            current = None
        if current is not None and current == self._opened:
            return True
        with self._open_lock:
            ok, _ = _rebuild.ensure_index(self._index, self._root, create=create)
            try:
                st = os.stat(self._index.path)
                self._opened = (st.st_dev, st.st_ino) if ok else None
            except FileNotFoundError:
                self._opened = None
            return ok

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on an index made usable first."""
        self._ensure(create=True)
        with self._index.write() as conn:
            yield conn

    def _select(self, sql: str, args: tuple[Any, ...] = ()) -> list[TaskRecord]:
        if not self._ensure(create=False):
            return []
        with self._index.read() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [self._record(r) for r in rows]

    def _require(self, task_id: str) -> TaskRecord:
        record = self.get(task_id)
        if record is None:
            raise StoreError(f"task {task_id!r} is not in {self.index_path}")
        return record

    def _saved(self, record: TaskRecord) -> SavedResult:
        with self._index.read() as conn:
            row = conn.execute(
                "SELECT poster, media_json FROM tasks WHERE task_id = ?", (record.task_id,)
            ).fetchone()
        return _rows.saved_from(record, bool(row["poster"]), row["media_json"])

    def _record(self, row: sqlite3.Row) -> TaskRecord:
        return _rows.record_from_row(row, self._root)

    def _intent(self, row: sqlite3.Row) -> Intent:
        return _rows.intent_from_row(row)
