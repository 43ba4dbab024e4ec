"""Reconcile by content: find the task an interrupted create made, never by guessing.

When a create request was sent but its answer was lost (the connection dropped, the process
was killed), the journal holds an open *intent* and the service may hold a task nobody knows.
The list endpoint shows the model's tasks created since the intent; a candidate (a task not in
the journal) is matched to an open intent **only by what the service says it was made for**:
``orig_prompt`` (present once SUCCEEDED) and the parameters visible in the task's ``usage``
(``size``/``video_ratio``, ``duration``/``video_duration``/``output_video_duration``).

- A candidate that has not revealed them yet (PENDING, RUNNING) is waited for: it is polled
  until it ends, never matched by order or by time.
- A candidate that matches another open intent is assigned to *that* intent (its request then
  finds it), so no request is left holding another's task or stuck without its own.
- A FAILED/CANCELED candidate that reveals nothing is free: failed tasks are not billed, so
  an intent whose only possible task failed can be closed and the request created again.
- Time windows are on the service's clock (``client.service_clock``, learnt from ``Date``
  headers; the list's ``gmt_create``), with a margin: a fast local clock misses nothing.
- Bounded: a cap on listed items and a deadline. Running out leaves the intent open and says
  "uncertain: run again later".
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from . import catalog
from .errors import SubmitUncertainError, WanError
from .protocol import Task
from .watch import budget

__all__ = [
    "MAX_CANDIDATES",
    "RECONCILE_MARGIN",
    "Reconciler",
    "adopt_unknown",
    "matches",
    "reveals",
    "same_prompt",
]

log = logging.getLogger("wan_notebook")

#: Margin around windows on the service's clock (Date has one-second resolution, answers
#: take time, and the list's own clock may differ slightly from the API front end's).
RECONCILE_MARGIN = timedelta(minutes=2)
#: At most this many listed tasks are looked at in one reconcile (the list can be long, or a
#: broken server may say "more pages" forever).
MAX_CANDIDATES = 1000
#: Seconds after its intent during which a create may still be turned into a task.
CREATE_HORIZON = 20.0
#: A service-shortened prompt is recognised as a prefix only from this length on.
_TRUNCATED_MIN = 400
_FREE = ("FAILED", "CANCELED", "UNKNOWN")


def _norm(text: str) -> str:
    return " ".join(str(text).split())


def same_prompt(theirs: str | None, ours: str) -> bool:
    """Whether a task's ``orig_prompt`` is this prompt (whitespace-insensitive; a long prompt
    the service shortened matches as a prefix, a short one never does)."""
    if not theirs:
        return False
    a, b = _norm(theirs), _norm(ours)
    if a == b:
        return True
    return len(a) >= _TRUNCATED_MIN and b.startswith(a)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def reveals(task: Task) -> bool:
    """Whether the task tells what it was made for (its ``orig_prompt``)."""
    return bool(task.orig_prompt)


def matches(task: Task, request: dict[str, Any]) -> bool:
    """Whether a task that :func:`reveals` itself was made for ``request`` (canonical dict):
    same prompt, and every parameter the task shows equals the request's."""
    if not same_prompt(task.orig_prompt, str(request.get("prompt", ""))):
        return False
    usage = task.usage or {}
    size = usage.get("size") or usage.get("video_ratio")
    wanted_size = request.get("size")
    if (
        isinstance(size, str)
        and isinstance(wanted_size, str)
        and size.replace("x", "*").strip() != wanted_size.replace("x", "*").strip()
    ):
        return False
    # the new protocol (wan2.7, Wan3.0) shows its tier and ratio instead of a size
    tier, wanted_tier = usage.get("SR"), request.get("resolution")
    if tier is not None and isinstance(wanted_tier, str) and f"{tier}P" != wanted_tier.upper():
        return False
    ratio, wanted_ratio = usage.get("ratio"), request.get("ratio")
    if isinstance(ratio, str) and wanted_ratio not in (None, "adaptive") and ratio != wanted_ratio:
        return False
    wanted = _number(request.get("duration"))
    if wanted is not None and wanted <= 0:  # Wan3.0's smart duration: the service picks it
        wanted = None
    for key in ("output_video_duration", "duration", "video_duration"):
        shown = _number(usage.get(key))
        if shown is not None and wanted is not None and shown != wanted:
            return False
    return True


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _age(created_at: datetime) -> float:
    """Seconds since an intent was journaled (both instants on the local clock)."""
    return (datetime.now(timezone.utc) - _aware(created_at)).total_seconds()


def create_horizon() -> float:
    """Seconds a create request may still be in flight on the service after its intent was
    journaled (the request may sit in buffers and queues after its sender died): an intent
    younger than this is never concluded "no task" (``WAN_NOTEBOOK_CREATE_HORIZON``)."""
    raw = os.environ.get("WAN_NOTEBOOK_CREATE_HORIZON")
    try:
        value = float(raw) if raw else CREATE_HORIZON
    except ValueError:
        value = CREATE_HORIZON
    return value if math.isfinite(value) and value >= 0 else CREATE_HORIZON


class Reconciler:
    """Matches unknown tasks of a model to the open intents of a folder, by content."""

    def __init__(self, client: Any, store: Any) -> None:
        self.client = client
        self.store = store
        # candidate -> (when asked, answer): the jobs of one runner share their queries
        self._recent: dict[str, tuple[float, Task]] = {}
        scale = float(getattr(client, "time_scale", 1.0))
        self._interval = max(0.05, min(5.0, 5.0 * scale))

    async def service_since(self, earliest_local: datetime) -> datetime:
        """``earliest_local`` (an intent's local time) on the service's clock, minus the
        margin. Asks the service once for its clock when no answer has told it yet."""
        clock = getattr(self.client, "service_clock", None)
        if clock is not None and clock.offset is None:
            try:
                await budget(self.client)
                await self.client.list_page(page_size=1)
            except WanError as exc:  # the list call below will fail the same way
                log.debug("could not learn the service's clock: %s", exc)
        local = _aware(earliest_local)
        on_service = clock.to_service(local) if clock is not None else local
        return on_service - RECONCILE_MARGIN

    async def reconcile(self, request: Any, *, deadline: float, settle: bool = True) -> Task | None:
        """The task an open intent of ``request`` made, adopted and journaled; or None when
        every open intent of ``request`` certainly made no (billable) task (with ``settle``
        they are then closed; without, right after an interrupted create whose task may not
        be listed yet, they stay open for the next run).

        Raises :class:`SubmitUncertainError` at ``deadline`` (monotonic) while a candidate
        has not told what it was made for: the intents stay open for the next run.
        """
        store = self.store
        ours = store.dangling_intents(request.digest)
        if not ours:
            return None
        since = await self.service_since(min(i.created_at for i in ours))
        pending: dict[str, Any] = {}
        settled: set[str] = set()
        await self._list(request, since, pending, settled)
        interval = self._interval
        while True:
            found = await self._round(request, pending, settled)
            if found is None:  # another reconcile (here or elsewhere) may have found ours
                found = await self._resolved_elsewhere([i.id for i in ours])
            if found is not None:
                return found
            open_now = store.dangling_intents(request.digest)
            if not open_now:
                return None  # abandoned elsewhere: certainly no task
            young = any(_age(i.created_at) < create_horizon() for i in open_now)
            if not pending and not (settle and young):
                if settle:
                    for intent in open_now:
                        store.abandon_intent(intent.id)
                return None
            if time.monotonic() >= deadline:
                raise self._uncertain(
                    request,
                    f"{len(pending)} task(s) of {request.model} have not finished yet"
                    if pending
                    else "its create may still be in flight on the service",
                )
            await asyncio.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))
            if young:  # a create still in flight makes its task later: look again
                await self._list(request, since, pending, settled)

    async def _list(
        self, request: Any, since: datetime, pending: dict[str, Any], settled: set[str]
    ) -> None:
        """Add the model's unknown tasks created since ``since`` to ``pending``."""
        seen = 0
        await budget(self.client)
        async for item in self.client.list(model=request.model, start_time=since):
            seen += 1
            if seen > MAX_CANDIDATES:
                raise self._uncertain(request, f"more than {MAX_CANDIDATES} listed tasks")
            created = item.created
            if created is not None and _aware(created) < since:
                continue
            if item.task_id not in settled and self.store.get(item.task_id) is None:
                pending[item.task_id] = item

    async def _round(self, request: Any, pending: dict[str, Any], settled: set[str]) -> Task | None:
        """Ask every pending candidate once; assign those that revealed themselves."""
        store = self.store
        mine: Task | None = None
        for task_id in list(pending):
            if store.get(task_id) is not None:  # its own create answer arrived meanwhile
                del pending[task_id]
                continue
            recent = self._recent.get(task_id)
            if recent is not None and time.monotonic() - recent[0] < self._interval:
                task = recent[1]  # asked a moment ago by another job's reconcile
            else:
                await budget(self.client)
                try:
                    task = await self.client.get(task_id)
                except WanError as exc:
                    log.debug("reconcile: could not query %s: %s", task_id, exc)
                    continue
                self._recent[task_id] = (time.monotonic(), task)
            if not reveals(task):
                if task.status in _FREE:
                    del pending[task_id]  # failed tasks are not billed: it frees its intent
                    settled.add(task_id)
                    self._recent.pop(task_id, None)
                continue
            del pending[task_id]
            settled.add(task_id)
            self._recent.pop(task_id, None)
            adopted = self._assign(task, request)
            if adopted and mine is None:
                mine = task
        return mine

    async def _resolved_elsewhere(self, intent_ids: list[int]) -> Task | None:
        """The task one of these intents was resolved with since this reconcile began."""
        for intent_id in intent_ids:
            intent = self.store.intent(intent_id)
            if intent is not None and intent.state == "resolved" and intent.task_id:
                await budget(self.client)
                return await self.client.get(intent.task_id)
        return None

    def _assign(self, task: Task, request: Any) -> bool:
        """Journal ``task`` for the open intent it was made for; True if that is ``request``'s."""
        store = self.store
        model_intents = [i for i in store.dangling_intents() if i.model == request.model]
        fits = [i for i in model_intents if matches(task, i.request)]
        if not fits:
            return False
        if len({i.digest for i in fits}) > 1:
            log.warning(
                "task %s fits %d different open requests (they differ only in parameters the "
                "service does not show); it is left for them to settle",
                task.task_id,
                len(fits),
            )
            return False
        intent = fits[0]  # the oldest open intent of that request
        if not store.adopt_for_intent(intent.id, task.task_id, request_id=task.request_id):
            return False
        log.warning(
            "task %s was found by its content (prompt and parameters) after a create answer "
            "was lost, and journaled for %s",
            task.task_id,
            "this request" if intent.digest == request.digest else "the request it was made for",
        )
        return intent.digest == request.digest

    def _uncertain(self, request: Any, why: str) -> SubmitUncertainError:
        return SubmitUncertainError(
            f"uncertain: run again later. A create request of {request.model} for this prompt "
            f"was interrupted and its task could not be identified yet ({why}); the intent "
            "stays journaled, so a later run finds the task instead of paying again.",
            model=request.model,
            submitted_at=datetime.now(timezone.utc).isoformat(),
        )


async def adopt_unknown(client: Any, store: Any, task: Task) -> Any:
    """Journal a succeeded task this folder never saw (``attach`` of a foreign id).

    The query tells the prompt and the usage tells size and duration; the list call tells
    the model. The request is rebuilt from those so the result is cached like any other.
    """
    from .request import VideoRequest

    model = None
    await budget(client)
    async for item in client.list(task_id=task.task_id):
        model = item.model
        break
    usage = task.usage
    size = usage.get("size") or usage.get("video_ratio")
    duration = usage.get("output_video_duration") or usage.get("video_duration")
    params: dict[str, Any] = {"model": model or catalog.DEFAULT_MODEL}
    if isinstance(size, str) and "*" in size:
        params["size"] = size
    elif usage.get("SR") and isinstance(usage.get("ratio"), str):  # new protocol (issue 13)
        params["resolution"], params["ratio"] = f"{usage['SR']}P", usage["ratio"]
    if isinstance(duration, (int, float)) and float(duration).is_integer():
        params["duration"] = int(duration)
    prompt = task.orig_prompt or f"task {task.task_id}"
    try:
        request = VideoRequest.create(prompt, **params)
    except WanError:
        try:
            request = VideoRequest.create(prompt[:800], model=params["model"])
        except WanError:  # issue 14: a media model; its inputs cannot be known from here
            request = _unknown_inputs(prompt, params["model"], task.task_id)
    store.record_submitted(request, task.task_id, request_id=task.request_id)
    return request


def _unknown_inputs(prompt: str, model: str, task_id: str) -> Any:
    """A request for a foreign image-to-video task: its image is unknown, so it is keyed by
    the task (``task:<id>``), which no other request shares."""
    import hashlib

    from .media_in import MediaInput
    from .request import VideoRequest

    url = f"task:{task_id}"
    unknown = MediaInput(
        "image", "remote", hashlib.sha256(url.encode()).hexdigest(), 0, "", "", url=url
    )
    return VideoRequest(prompt=prompt, model=model, size="", media=(unknown,))
