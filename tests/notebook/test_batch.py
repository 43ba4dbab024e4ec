"""``BatchGrid`` following real jobs against the emulator, in-process (widgets without a
frontend: the tests read their values and press the button)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from IPython.utils.capture import capture_output

from wan_notebook import errors, generate_many
from wan_notebook.notebook.batch import BatchGrid

XSS = "a <img src=x onerror=alert(1)> fox"
FAST = {"model": "wan2.2-t2v-plus", "size": "832*480"}


@pytest.fixture
def env(emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", "0.005")  # poll at the emulator's pace
    return {"output_dir": "out", "api_key": emulator.api_key, "base_url": emulator.base_url}


@pytest.fixture(autouse=True)
def _shell(shell: object) -> None:
    """display() needs a shell to capture outputs."""


def test_grid_follows_generate_many(env: dict[str, Any], emulator: Any) -> None:
    emulator.faults.add("create", "fail_task", code="DataInspectionFailed", match="forbidden")
    grid = BatchGrid(widgets=True, tick=0.05)
    with capture_output() as cap:
        grid.show()
        outcomes = generate_many(
            [XSS, "a cat", {"prompt": "a forbidden dog", "seed": 3}],
            on_job=grid.add, return_exceptions=True, **FAST, **env,
        )  # fmt: skip
    assert len(grid.jobs) == 3 and grid.done()
    assert grid.counts() == {"SUCCEEDED": 2, "FAILED": 1}
    assert grid.outcomes() == outcomes
    assert isinstance(outcomes[2], errors.ContentModerationError)
    # widget rows: status badge, full bar, the video (or the error) in the result column
    rows = grid._rows
    assert "SUCCEEDED" in rows[0].status.value and rows[0].progress.value == 1.0
    assert rows[0].progress.bar_style == "success" and rows[2].progress.bar_style == "danger"
    video = rows[0].result.outputs[0]["data"]["text/html"]
    assert f'src="out/{outcomes[0].path.name}"' in video
    assert "Rephrase the prompt" in rows[2].result.outputs[0]["data"]["text/html"]
    assert "&lt;img src=x" in rows[0].prompt.value and "<img src=x" not in rows[0].prompt.value
    assert rows[0].progress.description == "#1" and rows[0].progress.description_allow_html is False
    # the static view was shown once and updated in place; its last state is final
    assert {o.transient.get("display_id") for o in cap.outputs} == {grid._handle.display_id}
    final = cap.outputs[-1].data
    html = final["text/html"]
    assert "<img src=x onerror" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count('<video class="wan-video"') == 2 and "DataInspectionFailed" in html
    assert "3 jobs: 1 FAILED, 2 SUCCEEDED" in final["text/plain"]


def test_run_returns_results_with_errors_in_place(env: dict[str, Any], emulator: Any) -> None:
    emulator.faults.add("create", "fail_task", code="DataInspectionFailed", match="forbidden")
    with capture_output() as cap:
        outcomes = BatchGrid.run(["a fox", "a forbidden fox"], widgets=False, **FAST, **env)
    assert outcomes[0].path.is_file() and isinstance(outcomes[1], errors.TaskFailedError)
    last = cap.outputs[-1].data
    assert "application/vnd.jupyter.widget-view+json" not in last
    assert "1 FAILED, 1 SUCCEEDED" in last["text/plain"]


def test_cancel_all_pending(emulator_factory: Any, tmp_path: Path) -> None:
    emu = emulator_factory(speed=1.0, rate_limits=False)  # slow: tasks stay PENDING a while
    prompts = [f"fox number {i}" for i in range(4)]

    async def main() -> BatchGrid:
        grid = BatchGrid.start(
            prompts, output_dir=tmp_path / "out", api_key=emu.api_key, base_url=emu.base_url,
            poll_scale=0.01, show=False, widgets=True, **FAST,
        )  # fmt: skip
        try:
            # wan2.2 runs 2 at once: two tasks go PENDING, two wait here (never sent); which
            # two is up to the claims, so wait for the condition, not for an order
            deadline = time.monotonic() + 120
            while sum(j.task_id is not None for j in grid.jobs) < 2:
                assert time.monotonic() < deadline, [j.phase for j in grid.jobs]
                await asyncio.sleep(0.01)
            waiting = [j for j in grid.jobs if j.task_id is None]
            assert [j.phase for j in waiting] == ["queued", "queued"]
            grid._w["cancel"].click()  # the button schedules cancel_pending on the loop
            await grid._cancel_task
            await grid.wait()
        finally:
            await grid.aclose()
        return grid

    grid = asyncio.run(main())
    assert grid.counts() == {"CANCELED": 4}
    assert all(isinstance(o, errors.TaskCanceledError) for o in grid.outcomes())
    assert grid.note == "canceled 4 pending job(s)" and "canceled 4" in grid._w["note"].value
    assert grid._w["cancel"].disabled
    stats = emu.stats()
    assert stats["tasks_created"] == 2 and stats["tasks_by_status"] == {"CANCELED": 2}
    assert "CANCELED" in grid.text_view() and grid.html().count("CANCELED") >= 4


def test_cancel_leaves_running_tasks_and_says_so(env: dict[str, Any], emulator: Any) -> None:
    async def main() -> tuple[int, BatchGrid]:
        grid = BatchGrid.start(["a fox"], show=False, widgets=False, **FAST, **env)
        try:
            while grid.jobs[0].status != "RUNNING":
                await asyncio.sleep(0.005)
            canceled = await grid.cancel_pending()
            await grid
        finally:
            await grid.aclose()
        return canceled, grid

    canceled, grid = asyncio.run(main())
    assert canceled == 0 and grid.counts() == {"SUCCEEDED": 1}
    assert "1 already running or ended go on" in grid.note


def _buttons(widget: Any) -> list[Any]:
    """Every Button in a widget tree."""
    import ipywidgets as w

    if isinstance(widget, w.Button):
        return [widget]
    return [b for child in getattr(widget, "children", ()) for b in _buttons(child)]


def test_a_blocking_grid_offers_no_cancel_button_it_could_not_honour(
    env: dict[str, Any],
) -> None:
    """BatchGrid.run blocks the kernel, which then processes no click until the cell ends:
    a "Cancel all pending" there did nothing while jobs were queued (issue 12). The blocking
    grid has no button and says how to get one; the background grid keeps it, uncut."""
    with capture_output() as cap:
        outcomes = BatchGrid.run(["a cat", "a dog"], widgets=True, **FAST, **env)
    assert len(outcomes) == 2
    final = cap.outputs[-1].data
    assert "use BatchGrid.start() to be able to cancel" in final["text/html"]
    assert "use BatchGrid.start() to be able to cancel" in final["text/plain"]
    grid = BatchGrid(widgets=True, cancel_button=False)
    assert _buttons(grid.widget) == []
    background = BatchGrid(widgets=True)
    (button,) = _buttons(background.widget)
    assert button.description == "Cancel all pending"
    assert button.layout.width == "auto" and button.layout.flex == "0 0 auto"  # label not cut
