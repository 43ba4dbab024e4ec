"""Fixtures for the notebook surface: an in-process IPython shell with the extension."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def shell() -> Any:
    """IPython's test shell (one per session, as IPython allows)."""
    from IPython.testing.globalipapp import get_ipython

    return get_ipython()


@pytest.fixture
def ip(shell: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The shell with ``wan_notebook`` loaded, in a fresh working directory and without any
    API key from the environment; unloaded (settings reset) after the test."""
    monkeypatch.chdir(tmp_path)
    for name in ("DASHSCOPE_API_KEY", "DASHSCOPE_HTTP_BASE_URL", "DASHSCOPE_API_KEY_FILE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.dashscope/api_key of the machine
    shell.run_line_magic("load_ext", "wan_notebook.notebook")
    yield shell
    shell.run_line_magic("unload_ext", "wan_notebook.notebook")
    shell.config.pop("WanVideoMagic", None)  # %config values must not leak into other tests
