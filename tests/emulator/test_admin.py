"""Admin endpoints for emulators in another process (same Bearer key)."""

from __future__ import annotations

import httpx
import pytest
from emu_helpers import Api


@pytest.fixture
def admin(api: Api) -> httpx.Client:
    client = httpx.Client(
        base_url=api.emu.root_url + "/_emulator", headers={"Authorization": f"Bearer {api.key}"}
    )
    yield client
    client.close()


def test_stats(api: Api, admin: httpx.Client) -> None:
    api.emu.set_speed(0.01)
    api.submit()
    api.get("/tasks")
    stats = admin.get("/stats").json()
    assert stats["tasks_created"] == 1
    assert stats["tasks_by_status"] == {"PENDING": 1}
    assert stats["requests"]["create"] == 1 and stats["requests"]["list"] == 1
    assert stats["requests"]["admin"] == 1
    assert stats["status_codes"]["200"] == 2
    assert stats == {
        **api.emu.stats(),
        "requests": stats["requests"],
        "status_codes": stats["status_codes"],
    }


def test_faults_crud(api: Api, admin: httpx.Client) -> None:
    r = admin.post("/faults", json={"route": "query", "kind": "error", "status": 503, "times": 1})
    rule_id = r.json()["id"]
    assert admin.get("/faults").json()["rules"][0]["id"] == rule_id
    assert api.get("/tasks/x").status_code == 503
    assert admin.get("/faults").json()["rules"][0]["fired"] == 1
    second = admin.post("/faults", json={"route": "list", "kind": "drop"}).json()["id"]
    assert admin.delete(f"/faults/{second}").json() == {"removed": second}
    assert admin.delete(f"/faults/{second}").status_code == 404
    assert admin.delete("/faults").json() == {"cleared": 1}
    assert api.emu.faults.rules() == []


@pytest.mark.parametrize(
    "body",
    [
        {"route": "query", "kind": "nope"},
        {"route": "query"},
        {"route": "query", "kind": "error", "bogus": 1},
        [1],
        "x",
    ],
)
def test_bad_fault_bodies(admin: httpx.Client, body: object) -> None:
    r = admin.post("/faults", json=body)
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"


def test_expire_and_speed(api: Api, admin: httpx.Client) -> None:
    api.emu.set_speed(0.01)
    task_id = api.submit()
    assert admin.get(f"/tasks/{task_id}").json()["status"] == "PENDING"
    assert admin.post(f"/expire/{task_id}").json() == {"task_id": task_id, "expired": True}
    assert api.query(task_id)["output"]["task_status"] == "UNKNOWN"
    assert admin.post("/expire/nope").status_code == 404
    assert admin.get("/tasks/nope").status_code == 404
    assert admin.post("/speed", json={"speed": 123.5}).json() == {"speed": 123.5}
    assert api.emu.speed == 123.5
    for bad in ({"speed": 0}, {"speed": "x"}, {}, [1]):
        assert admin.post("/speed", json=bad).status_code == 400


def test_admin_needs_the_key(api: Api) -> None:
    r = httpx.get(api.emu.root_url + "/_emulator/stats", headers={"Authorization": "Bearer no"})
    assert r.status_code == 401
