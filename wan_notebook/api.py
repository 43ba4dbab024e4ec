"""The one-call API: ``generate``, ``agenerate``, ``generate_many``, ``attach``.

Each call validates first (no I/O for a bad request), then runs :class:`~wan_notebook.jobs.Job` s
on a :class:`~wan_notebook.jobs.Runner` with an :class:`~wan_notebook.store.OutputStore`, so a
repeated call returns the saved result without any network request, and an interrupted one
picks its task up again. The sync forms also work inside a running notebook kernel.
"""

from __future__ import annotations

import asyncio
import difflib
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import budget as _budget
from . import checks
from . import results as _results
from .cost import ResultList, region_for_estimate
from .errors import ParameterTypeError, ValidationError
from .jobs import JobEvent, Runner, run_sync
from .request import PARAMS, VideoRequest

if TYPE_CHECKING:
    from .results import VideoResult

__all__ = ["aattach", "agenerate", "agenerate_many", "attach", "generate", "generate_many"]

OutputDir = str | os.PathLike[str]
RequestItem = str | Mapping[str, Any] | VideoRequest
#: options of a whole call: a request dict that holds one of them is a mistake worth naming
_CALL_OPTIONS = (
    "output_dir", "new", "api_key", "base_url", "region", "timeout", "concurrency",
    "return_exceptions", "on_event", "on_job", "max_cost",
)  # fmt: skip


def check_call(
    *,
    output_dir: Any = "wan_outputs",
    new: Any = False,
    api_key: Any = None,
    base_url: Any = None,
    region: Any = None,
    timeout: Any = None,
    concurrency: Any = None,
    **callbacks: Any,
) -> None:
    """Check the options of a call (not of its requests) before anything is sent or written.

    The shared checks of :mod:`wan_notebook.checks`; the form and ``BatchGrid`` call it too.
    Where ``base_url``/``api_key``/``region`` are None the environment decides, and that is
    checked when the client is made (still before any request).
    """
    checks.output_dir(output_dir)
    checks.flag(new, "new")
    checks.api_key(api_key)
    if base_url is not None:
        checks.base_url(base_url)
    checks.region(region)  # also when a base_url makes it unused: a typo is still a typo
    checks.timeout(timeout)
    checks.positive_int(concurrency, "concurrency")
    for name, value in callbacks.items():
        if name in ("on_event", "on_job"):
            checks.callback(value, name)
        else:
            checks.flag(value, name)


def check_params(params: Mapping[str, Any], where: str = "") -> None:
    """Every key is a :class:`VideoRequest` parameter (a typo gets a suggestion)."""
    for name in params:
        if name in PARAMS:
            continue
        if not isinstance(name, str):
            raise checks.type_error(f"{where}key", name, "parameter names are strings")
        if name == "prompt":
            problem = "cannot be a default for every request"
            allowed = "give each item its own prompt"
        elif name in _CALL_OPTIONS:
            problem = "is an option of the whole call, not of one request"
            allowed = f"pass {name}= to the call itself"
        else:
            close = difflib.get_close_matches(name, [*PARAMS, *_CALL_OPTIONS], n=1)
            problem = "is not a parameter" + (f" (did you mean {close[0]!r}?)" if close else "")
            allowed = "use prompt, " + ", ".join(PARAMS)
        raise ParameterTypeError(
            f"{where}{name} {problem}; {allowed}", param=name, value=params[name], allowed=allowed
        )


def _runner(
    output_dir: OutputDir,
    *,
    api_key: str | None,
    base_url: str | None,
    region: str | None,
    timeout: float | None,
    concurrency: int | None = None,
) -> Runner:
    from .client import AsyncWanClient
    from .store import OutputStore

    # the client first: a key, base URL or region it cannot use fails before the folder is made
    client = AsyncWanClient(api_key, base_url=base_url, region=region)
    store = OutputStore(output_dir)
    store.price_region = region_for_estimate(region, client.base_url)  # sidecar cost (issue 15)
    return Runner(store=store, client=client, timeout=timeout, concurrency=concurrency)


def _request(
    item: RequestItem, defaults: Mapping[str, Any], index: int | None = None
) -> VideoRequest:
    """One validated request from an item of ``generate_many``; errors say which item."""
    where = "" if index is None else f"requests[{index}]: "
    try:
        if isinstance(item, VideoRequest):
            return item
        if isinstance(item, str):
            return VideoRequest.create(item, **defaults)
        if not isinstance(item, Mapping):
            raise checks.type_error(
                "requests" if index is None else f"requests[{index}]", item,
                "each item is a prompt (str), a dict of parameters with a 'prompt', "
                "or a VideoRequest",
            )  # fmt: skip
        params = {**defaults, **item}
        if "prompt" not in params:
            raise ValidationError(
                f"a request dict needs a 'prompt' (the text of the video); got keys "
                f"{sorted(map(str, item))}",
                param="prompt",
                value=dict(item),
                allowed="a dict with a 'prompt' key and VideoRequest parameters",
            )
        prompt = params.pop("prompt")
        check_params(params)
        return VideoRequest.create(prompt, **params)
    except ValidationError as exc:
        if not where or str(exc).startswith("requests["):
            raise
        raise type(exc)(
            where + str(exc), param=exc.param, value=exc.value, allowed=exc.allowed
        ) from None


def requests_from(requests: Any, defaults: Mapping[str, Any]) -> list[VideoRequest]:
    """The validated requests of ``generate_many(requests, **defaults)``, all before any I/O.

    ``requests`` is an iterable of prompts, dicts or :class:`VideoRequest` s. A single str,
    dict or VideoRequest is one request (never one video per character or per key): what
    else could ``generate_many("a harbour")`` mean? Anything not iterable, and bytes, is a
    :class:`~wan_notebook.errors.ParameterTypeError` naming ``requests``.
    """
    allowed = "a list (or any iterable) of prompts, dicts with a 'prompt', or VideoRequests"
    check_params(defaults)
    if isinstance(requests, (str, Mapping, VideoRequest)):
        requests = [requests]
    elif isinstance(requests, (bytes, bytearray, memoryview)):
        raise checks.type_error("requests", requests, allowed)
    try:
        items = iter(requests)
    except TypeError:
        raise checks.type_error("requests", requests, allowed) from None
    return [_request(item, defaults, i) for i, item in enumerate(items)]


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
    max_cost: float | str | None = None,
    **params: Any,
) -> VideoResult:
    """Generate one video (or return the saved one for the same request) and save it.

    Every argument is checked first (:mod:`wan_notebook.checks`): a bad one raises a
    :class:`~wan_notebook.errors.ValidationError` naming it, and nothing is sent or written.
    ``max_cost`` (and a folder budget, ``WAN_NOTEBOOK_BUDGET``) refuse the call with
    :class:`~wan_notebook.errors.BudgetExceededError` before any request (:mod:`.budget`).
    """
    check_call(
        output_dir=output_dir, new=new, api_key=api_key, base_url=base_url, region=region,
        timeout=timeout, on_event=on_event,
    )  # fmt: skip
    check_params(params)
    request = VideoRequest.create(prompt, **params)
    runner = _runner(output_dir, api_key=api_key, base_url=base_url, region=region, timeout=timeout)
    held = None  # issue 15: a folder-budget reservation, released when the call ends
    try:
        _, held = _budget.enforce([request], max_cost, region=region, base_url=base_url,
                                  output_dir=output_dir, new=new)  # fmt: skip
        job = runner.submit(request, new=new)
        if on_event is not None:
            job.subscribe(on_event)
        return await job
    finally:
        await runner.aclose()
        _budget.release(held)


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
    max_cost: float | str | None = None,
    **params: Any,
) -> VideoResult:
    """Synchronous :func:`agenerate`; also works inside a running notebook kernel."""
    check_call(  # fail fast, before any loop is touched
        output_dir=output_dir, new=new, api_key=api_key, base_url=base_url, region=region,
        timeout=timeout, on_event=on_event,
    )  # fmt: skip
    check_params(params)
    VideoRequest.create(prompt, **params)
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
            max_cost=max_cost,
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
    max_cost: float | str | None = None,
    **defaults: Any,
) -> list[Any]:
    """Generate many videos under the per-model concurrency quota (``concurrency`` overrides
    it, e.g. for an account with a raised quota).

    ``requests`` is an iterable of prompts, dicts of :func:`generate` parameters (with a
    ``"prompt"``), or :class:`VideoRequest` s; a single prompt string (or dict, or request)
    is one request, not one per character. All are validated, with every other argument,
    before anything is sent. Every job runs to its end; then, unless ``return_exceptions`` is
    true, the first error is raised (results already saved stay saved, and a re-run returns
    them from the cache).
    """
    _check_many(output_dir, new, api_key, base_url, region, timeout, concurrency,
                return_exceptions, on_job)  # fmt: skip
    reqs = requests_from(requests, defaults)
    runner = _runner(
        output_dir,
        api_key=api_key,
        base_url=base_url,
        region=region,
        timeout=timeout,
        concurrency=concurrency,
    )
    held = None  # issue 15: a folder-budget reservation, released when the call ends
    try:
        _, held = _budget.enforce(reqs, max_cost, region=region, base_url=base_url,
                                  output_dir=output_dir, new=new)  # fmt: skip
        jobs = [runner.submit(r, new=new) for r in reqs]
        if on_job is not None:
            for job in jobs:
                on_job(job)
        outcomes = await asyncio.gather(*(_outcome(j) for j in jobs))
    finally:
        await runner.aclose()
        _budget.release(held)
    if not return_exceptions:
        for item in outcomes:
            if isinstance(item, BaseException):
                raise item
    return ResultList(outcomes)  # a list with .cost (issue 15)


def _check_many(
    output_dir: Any, new: Any, api_key: Any, base_url: Any, region: Any, timeout: Any,
    concurrency: Any, return_exceptions: Any, on_job: Any,
) -> None:  # fmt: skip
    check_call(
        output_dir=output_dir, new=new, api_key=api_key, base_url=base_url, region=region,
        timeout=timeout, concurrency=concurrency, return_exceptions=return_exceptions,
        on_job=on_job,
    )  # fmt: skip


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
    max_cost: float | str | None = None,
    **defaults: Any,
) -> list[Any]:
    """Synchronous :func:`agenerate_many` (same arguments and checks); also works inside a
    running notebook kernel. ``generate_many("a harbour")`` is one request, as
    ``generate_many(["a harbour"])``."""
    _check_many(output_dir, new, api_key, base_url, region, timeout, concurrency,
                return_exceptions, on_job)  # fmt: skip
    reqs = requests_from(requests, defaults)  # validate before any I/O
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
            max_cost=max_cost,
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
    """Follow an existing task to its end and save its video (no new task is created).

    ``task_id`` must look like a task id (``checks.task_id``): a path or a typo is refused
    before any request.
    """
    task_id = checks.task_id(task_id)
    check_call(
        output_dir=output_dir, api_key=api_key, base_url=base_url, region=region,
        timeout=timeout, on_event=on_event,
    )  # fmt: skip
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
    task_id = checks.task_id(task_id)
    check_call(
        output_dir=output_dir, api_key=api_key, base_url=base_url, region=region,
        timeout=timeout, on_event=on_event,
    )  # fmt: skip
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


# issue 14: VideoResult.extend() generates through this module (results cannot import it)
_results._generate = generate
