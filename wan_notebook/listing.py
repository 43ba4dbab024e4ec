"""The task list across pages and 24 h windows, with a page cap (no I/O here).

The service lists at most 24 h per call, so a longer range is split into windows, newest
first. Pages are followed while the service says there are more, but never past
``max_pages`` per window: a server that always claims "more pages" would otherwise keep a
reconcile looping forever. Past the cap, :class:`~.errors.ListTruncatedError` says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from . import protocol
from .errors import ListTruncatedError, ValidationError
from .protocol import TaskPage, TaskSummary

__all__ = ["LIST_WINDOW", "MAX_LIST_PAGES", "Pager", "list_windows"]

LIST_WINDOW = timedelta(hours=24)
#: Pages read per window at most (50 rows each by default: 5000 tasks in 24 h).
MAX_LIST_PAGES = 100


def _as_datetime(value: datetime | str) -> datetime:
    """An aware datetime: naive ones are local time, strings the service's clock (UTC+8)."""
    if isinstance(value, datetime):
        return value.astimezone()
    text = protocol.format_list_time(value)
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=protocol.SERVICE_TZ)


def list_windows(
    start: datetime | str | None, end: datetime | str | None
) -> list[tuple[datetime | str | None, datetime | str | None]]:
    """Split a start..end range longer than 24 h into <= 24 h windows, newest first."""
    if start is None or end is None:
        return [(start, end)]
    s, e = _as_datetime(start), _as_datetime(end)
    if e < s:
        raise ValidationError(
            f"end_time {e} is before start_time {s}",
            param="end_time",
            value=end,
            allowed="a time after start_time",
        )
    windows: list[tuple[datetime | str | None, datetime | str | None]] = []
    hi = e
    while hi > s:
        lo = max(s, hi - LIST_WINDOW)
        windows.append((lo, hi))
        hi = lo - timedelta(seconds=1)
    return windows or [(s, e)]


def check_max_pages(max_pages: int) -> int:
    """``max_pages`` as a positive int, or a ValidationError naming it."""
    if isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1:
        raise ValidationError(
            f"max_pages must be a positive integer, got {max_pages!r}",
            param="max_pages",
            value=max_pages,
            allowed="an integer >= 1",
        )
    return max_pages


class Pager:
    """Which page comes next in one window, which rows are new, and when to stop."""

    def __init__(self, max_pages: int, seen: set[str]) -> None:
        self.max_pages = max_pages
        self.seen = seen
        self.page_no = 1

    def new_rows(self, page: TaskPage) -> list[TaskSummary]:
        """The rows of ``page`` not yielded before (a row may move between pages)."""
        rows = []
        for item in page.items:
            if item.task_id not in self.seen:
                self.seen.add(item.task_id)
                rows.append(item)
        return rows

    def advance(self, page: TaskPage) -> bool:
        """True if another page should be read; raises past the page cap."""
        if not page.items or not page.has_more:
            return False
        if self.page_no >= self.max_pages:
            raise ListTruncatedError(
                f"the task list still reported more pages after {self.page_no} pages of "
                f"{page.page_size}; stopped there (max_pages={self.max_pages}). Narrow the "
                "range (start_time/end_time, model, status) or raise max_pages",
                pages=self.page_no,
            )
        self.page_no += 1
        return True
