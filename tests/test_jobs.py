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


# ---------------------------------------------------------------- issue 11: one claim per request

_WORKER = """
import json, sys, time
from wan_notebook import api
folder, base_url, key, start = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
prompts = json.loads(sys.argv[5])
while time.time() < start:
    time.sleep(0.002)
out = api.generate_many(
    prompts, output_dir=folder, api_key=key, base_url=base_url, return_exceptions=True,
    model="wan2.5-t2v-preview", size="832*480", duration=5,
)
print(json.dumps([
    {"error": f"{type(r).__name__}: {r}"} if isinstance(r, BaseException)
    else {"task_id": r.task_id, "path": str(r.path), "sha": r.metadata["file"]["sha256"]}
    for r in out
]))
"""


def _two_processes(emulator: Any, folder: Path, prompts: list[str]) -> list[list[dict]]:
    import json
    import subprocess
    import sys
    import time

    start = time.time() + 3.0  # both interpreters are up and waiting by then
    env = {**__import__("os").environ, "WAN_NOTEBOOK_POLL_SCALE": str(1 / SPEED)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER,
                str(folder),
                emulator.base_url,
                emulator.api_key,
                str(start),
                json.dumps(prompts),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, stderr[-3000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    return outs


def test_two_processes_one_folder_one_request_make_one_task(emulator: Any, tmp_path: Path) -> None:
    """Issue 11 case 1: two kernels started the same request on one folder while the first
    create was slow: the service made 2 tasks, one process failed with StoreError, and both
    wrote the same .part (CorruptVideoError). Now the second follows the first's claim."""
    emulator.faults.add("create", "slow", after=True, delay=1.5)
    first, second = _two_processes(emulator, tmp_path, ["a lighthouse in a slow storm"])
    assert "error" not in first[0] and "error" not in second[0], (first, second)
    assert emulator.stats()["tasks_created"] == 1
    assert first[0] == second[0]  # the same task, the same file, the same bytes
    assert not list(tmp_path.glob("*.part"))


def test_two_processes_twenty_requests_one_task_each(emulator: Any, tmp_path: Path) -> None:
    """Issue 11 case 1 at scale: 20 requests x 2 processes made 178 tasks per 100 requests
    and 26 CorruptVideoErrors. Every request must make exactly one task."""
    emulator.faults.add("create", "slow", after=True, delay=0.3, probability=0.5)
    prompts = [f"harbour scene number {n}" for n in range(20)]
    first, second = _two_processes(emulator, tmp_path, prompts)
    errors = [r for r in first + second if "error" in r]
    assert not errors, errors
    assert emulator.stats()["tasks_created"] == 20
    assert first == second
    assert len({r["task_id"] for r in first}) == 20
    for prompt, result in zip(prompts, first, strict=True):
        assert emulator.task(result["task_id"])["prompt"] == prompt


def test_two_submits_of_one_request_in_one_runner_make_one_task(
    emulator: Any, tmp_path: Path
) -> None:
    """Issue 11 case 2: two ``%%wanvideo --background`` cells of the same request (a double
    Shift-Enter) made 2 tasks, or left one job hanging at RUNNING past its timeout."""
    emulator.faults.add("create", "slow", after=True, delay=0.5)

    async def main() -> list[Any]:
        runner = Runner(store=OutputStore(tmp_path), **conn(emulator))
        try:
            request = VideoRequest.create("double shift-enter", **FAST)
            jobs = [runner.submit(request), runner.submit(request)]
            return await asyncio.wait_for(asyncio.gather(*jobs), timeout=600)
        finally:
            await runner.aclose()

    one, two = asyncio.run(main())
    assert emulator.stats()["tasks_created"] == 1
    assert one.task_id == two.task_id and one.path == two.path


def test_a_follower_does_not_outlive_its_timeout(emulator_factory: Any, tmp_path: Path) -> None:
    """Issue 11 case 2: the second job of a request must end at its timeout like the first
    (it waited at RUNNING forever). A slow emulator keeps the task running past both."""
    from wan_notebook.errors import WaitTimeoutError

    emu = emulator_factory(speed=1.0, rate_limits=False)

    async def main() -> list[Any]:
        runner = Runner(store=OutputStore(tmp_path), timeout=1.0, **conn(emu))
        try:
            request = VideoRequest.create("a long take", **FAST)
            jobs = [runner.submit(request), runner.submit(request)]
            return await asyncio.wait_for(
                asyncio.gather(*jobs, return_exceptions=True), timeout=600
            )
        finally:
            await runner.aclose()

    outcomes = asyncio.run(main())
    assert all(isinstance(o, WaitTimeoutError) for o in outcomes), outcomes
    assert emu.stats()["tasks_created"] == 1
    assert {o.task_id for o in outcomes} == {outcomes[0].task_id} and outcomes[0].task_id


# ---------------------------------------------------------------- issue 11: reconcile by content


def test_dropped_create_answers_of_one_model_are_matched_by_content(
    emulator: Any, tmp_path: Path
) -> None:
    """Issue 11 case 3: when several creates of one model lost their answers at once,
    reconcile adopted the tasks by order: 4 of 10 requests held each other's task and every
    re-run failed with SubmitUncertainError. Each must get the task made for it."""
    emulator.faults.add("create", "drop", after=True)  # every create: task made, answer lost
    prompts = [f"dropped answer number {n}" for n in range(10)]
    results = api.generate_many(
        prompts, output_dir=tmp_path, return_exceptions=True, **FAST, **conn(emulator)
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    assert emulator.stats()["tasks_created"] == 10
    for prompt, result in zip(prompts, results, strict=True):
        assert emulator.task(result.task_id)["prompt"] == prompt
    assert OutputStore(tmp_path).dangling_intents() == []
    emulator.faults.clear()
    again = api.generate_many(prompts, output_dir=tmp_path, **FAST, **conn(emulator))
    assert [r.task_id for r in again] == [r.task_id for r in results]
    assert emulator.stats()["tasks_created"] == 10


def test_a_candidate_made_for_another_open_intent_is_assigned_to_it(
    emulator: Any, tmp_path: Path
) -> None:
    """Issue 11 case 3: a candidate that belongs to another interrupted request is journaled
    for that request (never left stuck, never adopted by the wrong one)."""
    from wan_notebook.client import WanClient

    store = OutputStore(tmp_path)
    mine = VideoRequest.create("mine, killed mid-create", **FAST)
    theirs = VideoRequest.create("theirs, killed mid-create", **FAST)
    with WanClient(emulator.api_key, base_url=emulator.base_url, poll_scale=1 / SPEED) as c:
        made = []
        for request in (theirs, mine):  # both creates reached the service; both answers lost
            store.begin_intent(request)
            made.append(c.submit(request))
        # both tasks have ended (and so tell their prompts) before the re-run looks: a task
        # still RUNNING is waited for by the reconcile of the request it belongs to only
        for task in made:
            c.wait(task.task_id)
    result = api.generate(mine.prompt, output_dir=tmp_path, **FAST, **conn(emulator))
    assert emulator.task(result.task_id)["prompt"] == mine.prompt
    assert store.dangling_intents() == []  # theirs was assigned too
    other = api.generate(theirs.prompt, output_dir=tmp_path, **FAST, **conn(emulator))
    assert emulator.task(other.task_id)["prompt"] == theirs.prompt
    assert emulator.stats()["tasks_created"] == 2


def test_a_failed_candidate_that_reveals_nothing_frees_its_intent(
    emulator: Any, tmp_path: Path
) -> None:
    """A FAILED task tells no prompt, and failed tasks are not billed: the open intent is
    closed and the request is created again (instead of "uncertain" forever)."""
    from wan_notebook.client import WanClient
    from wan_notebook.errors import TaskFailedError

    store = OutputStore(tmp_path)
    request = VideoRequest.create("failed while the answer was lost", **FAST)
    emulator.faults.add("create", "fail_task", times=1)
    with WanClient(emulator.api_key, base_url=emulator.base_url, poll_scale=1 / SPEED) as c:
        store.begin_intent(request)
        failed = c.submit(request)
        with pytest.raises(TaskFailedError):
            c.wait(failed)
    result = api.generate(request.prompt, output_dir=tmp_path, **FAST, **conn(emulator))
    assert result.task_id != failed.task_id
    assert emulator.stats()["tasks_created"] == 2
    assert store.dangling_intents() == []


def test_a_lost_create_answer_is_found_when_the_local_clock_is_10_minutes_fast(
    emulator_factory: Any, tmp_path: Path
) -> None:
    """Issue 11 case 7: with the client's clock 10 min fast, reconcile looked for tasks
    created since "intent - 2 min" on the local clock (in the service's future), found none
    and paid again. The machine clock cannot be changed in a test, so the emulator's clock
    runs 10 min behind (``clock_offset=-600``): the same skew, seen from the client."""
    emu = emulator_factory(speed=200.0, rate_limits=False, clock_offset=-600.0)
    emu.faults.add("create", "drop", after=True, times=1)
    result = api.generate("a fast clock", output_dir=tmp_path, **FAST, **conn(emu))
    assert emu.stats()["tasks_created"] == 1
    assert emu.task(result.task_id)["prompt"] == "a fast clock"
