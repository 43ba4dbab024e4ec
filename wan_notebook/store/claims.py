"""Claims: one owner per request digest across threads, processes and kernels of one folder.

Before a job creates a task for a request it *claims* the request's digest in the journal
(table ``claims``, schema 2). The first claimant owns the claim: it journals the intent, sends
the create, records the task id on the claim, follows the task, downloads and saves, and then
releases the claim. Every other claimant (another job of the same process, another kernel)
gets the owner's row back instead and does not create: it waits for the task id, follows the
owner's progress in the journal and returns the saved result.

An owner keeps its claim alive with a heartbeat. A claim is *dead*, and may be taken over,
only when its heartbeat is older than the lease **and**, when the owner ran on this host, its
process is gone (a busy machine may delay heartbeats; a live process is never robbed). The new
owner reconciles the dead owner's open intent before it creates anything.

Functions over an open connection inside one of the Index's ``BEGIN IMMEDIATE`` transactions,
like :mod:`.journal`: claiming is one atomic step.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA_V2",
    "Claim",
    "ClaimsMixin",
    "forget_owner",
    "get",
    "heartbeat",
    "new_owner",
    "pid_alive",
    "release",
    "set_task",
    "take",
]

SCHEMA_V2 = """
CREATE TABLE IF NOT EXISTS claims (
    digest     TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('creating', 'following')),
    task_id    TEXT,
    heartbeat  REAL NOT NULL,
    taken_at   REAL NOT NULL
)
"""


@dataclass(frozen=True)
class Claim:
    """One row of ``claims``: who works on a request digest, and on which task."""

    digest: str
    owner: str
    host: str
    pid: int
    state: str
    task_id: str | None
    heartbeat: float
    taken_at: float

    def dead(self, now: float, lease: float) -> bool:
        """Whether the owner is gone: heartbeat older than ``lease`` and, on this host, its
        process no longer alive (on another host the stale heartbeat has to do)."""
        if self.host == _HOST and self.pid == os.getpid():
            # this process knows its own jobs: one that ended without releasing its claim
            # (a full disk refused the release) is gone, whatever the heartbeat says
            with _LIVE_LOCK:
                return self.owner not in _LIVE
        if now - self.heartbeat <= lease:
            return False
        return self.host != _HOST or not pid_alive(self.pid)


_HOST = socket.gethostname()[:200]
#: The owner ids of this process's jobs that are still running (see :func:`new_owner`).
_LIVE: set[str] = set()
_LIVE_LOCK = threading.Lock()


def new_owner() -> str:
    """A fresh owner id: ``host:pid:token`` (one per job, so two jobs of one process differ),
    live in this process until :func:`forget_owner`."""
    owner = f"{_HOST}:{os.getpid()}:{secrets.token_hex(6)}"
    with _LIVE_LOCK:
        _LIVE.add(owner)
    return owner


def forget_owner(owner: str) -> None:
    """The job behind ``owner`` has ended: a claim it could not release is free to take."""
    with _LIVE_LOCK:
        _LIVE.discard(owner)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, killed but not reaped, is dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return True  # no /proc (macOS): os.kill said it exists
    return not fields or fields[0] not in ("Z", "X")


def _claim(row: sqlite3.Row) -> Claim:
    return Claim(
        digest=row["digest"],
        owner=row["owner"],
        host=row["host"],
        pid=int(row["pid"]),
        state=row["state"],
        task_id=row["task_id"],
        heartbeat=float(row["heartbeat"]),
        taken_at=float(row["taken_at"]),
    )


def get(conn: sqlite3.Connection, digest: str) -> Claim | None:
    """The claim on ``digest``, if any."""
    row = conn.execute("SELECT * FROM claims WHERE digest = ?", (digest,)).fetchone()
    return None if row is None else _claim(row)


def take(
    conn: sqlite3.Connection, digest: str, owner: str, *, now: float, lease: float
) -> tuple[bool, Claim, Claim | None]:
    """Claim ``digest`` for ``owner`` (inside a write transaction).

    Returns ``(owned, claim, previous)``: ``owned`` is True when ``owner`` holds the claim now
    (it was free, already ours, or its owner was dead: then ``previous`` is the dead claim,
    whose open intent the caller must reconcile before creating). Otherwise ``claim`` is the
    live owner's row, to follow.
    """
    current = get(conn, digest)
    if current is not None and current.owner == owner:
        conn.execute("UPDATE claims SET heartbeat = ? WHERE digest = ?", (now, digest))
        return True, current, None
    if current is not None and not current.dead(now, lease):
        return False, current, None
    host, pid, _ = owner.rsplit(":", 2)
    conn.execute(
        "INSERT OR REPLACE INTO claims (digest, owner, host, pid, state, task_id, heartbeat,"
        " taken_at) VALUES (?, ?, ?, ?, 'creating', ?, ?, ?)",
        (digest, owner, host, int(pid), current.task_id if current else None, now, now),
    )
    claim = get(conn, digest)
    assert claim is not None
    return True, claim, current


def set_task(conn: sqlite3.Connection, digest: str, owner: str, task_id: str) -> bool:
    """Record the owner's task id on its claim (followers start following); False if the
    claim is no longer ``owner``'s."""
    cur = conn.execute(
        "UPDATE claims SET state = 'following', task_id = ? WHERE digest = ? AND owner = ?",
        (task_id, digest, owner),
    )
    return cur.rowcount == 1


def heartbeat(conn: sqlite3.Connection, owners: list[str], now: float) -> int:
    """Refresh the heartbeat of every claim held by one of ``owners``; how many were."""
    if not owners:
        return 0
    marks = ",".join("?" * len(owners))
    cur = conn.execute(f"UPDATE claims SET heartbeat = ? WHERE owner IN ({marks})", (now, *owners))
    return cur.rowcount


def release(conn: sqlite3.Connection, digest: str, owner: str) -> bool:
    """Give the claim up (the owner saved, failed or stopped); False if it was not ours."""
    cur = conn.execute("DELETE FROM claims WHERE digest = ? AND owner = ?", (digest, owner))
    return cur.rowcount == 1


class ClaimsMixin:
    """The claim methods of :class:`~wan_notebook.store.OutputStore` (thin: one transaction
    each over the store's index)."""

    _index: Any
    _write: Any  # OutputStore._write: a write transaction on an index made usable first
    _ensure: Any  # OutputStore._ensure: make the index usable (rebuilt if lost) first

    def claim(
        self, digest: str, owner: str, *, lease: float, now: float
    ) -> tuple[bool, Claim, Claim | None]:
        """Claim a request digest for ``owner``: ``(owned, claim, dead_previous)``."""
        with self._write() as conn:
            return take(conn, digest, owner, now=now, lease=lease)

    def claim_task(self, digest: str, owner: str, task_id: str) -> bool:
        """Publish the owner's task id on its claim; False if the claim is not ``owner``'s."""
        with self._write() as conn:
            return set_task(conn, digest, owner, task_id)

    def release_claim(self, digest: str, owner: str) -> bool:
        """Give a claim up; False if ``owner`` did not hold it."""
        if not self._index.exists():
            return False
        with self._write() as conn:
            return release(conn, digest, owner)

    def heartbeat_claims(self, owners: list[str], now: float) -> int:
        """Keep the claims of ``owners`` alive; how many rows were refreshed."""
        if not owners or not self._index.exists():
            return 0
        with self._write() as conn:
            return heartbeat(conn, owners, now)

    def get_claim(self, digest: str) -> Claim | None:
        """The current claim on a request digest, if any."""
        if not self._ensure(create=False):
            return None
        with self._index.read() as conn:
            return get(conn, digest)
