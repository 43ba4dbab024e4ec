"""Fixtures for the sweep tests: a fast-render emulator (tiny valid videos)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from wan_notebook.emulator import Emulator


@pytest.fixture
def fast_emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    """An emulator for scale tests: fast render mode, speed 1000, no rate limits."""
    return emulator_factory(speed=1000.0, rate_limits=False, log=False, fast_render=True)


@pytest.fixture
def connect(fast_emulator: Emulator) -> dict[str, Any]:
    """The connection keywords of ``sweep`` for ``fast_emulator``."""
    return {"api_key": fast_emulator.api_key, "base_url": fast_emulator.base_url}
