"""Request and status counters (what tests use to prove, e.g., that no task was duplicated)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

KINDS = ("create", "query", "cancel", "list", "upload_policy", "upload", "video", "admin", "other")


class Stats:
    """Thread-safe counters of requests per route kind and responses per status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter({k: 0 for k in KINDS})
        self._statuses: Counter[str] = Counter()
        self._dropped = 0

    def request(self, kind: str) -> None:
        """Count a request on a route kind."""
        with self._lock:
            self._requests[kind] += 1

    def status(self, status: int | None) -> None:
        """Count a response status (``None``: the connection was dropped)."""
        with self._lock:
            if status is None:
                self._dropped += 1
            else:
                self._statuses[str(status)] += 1

    def snapshot(self) -> dict[str, Any]:
        """Plain dicts of the counters."""
        with self._lock:
            return {
                "requests": {k: self._requests[k] for k in KINDS},
                "status_codes": dict(sorted(self._statuses.items())),
                "dropped": self._dropped,
            }
