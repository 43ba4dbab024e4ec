"""Regression tests for the jobs layer (found by the end-to-end benchmarks in benchmarks/)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from wan_notebook import api
from wan_notebook.jobs import Runner
from wan_notebook.request import VideoRequest
from wan_notebook.store import OutputStore

SPEED = 200.0
FAST = {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5}


@pytest.fixture(autouse=True)
def _emulator_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", str(1 / SPEED))


def conn(emu: Any) -> dict[str, str]:
    return {"api_key": emu.api_key, "base_url": emu.base_url}


def test_quota_slot_is_freed_when_the_task_ends_not_after_the_download(
    emulator: Any, tmp_path: Path
) -> None:
    """benchmarks/batch.py: holding the slot through download + save left the service's
    quota idle between rounds. The next task must be submitted while a download hangs."""
    emulator.faults.add("video", "slow", delay=1.5, times=1)  # the first download hangs
    saved: dict[str, float] = {}

    def on_job(job: Any) -> None:
        job.subscribe(
            lambda e: saved.setdefault(job.request.prompt, e.at) if e.kind == "saved" else None
        )

    results = api.generate_many(
        ["first of two", "second of two"],
        output_dir=tmp_path,
        concurrency=1,
        on_job=on_job,
        **FAST,
        **conn(emulator),
    )
    first, second = sorted(results, key=lambda r: emulator.task(r.task_id)["created_wall"])
    created_second = emulator.task(second.task_id)["created_wall"]
    assert created_second < saved[first.prompt]  # submitted while the first downloaded
    assert emulator.stats()["tasks_created"] == 2


def test_reconcile_does_not_adopt_a_siblings_task_whose_answer_is_in_flight(
    emulator: Any, tmp_path: Path
) -> None:
    """benchmarks/chaos.py: after an ambiguous create, the reconcile listed the tasks of the
    model and adopted the oldest unknown one: a sibling's task, created on the service but
    whose answer had not arrived yet. Both jobs then saved the same (wrong) video."""
    emulator.faults.add("create", "slow", after=True, delay=1.0, match="sibling")
    emulator.faults.add("create", "drop", after=True, match="victim")
    prompts = ["the sibling, answered late", "the victim, answer dropped"]

    async def main() -> list[Any]:
        runner = Runner(store=OutputStore(tmp_path), **conn(emulator))
        try:
            first = runner.submit(VideoRequest.create(prompts[0], **FAST))
            while emulator.stats()["tasks_created"] < 1:  # the sibling's task exists first
                await asyncio.sleep(0.01)
            second = runner.submit(VideoRequest.create(prompts[1], **FAST))
            return [await first, await second]
        finally:
            await runner.aclose()

    results = asyncio.run(main())
    for prompt, result in zip(prompts, results, strict=True):
        assert emulator.task(result.task_id)["prompt"] == prompt
    assert results[0].task_id != results[1].task_id
    assert emulator.stats()["tasks_created"] == 2


def test_a_failing_list_after_an_ambiguous_create_still_says_submit_uncertain(
    emulator: Any, tmp_path: Path
) -> None:
    """The reconcile's list call failing must not turn "a task may exist" into a rate-limit
    error that says nothing about the task; the intent stays for the next run."""
    from wan_notebook.errors import SubmitUncertainError

    emulator.faults.add("create", "drop", after=True, times=1)
    emulator.faults.add("list", "error", status=429, retry_after=0.01)
    with pytest.raises(SubmitUncertainError):
        api.generate("lost answer", output_dir=tmp_path, **FAST, **conn(emulator))
    assert len(OutputStore(tmp_path).dangling_intents()) == 1
    emulator.faults.clear()
    result = api.generate("lost answer", output_dir=tmp_path, **FAST, **conn(emulator))
    assert emulator.stats()["tasks_created"] == 1  # the re-run adopted it
    assert emulator.task(result.task_id)["prompt"] == "lost answer"


def test_reconcile_skips_a_finished_orphan_made_for_another_prompt(
    emulator: Any, tmp_path: Path
) -> None:
    """benchmarks/chaos.py: with two interrupted creates at once, one request adopted the
    other's task (list items carry no prompt). A finished task tells its prompt: use it."""
    from wan_notebook.client import WanClient

    store = OutputStore(tmp_path)
    store.begin_intent(VideoRequest.create("mine, interrupted", **FAST))  # killed mid-create
    with WanClient(emulator.api_key, base_url=emulator.base_url, poll_scale=1 / SPEED) as c:
        other = c.wait(c.submit("someone else's video", **FAST))  # not in this folder
    result = api.generate("mine, interrupted", output_dir=tmp_path, **FAST, **conn(emulator))
    assert result.task_id != other.task_id
    assert emulator.task(result.task_id)["prompt"] == "mine, interrupted"
    assert store.dangling_intents() == []
