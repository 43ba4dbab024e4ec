"""The sweep scheduler: transient errors put a cell back in the queue; lasting ones fail it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wan_notebook.emulator import Emulator
from wan_notebook.sweeps import sweep
from wan_notebook.sweeps.execute import ATTEMPTS


def _throttle(emu: Emulator, times: int) -> None:
    # every create for the kite answers 429 until the rule is spent (the client retries 4x)
    emu.faults.add("create", "error", status=429, code="Throttling", retry_after=0,
                   times=times, match="kite")  # fmt: skip


def test_a_cell_whose_retries_ran_out_is_tried_again_later_in_the_run(
    tmp_path: Path, fast_emulator: Emulator, connect: dict[str, Any]
) -> None:
    _throttle(fast_emulator, times=5)  # one create's attempts all refused, then it clears
    sw = sweep(["a red kite", "a blue whale"], output_dir=tmp_path, **connect)
    ended: list[Any] = []
    sw.subscribe(ended.append)
    status = sw.run()
    assert status.done == 2
    assert [o.state for o in ended] == ["done", "done"]  # no "failed" outcome on the way
    assert fast_emulator.stats()["tasks_created"] == 2


def test_a_cell_refused_on_every_attempt_fails_with_the_service_code(
    tmp_path: Path, fast_emulator: Emulator, connect: dict[str, Any]
) -> None:
    _throttle(fast_emulator, times=5 * ATTEMPTS)
    sw = sweep(["a red kite", "a blue whale"], output_dir=tmp_path, **connect)
    status = sw.run()
    assert status.done == 1 and status.counts["failed"] == 1
    row = sw.results().set_index("prompt").loc["a red kite"]
    assert row["state"] == "failed" and row["error_code"] == "Throttling"
    assert fast_emulator.stats()["tasks_created"] == 1
