"""generate / generate_many / attach against the real emulator: cache, resume, no double pay."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from wan_notebook import api, media
from wan_notebook.client import WanClient
from wan_notebook.errors import ContentModerationError, TaskFailedError, ValidationError
from wan_notebook.store import OutputStore

SPEED = 200.0
FAST = {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5}


@pytest.fixture(autouse=True)
def _emulator_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    # every Runner in this module polls at the emulator's speed (also inherited by children)
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", str(1 / SPEED))


def conn(emu) -> dict[str, str]:
    return {"api_key": emu.api_key, "base_url": emu.base_url}


def requests_made(emu) -> int:
    return sum(emu.stats()["requests"].values())


def test_generate_saves_verified_video_with_sidecar(emulator, tmp_path: Path) -> None:
    events = []
    result = api.generate(
        "A red fox in a trench coat reads case files",
        output_dir=tmp_path / "out",
        seed=7,
        on_event=lambda e: events.append(e.kind),
        **FAST,
        **conn(emulator),
    )
    assert events[0] == "submitted" and events[-1] == "saved"
    assert "downloading" in events and not result.cached
    assert result.path.parent == tmp_path / "out" and result.path.suffix == ".mp4"
    assert "_a-red-fox-in-a-trench-coat" in result.path.name
    info = media.verify_mp4(result.path)
    assert (info.width, info.height) == (832, 480) and abs(info.duration - 5) < 0.1
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["task_id"] == result.task_id and sidecar["request"]["seed"] == 7
    assert [h["status"] for h in sidecar["history"]][-1] == "SUCCEEDED"
    assert result.poster is not None and result.poster.exists()
    assert emulator.stats()["tasks_created"] == 1


def test_same_request_again_is_a_cache_hit_with_zero_requests(emulator, tmp_path: Path) -> None:
    first = api.generate("a quiet harbour at dawn", output_dir=tmp_path, **FAST, **conn(emulator))
    before = requests_made(emulator)
    again = api.generate("a quiet harbour at dawn", output_dir=tmp_path, **FAST, **conn(emulator))
    assert again.cached and again.path == first.path
    assert requests_made(emulator) == before  # zero network requests
    fresh = api.generate(
        "a quiet harbour at dawn", output_dir=tmp_path, new=True, **FAST, **conn(emulator)
    )
    assert not fresh.cached and fresh.task_id != first.task_id
    assert emulator.stats()["tasks_created"] == 2


def test_missing_file_is_downloaded_again_without_a_new_task(emulator, tmp_path: Path) -> None:
    first = api.generate("a lighthouse in fog", output_dir=tmp_path, **FAST, **conn(emulator))
    first.path.unlink()
    again = api.generate("a lighthouse in fog", output_dir=tmp_path, **FAST, **conn(emulator))
    assert again.path.exists() and again.task_id == first.task_id
    assert emulator.stats()["tasks_created"] == 1
    assert emulator.stats()["requests"]["video"] == 2


def test_bad_request_fails_before_any_network_call(emulator, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        api.generate(
            "x", output_dir=tmp_path, model="wan2.2-t2v-plus", size="1280*720", **conn(emulator)
        )
    assert err.value.param == "size" and "832*480" in str(err.value)
    with pytest.raises(ValidationError):
        api.generate_many(
            ["ok", {"prompt": "bad", "duration": 99}], output_dir=tmp_path, **FAST, **conn(emulator)
        )
    assert requests_made(emulator) == 0
    assert not (tmp_path / "index.sqlite").exists()


def test_failed_task_is_raised_recorded_and_not_served(emulator, tmp_path: Path) -> None:
    emulator.faults.add(
        "create",
        "fail_task",
        code="DataInspectionFailed",
        message="Output data may contain inappropriate content.",
        times=1,
    )
    with pytest.raises(TaskFailedError) as err:
        api.generate("a flagged scene", output_dir=tmp_path, **FAST, **conn(emulator))
    assert isinstance(err.value, ContentModerationError)
    store = OutputStore(tmp_path)
    assert store.get(err.value.task_id).status == "FAILED"
    ok = api.generate("a flagged scene", output_dir=tmp_path, **FAST, **conn(emulator))
    assert ok.task_id != err.value.task_id and emulator.stats()["tasks_created"] == 2


def test_dropped_create_is_adopted_not_resent(emulator, tmp_path: Path) -> None:
    # the service creates the task, then the connection drops before the answer arrives
    emulator.faults.add("create", "drop", after=True, times=1)
    result = api.generate("a dropped answer", output_dir=tmp_path, **FAST, **conn(emulator))
    assert result.path.exists()
    assert emulator.stats()["tasks_created"] == 1
    assert emulator.stats()["requests"]["create"] == 1
    assert OutputStore(tmp_path).dangling_intents() == []


def test_generate_many_respects_quota_and_returns_in_order(emulator, tmp_path: Path) -> None:
    prompts = [f"scene number {i}" for i in range(6)]
    seen_running: list[int] = []

    def watch(job) -> None:
        def on_event(event) -> None:
            running = sum(1 for j in jobs if j.status in ("PENDING", "RUNNING"))
            seen_running.append(running)

        jobs.append(job)
        job.subscribe(on_event)

    jobs: list = []
    results = api.generate_many(
        prompts,
        output_dir=tmp_path,
        on_job=watch,
        **{**FAST, "model": "wan2.2-t2v-plus"},
        **conn(emulator),
    )
    assert [r.prompt for r in results] == prompts
    assert max(seen_running) <= 2  # wan2.2-t2v-plus runs 2 tasks at once
    assert emulator.stats()["tasks_created"] == 6
    assert len({r.path for r in results}) == 6


def test_generate_many_collects_errors_when_asked(emulator, tmp_path: Path) -> None:
    emulator.faults.add("create", "moderate_input", match="forbidden")
    out = api.generate_many(
        ["fine one", "forbidden one"],
        output_dir=tmp_path,
        return_exceptions=True,
        **FAST,
        **conn(emulator),
    )
    assert out[0].path.exists()
    assert isinstance(out[1], ContentModerationError)


def test_sync_api_works_inside_a_running_loop(emulator, tmp_path: Path) -> None:
    """As in a notebook cell: the sync call must drive the already running loop."""

    async def cell() -> object:
        return api.generate("inside a loop", output_dir=tmp_path, **FAST, **conn(emulator))

    result = asyncio.run(cell())
    assert result.path.exists()


def test_attach_follows_a_task_submitted_elsewhere(emulator, tmp_path: Path) -> None:
    with WanClient(emulator.api_key, base_url=emulator.base_url) as client:
        task = client.submit("submitted by another tool", **FAST)
    result = api.attach(task.task_id, output_dir=tmp_path, **conn(emulator))
    assert result.task_id == task.task_id and result.path.exists()
    assert result.width == 832 and result.prompt == "submitted by another tool"
    assert emulator.stats()["tasks_created"] == 1
    # it is now in the store like any other result: the same request is a cache hit
    again = api.generate("submitted by another tool", output_dir=tmp_path, **FAST, **conn(emulator))
    assert again.cached and again.task_id == task.task_id


def test_canary_key_lands_in_no_file(emulator_factory, canary_key: str, tmp_path: Path) -> None:
    emu = emulator_factory(api_keys=(canary_key,), rate_limits=False)
    api.generate(
        "keep my secret", output_dir=tmp_path, **FAST, api_key=canary_key, base_url=emu.base_url
    )
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 4  # video, sidecar, poster, index (+ WAL)
    for path in files:
        assert canary_key.encode() not in path.read_bytes(), path.name


# ---------------------------------------------------------------- crashes (real processes)

CHILD = textwrap.dedent(
    """
    import sys
    from wan_notebook import api
    api.generate(sys.argv[1], output_dir=sys.argv[2], api_key=sys.argv[3], base_url=sys.argv[4],
                 model="wan2.5-t2v-preview", size="832*480", duration=5)
    """
)


def _start_child(emu, prompt: str, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, prompt, str(out), emu.api_key, emu.base_url],
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for(predicate, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def test_kill_while_polling_then_rerun_gives_one_task(emulator_factory, tmp_path: Path) -> None:
    emu = emulator_factory(speed=20.0, rate_limits=False)  # slow enough to catch it polling
    child = _start_child(emu, "killed while polling", tmp_path)
    store = OutputStore(tmp_path)
    _wait_for(lambda: store.index_path.exists() and bool(store.in_flight()))
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert emu.stats()["tasks_created"] == 1
    result = api.generate("killed while polling", output_dir=tmp_path, **FAST, **conn(emu))
    assert emu.stats()["tasks_created"] == 1
    media.verify_mp4(result.path)
    assert len(list(tmp_path.glob("*.mp4"))) == 1 and not list(tmp_path.glob("*.part"))


def test_kill_mid_download_then_rerun_gives_one_file(emulator, tmp_path: Path) -> None:
    emulator.faults.add("video", "slow", delay=30.0, times=1)  # the first download hangs
    child = _start_child(emulator, "killed while downloading", tmp_path)
    store = OutputStore(tmp_path)
    _wait_for(lambda: emulator.stats()["requests"]["video"] >= 1)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert len(store.unsaved()) == 1  # journaled as SUCCEEDED, not saved yet
    result = api.generate("killed while downloading", output_dir=tmp_path, **FAST, **conn(emulator))
    assert emulator.stats()["tasks_created"] == 1
    media.verify_mp4(result.path)
    assert len(list(tmp_path.glob("*.mp4"))) == 1 and not list(tmp_path.glob("*.part"))


def test_two_processes_one_folder_lose_nothing(emulator, tmp_path: Path) -> None:
    children = [_start_child(emulator, f"process {i} writes here", tmp_path) for i in range(2)]
    for child in children:
        assert child.wait(timeout=60) == 0, child.stderr.read().decode()[-2000:]
    results = OutputStore(tmp_path).results()
    assert sorted(r.prompt for r in results) == ["process 0 writes here", "process 1 writes here"]
    for r in results:
        media.verify_mp4(r.video)
    assert emulator.stats()["tasks_created"] == 2


def test_detach_keeps_the_task_and_attach_finishes_it(emulator_factory, tmp_path: Path) -> None:
    from wan_notebook.errors import DetachedError
    from wan_notebook.jobs import Runner

    emu = emulator_factory(speed=20.0, rate_limits=False)

    async def main() -> tuple:
        runner = Runner(store=OutputStore(tmp_path), **conn(emu))
        try:
            job = runner.submit(api.VideoRequest.create("detach me", **FAST))
            while job.task_id is None:
                await asyncio.sleep(0.01)
            job.detach()
            with pytest.raises(DetachedError) as err:
                await job
            return job, err.value
        finally:
            await runner.aclose()

    job, error = asyncio.run(main())
    assert job.phase == "detached" and error.task_id == job.task_id
    assert "attach(" in str(error) and job.events[-1].kind == "failed"
    assert [r.task_id for r in OutputStore(tmp_path).in_flight()] == [job.task_id]
    result = api.attach(job.task_id, output_dir=tmp_path, **conn(emu))
    assert result.path.exists() and emu.stats()["tasks_created"] == 1


def test_generate_many_of_the_same_prompt_twice_makes_one_task(emulator, tmp_path: Path) -> None:
    """Issue 11 case 2: ``generate_many([p, p])`` made 2 tasks. The second job follows the
    first's claim and returns the same result."""
    emulator.faults.add("create", "slow", after=True, delay=0.5)
    first, second = api.generate_many(
        ["the same prompt twice", "the same prompt twice"],
        output_dir=tmp_path,
        model="wan2.5-t2v-preview",
        size="832*480",
        duration=5,
        api_key=emulator.api_key,
        base_url=emulator.base_url,
    )
    assert emulator.stats()["tasks_created"] == 1
    assert first.task_id == second.task_id and first.path == second.path
