"""The sweep manifest: ``sweeps.sqlite`` in the outputs folder, one row per cell.

The store's own index (``index.sqlite``) says what happened to each *request* (its task, its
file) and its claims say who works on it; the manifest adds what a sweep is: which cells, in
which order, with which metadata, and each cell's last known state and timings. A sweep's id is
a hash of its cells, so the same call in a new kernel (or the CLI) finds the same manifest
and resumes. Nothing here is needed to avoid paying twice: the store's claims and journal do
that; the manifest only makes the sweep inspectable and resumable as a whole.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .cells import Cell

__all__ = ["FILENAME", "STATES", "Manifest", "sweep_id"]

FILENAME = "sweeps.sqlite"
#: pending: not started; running: a job of this process or another works on it;
#: done: the video is saved; failed: the task ended without a video; canceled: left out
STATES = ("pending", "running", "done", "failed", "canceled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sweeps (
    sweep_id    TEXT PRIMARY KEY,
    created_at  REAL NOT NULL,
    n_cells     INTEGER NOT NULL,
    spec_json   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cells (
    sweep_id       TEXT NOT NULL,
    idx            INTEGER NOT NULL,
    digest         TEXT NOT NULL,
    prompt_index   INTEGER NOT NULL,
    repeat         INTEGER NOT NULL,
    request_json   TEXT NOT NULL,
    meta_json      TEXT NOT NULL,
    params_json    TEXT NOT NULL,
    state          TEXT NOT NULL DEFAULT 'pending',
    task_id        TEXT,
    cached         INTEGER NOT NULL DEFAULT 0,
    error_code     TEXT,
    error_message  TEXT,
    started_at     REAL,
    ended_at       REAL,
    actual_prompt  TEXT,
    service_model  TEXT,
    usage_json     TEXT,
    region         TEXT,
    PRIMARY KEY (sweep_id, idx)
);
CREATE INDEX IF NOT EXISTS cells_by_state ON cells (sweep_id, state);
"""


def sweep_id(cells: Iterable[Cell]) -> str:
    """The id of a sweep: a hash of its cells' requests and metadata, in order."""
    h = hashlib.sha256()
    for cell in cells:
        h.update(cell.digest.encode())
        h.update(json.dumps(cell.meta, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


class Manifest:
    """The cells of one sweep in ``<folder>/sweeps.sqlite`` (safe across threads/processes)."""

    def __init__(self, folder: str | Path, sweep: str) -> None:
        self.path = Path(folder) / FILENAME
        self.sweep_id = sweep
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(_SCHEMA)
                conn.row_factory = sqlite3.Row
                self._conn = conn
            with self._conn:
                yield self._conn

    def close(self) -> None:
        """Close the connection (it reopens on the next use)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def ensure(self, cells: list[Cell], spec: dict[str, Any]) -> bool:
        """Journal the sweep's cells once; True when they were new (False: resuming)."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT 1 FROM sweeps WHERE sweep_id = ?", (self.sweep_id,))
            if row.fetchone() is not None:
                return False
            db.execute(
                "INSERT INTO sweeps VALUES (?, ?, ?, ?)",
                (self.sweep_id, time.time(), len(cells), json.dumps(spec, default=str)),
            )
            db.executemany(
                "INSERT INTO cells (sweep_id, idx, digest, prompt_index, repeat, request_json, "
                "meta_json, params_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        self.sweep_id, c.index, c.digest, c.prompt_index, c.repeat,
                        c.request.canonical_json(), json.dumps(c.meta, default=str),
                        json.dumps(c.params, default=str),
                    )
                    for c in cells
                ],
            )  # fmt: skip
            return True

    def states(self) -> dict[int, str]:
        """Each cell's journaled state."""
        with self._db() as db:
            rows = db.execute(
                "SELECT idx, state FROM cells WHERE sweep_id = ?", (self.sweep_id,)
            ).fetchall()
        return {r["idx"]: r["state"] for r in rows}

    def counts(self) -> dict[str, int]:
        """How many cells are in each state (one aggregate query, cheap at any size)."""
        with self._db() as db:
            rows = db.execute(
                "SELECT state, count(*) AS n FROM cells WHERE sweep_id = ? GROUP BY state",
                (self.sweep_id,),
            ).fetchall()
        return {r["state"]: r["n"] for r in rows}

    def rows(self) -> list[sqlite3.Row]:
        """Every cell row, in cell order."""
        with self._db() as db:
            return db.execute(
                "SELECT * FROM cells WHERE sweep_id = ? ORDER BY idx", (self.sweep_id,)
            ).fetchall()

    def started(self, index: int) -> bool:
        """The cell's job starts here; False if it was canceled meanwhile (do not start it)."""
        with self._db() as db:
            db.execute(
                "UPDATE cells SET state = 'running', started_at = ?, ended_at = NULL "
                "WHERE sweep_id = ? AND idx = ? AND state NOT IN ('done', 'canceled')",
                (time.time(), self.sweep_id, index),
            )
            row = db.execute(
                "SELECT state FROM cells WHERE sweep_id = ? AND idx = ?", (self.sweep_id, index)
            ).fetchone()
        return row is not None and row["state"] != "canceled"

    def ended(
        self,
        index: int,
        state: str,
        *,
        task_id: str | None = None,
        cached: bool = False,
        error_code: str | None = None,
        error_message: str | None = None,
        sidecar: dict[str, Any] | None = None,
        region: str | None = None,
    ) -> None:
        """The cell's job ended: ``done``, ``failed`` or ``canceled``. ``sidecar``: the saved
        result's metadata, whose service-reported fields are kept here so the results table
        needs no file reads."""
        side = sidecar or {}
        prompts = side.get("prompts") or {}
        self._set(
            index, state, task_id=task_id, cached=int(cached), error_code=error_code,
            error_message=(error_message or "")[:500] or None, ended_at=time.time(),
            actual_prompt=prompts.get("actual") or prompts.get("orig"),
            service_model=side.get("model"),
            usage_json=json.dumps(side["usage"]) if side.get("usage") else None, region=region,
        )  # fmt: skip

    def set_task(self, index: int, task_id: str) -> None:
        """Journal the cell's task id as soon as it is known."""
        self._set(index, "running", task_id=task_id)

    def cancel_pending(self, indices: Iterable[int]) -> int:
        """Mark these cells ``canceled`` if they are still pending; how many were."""
        with self._db() as db:
            cur = db.executemany(
                "UPDATE cells SET state = 'canceled', ended_at = ? "
                "WHERE sweep_id = ? AND idx = ? AND state = 'pending'",
                [(time.time(), self.sweep_id, i) for i in indices],
            )
            return cur.rowcount

    def reopen(self, states: Iterable[str]) -> int:
        """Put cells in these states back to ``pending`` (a new run takes them up again)."""
        states = list(states)
        marks = ",".join("?" * len(states))
        with self._db() as db:
            cur = db.execute(
                f"UPDATE cells SET state = 'pending' WHERE sweep_id = ? AND state IN ({marks})",
                (self.sweep_id, *states),
            )
            return cur.rowcount

    def reopen_cell(self, index: int) -> None:
        """Put one running cell back to ``pending`` (it is tried again)."""
        self._set(index, "pending")

    def _set(self, index: int, state: str, **fields: Any) -> None:
        """Update a cell; ``done`` is final (another process's later look at a saved cell
        must not show it running or failed again)."""
        cols = ", ".join(f"{k} = ?" for k in ["state", *fields])
        keep = "" if state == "done" else " AND state != 'done'"
        with self._db() as db:
            db.execute(
                f"UPDATE cells SET {cols} WHERE sweep_id = ? AND idx = ?{keep}",
                (state, *fields.values(), self.sweep_id, index),
            )
