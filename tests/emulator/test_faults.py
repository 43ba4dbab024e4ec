"""Fault injection: each kind over real HTTP, and the rule counters (times, every, p, match)."""

from __future__ import annotations

import time

import httpx
import pytest
from emu_helpers import Api

from wan_notebook.emulator.faults import FaultRules


def test_error_with_retry_after(api: Api) -> None:
    api.emu.faults.add("query", "error", status=503, retry_after=2, times=1)
    r = api.get("/tasks/x")
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert r.json()["code"] == "ModelUnavailable" and r.json()["request_id"]
    assert api.get("/tasks/x").status_code == 200  # spent after one


def test_error_defaults_and_custom_code(api: Api) -> None:
    api.emu.faults.add("create", "error", code="Throttling.AllocationQuota", status=429, times=1)
    r = api.create()
    assert r.status_code == 429 and r.json()["code"] == "Throttling.AllocationQuota"
    api.emu.faults.add("list", "error", times=1)
    r = api.get("/tasks")
    assert r.status_code == 500 and r.json()["code"] == "InternalError"
    assert api.emu.stats()["tasks_created"] == 0


def test_drop_before_create_makes_no_task(api: Api) -> None:
    api.emu.faults.add("create", "drop", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        api.create()
    assert api.emu.stats()["tasks_created"] == 0
    assert api.create().status_code == 200
    deadline = time.monotonic() + 2
    while api.emu.stats()["dropped"] != 1:  # counted once the server has seen the close
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_drop_after_create_is_ambiguous(api: Api) -> None:
    api.emu.set_speed(0.01)
    api.emu.faults.add("create", "drop", after=True, times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        api.create("the ambiguous one")
    assert api.emu.stats()["tasks_created"] == 1
    items = api.get("/tasks").json()["data"]
    assert len(items) == 1 and items[0]["status"] == "PENDING"


def test_drop_on_query(api: Api) -> None:
    api.emu.faults.add("query", "drop", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/tasks/x")
    assert api.get("/tasks/x").status_code == 200


def test_slow(api: Api) -> None:
    api.emu.faults.add("list", "slow", delay=0.3, times=1)
    t = time.perf_counter()
    assert api.get("/tasks").status_code == 200
    assert time.perf_counter() - t >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        api.emu.faults.add("list", "slow", delay=1.0, times=1)
        api.get("/tasks", timeout=0.2)


def test_moderate_input(api: Api) -> None:
    api.emu.faults.add("create", "moderate_input", match="forbidden")
    assert api.create("a calm lake").status_code == 200
    r = api.create("something forbidden here")
    assert r.status_code == 400
    assert r.json()["code"] == "DataInspectionFailed"
    assert r.json()["message"] == "Input or output data may contain inappropriate content."
    assert api.emu.stats()["tasks_created"] == 1


@pytest.mark.parametrize(
    "code", ["DataInspectionFailed", "IPInfringementSuspect", "InternalError.Algo"]
)
def test_fail_task(api: Api, code: str) -> None:
    api.emu.faults.add("create", "fail_task", code=code)
    task_id = api.submit()
    out = api.wait(task_id)["output"]
    assert out["task_status"] == "FAILED" and out["code"] == code and out["message"]
    assert "video_url" not in out and "usage" not in api.query(task_id)
    assert set(out) >= {"submit_time", "scheduled_time", "end_time"}


def test_video_truncate_and_expire_url(api: Api) -> None:
    task_id = api.submit(model="wan2.6-t2v", size="1280*720", duration=2)
    url = api.wait(task_id)["output"]["video_url"]
    size = len(httpx.get(url).content)
    api.emu.faults.add("video", "truncate", times=1)
    with httpx.stream("GET", url) as r:
        assert r.status_code == 200 and r.headers["content-length"] == str(size)
        got = bytearray()
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in r.iter_bytes():
                got += chunk
        assert 0 < len(got) < size
    api.emu.faults.add("video", "expire_url", times=1)
    assert httpx.get(url).status_code == 403
    assert httpx.get(url).status_code == 200


def test_upload_routes_faults(api: Api) -> None:
    api.emu.faults.add("upload_policy", "error", status=500, times=1)
    r = api.get("/uploads", params={"action": "getPolicy", "model": "m"})
    assert r.status_code == 500
    api.emu.faults.add("upload", "error", status=503, times=1)
    r = httpx.post(api.emu.root_url + "/oss", files={"file": ("a", b"x")})
    assert r.status_code == 503 and r.headers["content-type"] == "application/xml"


def test_cancel_fault_and_wildcard(api: Api) -> None:
    api.emu.faults.add("*", "error", status=502, times=2)
    assert api.cancel("x").status_code == 502
    assert api.get("/tasks").status_code == 502
    assert api.get("/tasks").status_code == 200


def test_match_on_query_uses_the_task_prompt(api: Api) -> None:
    api.emu.set_speed(0.01)
    hit, miss = api.submit("flaky one"), api.submit("steady one")
    api.emu.faults.add("query", "error", status=504, match="flaky")
    assert api.get(f"/tasks/{hit}").status_code == 504
    assert api.get(f"/tasks/{miss}").status_code == 200


def test_rule_counters_every_probability_remove() -> None:
    rules = FaultRules(seed=1)
    every = rules.add("query", "error", every=3)
    fired = [rules.check("query") is not None for _ in range(9)]
    assert fired == [False, False, True] * 3
    assert rules.remove(every) and not rules.remove(every)
    rules.add("query", "error", probability=0.25)
    n = sum(rules.check("query") is not None for _ in range(2000))
    assert 400 < n < 600
    again = FaultRules(seed=1)
    again.add("query", "error", probability=0.25)
    assert [again.check("query") is not None for _ in range(50)] == [FaultRules_first(50, seed=1)][
        0
    ]
    assert rules.clear() == 1 and rules.check("query") is None


def FaultRules_first(n: int, seed: int) -> list[bool]:
    r = FaultRules(seed=seed)
    r.add("query", "error", probability=0.25)
    return [r.check("query") is not None for _ in range(n)]


@pytest.mark.parametrize(
    "route,kind,kw",
    [
        ("nowhere", "error", {}),
        ("query", "explode", {}),
        ("query", "truncate", {}),
        ("video", "moderate_input", {}),
        ("query", "fail_task", {}),
        ("query", "slow", {}),
        ("query", "error", {"times": 0}),
        ("query", "error", {"every": 0}),
        ("query", "error", {"probability": 1.5}),
        ("query", "error", {"status": 200}),
        ("query", "drop", {"after": True}),
    ],
)
def test_bad_rules_are_refused(route: str, kind: str, kw: dict) -> None:
    with pytest.raises(ValueError):
        FaultRules().add(route, kind, **kw)


def test_slow_after_creates_the_task_before_the_late_answer(api: Api) -> None:
    """``slow`` with ``after=True`` on create: the task exists while the answer waits."""
    import threading

    api.emu.faults.add("create", "slow", after=True, delay=0.6, times=1)
    answer: dict = {}
    thread = threading.Thread(target=lambda: answer.update(api.create().json()))
    thread.start()
    deadline = time.monotonic() + 0.5
    while api.emu.stats()["tasks_created"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert api.emu.stats()["tasks_created"] == 1 and not answer  # created, not answered
    thread.join()
    assert answer["output"]["task_status"] == "PENDING"
