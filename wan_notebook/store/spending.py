"""What a folder spent, and what is in flight against its budget (tables in the SQLite index).

- ``spend``: one row per saved task with its actual cost (written in the same transaction as
  the sidecar, :mod:`.saving`). A cached result is never a new row: it costs nothing.
- ``reservations``: the estimate's ``high`` of each running call under a folder budget, taken
  in one ``BEGIN IMMEDIATE`` transaction after summing spend and live reservations, so two
  processes cannot both spend the last dollar. A call releases its reservation when it ends;
  a reservation whose process is gone (same host) is dropped on the next check.

Amounts are summed per currency; a folder budget counts the spend in its own currency only.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cost import actual_cost, region_for_estimate
from ..errors import BudgetExceededError
from .claims import pid_alive

__all__ = [
    "SCHEMA",
    "Reservation",
    "cost_of_saved",
    "ensure_tables",
    "record",
    "release",
    "reserve",
    "restore",
    "summary",
]

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS spend (
    task_id    TEXT PRIMARY KEY,
    model      TEXT NOT NULL,
    day        TEXT NOT NULL,
    currency   TEXT NOT NULL,
    estimate   REAL,
    actual     REAL,
    per_second REAL,
    seconds    REAL,
    source     TEXT
)""",
    """CREATE TABLE IF NOT EXISTS reservations (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    host     TEXT NOT NULL,
    pid      INTEGER NOT NULL,
    currency TEXT NOT NULL,
    amount   REAL NOT NULL,
    taken_at REAL NOT NULL
)""",
)
_HOST = socket.gethostname()


@dataclass(frozen=True)
class Reservation:
    """A held amount of a folder budget; release it with :func:`release`."""

    store: Any
    id: int
    amount: float
    currency: str


def ensure_tables(conn: sqlite3.Connection) -> None:
    """Create the two tables when missing (additive: older readers ignore them)."""
    for sql in SCHEMA:
        conn.execute(sql)


def record(conn: sqlite3.Connection, task_id: str, model: str, day: str, cost: dict) -> None:
    """Record a saved task's cost (``cost`` as in the sidecar) inside the caller's transaction."""
    ensure_tables(conn)
    conn.execute(
        "INSERT OR REPLACE INTO spend VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            task_id, model, day, cost["currency"], cost.get("estimate"), cost.get("actual"),
            cost.get("price_per_second"), cost.get("billed_seconds"), cost.get("source"),
        ),
    )  # fmt: skip


def cost_of_saved(
    conn: sqlite3.Connection, row: sqlite3.Row, sidecar: dict[str, Any], region: str | None
) -> dict[str, Any] | None:
    """The sidecar's ``cost`` of a task being saved, recorded in ``spend`` in the same
    transaction; None (and no row) when no price can be computed."""
    try:
        name = region_for_estimate(region)
        cost = actual_cost(sidecar.get("request") or {}, name, sidecar.get("usage") or {})
    except Exception:  # a price problem never blocks saving a paid-for video
        return None
    day = str(row["created_at"] or sidecar.get("saved_at") or "")[:10]
    record(conn, row["task_id"], row["model"], day, cost)
    return cost


def restore(conn: sqlite3.Connection, row: dict[str, Any], sidecar_path: Any) -> None:
    """Put a rebuilt task's ``cost`` (from its sidecar) back into ``spend``; a sidecar
    without a well-formed ``cost`` (older versions) adds nothing."""
    try:
        cost = json.loads(Path(sidecar_path).read_text(encoding="utf-8")).get("cost")
    except (OSError, ValueError, AttributeError):
        return
    if not isinstance(cost, dict) or cost.get("currency") not in ("USD", "CNY"):
        return
    numbers = ("estimate", "actual", "price_per_second", "billed_seconds")
    if any(not isinstance(cost.get(k), (int, float, type(None))) for k in numbers):
        return
    created = row.get("created_at")
    day = (created if isinstance(created, str) else str(created or ""))[:10]
    record(conn, row["task_id"], row["model"], day, cost)


def _drop_dead(conn: sqlite3.Connection) -> None:
    for rid, host, pid in conn.execute("SELECT id, host, pid FROM reservations").fetchall():
        if host == _HOST and not pid_alive(pid):
            conn.execute("DELETE FROM reservations WHERE id = ?", (rid,))


def _totals(conn: sqlite3.Connection, currency: str) -> tuple[float, float]:
    spent = conn.execute(
        "SELECT COALESCE(SUM(COALESCE(actual, estimate, 0)), 0) FROM spend WHERE currency = ?",
        (currency,),
    ).fetchone()[0]
    held = conn.execute(
        "SELECT COALESCE(SUM(amount), 0) FROM reservations WHERE currency = ?", (currency,)
    ).fetchone()[0]
    return float(spent), float(held)


def reserve(store: Any, estimate: Any, cap: float, what: str) -> Reservation:
    """Hold ``estimate.high`` of the folder budget ``cap``, or raise
    :class:`BudgetExceededError` (spent + in flight + this call > cap). An unknown price
    cannot be held."""
    cur = estimate.currency
    if estimate.unknown:
        models = ", ".join(sorted({m for _, m, _ in estimate.unknown}))
        raise BudgetExceededError(
            f"folder budget {what} cannot be checked: no price is known for {models} in "
            f"{estimate.region}; nothing was sent",
            estimate=estimate, cap=cap, currency=cur,
        )  # fmt: skip
    with store._write() as conn:
        ensure_tables(conn)
        _drop_dead(conn)
        spent, held = _totals(conn, cur)
        if spent + held + estimate.high > cap + 1e-9:
            raise BudgetExceededError(
                f"folder budget {what} {cap:.2f} {cur} would be exceeded: spent "
                f"{spent:.2f} + in flight {held:.2f} + this call up to {estimate.high:.2f} "
                f"{cur} (estimate {estimate.range_text()}); nothing was sent",
                estimate=estimate, cap=cap, currency=cur,
            )  # fmt: skip
        cursor = conn.execute(
            "INSERT INTO reservations (host, pid, currency, amount, taken_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (_HOST, os.getpid(), cur, float(estimate.high), time.time()),
        )
        rid = int(cursor.lastrowid or 0)
    return Reservation(store, rid, float(estimate.high), cur)


def release(reservation: Reservation | None) -> None:
    """Give a reservation back (idempotent; None is a no-op)."""
    if reservation is None:
        return
    with reservation.store._write() as conn:
        ensure_tables(conn)
        conn.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))


def summary(store: Any) -> list[dict[str, Any]]:
    """Spend grouped by day, model and currency: ``[{day, model, currency, videos, seconds,
    actual, estimate}]`` (newest day first)."""
    if not store._ensure(create=False):
        return []
    with store._write() as conn:
        ensure_tables(conn)
        rows = conn.execute(
            "SELECT day, model, currency, COUNT(*), COALESCE(SUM(seconds), 0), "
            "SUM(actual), SUM(estimate) FROM spend "
            "GROUP BY day, model, currency ORDER BY day DESC, model"
        ).fetchall()
    keys = ("day", "model", "currency", "videos", "seconds", "actual", "estimate")
    return [dict(zip(keys, r, strict=True)) for r in rows]
