"""The one-call API: ``generate``, ``agenerate``, ``generate_many``, ``attach``.

Each call validates first (no I/O for a bad request), then runs :class:`~wan_notebook.jobs.Job` s
on a :class:`~wan_notebook.jobs.Runner` with an :class:`~wan_notebook.store.OutputStore`, so a
repeated call returns the saved result without any network request, and an interrupted one
picks its task up again. The sync forms also work inside a running notebook kernel.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .jobs import JobEvent, Runner, run_sync
from .request import VideoRequest

if TYPE_CHECKING:
    from .results import VideoResult

__all__ = ["aattach", "agenerate", "agenerate_many", "attach", "generate", "generate_many"]

OutputDir = str | os.PathLike[str]


def _runner(
    output_dir: OutputDir,
    *,
    api_key: str | None,
    base_url: str | None,
    region: str | None,
    timeout: float | None,
    concurrency: int | None = None,
) -> Runner:
    from .store import OutputStore

    return Runner(
        store=OutputStore(output_dir),
        api_key=api_key,
        base_url=base_url,
        region=region,
        timeout=timeout,
        concurrency=concurrency,
    )


def _request(item: str | Mapping[str, Any] | VideoRequest, defaults: Mapping[str, Any]) -> Any:
    if isinstance(item, VideoRequest):
        return item
    if isinstance(item, str):
        return VideoRequest.create(item, **defaults)
    params = {**defaults, **item}
    if "prompt" not in params:
        raise TypeError(f"a request dict needs a 'prompt': {dict(item)!r}")
    prompt = params.pop("prompt")
    return VideoRequest.create(prompt, **params)


async def agenerate(
    prompt: str,
    *,
    output_dir: OutputDir = "wan_outputs",
    new: bool = False,
    api_key: str | None = None,
    base_url: str | None = None,
    region: str | None = None,
    timeout: float | None = None,
    on_event: Callable[[JobEvent], None] | None = None,
    **params: Any,
) -> VideoResult:
    """Generate one video (or return the saved one for the same request) and save it."""
    request = VideoRequest.create(prompt, **params)
    runner = _runner(output_dir, api_key=api_key, base_url=base_url, region=region, timeout=timeout)
    try:
        job = runner.submit(request, new=new)
        if on_event is not None:
            job.subscribe(on_event)
        return await job
    finally:
        await runner.aclose()


def generate(
    prompt: str,
    *,
    output_dir: OutputDir = "wan_outputs",
    new: bool = False,
    api_key: str | None = None,
    base_url: str | None = None,
    region: str | None = None,
    timeout: float | None = None,
    on_event: Callable[[JobEvent], None] | None = None,
    **params: Any,
) -> VideoResult:
    """Synchronous :func:`agenerate`; also works inside a running notebook kernel."""
    VideoRequest.create(prompt, **params)  # fail fast, before any loop is touched
    return run_sync(
        lambda: agenerate(
            prompt,
            output_dir=output_dir,
            new=new,
            api_key=api_key,
            base_url=base_url,
            region=region,
            timeout=timeout,
            on_event=on_event,
            **params,
        )
    )


async def agenerate_many(
    requests: Iterable[str | Mapping[str, Any] | VideoRequest],
    *,
    concurrency: int | None = None,
    output_dir: OutputDir = "wan_outputs",
    new: bool = False,
    api_key: str | None = None,
    base_url: str | None = None,
    region: str | None = None,
    timeout: float | None = None,
    return_exceptions: bool = False,
    on_job: Callable[[Any], None] | None = None,
    **defaults: Any,
) -> list[Any]:
    """Generate many videos under the per-model concurrency quota (``concurrency`` overrides
    it, e.g. for an account with a raised quota).

    Items are prompts, dicts of :func:`generate` parameters, or :class:`VideoRequest` s; all are
    validated before anything is sent. Every job runs to its end; then, unless
    ``return_exceptions`` is true, the first error is raised (results already saved stay saved,
    and a re-run returns them from the cache).
    """
    reqs = [_request(item, defaults) for item in requests]
    runner = _runner(
        output_dir,
        api_key=api_key,
        base_url=base_url,
        region=region,
        timeout=timeout,
        concurrency=concurrency,
    )
    try:
        jobs = [runner.submit(r, new=new) for r in reqs]
        if on_job is not None:
            for job in jobs:
                on_job(job)
        outcomes = await asyncio.gather(*(_outcome(j) for j in jobs))
    finally:
        await runner.aclose()
    if not return_exceptions:
        for item in outcomes:
            if isinstance(item, BaseException):
                raise item
    return outcomes


async def _outcome(job: Any) -> Any:
    try:
        return await job
    except Exception as exc:
        return exc


def generate_many(
    requests: Iterable[str | Mapping[str, Any] | VideoRequest],
    *,
    concurrency: int | None = None,
    output_dir: OutputDir = "wan_outputs",
    new: bool = False,
    api_key: str | None = None,
    base_url: str | None = None,
    region: str | None = None,
    timeout: float | None = None,
    return_exceptions: bool = False,
    on_job: Callable[[Any], None] | None = None,
    **defaults: Any,
) -> list[Any]:
    """Synchronous :func:`agenerate_many`; also works inside a running notebook kernel."""
    reqs = [_request(item, defaults) for item in requests]  # validate before any I/O
    return run_sync(
        lambda: agenerate_many(
            reqs,
            concurrency=concurrency,
            output_dir=output_dir,
            new=new,
            api_key=api_key,
            base_url=base_url,
            region=region,
            timeout=timeout,
            return_exceptions=return_exceptions,
            on_job=on_job,
        )
    )


async def aattach(
    task_id: str,
    *,
    output_dir: OutputDir = "wan_outputs",
    api_key: str | None = None,
    base_url: str | None = None,
    region: str | None = None,
    timeout: float | None = None,
    on_event: Callable[[JobEvent], None] | None = None,
) -> VideoResult:
    """Follow an existing task to its end and save its video (no new task is created)."""
    runner = _runner(output_dir, api_key=api_key, base_url=base_url, region=region, timeout=timeout)
    try:
        job = runner.attach(task_id)
        if on_event is not None:
            job.subscribe(on_event)
        return await job
    finally:
        await runner.aclose()


def attach(
    task_id: str,
    *,
    output_dir: OutputDir = "wan_outputs",
    api_key: str | None = None,
    base_url: str | None = None,
    region: str | None = None,
    timeout: float | None = None,
    on_event: Callable[[JobEvent], None] | None = None,
) -> VideoResult:
    """Synchronous :func:`aattach`."""
    return run_sync(
        lambda: aattach(
            task_id,
            output_dir=output_dir,
            api_key=api_key,
            base_url=base_url,
            region=region,
            timeout=timeout,
            on_event=on_event,
        )
    )
