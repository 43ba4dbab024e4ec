"""Sweep.start/cancel/wait/status/arun, and the key kept out of everything it writes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wan_notebook.emulator import Emulator
from wan_notebook.sweeps import sweep

PROMPTS = [f"a kite number {i} over dunes" for i in range(12)]


def test_start_runs_in_the_background_and_cancel_leaves_pending_cells(
    tmp_path: Path, fast_emulator: Emulator, connect: dict[str, Any]
) -> None:
    sw = sweep(PROMPTS, models=["wan2.2-t2v-plus"], output_dir=tmp_path, **connect)
    first = threading.Event()
    sw.subscribe(lambda outcome: first.set())
    assert sw.start() is sw
    assert first.wait(120)
    canceled = sw.cancel()
    status = sw.wait(120)
    assert not status.running_here
    assert canceled >= 1 and status.counts["canceled"] == canceled
    assert status.done + canceled == 12
    made = fast_emulator.stats()["tasks_created"]
    assert made == status.done  # canceled cells never reached the service
    # a new run takes the canceled cells up again and pays only for them
    status = sw.run()
    assert status.done == 12 and status.counts["canceled"] == 0
    assert fast_emulator.stats()["tasks_created"] == 12
    assert status.finished_here == canceled and status.throughput is not None


def test_arun_in_a_running_loop(
    tmp_path: Path, fast_emulator: Emulator, connect: dict[str, Any]
) -> None:
    sw = sweep(PROMPTS[:3], seeds=[5], output_dir=tmp_path, **connect)
    status = asyncio.run(sw.arun())
    assert status.done == 3 and status.remaining == 0 and status.eta == 0


def test_the_key_is_in_no_repr_status_manifest_or_table(
    tmp_path: Path, emulator_factory: Callable[..., Emulator], canary_key: str
) -> None:
    emu = emulator_factory(api_keys=[canary_key], fast_render=True, rate_limits=False)
    sw = sweep(PROMPTS[:2], output_dir=tmp_path, api_key=canary_key, base_url=emu.base_url)
    status = sw.run()
    assert status.done == 2
    assert canary_key not in repr(sw) + repr(status)
    assert canary_key not in sw.results().to_csv()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert canary_key.encode() not in path.read_bytes(), path
