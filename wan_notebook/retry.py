"""Pure retry policy: what may be retried, and how long to wait first.

Queries, list, cancel and the upload-policy call are idempotent: they are retried on
429/500/502/503/504 and network errors. The creating POST is not: resending it after the
service may already have created a task could make (and bill) a second video. It is retried
only when the service *cannot* have created a task:

* the connection was never made (connect error / connect timeout / pool timeout), or
* the service said so: 429 (throttled before admission) and 503 (model unavailable).

After an ambiguous failure (read timeout, connection dropped after sending, 500/502/504, a
write that broke mid-request) the client raises
:class:`~wan_notebook.errors.SubmitUncertainError` instead (see :func:`submit_uncertain`).

Waits use capped exponential backoff with full jitter (``uniform(0, min(cap, base * 2**n))``),
or the server's ``Retry-After`` when given (capped by ``max_retry_after``). The random source
is injectable for tests.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from . import checks
from .errors import SubmitUncertainError

__all__ = [
    "RETRYABLE_STATUS",
    "SAFE_CREATE_STATUS",
    "Failure",
    "RetryPolicy",
    "Verdict",
    "submit_uncertain",
]

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
#: Statuses after which the service certainly did not create a task.
SAFE_CREATE_STATUS = frozenset({429, 503})


class Failure(Enum):
    """How a request failed without an HTTP response."""

    #: nothing reached the service (refused, DNS, connect timeout, pool timeout)
    NOT_SENT = "not_sent"
    #: the request may have been (partly) received: read timeout, dropped connection
    AFTER_SEND = "after_send"


class Verdict(Enum):
    """What to do after a failed attempt."""

    RETRY = "retry"
    RAISE = "raise"
    #: create only: stop, and tell the user a task may exist
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class RetryPolicy:
    """Retry limits. ``max_retries`` counts resends after the first attempt."""

    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        # WanClient(max_retries=-1) was accepted; checked here, where every client builds one
        checks.non_negative_int(self.max_retries, "max_retries")

    def verdict(
        self,
        kind: str,
        attempt: int,
        *,
        status: int | None = None,
        failure: Failure | None = None,
    ) -> Verdict:
        """Decide after attempt number ``attempt`` (0 = the first) of a ``kind`` call failed
        with HTTP ``status`` or a network ``failure``."""
        if status is not None:
            if status not in RETRYABLE_STATUS:
                return Verdict.RAISE
            safe = kind != "create" or status in SAFE_CREATE_STATUS
        elif failure is not None:
            safe = kind != "create" or failure is Failure.NOT_SENT
        else:
            return Verdict.RAISE
        if not safe:
            return Verdict.UNCERTAIN
        return Verdict.RETRY if attempt < self.max_retries else Verdict.RAISE

    def backoff(self, attempt: int, rand: Callable[[], float] = _random.random) -> float:
        """Full-jitter backoff before retry number ``attempt + 1``."""
        ceiling = min(self.max_delay, self.base_delay * (2.0 ** min(attempt, 30)))
        return ceiling * rand()

    def delay(
        self,
        attempt: int,
        retry_after: float | None = None,
        rand: Callable[[], float] = _random.random,
    ) -> float:
        """Seconds to wait: ``Retry-After`` (capped) when the server sent one, else backoff."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        return self.backoff(attempt, rand)


def submit_uncertain(
    model: str, submitted_at: datetime, cause: str, *, since: datetime | None = None
) -> SubmitUncertainError:
    """The error for an ambiguous create failure: a task may exist; here is how to find it."""
    since = since or submitted_at
    stamp = since.strftime("%Y-%m-%d %H:%M:%S")
    arg = f"{since.year}, {since.month}, {since.day}, {since.hour}, {since.minute}"
    message = (
        f"submitting to {model} failed after the request may have reached the service "
        f"({cause}); a task may exist and may be billed. It was NOT resent, to avoid paying "
        f"twice. Look for it before submitting again: "
        f"client.list(model={model!r}, start_time=datetime({arg})) or "
        f"`wanvideo list --model {model}` (tasks since {stamp} local time)."
    )
    return SubmitUncertainError(message, model=model, submitted_at=submitted_at.isoformat())
