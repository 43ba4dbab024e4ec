"""Sliding-window rate limits (wall-clock: clients send at real pace whatever the speed)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable


class RateLimiter:
    """At most ``limit`` hits per ``window`` seconds per bucket."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._hits: dict[Hashable, deque[float]] = {}

    def hit(self, bucket: Hashable, limit: int, window: float = 1.0) -> int | None:
        """Record a hit; ``None`` if allowed, else the whole seconds to wait (Retry-After)."""
        now = self._clock()
        with self._lock:
            q = self._hits.setdefault(bucket, deque())
            while q and q[0] <= now - window:
                q.popleft()
            if len(q) >= limit:
                return max(1, math.ceil(q[0] + window - now))
            q.append(now)
            return None
