"""How ``pytest --nbval`` runs the example notebooks (``scripts/refresh_notebooks.py`` too).

Each notebook runs exactly as its stored outputs were made: in emulator mode (no API key, base
URL or key file reaches the kernel, so ``%wanvideo connect`` starts a background emulator in a
state folder of this notebook alone, stopped after its last cell, so the banner always says
"Started", whichever notebooks ran before) and with
an empty ``wan_outputs/`` next to it, so a second run is not served from the first run's cache
(the stored outputs show fresh generations). A ``wan_outputs/`` the tests did not make (it may
hold videos from the real service) is never deleted: it is moved to ``artifacts/``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from wan_notebook.emulator import service
from wan_notebook.settings import SETTINGS_ENV

HERE = Path(__file__).resolve().parent
OUTPUTS = HERE / "wan_outputs"
MARKER = ".made-by-tests"


def fresh_outputs(folder: Path = OUTPUTS) -> None:
    """Empty ``folder`` for a run: delete it if the tests made it, else move it aside."""
    if folder.exists():
        if (folder / MARKER).exists():
            shutil.rmtree(folder)
        else:
            stamp = f"{folder.parent.name}-{folder.name}-{time.time():.0f}"
            aside = HERE.parent / "artifacts" / stamp
            aside.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(folder), str(aside))
            print(f"\nmoved {folder} (not made by the tests) to {aside}")
    folder.mkdir()
    (folder / MARKER).write_text("made by the notebook tests; deleted by the next run\n")


def emulator_mode_env(home: str) -> dict[str, str]:
    """The environment a notebook kernel gets: no key, no base URL, a HOME without keys, and
    an emulator state folder inside that HOME (a new emulator per notebook)."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
    env["HOME"] = home
    env[service.ENV_DIR] = str(Path(home) / "emulator")
    return env


def stop_emulator(home: str) -> None:
    """Stop the background emulator a notebook's ``%wanvideo connect`` started (it would
    outlive the kernel otherwise)."""
    service.stop(Path(home) / "emulator")


_saved_env: dict[str, str] | None = None
_home: tempfile.TemporaryDirectory[str] | None = None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: Any, log: Any) -> Any:
    """Under pytest-xdist, every notebook runs on one worker, in order: a notebook's cells share
    one kernel, and all notebooks share ``wan_outputs/`` next to them. Other tests are spread
    one by one. (xdist's own ``loadgroup`` cannot do it on pytest 9.2: it renames items through
    ``_nodeid``, which pytest no longer reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class NotebooksTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith("notebooks/") and ".ipynb::" in nodeid:
                return "notebooks"
            return nodeid

    return NotebooksTogether(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: Any) -> None:
    """Before a notebook's first cell (its kernel starts right after this hook)."""
    global _saved_env, _home
    if getattr(item, "cell_num", None) != 0:
        return
    fresh_outputs()
    _saved_env = dict(os.environ)
    _home = tempfile.TemporaryDirectory(prefix="wan-nbval-home-")
    env = emulator_mode_env(_home.name)
    os.environ.clear()
    os.environ.update(env)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: Any, nextitem: Any) -> None:
    """After a notebook's last cell (its kernel is shut down then): restore the environment."""
    global _saved_env, _home
    if nextitem is not None and nextitem.parent is item.parent:
        return
    if _saved_env is not None:
        os.environ.clear()
        os.environ.update(_saved_env)
        _saved_env = None
    if _home is not None:
        stop_emulator(_home.name)
        _home.cleanup()
        _home = None
