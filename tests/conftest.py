"""Shared fixtures: emulators on loopback (see briefs/emulator-api.md)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from wan_notebook.emulator import Emulator


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """Start an :class:`Emulator` with the given options (speed 200 unless given).

    Every emulator it starts is stopped after the test.
    """
    started: list[Emulator] = []

    def factory(**kwargs: Any) -> Emulator:
        kwargs.setdefault("speed", 200.0)
        emu = Emulator(**kwargs).start()
        started.append(emu)
        return emu

    yield factory
    for emu in reversed(started):
        emu.stop()


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    """A started emulator for one test: speed 200, no rate limits, no request log."""
    return emulator_factory(speed=200.0, rate_limits=False, log=False)


@pytest.fixture
def canary_key() -> str:
    """A unique fake API key; tests search logs and files for it to prove it never leaks."""
    return f"sk-canary-{secrets.token_hex(12)}"


# ---------------------------------------------------------------- the session canary
#
# The whole suite runs with a canary in DASHSCOPE_API_KEY (so nothing can reach a real account
# by accident), and when it ends every file any test wrote under pytest's temporary folder is
# searched for it: a single hit fails the run.

# pytest-xdist workers inherit the controller's environment, so they all use its canary and
# the controller's search at the end (over every worker's files) looks for the right one.
_CANARY_ENV = "WAN_NOTEBOOK_TEST_SESSION_CANARY"
SESSION_CANARY = os.environ.get(_CANARY_ENV) or f"sk-canary-session-{secrets.token_hex(12)}"


def pytest_configure(config: pytest.Config) -> None:
    # CI runs the property tests on a fixed sequence of examples (reproducible, never flaky);
    # a developer's run draws new ones and may find new bugs.
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, print_blob=True)
    if os.environ.get("CI"):
        settings.load_profile("ci")

    # Ctrl-C tests send a real SIGINT, to this process and to children. A shell that starts
    # the run in the background (`nohup pytest &`, some CI runners) leaves SIGINT ignored, and
    # an ignored disposition is inherited across exec: every child would ignore it too, and
    # those tests would wait for an exit that never comes. Take the default back (a handled
    # signal is reset to the default in children, so they get Python's KeyboardInterrupt).
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

    os.environ["DASHSCOPE_API_KEY"] = os.environ[_CANARY_ENV] = SESSION_CANARY
    os.environ.pop("DASHSCOPE_API_KEY_FILE_PATH", None)
    # A background emulator that a test or its kernel starts (`%wanvideo connect` without a
    # key) lives in a folder of this run, never the user's, and is stopped when the run ends.
    import tempfile

    from wan_notebook.emulator import service

    os.environ[service.ENV_DIR] = tempfile.mkdtemp(prefix="wan-emulator-tests-")


def _files_with(root: Any, needle: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                hits.append(str(path))
        except OSError:
            continue
    return hits


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import shutil
    from pathlib import Path

    from wan_notebook.emulator import service

    folder = os.environ.get(service.ENV_DIR)
    if folder and os.path.basename(folder).startswith("wan-emulator-tests-"):
        service.stop(Path(folder))
        shutil.rmtree(folder, ignore_errors=True)
    if hasattr(session.config, "workerinput"):
        return  # a pytest-xdist worker: the controller searches every worker's files at the end
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    try:
        base = factory.getbasetemp()
    except (OSError, ValueError):
        return
    hits = _files_with(base, SESSION_CANARY.encode())
    if hits:
        session.config.get_terminal_writer().line(
            "the session's canary API key was found in files written by tests:\n  "
            + "\n  ".join(hits),
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
