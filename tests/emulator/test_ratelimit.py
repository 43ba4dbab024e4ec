"""429 Throttling.RateQuota with Retry-After: 20 QPS on tasks routes, per-model submit RPS."""

from __future__ import annotations

from emu_helpers import Api

from wan_notebook import catalog
from wan_notebook.emulator.ratelimit import RateLimiter


class HandClock:
    """The rate limits' clock, turned by the test: a busy machine cannot move it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_query_list_cancel_share_20_qps(emulator_factory, api_for) -> None:
    clock = HandClock()
    emu = emulator_factory(rate_limits=True, rate_clock=clock)
    api = api_for(emu)
    codes = [api.get("/tasks/x").status_code for _ in range(catalog.QUERY_QPS)]
    assert set(codes) == {200}
    r = api.get("/tasks")
    assert r.status_code == 429
    assert r.json()["code"] == "Throttling.RateQuota"
    assert r.json()["message"] == "Requests rate limit exceeded, please try again later."
    assert 1 <= int(r.headers["retry-after"]) <= 1
    assert api.cancel("x").status_code == 429
    clock.now += 0.99
    assert api.get("/tasks").status_code == 429
    clock.now += 0.01  # one second after the first hit, the window has room again
    assert api.get("/tasks").status_code == 200
    assert emu.stats()["status_codes"]["429"] == 3


def test_limits_are_per_account(emulator_factory, api_for) -> None:
    """Every key of the emulator is one account: the documented limits are per account."""
    emu = emulator_factory(rate_limits=True, api_keys=("sk-a", "sk-b"), rate_clock=HandClock())
    a, b = api_for(emu, "sk-a"), api_for(emu, "sk-b")
    for _ in range(catalog.QUERY_QPS):
        a.get("/tasks/x")
    assert a.get("/tasks/x").status_code == 429
    assert b.get("/tasks/x").status_code == 429


def test_submit_rps_per_model(emulator_factory, api_for) -> None:
    emu = emulator_factory(rate_limits=True, speed=0.01, rate_clock=HandClock())
    api = api_for(emu)
    rps = catalog.get_model("wan2.2-t2v-plus").submit_rps
    codes = [api.create(model="wan2.2-t2v-plus").status_code for _ in range(rps + 1)]
    assert codes == [200] * rps + [429]
    # another model has its own budget
    assert api.create(model="wan2.5-t2v-preview").status_code == 200
    assert emu.stats()["tasks_created"] == rps + 1


def test_no_limits_when_off(api: Api) -> None:
    assert {api.get("/tasks/x").status_code for _ in range(60)} == {200}


def test_sliding_window_unit() -> None:
    now = [0.0]
    rl = RateLimiter(clock=lambda: now[0])
    assert [rl.hit("k", 2) for _ in range(3)] == [None, None, 1]
    now[0] = 0.99
    assert rl.hit("k", 2) == 1
    now[0] = 1.0
    assert rl.hit("k", 2) is None
