"""GET /tasks: filters, time window, paging and the item shape (PROTOCOL 6)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from emu_helpers import Api

from wan_notebook.emulator.validation import SERVICE_TZ


def _stamp(dt: datetime) -> str:
    return dt.strftime("%Y%m%d%H%M%S")


@pytest.fixture
def seeded(api: Api) -> tuple[Api, list[str]]:
    api.emu.set_speed(0.01)  # everything stays PENDING
    ids = [api.submit(f"p{i}", model="wan2.5-t2v-preview") for i in range(5)]
    ids += [api.submit("q", model="wan2.2-t2v-plus") for _ in range(2)]
    assert api.cancel(ids[0]).status_code == 200
    return api, ids


def test_item_shape_and_order(seeded: tuple[Api, list[str]]) -> None:
    api, ids = seeded
    body = api.get("/tasks").json()
    assert set(body) == {"request_id", "total", "total_page", "page_no", "page_size", "data"}
    assert (body["total"], body["total_page"], body["page_no"], body["page_size"]) == (7, 1, 1, 10)
    assert [d["task_id"] for d in body["data"]] == ids[::-1]  # newest first
    item = body["data"][-1]
    assert item["status"] == "CANCELED" and item["model_name"] == "wan2.5-t2v-preview"
    assert isinstance(item["gmt_create"], int) and isinstance(item["end_time"], int)
    assert abs(item["gmt_create"] / 1000 - time.time()) < 60
    assert item["user_api_unique_key"].endswith(
        ":video-generation:video-synthesis:wan2.5-t2v-preview"
    )
    pending = body["data"][0]
    assert "end_time" not in pending and "start_time" not in pending
    for key in ("region", "request_id", "api_key_id", "caller_parent_id", "caller_uid"):
        assert pending[key]


def test_filters(seeded: tuple[Api, list[str]]) -> None:
    api, ids = seeded
    assert api.get("/tasks", params={"model_name": "wan2.2-t2v-plus"}).json()["total"] == 2
    assert api.get("/tasks", params={"status": "CANCELED"}).json()["total"] == 1
    assert api.get("/tasks", params={"status": "PENDING"}).json()["total"] == 6
    assert api.get("/tasks", params={"status": "SUCCEEDED"}).json()["total"] == 0
    one = api.get("/tasks", params={"task_id": ids[3]}).json()
    assert one["total"] == 1 and one["data"][0]["task_id"] == ids[3]
    now = datetime.now(SERVICE_TZ)  # the list filters are on the service's clock (UTC+8)
    win = {
        "start_time": _stamp(now - timedelta(hours=1)),
        "end_time": _stamp(now + timedelta(minutes=1)),
    }
    assert api.get("/tasks", params=win).json()["total"] == 7
    old = {
        "start_time": _stamp(now - timedelta(hours=30)),
        "end_time": _stamp(now - timedelta(hours=7)),
    }
    assert api.get("/tasks", params=old).json()["total"] == 0
    # Only one bound: the other is 24 h away.
    assert api.get("/tasks", params={"start_time": win["start_time"]}).json()["total"] == 7
    assert api.get("/tasks", params={"end_time": win["end_time"]}).json()["total"] == 7
    assert api.get("/tasks", params={"end_time": old["end_time"]}).json()["total"] == 0


def test_paging(seeded: tuple[Api, list[str]]) -> None:
    api, ids = seeded
    pages = [api.get("/tasks", params={"page_no": n, "page_size": 3}).json() for n in (1, 2, 3, 4)]
    assert [p["total_page"] for p in pages] == [3, 3, 3, 3]
    got = [d["task_id"] for p in pages for d in p["data"]]
    assert got == ids[::-1]
    assert pages[3]["data"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"start_time": "2025-09-29"},
        {"start_time": "20250229000000"},
        {"end_time": "2025092900000x"},
        {"start_time": "20250929000000", "end_time": "20250930000001"},  # > 24 h
        {"start_time": "20250929000000", "end_time": "20250928000000"},
        {"status": "DONE"},
        {"page_no": "0"},
        {"page_size": "-1"},
        {"page_size": "1000"},
        {"page_no": "abc"},
    ],
)
def test_bad_filters(api: Api, params: dict[str, str]) -> None:
    r = api.get("/tasks", params=params)
    assert r.status_code == 400
    assert r.json()["code"] == "InvalidParameter"


def test_window_of_exactly_24h_is_fine(api: Api) -> None:
    r = api.get("/tasks", params={"start_time": "20250929000000", "end_time": "20250930000000"})
    assert r.status_code == 200 and r.json()["total"] == 0
