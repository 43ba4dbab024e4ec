"""``Sweep.results()``: one row per cell, built from the manifest, the store index and sidecars.

Three reads, none per-cell over the network: the manifest's cells (one query), the store
index's tasks for those request digests (a few ``IN`` queries, read-only), and the sidecar of
each saved video (what the service reported: the prompt it actually used, usage). A cell whose
request has several tasks (one failed, then one saved) shows the saved one.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..store import INDEX_NAME
from ..store import rows as store_rows

if TYPE_CHECKING:
    import pandas as pd

    from .manifest import Manifest

__all__ = ["COLUMNS", "results_frame"]

#: The fixed columns, in order; swept params, request fields, usage_* and metadata follow.
COLUMNS = (
    "cell", "prompt_index", "repeat", "prompt", "actual_prompt", "negative_prompt", "model",
    "service_model", "region", "seed", "size", "duration", "prompt_extend", "watermark",
    "shot_type", "audio_url", "task_id", "state", "status", "cached", "error_code",
    "error_message", "sha256", "bytes", "path", "poster", "width", "height", "fps",
    "video_seconds", "submitted_at", "saved_at", "started_at", "ended_at", "run_seconds",
    "cost", "currency",
)  # fmt: skip
_CHUNK = 500


def _tasks(root: Path, digests: list[str]) -> dict[str, sqlite3.Row]:
    """The best task row per digest: saved SUCCEEDED first, else the newest."""
    path = root / INDEX_NAME
    if not path.exists() or not digests:
        return {}
    best: dict[str, sqlite3.Row] = {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        for start in range(0, len(digests), _CHUNK):
            chunk = digests[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                f"SELECT * FROM tasks WHERE digest IN ({marks}) ORDER BY created_at", chunk
            ):
                old = best.get(row["digest"])
                if old is None or not (old["saved_at"] and not row["saved_at"]):
                    best[row["digest"]] = row
    finally:
        conn.close()
    return best


def _costs(root: Path, task_ids: list[str]) -> dict[str, tuple[float | None, str]]:
    """task id -> (actual cost, else the estimate; currency) from the folder's spend table
    (issue 15; an older folder without the table has no costs)."""
    path = root / INDEX_NAME
    if not path.exists() or not task_ids:
        return {}
    out: dict[str, tuple[float | None, str]] = {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        for start in range(0, len(task_ids), _CHUNK):
            chunk = task_ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            query = (
                f"SELECT task_id, actual, estimate, currency FROM spend WHERE task_id IN ({marks})"
            )
            for task_id, actual, estimate, currency in conn.execute(query, chunk):
                out[task_id] = (actual if actual is not None else estimate, currency)
    except sqlite3.OperationalError:  # no spend table (a folder of an older version)
        return {}
    finally:
        conn.close()
    return out


def _row(cell: sqlite3.Row, task: sqlite3.Row | None, root: Path, region: Any) -> dict[str, Any]:
    req = json.loads(cell["request_json"])
    out: dict[str, Any] = {
        "cell": cell["idx"], "prompt_index": cell["prompt_index"], "repeat": cell["repeat"],
        "prompt": req.get("prompt"), "actual_prompt": cell["actual_prompt"],
        "negative_prompt": req.get("negative_prompt"), "model": req.get("model"),
        "service_model": cell["service_model"], "region": region or cell["region"],
        "seed": req.get("seed"),
        "task_id": cell["task_id"], "state": cell["state"], "status": None,
        "cached": bool(cell["cached"]), "error_code": cell["error_code"],
        "error_message": cell["error_message"], "started_at": cell["started_at"],
        "ended_at": cell["ended_at"],
    }  # fmt: skip
    for key, value in req.items():
        out.setdefault(key, value)
    usage = json.loads(cell["usage_json"]) if cell["usage_json"] else None
    if task is not None:
        saved = bool(task["saved_at"])
        stem = f"{root}{os.sep}{task['stem']}"  # journaled stems are confined to the folder
        out.update(
            task_id=task["task_id"], status=task["status"], sha256=task["sha256"],
            bytes=task["size"], error_code=task["error_code"] or out["error_code"],
            error_message=task["error_message"] or out["error_message"],
            path=f"{stem}.mp4" if saved else None,
            poster=f"{stem}.png" if saved and task["poster"] else None,
            submitted_at=task["created_at"], saved_at=task["saved_at"],
        )  # fmt: skip
        media = json.loads(task["media_json"]) if task["media_json"] else {}
        out.update(
            width=media.get("width"),
            height=media.get("height"),
            fps=media.get("fps"),
            video_seconds=media.get("duration"),
        )
        if saved and usage is None:  # saved by an older run or another tool: read the sidecar
            meta = store_rows.read_metadata(Path(f"{stem}.json"))
            prompts = meta.get("prompts") or {}
            out["actual_prompt"] = prompts.get("actual") or prompts.get("orig")
            out["service_model"] = meta.get("model")
            usage = meta.get("usage")
    for key, value in (usage or {}).items():
        out[f"usage_{key}"] = value
    for key, value in json.loads(cell["meta_json"]).items():
        out[key if key not in out else f"meta_{key}"] = value
    return out


def results_frame(manifest: Manifest, output_dir: str | Path, region: str | None) -> pd.DataFrame:
    """The results DataFrame of a sweep's cells (see :data:`COLUMNS`)."""
    import pandas as pd

    cells = manifest.rows()
    root = Path(output_dir).expanduser().absolute()
    tasks = _tasks(root, [c["digest"] for c in cells])
    rows = [_row(c, tasks.get(c["digest"]), root, region) for c in cells]
    costs = _costs(root, sorted({r["task_id"] for r in rows if r.get("task_id")}))
    for row in rows:
        row["cost"], row["currency"] = costs.get(row.get("task_id") or "", (None, None))
    frame = pd.DataFrame.from_records(rows)
    for col in COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    extra = [c for c in frame.columns if c not in COLUMNS]
    frame = frame[[*COLUMNS, *extra]]
    for col in ("submitted_at", "saved_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True, errors="coerce")
    for col in ("started_at", "ended_at"):  # epoch seconds in the manifest
        frame[col] = pd.to_datetime(frame[col], unit="s", utc=True, errors="coerce")
    frame["run_seconds"] = (frame["ended_at"] - frame["started_at"]).dt.total_seconds()
    return frame
