"""A client that keeps its create requests under the model's submit rate (``submit_rps``).

A sweep keeps every slot of the concurrency quota busy, so creates come as fast as tasks end;
above the model's submit rate the service answers HTTP 429 and the client waits whole
seconds (Retry-After) before trying again. Sending at most ``submit_rps`` creates in any
1.1 s keeps them flowing instead. Only ``submit`` is paced; polls and downloads are not.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from .. import catalog
from ..async_client import AsyncWanClient
from ..protocol import Task

__all__ = ["PacedClient", "Spacing"]


class Spacing:
    """Lets at most ``rate`` callers through in any window of ``window`` seconds (the
    service's sliding window, with a margin for the time a request takes to arrive)."""

    def __init__(self, rate: float, window: float = 1.1) -> None:
        self.rate = max(1, int(rate))
        self.window = window
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return at this caller's turn."""
        async with self._lock:
            while len(self._sent) >= self.rate:
                wait = self._sent[0] + self.window - time.monotonic()
                if wait <= 0:
                    self._sent.popleft()
                else:
                    await asyncio.sleep(wait)
            self._sent.append(time.monotonic())


class PacedClient(AsyncWanClient):
    """:class:`AsyncWanClient` whose creates keep to each model's submit rate."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._spacings: dict[str, Spacing] = {}

    async def submit(self, prompt_or_request: Any, **params: Any) -> Task:
        """Wait for this model's turn, then create the task."""
        model = getattr(prompt_or_request, "model", None) or params.get("model")
        info = catalog.lookup(model or catalog.DEFAULT_MODEL, warn=False)
        spacing = self._spacings.get(info.id)
        if spacing is None:
            spacing = self._spacings[info.id] = Spacing(float(info.submit_rps))
        await spacing.wait()
        return await super().submit(prompt_or_request, **params)
