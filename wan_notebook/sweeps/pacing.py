"""A client that spaces its create requests by the model's submit rate (``submit_rps``).

A sweep keeps every slot of the concurrency quota busy, so creates come as fast as tasks end;
above the model's submit rate the service answers HTTP 429 and the client waits whole
seconds (Retry-After) before trying again. Spacing the creates just under the limit (2 %
margin) keeps them flowing instead. Only ``submit`` is paced; polls and downloads are not.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .. import catalog
from ..async_client import AsyncWanClient
from ..protocol import Task

__all__ = ["PacedClient", "Spacing"]


class Spacing:
    """Lets callers through at most ``rate`` times per second, evenly spaced."""

    def __init__(self, rate: float) -> None:
        self.gap = 1.02 / rate if rate > 0 else 0.0
        self._next = 0.0

    async def wait(self) -> None:
        """Return at this caller's turn."""
        now = time.monotonic()
        at = max(now, self._next)
        self._next = at + self.gap
        if at > now:
            await asyncio.sleep(at - now)


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
