"""Driving the jobs' event loop from sync code: a script, or a notebook cell on the kernel's
own (already running) loop (``nest_asyncio2``, applied lazily; see DESIGN "Event loops")."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["run_sync"]


def _drive(loop: asyncio.AbstractEventLoop, coro: Any, timeout: float | None) -> Any:
    """Run ``coro`` on ``loop`` until done; on Ctrl-C the helper task is cleaned up quietly."""
    fut = asyncio.ensure_future(asyncio.wait_for(coro, timeout), loop=loop)
    try:
        return loop.run_until_complete(fut)
    except BaseException:
        fut.cancel()
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())
        raise


def _current_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()


def _loop_thread_is_current(loop: asyncio.AbstractEventLoop) -> bool:
    return getattr(loop, "_thread_id", None) in (None, threading.get_ident())


def _allow_nested(loop: asyncio.AbstractEventLoop) -> None:
    """Let a sync call drive the (already running) kernel loop; applied once, lazily."""
    if getattr(loop, "_nest_patched", False):
        return
    import nest_asyncio2

    nest_asyncio2.apply(loop)


def run_sync(make: Callable[[], Awaitable[Any]]) -> Any:
    """Run a coroutine to completion from sync code, inside or outside a running loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())  # type: ignore[arg-type]
    _allow_nested(loop)
    return loop.run_until_complete(make())
