"""The service's clock, as its ``Date`` headers tell it.

Time windows that involve the service (which tasks were created since an interrupted create;
whether a signed URL has expired) must be judged on the service's clock, not the machine's: a
laptop clock ten minutes fast would otherwise miss a lost task and pay for it again, and one a
day fast would throw away a valid video URL. Every HTTP answer carries a ``Date`` header
(RFC 9110, one-second resolution); :class:`ServiceClock` keeps the offset between that and the
local clock, so ``clock.now()`` estimates the service's "now" from the local one.

Pure and thread-safe; the client feeds it (``observe``) and the jobs and the store read it.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

__all__ = ["DATE_RESOLUTION", "ServiceClock"]

#: A ``Date`` header has one-second resolution, and the answer took time to arrive: windows
#: computed on the service's clock widen by at least this much.
DATE_RESOLUTION = timedelta(seconds=2)


class ServiceClock:
    """The offset between the service's clock and the local one, learned from ``Date`` headers.

    Until a header has been seen the offset is unknown and :meth:`now` is the local clock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset: timedelta | None = None

    def observe(self, date_header: str | None, *, local: datetime | None = None) -> None:
        """Learn from one answer's ``Date`` header (received at ``local``, default now).

        An absent or unparsable header is ignored: a proxy may drop it, and a bad one must
        never break a request.
        """
        if not date_header:
            return
        try:
            service = parsedate_to_datetime(date_header)
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        if service.tzinfo is None:  # "-0000" means UTC with no zone information
            service = service.replace(tzinfo=timezone.utc)
        received = local or datetime.now(timezone.utc)
        if received.tzinfo is None:
            received = received.replace(tzinfo=timezone.utc)
        with self._lock:
            self._offset = service - received

    @property
    def offset(self) -> timedelta | None:
        """Service time minus local time (None until a ``Date`` header was seen)."""
        with self._lock:
            return self._offset

    def now(self) -> datetime:
        """The service's current time (UTC), estimated from the local clock and the offset."""
        return self.to_service(datetime.now(timezone.utc))

    def to_service(self, local: datetime) -> datetime:
        """A local instant on the service's clock (unchanged while the offset is unknown)."""
        if local.tzinfo is None:
            local = local.replace(tzinfo=timezone.utc)
        offset = self.offset
        return local if offset is None else local + offset

    def to_local(self, service: datetime) -> datetime:
        """A service instant on the local clock (unchanged while the offset is unknown)."""
        if service.tzinfo is None:
            service = service.replace(tzinfo=timezone.utc)
        offset = self.offset
        return service if offset is None else service - offset
