"""Task lifecycle: statuses, time fields, usage, actual_prompt, quota, cancel, expiry."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from emu_helpers import Api

from wan_notebook.emulator import Emulator

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$")


def _wait_snap(emu: Emulator, task_id: str, cond: Any, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        snap = emu.task(task_id)
        assert snap is not None
        if cond(snap):
            return snap
        assert time.monotonic() < deadline, snap
        time.sleep(0.005)


def test_pending_running_succeeded_fields(api: Api) -> None:
    api.emu.set_speed(20.0)
    task_id = api.submit("a lighthouse at dusk", model="wan2.5-t2v-preview", seed=42)
    pending = api.query(task_id)["output"]
    assert pending["task_status"] == "PENDING"
    assert set(pending) == {"task_id", "task_status", "submit_time"}
    assert TIME_RE.match(pending["submit_time"])

    api.wait(task_id, until={"RUNNING"})
    api.emu.set_speed(0.01)  # hold it in RUNNING while we look
    running = api.query(task_id)
    assert set(running["output"]) == {"task_id", "task_status", "submit_time", "scheduled_time"}
    assert "usage" not in running

    api.emu.set_speed(2000.0)
    done = api.wait(task_id)
    out = done["output"]
    assert out["task_status"] == "SUCCEEDED"
    assert out["submit_time"] <= out["scheduled_time"] <= out["end_time"]
    assert all(TIME_RE.match(out[k]) for k in ("submit_time", "scheduled_time", "end_time"))
    assert out["orig_prompt"] == "a lighthouse at dusk"
    assert out["actual_prompt"].startswith("a lighthouse at dusk. ")
    assert out["video_url"].startswith(api.emu.root_url + f"/files/{task_id}.mp4?Expires=")
    assert done["usage"] == {"video_duration": 5, "video_ratio": "832*480", "video_count": 1}
    # Stable: the same prompt and seed give the same rewrite.
    assert api.query(task_id)["output"]["actual_prompt"] == out["actual_prompt"]


def test_usage_and_actual_prompt_per_family(api: Api) -> None:
    wan26 = api.submit("p", model="wan2.6-t2v", size="1280*720", duration=2, seed=1)
    no_extend = api.submit("p", model="wan2.2-t2v-plus", prompt_extend=False, seed=1)
    r26, r22 = api.wait(wan26), api.wait(no_extend)
    assert r26["output"]["task_status"] == r22["output"]["task_status"] == "SUCCEEDED"
    assert r26["usage"] == {
        "duration": 2,
        "input_video_duration": 0,
        "output_video_duration": 2,
        "SR": 720,
        "size": "1280*720",
        "video_count": 1,
    }
    assert "actual_prompt" not in r26["output"]  # wan2.6 never returns it
    assert "actual_prompt" not in r22["output"]  # prompt_extend was off
    assert r22["usage"]["video_ratio"] == "832*480"


def test_unknown_and_malformed_ids(api: Api) -> None:
    for task_id in ("0385dc79-5ff8-4d82-bcb6-000000000000", "nope", "x" * 300, "%00"):
        r = api.get(f"/tasks/{task_id}")
        assert r.status_code == 200
        assert r.json()["output"] == {
            "task_id": task_id.replace("%00", "\x00"),
            "task_status": "UNKNOWN",
        }


def test_concurrency_quota_is_per_account_per_model_fifo(emulator_factory, api_for) -> None:
    emu = emulator_factory(api_keys=("sk-a", "sk-b"), rate_limits=False, speed=300.0)
    emu.faults.add("create", "fail_task")  # no renders: the queue behaviour is what we test
    a, b = api_for(emu, "sk-a"), api_for(emu, "sk-b")
    ids = [a.submit(f"task {i}", model="wan2.2-t2v-plus") for i in range(5)]  # quota 2
    other = b.submit("other key, same account", model="wan2.2-t2v-plus")
    while True:
        every = [emu.task(i) for i in [*ids, other]]
        if all(s["internal_status"] == "FAILED" for s in every):
            break
        time.sleep(0.002)
    snaps = every[:-1]
    # the peak from the emulator's own run intervals [started, finished): sampling the tasks
    # one by one is not atomic and once saw 3 "at once" that never ran together
    peak = max(
        sum(o["started_sim"] <= s["started_sim"] < o["finished_sim"] for o in every) for s in every
    )
    assert peak == 2
    starts = [s["started_sim"] for s in snaps]
    assert starts == sorted(starts)  # FIFO
    finishes = sorted(s["finished_sim"] for s in snaps)
    assert snaps[2]["started_sim"] >= finishes[0]  # the third waited for a free slot
    # the other key is the same account: it queues behind the first key's tasks
    assert every[-1]["started_sim"] >= snaps[4]["started_sim"]


def test_no_quota_when_concurrency_off(emulator_factory, api_for) -> None:
    emu = emulator_factory(concurrency=False, rate_limits=False, speed=300.0)
    emu.faults.add("create", "fail_task")
    api = api_for(emu)
    ids = [api.submit(f"t{i}", model="wan2.2-t2v-plus") for i in range(4)]
    snaps = [_wait_snap(emu, i, lambda s: s["internal_status"] == "FAILED") for i in ids]
    assert max(s["started_sim"] for s in snaps) < min(s["finished_sim"] for s in snaps)


def test_cancel_only_while_pending(api: Api) -> None:
    api.emu.faults.add("create", "fail_task")
    api.emu.set_speed(0.05)
    task_id = api.submit()
    r = api.cancel(task_id)
    assert r.status_code == 200 and set(r.json()) == {"request_id"}
    out = api.query(task_id)["output"]
    assert out["task_status"] == "CANCELED"
    assert set(out) == {"task_id", "task_status", "submit_time", "end_time"}
    msg = "Failed to cancel the task, please confirm if the task is in PENDING status."
    for target in (task_id, "no-such-task"):
        r = api.cancel(target)
        assert r.status_code == 400
        assert r.json()["code"] == "UnsupportedOperation" and r.json()["message"] == msg

    running = api.submit()
    api.emu.set_speed(200)
    _wait_snap(api.emu, running, lambda s: s["internal_status"] == "RUNNING")
    api.emu.set_speed(0.01)
    assert api.cancel(running).status_code == 400
    assert api.query(running)["output"]["task_status"] == "RUNNING"


def test_cancel_frees_the_queue(emulator_factory, api_for) -> None:
    emu = emulator_factory(rate_limits=False, speed=200.0)
    emu.faults.add("create", "fail_task")
    api = api_for(emu)
    first = [api.submit(f"t{i}", model="wan2.2-t2v-plus") for i in range(2)]
    for t in first:
        _wait_snap(emu, t, lambda s: s["internal_status"] == "RUNNING")
    emu.set_speed(0.01)
    waiting = [api.submit(f"w{i}", model="wan2.2-t2v-plus") for i in range(2)]
    assert api.cancel(waiting[0]).status_code == 200
    emu.set_speed(300)
    snap = _wait_snap(emu, waiting[1], lambda s: s["internal_status"] == "FAILED")
    assert snap["error"][0] == "InternalError.Algo"
    assert emu.task(waiting[0])["status"] == "CANCELED"


def test_expire_now(api: Api) -> None:
    task_id = api.submit(model="wan2.6-t2v", size="1280*720", duration=2)
    url = api.wait(task_id)["output"]["video_url"]
    assert httpx.get(url).status_code == 200
    assert api.emu.expire(task_id) is True
    assert api.emu.expire("no-such") is False
    assert api.query(task_id)["output"] == {"task_id": task_id, "task_status": "UNKNOWN"}
    assert httpx.get(url).status_code == 403
    assert api.get("/tasks").json()["total"] == 0
    assert api.emu.stats()["tasks_by_status"] == {"UNKNOWN": 1}
    assert api.cancel(task_id).status_code == 400


def test_lifetime_expiry_on_the_simulated_clock(emulator_factory, api_for) -> None:
    emu = emulator_factory(lifetime=3600.0, speed=200.0, rate_limits=False)
    api = api_for(emu)
    task_id = api.submit(model="wan2.6-t2v", size="1280*720", duration=2)
    done = api.wait(task_id)
    url = done["output"]["video_url"]
    expires = int(url.split("Expires=")[1].split("&")[0])
    assert time.time() < expires < time.time() + 3600 / 200 + 2
    assert httpx.get(url).status_code == 200
    emu.set_speed(50_000.0)  # an hour of simulated time passes in 0.07 s
    time.sleep(0.15)
    assert api.query(task_id)["output"]["task_status"] == "UNKNOWN"
    r = httpx.get(url)
    assert r.status_code == 403 and b"expired" in r.content


def test_failed_task_from_unreachable_audio(api: Api) -> None:
    # A real failure: the loopback audio URL answers 404, so the task cannot fetch its input.
    url = api.emu.root_url + "/files/missing.wav"
    task_id = api.submit(inp={"audio_url": url})
    out = api.wait(task_id)["output"]
    assert out["task_status"] == "FAILED"
    assert out["code"] == "BadRequest.InputDownloadFailed"
    assert "video_url" not in out and "end_time" in out


@pytest.mark.parametrize("speed", [0, -1, float("nan"), "fast"])
def test_bad_speed(api: Api, speed: Any) -> None:
    with pytest.raises(ValueError):
        api.emu.set_speed(speed)


def test_default_timing_at_speed_200(api: Api) -> None:
    # The contract: at speed 200 a default task (wan2.6-t2v, 1080p, 5 s) takes ~0.5-1.5 s of
    # simulated time in wall seconds (rendering aside).
    api.emu.set_speed(0.01)
    task_id = api.submit(model="wan2.6-t2v", size="1920*1080")
    snap = api.emu.task(task_id)
    total = (snap["queue_due"] - snap["created_sim"]) + snap["run_sim"]
    assert 0.5 <= total / 200 <= 1.5
