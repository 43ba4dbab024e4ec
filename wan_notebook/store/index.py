"""The SQLite file ``index.sqlite`` in the outputs folder: connection, schema, migrations.

Safe with two kernels writing one folder at once: WAL journal, a busy timeout, and short
``BEGIN IMMEDIATE`` write transactions (the write lock is taken up front, so two writers queue
instead of failing half-way with "database is locked"). A connection is opened per operation,
which keeps the store usable from any thread and after a ``fork``.

The file is marked with ``PRAGMA application_id`` and versioned with ``PRAGMA user_version``;
:data:`MIGRATIONS` holds one function per step. A damaged or foreign file raises
:class:`CorruptIndexError` naming the file; :meth:`Index.inspect` tells the store (before first
use) whether the file must be moved aside and rebuilt from the sidecars. Nothing is deleted.

A folder that cannot be written (a read-only mount, a shared checkout) is opened read-only
(``mode=ro``, or ``immutable`` when SQLite cannot share the WAL index there): reads work, a
write raises :class:`ReadOnlyStoreError`. A write that fails for lack of space raises
:class:`StoreError` saying so (the jobs layer then sends no create request).
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

from .._fsutil import folder_writable
from ..errors import WanError
from .claims import SCHEMA_V2

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "CorruptIndexError",
    "Index",
    "ReadOnlyStoreError",
    "StoreError",
    "StoreWriteError",
]

#: ``PRAGMA application_id`` of our index files ("WanN" in ASCII).
APPLICATION_ID = 0x57616E4E
#: The schema version this code writes; older files are migrated forward on open.
SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 30_000


class StoreError(WanError):
    """The outputs folder or its index cannot be used as asked."""


class StoreWriteError(StoreError):
    """The index could not be written (disk full, read-only, I/O error, locked too long)."""


class ReadOnlyStoreError(StoreWriteError):
    """The outputs folder cannot be written: saved results are served, nothing new is made."""


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


def _nonempty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _nearly_full(folder: Path) -> bool:
    """Whether the file system of ``folder`` has (almost) no room left: SQLite reports a
    full disk as "disk I/O error" when the WAL's shared memory cannot be allocated."""
    try:
        return shutil.disk_usage(folder).free < 256 * 1024
    except OSError:
        return False


def _v1_columns() -> dict[str, set[str]]:
    """Table -> column names of schema version 1 (read from :data:`_SCHEMA_V1`)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(_SCHEMA_V1)
        return {
            t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")}
            for t in ("tasks", "events", "intents")
        }
    finally:
        conn.close()


def _looks_like_v1(conn: sqlite3.Connection) -> bool:
    """Whether the file holds our three tables with (at least) their version-1 columns."""
    for table, columns in _v1_columns().items():
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if not columns <= have:
            return False
    return True


class Index:
    """Opens ``index.sqlite`` correctly; the store runs its SQL in :meth:`read`/:meth:`write`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._checked = False
        self._read_only: bool | None = None

    def exists(self) -> bool:
        """Whether the index file is there (reads of a missing index see an empty store)."""
        return self.path.exists()

    @property
    def read_only(self) -> bool:
        """Whether the folder (or the index file) cannot be written; decided once."""
        if self._read_only is None:
            folder = self.path.parent
            self._read_only = not folder_writable(folder) or (
                self.path.exists() and not os.access(self.path, os.W_OK)
            )
        return self._read_only

    def reset(self) -> None:
        """Forget what was checked (the file was replaced)."""
        self._checked = False
        self._read_only = None

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for reading (autocommit: each statement sees the latest commit).

        When the file cannot be opened for writing (a full disk cannot even hold the WAL's
        shared memory), it is read read-only: what is saved can still be served."""
        with ExitStack() as stack:
            try:
                conn = stack.enter_context(self._connect())
            except StoreWriteError:
                if self.read_only or not _nonempty(self.path):
                    raise
                conn = stack.enter_context(self._connect(ro=True))
            yield conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
        if self.read_only:
            raise self._read_only_error()
        with self._connect() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):  # a full disk may fail the rollback too
                        conn.execute("ROLLBACK")
                raise

    def _read_only_error(self) -> ReadOnlyStoreError:
        return ReadOnlyStoreError(
            f"the outputs folder {self.path.parent} is read-only: saved results can be "
            "served from it, but nothing new can be journaled there, so no request was "
            "sent (nothing was paid). Use another output_dir for new videos."
        )

    def _full_error(self, exc: BaseException) -> StoreError:
        return StoreWriteError(
            f"disk full at {self.path.parent}: the index could not be written ({exc}), so "
            "no request was sent (nothing was paid). Free some space and try again."
        )

    def _open(self, ro: bool) -> sqlite3.Connection:
        timeout = BUSY_TIMEOUT_MS / 1000
        if not ro:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise self._os_error(exc) from None
            return sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        if not self.path.exists():
            raise self._read_only_error()
        uri = "file:" + quote(str(self.path))
        try:
            conn = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=timeout)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            # WAL needs a shared-memory file next to the index; on a read-only mount it may
            # not exist and cannot be made. Read the file as it is (no other writer can be
            # changing a read-only folder).
            conn = sqlite3.connect(uri + "?immutable=1", uri=True, timeout=timeout)
        conn.isolation_level = None
        return conn

    def _os_error(self, exc: OSError) -> StoreError:
        if exc.errno == errno.ENOSPC:
            return self._full_error(exc)
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            self._read_only = True
            return self._read_only_error()
        return StoreWriteError(f"the outputs folder {self.path.parent} cannot be used: {exc}")

    def _translate(self, exc: sqlite3.Error) -> StoreError | None:
        """A clear StoreError for a write that failed for want of space or permission."""
        text = str(exc).lower()
        if "full" in text or _nearly_full(self.path.parent):
            return self._full_error(exc)
        if "readonly" in text or "read-only" in text:
            return self._read_only_error()
        if "unable to open" in text and not folder_writable(self.path.parent):
            self._read_only = True
            return self._read_only_error()
        if "disk i/o error" in text:
            return StoreWriteError(f"{self.path} could not be written (disk I/O error): {exc}")
        return None

    @contextmanager
    def _connect(self, *, ro: bool = False) -> Iterator[sqlite3.Connection]:
        ro = ro or self.read_only
        try:
            conn = self._open(ro)
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) or self._corrupt(exc) from exc
        try:
            conn.row_factory = sqlite3.Row
            try:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                self._prepare(conn, ro)
                yield conn
            except sqlite3.DatabaseError as exc:
                if _is_corruption(exc):
                    raise self._corrupt(exc) from exc
                if "locked" in str(exc).lower() or "busy" in str(exc).lower():
                    raise StoreWriteError(
                        f"{self.path} stayed locked by another process for "
                        f"{BUSY_TIMEOUT_MS // 1000} s; try again when it is done"
                    ) from exc
                translated = self._translate(exc)
                if translated is not None:
                    raise translated from exc
                raise
            except OSError as exc:  # e.g. the folder vanished or filled up mid-way
                raise self._os_error(exc) from exc
        finally:
            conn.close()

    def _corrupt(self, exc: Exception) -> CorruptIndexError:
        return CorruptIndexError(
            f"{self.path} is not a usable wan-notebook index ({exc}). " + _advice(self.path),
            path=self.path,
        )

    def inspect(self) -> str | None:
        """Why the file cannot serve as our index (to move it aside and rebuild), or None.

        None also for a missing file, and for a file of a *newer* wan-notebook (that one is
        refused when used, never moved away). A file with our tables but ``user_version``
        0 (an interrupted first migration, or a tool that reset it) is adopted as version 1.
        Call it under the folder lock: it may write that one fix.
        """
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return None
        if size == 0:
            return "it is empty (0 bytes)"
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.DatabaseError as exc:
            return f"it cannot be opened ({exc})"
        try:
            return self._diagnose(conn)
        except sqlite3.DatabaseError as exc:
            if _is_corruption(exc):
                return f"it is damaged ({exc})"
            raise self._translate(exc) or self._corrupt(exc) from exc
        finally:
            conn.close()

    def _diagnose(self, conn: sqlite3.Connection) -> str | None:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        names = {
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        if app_id not in (0, APPLICATION_ID):
            return f"it belongs to another application (application_id {app_id:#x})"
        if version > SCHEMA_VERSION and app_id == APPLICATION_ID:
            return None  # a newer wan-notebook's: refused on use, never moved away
        if not names:
            return "it has no tables (an empty database)"
        if version == 0:
            if not _looks_like_v1(conn):
                return f"it holds tables that are not a wan-notebook index ({sorted(names)})"
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("PRAGMA user_version = 1")
            conn.execute("COMMIT")
        elif app_id == 0:
            return f"it is not marked as a wan-notebook index (user_version {version})"
        result = conn.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            return f"it is damaged (quick_check: {result})"
        self._checked = True
        return None

    def _prepare(self, conn: sqlite3.Connection, ro: bool = False) -> None:
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
        if ro:
            raise ReadOnlyStoreError(
                f"{self.path} has index schema {version} and the folder is read-only, so it "
                f"cannot be upgraded to schema {SCHEMA_VERSION}; open it where it is writable."
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
            if version == 0 and _looks_like_v1(conn):
                # Our tables with user_version 0 (an interrupted first migration, or a tool
                # reset it): version 1, not "table tasks already exists".
                version = 1
                conn.execute("PRAGMA user_version = 1")
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
