"""What the browser tests share: Debian's Chromium, an isolated JupyterLab, a notebook page.

JupyterLab runs on a free loopback port with every Jupyter/IPython directory and ``HOME`` in the
test's temporary folder and no API key in its environment, so a notebook's ``%wanvideo connect``
starts its own emulator, exactly as on Binder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from wan_notebook.settings import SETTINGS_ENV

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "browser"
TOKEN = "wan-browser-test"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: news toast off, no DOM virtualisation (every cell stays in the DOM)
OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
}


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required in CI: .ci/run installs chromium with apt)")
    pytest.skip(reason)


def chromium_path() -> str:
    """The system's chromium; skips (fails in CI) when it or python playwright is missing."""
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if path is None:
        _missing("no chromium on PATH (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("python playwright is not installed (pip install -e '.[test]')")
    return str(path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_lab(tmp_path: Path, work: Path, *, start_timeout: float) -> Iterator[dict[str, Any]]:
    """JupyterLab serving ``work/``, isolated in ``tmp_path``; stopped (with its kernels) after.

    Yields ``{"url", "work", "log"}``; fails the test with Lab's log if it does not answer within
    ``start_timeout`` seconds."""
    settings = tmp_path / "lab-settings"
    settings.mkdir()
    (settings / "overrides.json").write_text(json.dumps(OVERRIDES))
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
    env.update(
        HOME=str(tmp_path),  # no ~/.dashscope/api_key: the notebook starts its emulator
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        IPYTHONDIR=str(tmp_path / "ipython"),
    )
    port = _free_port()
    log_path = tmp_path / "lab.log"
    log = log_path.open("w")
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={work}",
        f"--LabApp.app_settings_dir={settings}", "--LabApp.expose_app_in_browser=True",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("JupyterLab did not start:\n" + log_path.read_text())
                time.sleep(0.2)
        yield {"url": base, "work": work, "log": log_path}
    finally:
        proc.send_signal(signal.SIGTERM)  # the server shuts its kernels down
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def open_notebook(
    browser: Any, lab: dict[str, Any], name: str, *, height: int
) -> tuple[Any, list[str]]:
    """A page (1280 x ``height``) with notebook ``name`` open in Lab, and its page errors."""
    page = browser.new_page(viewport={"width": 1280, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{lab['url']}/lab/tree/{name}?token={TOKEN}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell")
    return page, errors


#: runs every cell of the open notebook once its kernel is ready; the kernel's status after
RUN_ALL = """async () => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  await panel.sessionContext.ready;
  await app.commands.execute('notebook:run-all-cells');
  return panel.sessionContext.session.kernel.status;
}"""
