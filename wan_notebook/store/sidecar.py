"""The ``.json`` sidecar next to each saved video: its full provenance, versioned.

The sidecar is the truth for a saved result (the index can be rebuilt from sidecars). Its
``schema`` is ``"wan-notebook/result@<n>"``; readers accept any ``@n`` and ignore fields they do
not know, so a newer wan-notebook's sidecars stay readable.

What is deliberately *not* in it: the API key (the store never sees one), the raw service
response, and the signed ``video_url``. That URL holds no key but works as a bearer credential
for 24 hours, so it lives only in ``index.sqlite`` (for re-downloading) and never in a file
meant to be shared next to the video.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .index import StoreError

__all__ = ["SCHEMA", "SCHEMA_PREFIX", "build", "dumps", "load", "scalar_dict"]

SCHEMA = "wan-notebook/result@1"
SCHEMA_PREFIX = "wan-notebook/result@"
#: Sidecars are small; anything bigger is not one of ours (and is not read into memory).
MAX_BYTES = 4 * 1024 * 1024


def scalar_dict(value: Any, *, max_items: int = 64, max_text: int = 200) -> dict[str, Any]:
    """Only the JSON scalars of a mapping (for ``usage``): nothing nested, nothing long."""
    out: dict[str, Any] = {}
    if not isinstance(value, dict):
        return out
    for key, item in list(value.items())[:max_items]:
        if not isinstance(key, str) or len(key) > 64:
            continue
        if isinstance(item, float) and not math.isfinite(item):
            continue
        scalar = item is None or isinstance(item, (bool, int, float))
        if scalar or (isinstance(item, str) and len(item) <= max_text):
            out[key] = item
    return out


def build(
    *,
    version: str,
    task_id: str,
    model: str,
    digest: str,
    request: dict[str, Any],
    status: str,
    submit_request_id: str | None,
    query_request_id: str | None,
    history: list[dict[str, Any]],
    usage: dict[str, Any],
    orig_prompt: str | None,
    actual_prompt: str | None,
    service_times: dict[str, str | None],
    created_at: str,
    saved_at: str,
    video: str,
    size: int,
    sha256: str,
    poster: str | None,
    video_info: dict[str, Any] | None,
) -> dict[str, Any]:
    """The sidecar dict, schema ``result@1``; every argument is already whitelisted data."""
    return {
        "schema": SCHEMA,
        "wan_notebook": version,
        "task_id": task_id,
        "model": model,
        "digest": digest,
        "request": request,
        "status": status,
        "request_ids": {"submit": submit_request_id, "last_query": query_request_id},
        "history": history,
        "usage": usage,
        "prompts": {"orig": orig_prompt, "actual": actual_prompt},
        # As the service reported them: its own clock, no time zone given (PROTOCOL 4).
        "service_times": service_times,
        "created_at": created_at,
        "saved_at": saved_at,
        "file": {"video": video, "size": size, "sha256": sha256, "poster": poster},
        # Probed from the saved file (None without PyAV): width, height, fps, duration,
        # has_audio, video_codec, audio_codec.
        "video": video_info,
    }


def dumps(data: dict[str, Any]) -> bytes:
    """Stable, readable UTF-8 JSON (keys in schema order, non-ASCII kept)."""
    return (json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode()


def load(path: str | Path) -> dict[str, Any]:
    """Read a sidecar; unknown fields are kept. ``StoreError`` if it is not one of ours."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise StoreError(f"{path} is {size} bytes: too big to be a wan-notebook sidecar")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path} is not a readable sidecar: {exc}") from exc
    schema = data.get("schema") if isinstance(data, dict) else None
    if not isinstance(schema, str) or not schema.startswith(SCHEMA_PREFIX):
        raise StoreError(f"{path} is not a wan-notebook result sidecar (schema {schema!r})")
    return data
