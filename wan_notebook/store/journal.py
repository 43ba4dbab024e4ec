"""The journal's rows: what goes into ``tasks``, ``events`` and ``intents``, and how.

Functions over an open connection inside one of :class:`~wan_notebook._index.Index`'s write
transactions, so each public store call is one atomic step. Nothing here touches file
contents; only names are checked against the folder.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from . import naming as _naming
from . import sidecar as _sidecar
from .index import StoreError
from .records import UNFINISHED, from_iso, iso, now_utc, url_expiry

__all__ = [
    "FAILURES",
    "RANK",
    "apply_status",
    "canonical",
    "check_no_secrets",
    "check_task_id",
    "clip",
    "close_intent",
    "free_stem",
    "insert_task",
    "row_from_sidecar",
    "upsert_saved",
]

#: Order of statuses; a status never moves back, and rank 2 (terminal) never moves at all.
RANK = {"PENDING": 0, "RUNNING": 1, "SUCCEEDED": 2, "FAILED": 2, "CANCELED": 2, "UNKNOWN": 2}
FAILURES = ("FAILED", "CANCELED", "UNKNOWN")
# Field names that must never reach a file, whatever a request object claims to hold.
_SECRET_NAME = re.compile(r"(api[_-]?key|apikey|authori[sz]ation|secret|password|token|^key$)")
_TASK_ID_MAX = 256


def check_task_id(task_id: Any) -> str:
    """A task id fit for the index: a non-blank string without control characters."""
    if (
        not isinstance(task_id, str)
        or not task_id.strip()
        or len(task_id) > _TASK_ID_MAX
        or any(ord(c) < 32 for c in task_id)
    ):
        raise ValueError(f"not a usable task id: {task_id!r:.80}")
    return task_id


def _walk_keys(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _walk_keys(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _walk_keys(item)


def check_no_secrets(data: Any) -> None:
    """``ValueError`` if any (nested) field name looks like a credential."""
    for key in _walk_keys(data):
        if _SECRET_NAME.search(key.lower()):
            raise ValueError(
                f"the request's canonical form has a field named {key!r}; the store never "
                "writes credentials to disk. Pass the API key to the client, not the request."
            )


def canonical(request: Any) -> tuple[dict[str, Any], str]:
    """The request's canonical dict and its compact sorted JSON, checked for secrets."""
    data = request.canonical()
    if not isinstance(data, dict):
        raise TypeError("request.canonical() must return a dict")
    check_no_secrets(data)
    return data, json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def clip(value: Any, limit: int = 4000) -> str | None:
    """``str(value)`` cut to ``limit`` characters; None stays None."""
    if value is None:
        return None
    return str(value)[:limit]


def add_event(
    conn: sqlite3.Connection, task_id: str, status: str, at: str, detail: str | None
) -> None:
    """Append one line to a task's status history."""
    conn.execute(
        "INSERT INTO events (task_id, status, at, detail) VALUES (?, ?, ?, ?)",
        (task_id, status, at, detail),
    )


def insert_task(
    conn: sqlite3.Connection,
    root: Path,
    *,
    task_id: str,
    digest: str,
    model: str,
    prompt: str,
    request_json: str,
    request_id: str | None,
    at: datetime,
    stem: str | None = None,
) -> None:
    """Journal a new PENDING task and reserve its file stem (``stem`` if given and free, else
    a free one derived from prompt, id and time). A repeat for the same request is a no-op."""
    existing = conn.execute("SELECT digest FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    if existing is not None:
        if existing["digest"] != digest:
            raise StoreError(f"task {task_id} is already journaled for a different request")
        return
    if stem is None or conn.execute("SELECT 1 FROM tasks WHERE stem = ?", (stem,)).fetchone():
        stem = free_stem(conn, root, _naming.stem_for(prompt, task_id, at))
    when = iso(at)
    conn.execute(
        "INSERT INTO tasks (task_id, digest, model, prompt, request_json, status, created_at,"
        " updated_at, stem, submit_request_id) VALUES (?, ?, ?, ?, ?, 'PENDING', ?, ?, ?, ?)",
        (
            task_id,
            digest,
            model,
            prompt,
            request_json,
            when,
            when,
            stem,
            clip(request_id, 200),
        ),
    )
    add_event(conn, task_id, "PENDING", when, "submitted")


def free_stem(conn: sqlite3.Connection, root: Path, base: str) -> str:
    """The first of ``base``, ``base-2``, ... used by no row and no file (under the lock)."""
    rows = conn.execute(
        "SELECT stem FROM tasks WHERE stem = ? OR substr(stem, 1, ?) = ?",
        (base, len(base) + 1, base + "-"),
    )
    taken = {r[0] for r in rows}
    for n in range(1, 100_000):
        stem = _naming.with_counter(base, n)
        if stem in taken:
            continue
        if any(_naming.confine(root, stem, suffix).exists() for suffix in _naming.SUFFIXES):
            continue
        return stem
    raise StoreError(f"no free file name for {base} in {root}")


def close_intent(conn: sqlite3.Connection, intent_id: int, state: str, task_id: str | None) -> None:
    """Mark an open intent resolved (with its task id) or abandoned."""
    row = conn.execute("SELECT state FROM intents WHERE id = ?", (intent_id,)).fetchone()
    if row is None:
        raise StoreError(f"no intent {intent_id} in the index")
    if row["state"] != "open" and row["state"] != state:
        raise StoreError(f"intent {intent_id} is already {row['state']}")
    conn.execute(
        "UPDATE intents SET state = ?, task_id = ?, updated_at = ? WHERE id = ?",
        (state, task_id, iso(now_utc()), intent_id),
    )


def apply_status(
    conn: sqlite3.Connection,
    task_id: str,
    status: str,
    at: datetime,
    detail: str | None,
    video_url: str | None,
    request_id: str | None,
    *,
    service_now: datetime | None = None,
) -> bool:
    """Apply a polled status; True if it changed the task (see ``record_status``)."""
    row = conn.execute(
        "SELECT status, video_url FROM tasks WHERE task_id = ?", (task_id,)
    ).fetchone()
    if row is None:
        raise StoreError(f"task {task_id!r} is not journaled; call record_submitted first")
    when = iso(at)
    detail = clip(detail, 1000)
    sets = ["updated_at = ?"]
    args: list[Any] = [when]
    if request_id:
        sets.append("query_request_id = ?")
        args.append(clip(request_id, 200))
    current = row["status"]
    new_url = video_url and status == "SUCCEEDED" and current in ("SUCCEEDED", *UNFINISHED)
    if new_url and video_url != row["video_url"]:
        sets += ["video_url = ?", "url_expires_at = ?"]
        args += [video_url, iso(url_expiry(video_url, at, service_now=service_now))]
    changed = False
    if status not in RANK:
        add_event(conn, task_id, clip(status, 40) or "", when, detail or "undocumented status")
    elif status != current and RANK[current] < 2 and RANK[status] >= RANK[current]:
        sets.append("status = ?")
        args.append(status)
        add_event(conn, task_id, status, when, detail)
        changed = True
    conn.execute(f"UPDATE tasks SET {', '.join(sets)} WHERE task_id = ?", (*args, task_id))
    return changed


def row_from_sidecar(path: Path, root: Path) -> dict[str, Any]:
    """Validate a sidecar and turn it into a saved ``tasks`` row (plus its ``history``).

    Raises ``StoreError``/``ValueError``/``TypeError``/``KeyError`` for anything that is not
    a well-formed sidecar naming its own files inside ``root``."""
    data = _sidecar.load(path)
    file = data["file"]
    video_name = file["video"]
    if not isinstance(video_name, str) or not video_name.endswith(".mp4"):
        raise ValueError(f"video name {video_name!r} is not an .mp4 file name")
    stem = video_name[: -len(".mp4")]
    _naming.confine(root, stem, ".mp4")  # ValueError for anything that is not one of ours
    if path.name != stem + ".json":
        raise ValueError(f"names video {video_name!r}, not its own stem")
    task_id = check_task_id(data["task_id"])
    request = data["request"]
    if not isinstance(request, dict):
        raise TypeError("request is not an object")
    check_no_secrets(request)
    size, sha = file["size"], file["sha256"]
    if not isinstance(size, int) or not isinstance(sha, str) or len(sha) != 64:
        raise ValueError("file size or sha256 missing")
    history = data.get("history") if isinstance(data.get("history"), list) else []
    media = data.get("video") if isinstance(data.get("video"), dict) else None
    created = from_iso(str(data["created_at"]))
    saved = from_iso(str(data["saved_at"]))
    return {
        "task_id": task_id,
        "digest": str(data["digest"]),
        "model": str(data.get("model") or request.get("model", "")),
        "prompt": str(request.get("prompt", "")),
        "request_json": json.dumps(request, sort_keys=True, separators=(",", ":")),
        "created_at": iso(created),  # type: ignore[arg-type]
        "saved_at": iso(saved),  # type: ignore[arg-type]
        "stem": stem,
        "submit_request_id": (data.get("request_ids") or {}).get("submit"),
        "query_request_id": (data.get("request_ids") or {}).get("last_query"),
        "size": size,
        "sha256": sha,
        "poster": int(isinstance(file.get("poster"), str)),
        "media_json": None if media is None else json.dumps(media),
        "history": [h for h in history if isinstance(h, dict)],
    }


def upsert_saved(conn: sqlite3.Connection, row: dict[str, Any]) -> bool:
    """Insert a saved row from a sidecar, or complete an existing one; True if added.

    ``mtime_ns`` stays NULL so the next lookup hashes the file once."""
    existing = conn.execute(
        "SELECT stem FROM tasks WHERE task_id = ?", (row["task_id"],)
    ).fetchone()
    if existing is not None:
        if existing["stem"] != row["stem"]:
            raise ValueError(f"task {row['task_id']} already has files {existing['stem']}")
        conn.execute(
            "UPDATE tasks SET status = 'SUCCEEDED', saved_at = ?, size = ?, sha256 = ?, "
            "mtime_ns = NULL, poster = ?, media_json = ?, updated_at = ? WHERE task_id = ?",
            (
                row["saved_at"],
                row["size"],
                row["sha256"],
                row["poster"],
                row["media_json"],
                row["saved_at"],
                row["task_id"],
            ),
        )
        return False
    conn.execute(
        "INSERT INTO tasks (task_id, digest, model, prompt, request_json, status, created_at,"
        " updated_at, stem, submit_request_id, query_request_id, saved_at, size, sha256,"
        " poster, media_json)"
        " VALUES (?, ?, ?, ?, ?, 'SUCCEEDED', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            row["task_id"],
            row["digest"],
            row["model"],
            row["prompt"],
            row["request_json"],
            row["created_at"],
            row["saved_at"],
            row["stem"],
            clip(row["submit_request_id"], 200),
            clip(row["query_request_id"], 200),
            row["saved_at"],
            row["size"],
            row["sha256"],
            row["poster"],
            row["media_json"],
        ),
    )
    for event in row["history"]:
        status, at = event.get("status"), event.get("at")
        if isinstance(status, str) and isinstance(at, str):
            add_event(conn, row["task_id"], status[:40], at, clip(event.get("detail"), 1000))
    return True
