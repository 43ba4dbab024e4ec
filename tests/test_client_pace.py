"""The client polls at the pace an emulator announces (``X-Wan-Emulator-Speed``), with no
setting at all; an explicit poll scale still wins (issue 12 case 10)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wan_notebook import AsyncWanClient, WanClient
from wan_notebook.settings import POLL_SCALE_ENV

FAST = {"model": "wan2.5-t2v-preview", "size": "832*480"}


@pytest.fixture(autouse=True)
def no_scale_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(POLL_SCALE_ENV, raising=False)


def test_the_first_answer_sets_the_pace(emulator: Any) -> None:
    with WanClient(emulator.api_key, base_url=emulator.base_url) as client:
        assert client.time_scale == 1.0  # nothing known yet: the real service's pace
        task = client.submit("a fox", **FAST)
        assert client.time_scale == pytest.approx(1 / 200)
        emulator.set_speed(50.0)  # the emulator changes speed: the next answer says so
        done = client.wait(task, timeout=120)
        assert done.succeeded and client.time_scale == pytest.approx(1 / 50)


def test_attach_adapts_its_schedule_after_the_first_poll(emulator: Any) -> None:
    with WanClient(emulator.api_key, base_url=emulator.base_url) as first:
        task = first.submit("a fox", **FAST)
    with WanClient(emulator.api_key, base_url=emulator.base_url) as client:
        done = client.wait(task.task_id, timeout=120)  # would sleep 15 s at the default pace
        assert done.succeeded and client.time_scale == pytest.approx(1 / 200)


@pytest.mark.parametrize("how", ["argument", "env"])
def test_an_explicit_scale_wins(emulator: Any, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    kwargs: dict[str, Any] = {}
    if how == "argument":
        kwargs["poll_scale"] = 0.5
    else:
        monkeypatch.setenv(POLL_SCALE_ENV, "1/2")
    with WanClient(emulator.api_key, base_url=emulator.base_url, **kwargs) as client:
        client.submit("a fox", **FAST)
        assert client.time_scale == 0.5


def test_the_async_client_adapts_too(emulator: Any) -> None:
    async def main() -> float:
        async with AsyncWanClient(emulator.api_key, base_url=emulator.base_url) as client:
            await client.submit("a fox", **FAST)
            return client.time_scale

    assert asyncio.run(main()) == pytest.approx(1 / 200)
