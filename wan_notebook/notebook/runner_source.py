"""Where widget jobs run (``RunnerSource``, ``job_loop``), shared by form and batch grid."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from .costing import price_region

if TYPE_CHECKING:
    from ..jobs import Job, Runner

__all__ = ["RunnerSource", "job_loop"]


def _loaded_magic() -> Any:
    """The ``WanVideoMagic`` of this shell when ``%load_ext wan_notebook`` ran, else None."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    from . import _MAGIC_ATTR

    shell = get_ipython()
    return getattr(shell, _MAGIC_ATTR, None) if shell is not None else None


_PRIVATE_LOOP: asyncio.AbstractEventLoop | None = None


def job_loop(magic: Any = None) -> asyncio.AbstractEventLoop:
    """The running loop (a kernel's), else the magic's private loop, else one of our own.

    Jobs on a loop that is not running advance when ``job.result()`` drives it.
    """
    global _PRIVATE_LOOP
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    if magic is not None:
        return magic._job_loop(background=False)
    if _PRIVATE_LOOP is None or _PRIVATE_LOOP.is_closed():
        _PRIVATE_LOOP = asyncio.new_event_loop()
    return _PRIVATE_LOOP


class RunnerSource:
    """Where a widget's jobs run: the magic's runners when the extension is loaded and no
    connection setting is given here, else runners of its own built from these settings and
    the environment (``DASHSCOPE_API_KEY``, ``DASHSCOPE_HTTP_BASE_URL``,
    ``WAN_NOTEBOOK_POLL_SCALE``), one per event loop."""

    def __init__(
        self,
        *,
        output_dir: str | os.PathLike[str] | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        region: str | None = None,
        poll_scale: float | None = None,
        timeout: float | None = None,
        concurrency: int | None = None,
        magic: Any = None,
    ) -> None:
        from ..api import check_call

        check_call(  # the shared checks, before any runner, folder or request exists
            output_dir="wan_outputs" if output_dir is None else output_dir, api_key=api_key,
            base_url=base_url, region=region, timeout=timeout, concurrency=concurrency,
        )  # fmt: skip
        explicit = any(v is not None for v in (api_key, base_url, region, poll_scale, concurrency))
        self.magic = None if explicit else (magic if magic is not None else _loaded_magic())
        self._output_dir = None if output_dir is None else os.fspath(output_dir)
        self._api_key = api_key
        self.base_url = base_url
        self.region = region
        self.poll_scale = poll_scale
        self.timeout = timeout
        self.concurrency = concurrency
        self._runners: dict[int, Runner] = {}

    def __repr__(self) -> str:  # never shows the key
        where = "the %wanvideo magic's settings" if self.magic is not None else "own settings"
        return f"<RunnerSource {self.directory!r} via {where}>"

    @property
    def directory(self) -> str:
        """The outputs folder its jobs save into."""
        if self._output_dir is not None:
            return self._output_dir
        if self.magic is not None:
            return str(self.magic.directory)
        return "wan_outputs"

    @property
    def note(self) -> str:
        """A note for panels (the emulator's videos are synthetic)."""
        if self.magic is not None and getattr(self.magic, "_emulator", None) is not None:
            return "synthetic video from the local emulator"
        return ""

    def runner(self, loop: asyncio.AbstractEventLoop | None = None) -> Runner:
        """The runner for ``loop`` (default: :func:`job_loop`)."""
        loop = loop or job_loop(self.magic)
        if self.magic is not None:
            return self.magic._runner(self._output_dir, self.timeout, loop)
        runner = self._runners.get(id(loop))
        if runner is None or runner.loop is not loop:
            from ..client import AsyncWanClient
            from ..jobs import Runner
            from ..store import OutputStore

            client = AsyncWanClient(
                self._api_key, base_url=self.base_url, region=self.region,
                poll_scale=self.poll_scale,
            )  # fmt: skip
            runner = Runner(
                store=OutputStore(self.directory), client=client, timeout=self.timeout,
                loop=loop, concurrency=self.concurrency,
            )  # fmt: skip
            runner.store.price_region = price_region(self.region, client)  # issue 15
            self._runners[id(loop)] = runner
        return runner

    def record(self, job: Job) -> None:
        """Let the magic (``%wanvideo cancel``) and open galleries know about ``job``."""
        from .tracking import track_job

        if self.magic is not None:
            self.magic.jobs.append(job)
        track_job(job)

    async def aclose(self) -> None:
        """Close the runners it made (the magic's stay open)."""
        runners, self._runners = list(self._runners.values()), {}
        for runner in runners:
            await runner.aclose()

    def close(self) -> None:
        """:meth:`aclose` from sync code (not from inside the loop its runners use)."""
        runners, self._runners = list(self._runners.values()), {}
        for runner in runners:
            if runner.loop.is_running() or runner.loop.is_closed():
                continue
            runner.loop.run_until_complete(runner.aclose())
