"""Tasks on disk, so an emulator process that restarts keeps its tasks (the service does).

One SQLite table, one JSON row per task, written on every state change (create, start,
finish, cancel, expire). Simulated instants are stored with the clock they were read from
(epoch time, simulated time and speed at the save): a new process, whose simulated clock
starts at zero and may run at another speed, shifts them onto its own clock as if the old
clock had kept running while no process served.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from .. import catalog
from .clock import SimClock
from .validation import CreateRequest

__all__ = ["TaskJournal"]

_SIM_FIELDS = ("queue_due", "created_sim", "started_sim", "run_due", "finished_sim",
               "render_done_sim")  # fmt: skip
_PLAIN_FIELDS = ("task_id", "request_id", "key_index", "seed", "run_sim", "created_wall",
                 "started_wall", "finished_wall", "status", "forced_expired",
                 "video_forced_expired")  # fmt: skip


class TaskJournal:
    """A task table in ``path`` (SQLite, WAL). Thread-safe; the store calls it under its lock."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS tasks (task_id TEXT PRIMARY KEY, data TEXT)")
        self._lock = threading.Lock()

    def save(self, task: Any, clock: SimClock) -> None:
        """Write the task's current state."""
        data = json.dumps(dump(task, clock))
        with self._lock:
            self._db.execute(
                "INSERT INTO tasks(task_id, data) VALUES(?, ?) "
                "ON CONFLICT(task_id) DO UPDATE SET data=excluded.data",
                (task.task_id, data),
            )

    def load(self, clock: SimClock) -> list[dict[str, Any]]:
        """Every stored task as ``Task`` keyword arguments, oldest first, with its instants on
        ``clock``."""
        with self._lock:
            rows = self._db.execute("SELECT data FROM tasks ORDER BY rowid").fetchall()
        tasks = []
        for (data,) in rows:
            try:
                tasks.append(load(json.loads(data), clock))
            except (KeyError, ValueError, TypeError):
                continue  # a row from another version: skip it rather than fail to start
        return tasks

    def forget(self, task_ids: list[str]) -> None:
        """Delete these tasks' rows (long expired: nobody can ask about them any more)."""
        with self._lock:
            self._db.executemany("DELETE FROM tasks WHERE task_id = ?", [(i,) for i in task_ids])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def dump(task: Any, clock: SimClock) -> dict[str, Any]:
    """A JSON-able dict of a :class:`~.tasks.Task` (with the clock it was read from)."""
    req = task.request
    out: dict[str, Any] = {name: getattr(task, name) for name in _PLAIN_FIELDS}
    for name in _SIM_FIELDS:
        out[name] = getattr(task, name)
    out["clock"] = {"wall": time.time(), "sim": clock.now(), "speed": clock.speed}
    out["request"] = {
        "model": req.model.id,
        "model_name": req.model_name,
        "prompt": req.prompt,
        "negative_prompt": req.negative_prompt,
        "size": req.size,
        "duration": req.duration,
        "seed": req.seed,
        "prompt_extend": req.prompt_extend,
        "watermark": req.watermark,
        "shot_type": req.shot_type,
        "audio_url": req.audio_url,
        "deferred_error": req.deferred_error,
        "resolution": req.resolution,  # new protocol (issue 13)
        "ratio": req.ratio,
        "sound": req.sound,
        "media": [list(m) for m in req.media],  # issue 14
    }
    audio = task.audio
    if isinstance(audio, Path):
        audio = {"path": str(audio)}
    elif isinstance(audio, tuple):
        audio = {"url": audio[1]}
    out["audio"] = audio
    out["fail"] = task.fail
    out["error"] = task.error
    out["video_path"] = str(task.video_path) if task.video_path else None
    return out


def load(data: dict[str, Any], clock: SimClock) -> dict[str, Any]:
    """The ``Task`` keyword arguments :func:`dump` wrote, its instants mapped onto ``clock``."""
    r = data["request"]
    deferred = r.get("deferred_error")
    request = CreateRequest(
        model=catalog.get_model(r["model"]),
        model_name=r["model_name"],
        prompt=r["prompt"],
        negative_prompt=r["negative_prompt"],
        size=r["size"],
        duration=int(r["duration"]),
        seed=r["seed"],
        prompt_extend=bool(r["prompt_extend"]),
        watermark=bool(r["watermark"]),
        shot_type=r["shot_type"],
        audio_url=r["audio_url"],
        deferred_error=tuple(deferred) if deferred else None,  # type: ignore[arg-type]
        resolution=r.get("resolution"),
        ratio=r.get("ratio"),
        sound=bool(r.get("sound", True)),
        media=tuple((str(a), str(b)) for a, b in r.get("media", ())),
    )
    audio = data["audio"]
    if isinstance(audio, dict):
        audio = Path(audio["path"]) if "path" in audio else ("url", audio["url"])
    saved = data["clock"]
    gap = max(0.0, time.time() - float(saved["wall"])) * float(saved["speed"])
    offset = clock.now() - float(saved["sim"]) - gap

    def sim(value: float | None) -> float | None:
        return None if value is None else value + offset

    fields = {name: data[name] for name in _PLAIN_FIELDS}
    times = {name: sim(data[name]) for name in _SIM_FIELDS}
    video = data.get("video_path")
    return dict(
        request=request,
        audio=audio,
        fail=tuple(data["fail"]) if data.get("fail") else None,  # type: ignore[arg-type]
        error=tuple(data["error"]) if data.get("error") else None,  # type: ignore[arg-type]
        video_path=Path(video) if video else None,
        **fields,
        **times,
    )
