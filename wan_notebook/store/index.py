"""The SQLite file ``index.sqlite`` in the outputs folder: connection, schema, migrations.

Safe with two kernels writing one folder at once: WAL journal, a busy timeout, and short
``BEGIN IMMEDIATE`` write transactions (the write lock is taken up front, so two writers queue
instead of failing half-way with "database is locked"). A connection is opened per operation,
which keeps the store usable from any thread and after a ``fork``.

The file is marked with ``PRAGMA application_id`` and versioned with ``PRAGMA user_version``;
:data:`MIGRATIONS` holds one function per step. A damaged or foreign file raises
:class:`CorruptIndexError` naming the file and what to do; nothing is ever deleted or
overwritten to "repair" it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import WanError
from .claims import SCHEMA_V2

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "CorruptIndexError",
    "Index",
    "StoreError",
]

#: ``PRAGMA application_id`` of our index files ("WanN" in ASCII).
APPLICATION_ID = 0x57616E4E
#: The schema version this code writes; older files are migrated forward on open.
SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 30_000


class StoreError(WanError):
    """The outputs folder or its index cannot be used as asked."""


class CorruptIndexError(StoreError):
    """``index.sqlite`` is damaged, foreign, or from a newer wan-notebook."""

    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(message)
        self.path = path


_SCHEMA_V1 = """
CREATE TABLE tasks (
    task_id            TEXT PRIMARY KEY,
    digest             TEXT NOT NULL,
    model              TEXT NOT NULL,
    prompt             TEXT NOT NULL,
    request_json       TEXT NOT NULL,
    status             TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    stem               TEXT NOT NULL UNIQUE,
    submit_request_id  TEXT,
    query_request_id   TEXT,
    video_url          TEXT,
    url_expires_at     TEXT,
    error_code         TEXT,
    error_message      TEXT,
    saved_at           TEXT,
    size               INTEGER,
    sha256             TEXT,
    mtime_ns           INTEGER,
    poster             INTEGER NOT NULL DEFAULT 0,
    media_json         TEXT,
    cached_hits        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tasks_by_digest ON tasks (digest, created_at);
CREATE INDEX tasks_by_status ON tasks (status);
CREATE INDEX tasks_by_created ON tasks (created_at);
CREATE TABLE events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id  TEXT NOT NULL,
    status   TEXT NOT NULL,
    at       TEXT NOT NULL,
    detail   TEXT
);
CREATE INDEX events_by_task ON events (task_id, id);
CREATE TABLE intents (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    digest        TEXT NOT NULL,
    model         TEXT NOT NULL,
    request_json  TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('open', 'resolved', 'abandoned')),
    task_id       TEXT
);
CREATE INDEX intents_by_state ON intents (state, digest);
"""


def _v0_to_v1(conn: sqlite3.Connection) -> None:
    # One statement at a time: executescript() would commit the open transaction first.
    for statement in _SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    # the claims table (one owner per request digest, see store/claims.py); a version-1
    # folder keeps every row and simply gains the empty table
    conn.execute(SCHEMA_V2)


#: ``MIGRATIONS[n]`` upgrades a version-``n`` file to ``n + 1`` inside one write transaction.
#: Add a function here (and bump :data:`SCHEMA_VERSION`) when the schema changes.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _v0_to_v1, 1: _v1_to_v2}


def _advice(path: Path) -> str:
    return (
        f"Nothing was deleted. Move {path.name} aside (for example rename it to "
        f"{path.name}.bad), then call OutputStore({str(path.parent)!r}).rebuild_index() "
        "to recreate it from the result .json sidecars in that folder."
    )


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return True  # DatabaseError proper: "file is not a database", "malformed", ...
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


class Index:
    """Opens ``index.sqlite`` correctly; the store runs its SQL in :meth:`read`/:meth:`write`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._checked = False

    def exists(self) -> bool:
        """Whether the index file is there (reads of a missing index see an empty store)."""
        return self.path.exists()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for reading (autocommit: each statement sees the latest commit)."""
        with self._connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
        with self._connect() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from exc
        try:
            conn.row_factory = sqlite3.Row
            try:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                self._prepare(conn)
                yield conn
            except sqlite3.DatabaseError as exc:
                if _is_corruption(exc):
                    raise self._corrupt(exc) from exc
                if "locked" in str(exc).lower() or "busy" in str(exc).lower():
                    raise StoreError(
                        f"{self.path} stayed locked by another process for "
                        f"{BUSY_TIMEOUT_MS // 1000} s; try again when it is done"
                    ) from exc
                raise
        finally:
            conn.close()

    def _corrupt(self, exc: Exception) -> CorruptIndexError:
        return CorruptIndexError(
            f"{self.path} is not a usable wan-notebook index ({exc}). " + _advice(self.path),
            path=self.path,
        )

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Check identity and version, switch on WAL, create or migrate the schema."""
        # One read transaction, so the three answers come from one snapshot (another process
        # may be creating the schema right now).
        conn.execute("BEGIN")
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            ).fetchone()[0]
        finally:
            conn.execute("COMMIT")
        if app_id == APPLICATION_ID and version == SCHEMA_VERSION:
            if not self._checked:
                self._quick_check(conn)
            return
        if app_id not in (0, APPLICATION_ID):
            raise CorruptIndexError(
                f"{self.path} is an SQLite file of another application "
                f"(application_id {app_id:#x}), not a wan-notebook index. " + _advice(self.path),
                path=self.path,
            )
        if app_id == 0 and tables:
            raise CorruptIndexError(
                f"{self.path} is an SQLite file with {tables} foreign tables, not a "
                "wan-notebook index. " + _advice(self.path),
                path=self.path,
            )
        if version > SCHEMA_VERSION:
            raise CorruptIndexError(
                f"{self.path} was written by a newer wan-notebook (index schema {version}; this "
                f"version reads up to {SCHEMA_VERSION}). Upgrade wan-notebook to use this folder.",
                path=self.path,
            )
        self._migrate(conn)

    def _quick_check(self, conn: sqlite3.Connection) -> None:
        result = conn.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            raise CorruptIndexError(
                f"{self.path} is damaged (quick_check: {result}). " + _advice(self.path),
                path=self.path,
            )
        self._checked = True

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL (a property of the file, set once).

        The switch needs a moment with no other lock on the file, and SQLite does not call
        the busy handler for it: when two processes open a new folder at once, the loser got
        "database is locked" at once. Retry it within the same busy timeout as every write.
        A file system without WAL support answers with another mode; that is accepted.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                    raise
            time.sleep(0.01)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        self._enable_wal(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](conn)
                version += 1
                conn.execute(f"PRAGMA user_version = {version}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._checked = True
