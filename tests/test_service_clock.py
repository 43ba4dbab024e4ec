"""ServiceClock: the offset learned from Date headers, and what it does without one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from wan_notebook.service_clock import ServiceClock

LOCAL = datetime(2026, 12, 2, 12, 0, 0, tzinfo=timezone.utc)


def test_without_a_header_the_local_clock_is_used() -> None:
    clock = ServiceClock()
    clock.observe(None)
    clock.observe("not a date")
    assert clock.offset is None
    assert clock.to_service(LOCAL) == LOCAL and clock.to_local(LOCAL) == LOCAL


def test_a_local_clock_ten_minutes_fast_is_corrected() -> None:
    clock = ServiceClock()
    clock.observe("Wed, 02 Dec 2026 11:50:00 GMT", local=LOCAL)
    assert clock.offset == timedelta(minutes=-10)
    assert clock.to_service(LOCAL) == LOCAL - timedelta(minutes=10)
    assert clock.to_local(LOCAL - timedelta(minutes=10)) == LOCAL
    assert abs(clock.now() - (datetime.now(timezone.utc) - timedelta(minutes=10))) < timedelta(
        minutes=1
    )


def test_the_latest_header_wins() -> None:
    clock = ServiceClock()
    clock.observe("Wed, 02 Dec 2026 11:50:00 GMT", local=LOCAL)
    clock.observe("Thu, 03 Dec 2026 13:00:00 GMT", local=LOCAL)
    assert clock.offset == timedelta(hours=25)
