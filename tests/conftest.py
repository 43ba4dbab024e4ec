"""Shared fixtures: emulators on loopback (see briefs/emulator-api.md)."""

from __future__ import annotations

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
