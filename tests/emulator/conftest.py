"""Fixtures for the emulator tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from emu_helpers import Api

from wan_notebook.emulator import Emulator


@pytest.fixture
def api(emulator: Emulator) -> Iterator[Api]:
    """An :class:`Api` on the default ``emulator`` fixture."""
    client = Api(emulator)
    yield client
    client.close()


@pytest.fixture
def api_for() -> Iterator[Callable[..., Api]]:
    """Make :class:`Api` clients for other emulators/keys (closed after the test)."""
    made: list[Api] = []

    def make(emu: Emulator, key: str | None = None) -> Api:
        client = Api(emu, key)
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()
