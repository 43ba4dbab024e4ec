"""compare() in real JupyterLab and Chromium: the players seek, step and play together.

A notebook makes a 3-seed sweep against an emulator (full renders: 16 fps, so one frame is
62.5 ms) and shows ``compare(sw.results(), by="seed")``. The test seeks through the widget's
own slider, steps a frame with its button, plays and pauses, and after each checks every
player's ``currentTime`` against the first: within one frame. Labels come from the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from lab_helpers import (
    ARTIFACTS,
    CHROMIUM_FLAGS,
    RUN_ALL,
    chromium_path,
    open_notebook,
    running_lab,
)

pytestmark = pytest.mark.slow

FPS = 16
CELLS = [
    "from wan_notebook.emulator import Emulator\n"
    "from wan_notebook import sweep, compare\n"
    "emu = Emulator(speed=500, rate_limits=False).start()\n"
    "sw = sweep(['a paper lantern drifting over a harbour'], seeds=[0, 1, 2],\n"
    "           models=['wan2.2-t2v-plus'], params={'size': ['832*480']}, output_dir='out',\n"
    "           api_key=emu.api_key, base_url=emu.base_url)\n"
    "print(sw.run().done)",
    "compare(sw.results(), by='seed')",
]

TIMES = """(root) => {
  const v = [...root.querySelectorAll('video')];
  return {times: v.map(p => p.currentTime), ready: v.map(p => p.readyState),
          seeking: v.map(p => p.seeking), paused: v.map(p => p.paused)};
}"""

SETTLED = (
    """(root) => [...root.querySelectorAll('video')].every(p => p.readyState >= 2 && !p.seeking)"""
)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[dict[str, Any]]:
    work = tmp_path / "work"
    work.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    nbformat.write(nb, work / "compare.ipynb")
    with running_lab(tmp_path, work, start_timeout=90) as lab:
        yield lab


def _in_sync(root: Any, page: Any) -> list[float]:
    page.wait_for_function(SETTLED, arg=root.element_handle(), timeout=30_000)
    state = root.evaluate(TIMES)
    times = state["times"]
    assert len(times) == 3, state
    assert max(times) - min(times) <= 1 / FPS, state  # within one frame of each other
    return times


def test_compare_players_seek_step_and_play_together(lab: dict[str, Any]) -> None:
    chromium = chromium_path()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            page, errors = open_notebook(browser, lab, "compare.ipynb", height=1600)
            page.evaluate(RUN_ALL)
            root = page.locator(".wan-compare")
            try:
                root.wait_for(timeout=240_000)
                labels = root.locator("figcaption").all_inner_texts()
                assert labels == ["seed=0", "seed=1", "seed=2"]
                _in_sync(root, page)
                # seek with the widget's slider
                slider = root.locator("input.wan-compare-seek")
                slider.evaluate("(s) => { s.value = '2.5'; s.dispatchEvent(new Event('input')); }")
                times = _in_sync(root, page)
                assert abs(times[0] - 2.5) <= 1 / FPS, times
                # one frame forward with the button
                root.locator("button.wan-compare-step").nth(1).click()
                stepped = _in_sync(root, page)
                assert abs(stepped[0] - (times[0] + 1 / FPS)) <= 1 / FPS / 2, (times, stepped)
                # play together, then pause: still together, and time went on
                root.locator("button.wan-compare-play").click()
                page.wait_for_timeout(1200)
                root.locator("button.wan-compare-play").click()
                played = _in_sync(root, page)
                assert played[0] > stepped[0] + 0.3, (stepped, played)
            finally:
                page.screenshot(path=str(ARTIFACTS / "compare-lab.png"))
            assert not errors, errors
        finally:
            browser.close()
