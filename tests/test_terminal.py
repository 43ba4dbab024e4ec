"""The ``wanvideo`` progress line (:class:`wan_notebook.terminal.TerminalProgress`).

The renderer is driven with successive job states (no sleeps, no timing asserts): a real
:class:`Job` of a real :class:`Runner` whose status the test sets the way the poll loop does,
drawn on a stream that says it is a terminal. The one loop test waits for redraws to happen
(a condition with a generous deadline) while no event arrives.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
from pathlib import Path
from typing import Any

from wan_notebook.errors import DetachedError, WaitTimeoutError
from wan_notebook.jobs import Job, Runner
from wan_notebook.request import VideoRequest
from wan_notebook.store import OutputStore
from wan_notebook.terminal import TerminalProgress


class FakeTTY(io.StringIO):
    """A stream that claims to be a terminal (what the user sees is in ``getvalue()``)."""

    def isatty(self) -> bool:
        return True


def percents(frames: list[str]) -> list[int]:
    return [int(m.group(1)) for f in frames if (m := re.search(r"\] +(\d+)%", f))]


def make_job(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> Job:
    runner = Runner(store=OutputStore(tmp_path / "out"), api_key="sk-unused", loop=loop)
    request = VideoRequest.create("a fox", model="wan2.5-t2v-preview", size="832*480")
    return Job(runner, request)


def set_status(job: Job, status: str, *, running_for: float = 0.0) -> None:
    """What the poll loop does on a status change (without emitting the event)."""
    job.status = status
    if status == "RUNNING":
        job._running_since = time.monotonic() - running_for


def test_the_bar_never_goes_backwards_and_moves_while_running(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    try:
        job = make_job(loop, tmp_path)
        view = TerminalProgress(job, FakeTTY(), tick=0)
        expected = job.expected_seconds * job.runner.time_scale
        set_status(job, "PENDING")
        view.draw()  # 2 %
        set_status(job, "RUNNING")  # the estimate restarts at 0 %: the bar must not drop
        view.draw()
        for share in (0.1, 0.3, 0.6, 1.0, 3.0):  # later and later in the run
            job._running_since = time.monotonic() - share * expected
            view.draw()
        shown = percents(view.frames)
        assert shown[:2] == [2, 2], view.frames
        assert shown == sorted(shown), view.frames  # monotonic
        assert len(set(shown[2:])) == len(shown[2:]), view.frames  # it moves while RUNNING
        assert shown[-1] >= 90
    finally:
        loop.close()


def test_the_line_is_redrawn_every_tick_without_events(tmp_path: Path) -> None:
    """RUNNING for a while with no event: the timer still redraws, with a growing estimate
    (the old view sat at 0 % until the next event)."""

    async def scenario() -> list[str]:
        job = make_job(asyncio.get_running_loop(), tmp_path)
        set_status(job, "RUNNING", running_for=5.0)
        view = TerminalProgress(job, FakeTTY(), tick=0.05)
        deadline = time.monotonic() + 60
        while len(view.frames) < 4 and time.monotonic() < deadline:
            job._running_since -= 10.0  # time passes on the task (no event is emitted)
            await asyncio.sleep(0.05)
        view._done = True
        return view.frames

    frames = asyncio.run(scenario())
    assert len(frames) >= 4, frames
    shown = percents(frames)
    assert shown == sorted(shown) and shown[-1] > shown[0], frames


def test_a_detached_or_timed_out_task_is_not_reported_as_failed(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    try:
        for error, label in (
            (DetachedError("stopped", task_id="t-1"), "DETACHED"),
            (WaitTimeoutError("late", task_id="t-1", status="RUNNING"), "TIMED OUT"),
        ):
            job = make_job(loop, tmp_path)
            job.task_id = "t-1"
            set_status(job, "RUNNING")
            stream = FakeTTY()
            view = TerminalProgress(job, stream, tick=0)
            job._emit("failed", error=error, status="RUNNING")
            last = view.frames[-1]
            assert last.startswith(label) and "t-1 is still RUNNING on the service" in last
            assert "FAILED" not in stream.getvalue()
    finally:
        loop.close()


def test_plain_output_is_one_line_per_status(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    try:
        job = make_job(loop, tmp_path)
        stream: Any = io.StringIO()
        view = TerminalProgress(job, stream, tick=0.01)
        assert view._ticker is None  # no timer when nobody watches a terminal
        for status in ("PENDING", "PENDING", "RUNNING", "RUNNING"):
            set_status(job, status)
            view.draw()
        assert [ln.split()[0] for ln in stream.getvalue().splitlines()] == ["PENDING", "RUNNING"]
    finally:
        loop.close()
