"""The quick-start notebook in real JupyterLab, in a real (headless) Chromium.

JupyterLab runs on 127.0.0.1 with every Jupyter/IPython directory in a temporary folder and no
API key, so the notebook's ``%wanvideo connect`` starts its own emulator, exactly as on Binder.
Playwright drives Debian's ``/usr/bin/chromium`` (never a downloaded browser). The test runs all
cells of a copy of ``notebooks/01-quickstart.ipynb`` and checks what a person would see: the
panels end SUCCEEDED after showing the task's progress, each ``<video>`` decodes at the requested
size and duration and plays, and the prompt containing ``<img src=x onerror=...>`` appears as
text and runs nothing. Screenshots go to ``artifacts/browser/`` (gitignored).

Skipped (with the reason) when chromium or playwright is missing, except in CI (``CI=true``),
where a missing browser is a failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from lab_helpers import (
    ARTIFACTS,
    CHROMIUM_FLAGS,
    ROOT,
    RUN_ALL,
    chromium_path,
    open_notebook,
    running_lab,
)

pytestmark = pytest.mark.slow

NOTEBOOK = ROOT / "notebooks" / "01-quickstart.ipynb"
WIDGETS = ROOT / "notebooks" / "02-widgets.ipynb"
XSS = "<img src=x onerror=\"document.title='pwned'\">"
WIDTH, HEIGHT, DURATION = 832, 480, 5.0  # what the notebook's cells ask for


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """JupyterLab on a free loopback port, isolated in ``tmp_path``, serving ``work/`` with
    output-free copies of the notebooks under test."""
    work = tmp_path / "work"
    work.mkdir()
    for source in (NOTEBOOK, WIDGETS):
        nb = nbformat.read(source, as_version=4)
        for cell in nb.cells:  # a clean copy: only what this run produces is on the page
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, work / source.name)
    with running_lab(tmp_path, work, start_timeout=60) as lab:
        yield lab


# JavaScript run in the page ------------------------------------------------------------------

WATCH = """() => {
  // every status badge text and every document title the page ever shows
  window.__badges = []; window.__titles = [document.title];
  const seen = () => document.querySelectorAll('.wan-badge').forEach(b => {
    const t = b.textContent.trim();
    if (window.__badges[window.__badges.length - 1] !== t) window.__badges.push(t);
  });
  const all = {subtree: true, childList: true, characterData: true};
  new MutationObserver(seen).observe(document.body, all);
  new MutationObserver(() => window.__titles.push(document.title))
    .observe(document.querySelector('title'), all);
}"""

PLAY = """async (v) => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  v.muted = true; v.preload = 'auto';
  let t0 = performance.now();
  while (v.readyState < 2 && performance.now() - t0 < 15000) await sleep(100);
  const ready = v.readyState, before = v.currentTime;
  let played = 'ok';
  try { await v.play(); } catch (e) { played = String(e); }
  await sleep(1500);
  v.pause();
  return {ready, before, after: v.currentTime, width: v.videoWidth, height: v.videoHeight,
          poster: v.poster,
          duration: v.duration, played, decoded: v.webkitVideoDecodedByteCount,
          frames: v.getVideoPlaybackQuality().totalVideoFrames, src: v.currentSrc};
}"""


def _open(browser: Any, lab: dict[str, Any], name: str) -> tuple[Any, list[str]]:
    """A page with notebook ``name`` open in Lab, recording badges and titles."""
    page, errors = open_notebook(browser, lab, name, height=2400)
    page.evaluate(WATCH)
    return page, errors


def _check_video(video: Any, duration: float = DURATION) -> dict[str, Any]:
    """Play a ``<video>`` muted: it decodes at the requested size and duration and advances."""
    v = video.evaluate(PLAY)
    assert v["ready"] >= 2, v
    assert (v["width"], v["height"]) == (WIDTH, HEIGHT), v
    assert abs(v["duration"] - duration) <= 0.2, v
    assert v["played"] == "ok" and v["after"] > v["before"] + 0.3, v
    assert v["decoded"] > 0 or v["frames"] > 0, v  # video frames, not audio only
    assert "/files/wan_outputs/" in v["src"], v
    return v


def _nothing_ran(page: Any, title_before: str, errors: list[str]) -> None:
    """No ``<img src="x">`` element anywhere, no title change ever, no page error."""
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    titles = page.evaluate("window.__titles")
    assert not [t for t in titles if "pwned" in t], titles
    assert page.evaluate("document.title") == title_before
    assert not errors, errors


def test_quickstart_runs_plays_and_shows_html_prompts_as_text(lab: dict[str, Any]) -> None:
    chromium = chromium_path()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            page, errors = _open(browser, lab, NOTEBOOK.name)
            title_before = page.evaluate("document.title")
            try:
                status = page.evaluate(RUN_ALL)
                page.wait_for_function(
                    "() => document.querySelectorAll("
                    "'.jp-OutputArea-output video.wan-video').length >= 3",
                    timeout=120_000,
                )
                page.wait_for_selector("text=flickers above a noodle bar.", timeout=30_000)
            finally:
                page.screenshot(path=str(ARTIFACTS / "01-quickstart-lab.png"))
            cells = page.locator(".jp-CodeCell")
            panels = page.locator(".jp-OutputArea-output .wan-panel")
            assert panels.count() == 3  # the fox, the sign, the wan2.7 lantern

            # the panels: live progress, then SUCCEEDED with the saved video
            badges = page.evaluate("window.__badges")
            assert badges.count("SUCCEEDED") >= 3, badges
            first_done = badges.index("SUCCEEDED")
            assert {"PENDING", "RUNNING"} & set(badges[:first_done]), badges
            finals = [b.inner_text() for b in panels.locator(".wan-badge").all()]
            assert finals == ["SUCCEEDED"] * 3
            assert "Emulator" in cells.nth(0).inner_text()  # the banner says what this is

            # each video decodes at the requested size and duration, and plays
            for index in range(2):
                _check_video(page.locator(".jp-OutputArea-output video.wan-video").nth(index))
            # (paused after playing: the screenshots show a decoded frame)
            for i, name in ((0, "banner"), (1, "fox-panel"), (4, "html-prompt-panel")):
                cells.nth(i).screenshot(path=str(ARTIFACTS / f"01-quickstart-{name}.png"))

            # the prompt with an <img onerror> is text: no element, no script, title unchanged
            assert XSS in cells.nth(4).locator(".wan-panel summary").inner_text()
            assert XSS in cells.nth(5).locator(".jp-OutputArea").inner_text()
            assert status in ("idle", "busy"), status
            _nothing_ran(page, title_before, errors)
        finally:
            browser.close()
    saved = sorted(p.name for p in (lab["work"] / "wan_outputs").glob("*.mp4"))
    assert len(saved) == 3, saved


def test_widgets_form_generates_from_a_click(lab: dict[str, Any]) -> None:
    """02-widgets in Lab: run all, then use the form as a person would (type a prompt with an
    ``<img onerror>`` in it, show the equivalent cell, click Generate) and follow its panel."""
    chromium = chromium_path()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    prompt = f"A poster that says {XSS} glows in a rainy alley."
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            page, errors = _open(browser, lab, WIDGETS.name)
            title_before = page.evaluate("document.title")
            form = page.locator(".jp-CodeCell").nth(1).locator(".jp-Cell-outputArea")
            try:
                page.evaluate(RUN_ALL)
                page.wait_for_selector("text=Origami cranes lift off a desk", timeout=120_000)
                # the job started from code shows its final panel inside the form
                form.locator("video.wan-video").first.wait_for(timeout=60_000)
                form.locator("textarea").first.fill(prompt)
                form.get_by_role("button", name="Copy as cell").click()
                cell_text = form.locator("textarea").nth(2)
                page.wait_for_function(
                    "(el) => el.value.includes('glows in a rainy alley')",
                    arg=cell_text.element_handle(),
                )
                cell = cell_text.input_value()
                assert cell.startswith("%%wanvideo --model wan2.5-t2v-preview --size 832*480")
                shown = int(
                    form.locator(".widget-dropdown", has_text="Duration")
                    .locator("select")
                    .evaluate("s => s.options[s.selectedIndex].text")
                )
                assert f"--duration {shown} " in cell
                form.get_by_role("button", name="Generate").click()
                page.wait_for_function(
                    "(el) => el.querySelectorAll('video.wan-video').length >= 2",
                    arg=form.element_handle(),
                    timeout=60_000,
                )
            finally:
                page.screenshot(path=str(ARTIFACTS / "02-widgets-lab.png"))
            newest = form.locator(".wan-panel").first  # new jobs go on top
            assert newest.locator(".wan-badge").inner_text() == "SUCCEEDED"
            assert XSS in newest.locator("summary").inner_text()
            _check_video(newest.locator("video.wan-video"), duration=shown)  # what it showed
            page.locator(".jp-CodeCell").nth(1).screenshot(path=str(ARTIFACTS / "02-form.png"))
            _nothing_ran(page, title_before, errors)
        finally:
            browser.close()
    saved = list((lab["work"] / "wan_outputs").glob("*a-poster-that-says*.mp4"))
    assert len(saved) == 1, saved
    # the cell set the model (new duration options) and then duration=5: the browser shows 5
    # (a SelectionSlider used to clamp its old index and sync 10 back)
    assert shown == DURATION


UX_CELLS = [
    "%load_ext wan_notebook\n%wanvideo connect",
    "from wan_notebook.notebook.batch import BatchGrid\n"
    "FAST = dict(model='wan2.5-t2v-preview', size='832*480', duration=5)\n"
    "blocking = BatchGrid.run(['a grey cat', 'a grey dog'], title='blocking batch', **FAST)",
    "grid = BatchGrid.start([f'a queued fox number {i}' for i in range(6)], "
    "title='background batch', concurrency=1, **FAST)",
    "%wanvideo gallery",
]

BUTTON_FITS = (
    """(b) => ({text: b.innerText.trim(), scroll: b.scrollWidth, client: b.clientWidth})"""
)

PLAYING = """async (v) => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const t0 = performance.now();
  while (performance.now() - t0 < 30000 && (v.paused || v.currentTime < 0.5)) await sleep(100);
  return {paused: v.paused, time: v.currentTime, autoplay: v.autoplay, width: v.videoWidth};
}"""


def test_batch_buttons_and_gallery_play_in_lab(lab: dict[str, Any]) -> None:
    """Issue 12 cases 1 and 6 as a person sees them: the blocking BatchGrid.run offers no
    cancel button (a blocked kernel does not take the click) and says to use start(); the
    background grid's "Cancel all pending" label is whole and the click cancels queued jobs;
    the gallery's Play button starts playback."""
    chromium = chromium_path()
    from playwright.sync_api import expect, sync_playwright

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in UX_CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    nbformat.write(nb, lab["work"] / "ux.ipynb")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            page, errors = _open(browser, lab, "ux.ipynb")
            cells = page.locator(".jp-CodeCell")
            try:
                page.evaluate(RUN_ALL)
                cancel = cells.nth(2).get_by_role("button", name="Cancel all pending")
                cancel.wait_for(timeout=120_000)
                fits = cancel.evaluate(BUTTON_FITS)
                cancel.click()
                cells.nth(2).get_by_text(re.compile(r"canceled [1-9]\d* pending job")).wait_for(
                    timeout=60_000
                )
                # The job that was already running goes on, and its video refreshes the gallery
                # (which re-renders it): Play once the batch has ended (its Cancel turns off).
                expect(cancel).to_be_disabled(timeout=120_000)  # the locator is looked up again
                play = cells.nth(3).get_by_role("button", name="Play").first
                play.wait_for(timeout=60_000)
                play.click()
                video = cells.nth(3).locator("video.wan-video").first
                video.wait_for(timeout=30_000)
                state = video.evaluate(PLAYING)
            finally:
                page.screenshot(path=str(ARTIFACTS / "ux-lab.png"))
            blocking = cells.nth(1).locator(".jp-Cell-outputArea")
            assert blocking.get_by_role("button").count() == 0
            assert "use BatchGrid.start() to be able to cancel" in blocking.inner_text()
            assert fits["text"] == "Cancel all pending" and fits["scroll"] <= fits["client"], fits
            assert not state["paused"] and state["time"] >= 0.5 and state["width"] > 0, state
            assert not errors, errors
        finally:
            browser.close()
