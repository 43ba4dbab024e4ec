"""compare() in real JupyterLab and Chromium: the players seek, step and play together.

A notebook makes a 3-seed sweep against an emulator (full renders: 16 fps, so one frame is
62.5 ms) and shows ``compare(sw.results(), by="seed")``. The test seeks through the widget's
own slider, steps a frame with its button, plays and pauses, and after each checks every
player's ``currentTime`` against the first: within one frame. Labels come from the table.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from test_lab import ARTIFACTS, CHROMIUM_FLAGS, OVERRIDES, TOKEN, _chromium, _free_port

from wan_notebook.settings import SETTINGS_ENV

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
    settings = tmp_path / "lab-settings"
    settings.mkdir()
    (settings / "overrides.json").write_text(json.dumps(OVERRIDES))
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
    env.update(
        HOME=str(tmp_path), JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        IPYTHONDIR=str(tmp_path / "ipython"),
    )  # fmt: skip
    port = _free_port()
    log = (tmp_path / "lab.log").open("w")
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={work}",
        f"--LabApp.app_settings_dir={settings}", "--LabApp.expose_app_in_browser=True",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text())
                time.sleep(0.2)
        yield {"url": base, "work": work}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _in_sync(root: Any, page: Any) -> list[float]:
    page.wait_for_function(SETTLED, arg=root.element_handle(), timeout=30_000)
    state = root.evaluate(TIMES)
    times = state["times"]
    assert len(times) == 3, state
    assert max(times) - min(times) <= 1 / FPS, state  # within one frame of each other
    return times


def test_compare_players_seek_step_and_play_together(lab: dict[str, Any]) -> None:
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{lab['url']}/lab/tree/compare.ipynb?token={TOKEN}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell")
            page.evaluate("""async () => {
              const panel = window.jupyterapp.shell.currentWidget;
              await panel.sessionContext.ready;
              await window.jupyterapp.commands.execute('notebook:run-all-cells');
            }""")
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
