"""SweepView: counts, pace, latest results; a grid only when small; throttled at scale."""

from __future__ import annotations

import threading
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from wan_notebook.notebook.sweep_view import SweepView
from wan_notebook.sweeps import sweep


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]


def _parse(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    return parser


def test_a_small_sweep_shows_a_grid_counts_and_the_latest_results(
    tmp_path: Path, emulator_factory: Any
) -> None:
    emu = emulator_factory(fast_render=True, rate_limits=False, speed=1000.0)
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    sw = sweep(["a fox", hostile], seeds=[0, 1], output_dir=tmp_path,
               api_key=emu.api_key, base_url=emu.base_url)  # fmt: skip
    view = SweepView(sw, every=0.0)
    assert "done 0" not in view.html and "pending 4" in view.html
    sw.run()
    view.refresh()
    tags = _parse(view.html)
    assert "script" not in tags.tags and "onerror" not in tags.attrs  # text, never markup
    assert "&lt;script&gt;" in view.html
    assert "4/4 done" in view.html and "done 4" in view.html
    assert view.html.count('style="width:12px') == 4  # the grid: one square per cell
    assert view.html.count("<tr>") == 5  # header + the 4 latest results
    assert "cells/s" in view.html and "ETA 0:00" in view.html


def test_5000_cells_render_without_a_grid_and_refreshes_are_throttled(tmp_path: Path) -> None:
    prompts = [f"scene {i}" for i in range(1000)]
    sw = sweep(
        prompts,
        seeds=range(5),
        output_dir=tmp_path,
        api_key="sk-none",
        base_url="http://127.0.0.1:9",
    )  # fmt: skip  (never run: nothing is sent)
    assert len(sw) == 5000
    now = [0.0]
    view = SweepView(sw, every=0.5, clock=lambda: now[0])
    assert "12px" not in view.html and len(view.html) < 4000  # aggregated, fixed size
    assert "0/5,000 done" in view.html and "pending 5,000" in view.html
    for i in range(5000):  # 5,000 cells ending within the same half second
        view.on_outcome(None)
        if i == 2500:
            now[0] = 0.6  # time passes: one more refresh is due
            view.on_outcome(None)
    assert view.refreshes == 2  # the first outcome, and one after 0.5 s, not 5,000
    view.close()


def test_a_timer_draws_the_last_changes(tmp_path: Path) -> None:
    sw = sweep(["a fox"], output_dir=tmp_path, api_key="sk-none", base_url="http://127.0.0.1:9")
    view = SweepView(sw, every=0.05)
    drawn = threading.Event()
    view.on_outcome(None)  # drawn at once
    original = view.refresh

    def refresh() -> None:
        original()
        drawn.set()

    view.refresh = refresh  # type: ignore[method-assign]
    view.on_outcome(None)  # too soon: the timer draws it
    assert drawn.wait(30) and view.refreshes == 2
