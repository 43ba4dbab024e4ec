"""Getting media inputs to the service: ``data:`` URIs, temporary uploads, and their reuse.

Local content goes inline as a ``data:`` base64 URI when the field documents it and the file is
small (:data:`INLINE_MAX_BYTES`), otherwise up through the temporary-upload flow (PROTOCOL
17.2: getPolicy for the model, POST to OSS, ``oss://`` URL bound to that model for 48 h). An
upload is remembered in :class:`UploadMemory` (a JSON file in the output folder) by base URL,
account, model and content sha256, so a re-run within the lifetime sends the same ``oss://`` URL
instead of uploading again. The memory holds no key: accounts are told apart by a short hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .inputs import MediaInput

__all__ = [
    "INLINE_MAX_BYTES",
    "REUSE_S",
    "UPLOAD_LIFETIME_S",
    "UploadMemory",
    "aprepare",
    "prepare",
]

#: Temporary files live this long (PROTOCOL 17.2).
UPLOAD_LIFETIME_S = 48 * 3600
#: Reuse an upload only while this much of its life is left unused: a task created now may
#: wait in the queue before the service fetches its inputs.
REUSE_S = UPLOAD_LIFETIME_S - 6 * 3600
#: Images up to this size go inline as data: URIs where the field documents base64.
INLINE_MAX_BYTES = 64 * 1024
_FILE = "uploads.json"
_lock = threading.Lock()


def _account(core: Any) -> str:
    """A short, one-way tag of the API key (uploads are bound to the account, PROTOCOL 17.2)."""
    key = core.key.reveal() if hasattr(core.key, "reveal") else str(core.key or "")
    return hashlib.sha256(b"wan-notebook-upload:" + key.encode()).hexdigest()[:12]


class UploadMemory:
    """Which content was uploaded for which model, and when (``uploads.json`` in ``root``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.path = Path(root) / _FILE

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @staticmethod
    def _key(base_url: str, account: str, model: str, sha256: str) -> str:
        return f"{base_url}|{account}|{model}|{sha256}"

    def get(
        self, base_url: str, account: str, model: str, sha256: str, *, now: float | None = None
    ) -> str | None:
        """The ``oss://`` URL of a still-usable upload of this content for this model."""
        entry = self._load().get(self._key(base_url, account, model, sha256))
        now = time.time() if now is None else now
        if not isinstance(entry, dict) or not isinstance(entry.get("at"), (int, float)):
            return None
        fresh = now - entry["at"] < REUSE_S
        return str(entry["url"]) if fresh and str(entry.get("url")).startswith("oss://") else None

    def put(self, base_url: str, account: str, model: str, sha256: str, url: str) -> None:
        """Remember an upload (expired entries are dropped on the way)."""
        with _lock:
            data, now = self._load(), time.time()
            data = {k: v for k, v in data.items() if now - v.get("at", 0) < UPLOAD_LIFETIME_S}
            data[self._key(base_url, account, model, sha256)] = {"url": url, "at": now}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".uploads-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
            os.replace(tmp, self.path)


def _plan(inp: MediaInput, base64_ok: bool, inline_max: int) -> str | None:
    """The value to send without an upload, or None when the input must be uploaded."""
    if inp.url is not None:
        return inp.url
    if base64_ok and inp.kind == "image" and inp.size <= inline_max:
        return inp.data_uri()
    return None


def _base64_ok(model_id: str, role: str) -> bool:
    from .. import catalog

    row = catalog.lookup(model_id, warn=False)
    return any(r.role == role and r.base64 for r in catalog.input_rules(row))


def _write_temp(inp: MediaInput, folder: str) -> Path:
    path = Path(folder) / inp.upload_name
    path.write_bytes(inp.data)
    return path


def prepare(
    client: Any,
    model: str,
    media: tuple[MediaInput, ...],
    memory: UploadMemory | None = None,
    *,
    inline_max: int = INLINE_MAX_BYTES,
) -> dict[str, str]:
    """``{slot: url}`` to send for each input (its role, or ``role[i]`` in a list), uploading
    through ``client.upload`` if needed."""
    out: dict[str, str] = {}
    core = client._core
    account = _account(core)
    with tempfile.TemporaryDirectory(prefix="wan-upload-") as folder:
        for inp in media:
            url = _plan(inp, _base64_ok(model, inp.role), inline_max)
            if url is None and memory is not None:
                url = memory.get(core.base_url, account, model, inp.sha256)
            if url is None:
                url = client.upload(_write_temp(inp, folder), model)
                if memory is not None:
                    memory.put(core.base_url, account, model, inp.sha256, url)
            out[inp.slot] = url
    return out


async def aprepare(
    client: Any,
    model: str,
    media: tuple[MediaInput, ...],
    memory: UploadMemory | None = None,
    *,
    inline_max: int = INLINE_MAX_BYTES,
) -> dict[str, str]:
    """:func:`prepare` for the async client (``await client.upload(...)``)."""
    import asyncio

    out: dict[str, str] = {}
    core = client._core
    account = _account(core)
    upload: Callable[[Path, str], Awaitable[str]] = client.upload
    with tempfile.TemporaryDirectory(prefix="wan-upload-") as folder:
        for inp in media:
            url = _plan(inp, _base64_ok(model, inp.role), inline_max)
            if url is None and memory is not None:
                url = await asyncio.to_thread(memory.get, core.base_url, account, model, inp.sha256)
            if url is None:
                path = await asyncio.to_thread(_write_temp, inp, folder)
                url = await upload(path, model)
                if memory is not None:
                    await asyncio.to_thread(
                        memory.put, core.base_url, account, model, inp.sha256, url
                    )
            out[inp.slot] = url
    return out
