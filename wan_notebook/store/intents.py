"""The intent methods of :class:`~wan_notebook.store.OutputStore`: a create journaled before it
is sent, resolved with its task id, abandoned, or adopted by reconcile.

Mixed into the store (like :class:`.claims.ClaimsMixin`) to keep :mod:`.outputs` short; it uses
the store's index, write transaction and row converters.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import journal as _journal
from .index import Index, StoreError, StoreWriteError
from .records import Intent, TaskRecord, iso, now_utc

if TYPE_CHECKING:
    from ..request import VideoRequest

__all__ = ["IntentsMixin"]


class IntentsMixin:
    """Journal: intents. A create request is journaled *before* it is sent, so a task the
    service made is never lost, even if the process dies before the answer."""

    _index: Index
    _root: Path
    _unjournaled: dict[int, str]
    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _ensure: Callable[..., bool]
    _require: Callable[[str], TaskRecord]
    _intent: Callable[[sqlite3.Row], Intent]
    index_path: Path

    def begin_intent(self, request: VideoRequest) -> int:
        """Journal a create request *before* sending it; returns the intent id.

        If the process dies between the POST and its answer, the intent stays ``open`` and
        :meth:`dangling_intents` lets the jobs layer look for the task in the list endpoint.
        """
        _, text = _journal.canonical(request)
        at = iso(now_utc())
        try:
            with self._write() as conn:
                cur = conn.execute(
                    "INSERT INTO intents (digest, model, request_json, created_at, updated_at,"
                    " state) VALUES (?, ?, ?, ?, ?, 'open')",
                    (request.digest, request.model, text, at, at),
                )
                return int(cur.lastrowid or 0)
        except StoreError:
            raise  # already says why and that nothing was sent
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                f"the create request was not sent (nothing was paid): it could not be "
                f"journaled in {self.index_path} first ({exc})"
            ) from exc

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
        try:
            self._resolve(intent_id, task_id, request_id, at)
        except (StoreWriteError, sqlite3.Error, OSError) as exc:
            self._unjournaled[intent_id] = task_id
            raise StoreError(
                f"the service created task {task_id} but it could not be journaled in "
                f"{self.index_path} ({exc}). Intent {intent_id} stays open, so the next run "
                f"finds the task again instead of paying; or attach({task_id!r})."
            ) from exc
        self._unjournaled.pop(intent_id, None)
        return self._require(task_id)

    def _resolve(self, intent_id: int, task_id: str, request_id: str | None, at: datetime) -> None:
        with self._write() as conn:
            row = conn.execute("SELECT * FROM intents WHERE id = ?", (intent_id,)).fetchone()
            if row is None:
                raise StoreError(f"no intent {intent_id} in {self.index_path}")
            self._journal_for_intent(conn, row, task_id, request_id, at)

    def abandon_intent(self, intent_id: int) -> None:
        """The create request certainly made no task (an error answer, or never sent).

        An intent whose task id this store could not journal is never abandoned (the task
        exists): it is resolved now if the index can be written, else it stays open."""
        task_id = self._unjournaled.get(intent_id)
        if task_id is not None:
            with contextlib.suppress(StoreWriteError, sqlite3.Error, OSError):
                self._resolve(intent_id, task_id, None, now_utc())
                self._unjournaled.pop(intent_id, None)
            return
        with self._write() as conn:
            _journal.close_intent(conn, intent_id, "abandoned", None)

    def intent(self, intent_id: int) -> Intent | None:
        """One intent by id (any state), or None."""
        if not self._ensure(create=False):
            return None
        with self._index.read() as conn:
            row = conn.execute("SELECT * FROM intents WHERE id = ?", (intent_id,)).fetchone()
        return None if row is None else self._intent(row)

    def dangling_intents(self, digest: str | None = None) -> list[Intent]:
        """Open intents (oldest first), optionally only those for one request digest."""
        if not self._ensure(create=False):
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
        with self._write() as conn:
            row = conn.execute(
                "SELECT * FROM intents WHERE id = ? AND state = 'open'", (intent_id,)
            ).fetchone()
            known = conn.execute("SELECT 1 FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
            if row is None or known is not None:
                return False
            self._journal_for_intent(conn, row, task_id, request_id, at)
        return True

    def _journal_for_intent(
        self,
        conn: sqlite3.Connection,
        row: sqlite3.Row,
        task_id: str,
        request_id: str | None,
        at: datetime,
    ) -> None:
        """Journal ``task_id`` as the task of the open intent ``row`` and close the intent."""
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
        _journal.close_intent(conn, row["id"], "resolved", task_id)
