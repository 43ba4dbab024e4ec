"""Bearer-key authentication and the async header (PROTOCOL 2.1, 7, 12)."""

from __future__ import annotations

import httpx
import pytest
from emu_helpers import CREATE, Api

from wan_notebook.emulator import DEMO_API_KEY, Emulator

BODY = {"model": "wan2.5-t2v-preview", "input": {"prompt": "x"}, "parameters": {"size": "832*480"}}


def _routes(emu: Emulator) -> list[tuple[str, str]]:
    b = emu.base_url
    return [
        ("POST", b + CREATE),
        ("GET", b + "/tasks/abc"),
        ("POST", b + "/tasks/abc/cancel"),
        ("GET", b + "/tasks"),
        ("GET", b + "/uploads?action=getPolicy&model=wan2.5-t2v-preview"),
        ("GET", emu.root_url + "/_emulator/stats"),
        ("POST", emu.root_url + "/_emulator/speed"),
    ]


@pytest.mark.parametrize(
    "header,message",
    [
        (None, "No API-key provided."),
        ("", "No API-key provided."),
        ("Bearer", "No API-key provided."),
        ("Bearer sk-wrong", "Invalid API-key provided."),
        (f"Basic {DEMO_API_KEY}", "Invalid API-key provided."),
        (f"Bearer {DEMO_API_KEY}x", "Invalid API-key provided."),
    ],
)
def test_bad_keys_are_401_on_every_api_route(
    emulator: Emulator, header: str | None, message: str
) -> None:
    headers = {"X-DashScope-Async": "enable"}
    if header is not None:
        headers["Authorization"] = header
    for method, url in _routes(emulator):
        r = httpx.request(method, url, headers=headers, json=BODY)
        assert r.status_code == 401, (method, url)
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert body["code"] == "InvalidApiKey" and body["message"] == message
        assert body["request_id"]
    assert emulator.stats()["tasks_created"] == 0


def test_every_configured_key_works(emulator_factory, api_for) -> None:
    emu = emulator_factory(api_keys=("sk-one", "sk-two"), rate_limits=False)
    assert emu.api_key == "sk-one"
    one, two = api_for(emu, "sk-one"), api_for(emu, "sk-two")
    task_id = one.submit()
    # One account, several keys: any key may query the account's tasks (PROTOCOL 4).
    assert two.query(task_id)["output"]["task_id"] == task_id
    items = two.get("/tasks").json()["data"]
    assert items[0]["api_key_id"] == "100001"
    assert "sk-one" not in str(items)
    assert api_for(emu, DEMO_API_KEY).create().status_code == 401


@pytest.mark.parametrize("value", [None, "disable", ""])
def test_create_without_async_header_is_403(api: Api, value: str | None) -> None:
    headers = {"Authorization": f"Bearer {api.key}"}
    if value is not None:
        headers["X-DashScope-Async"] = value
    r = api.create_raw(BODY, headers=headers)
    assert r.status_code == 403
    assert r.json()["code"] == "AccessDenied"
    assert r.json()["message"] == "current user api does not support synchronous calls"
    assert api.emu.stats()["tasks_created"] == 0


def test_sdk_headers_workspace_and_case_are_tolerated(api: Api) -> None:
    headers = {
        "authorization": f"Bearer {api.key}",
        "x-dashscope-async": "ENABLE",
        "user-agent": "dashscope/2.0.2; python/3.11.7",
        "x-dashscope-sdk-client": "python-sdk/2.0.2/aigc",
        "x-dashscope-sdk-session-id": "0" * 32,
        "X-DashScope-WorkSpace": "ws-123",
        "X-DashScope-DataInspection": "enable",
        "Accept": "application/json; charset=utf-8",
        "Content-Type": "application/json; charset=utf-8",
    }
    assert api.create_raw(BODY, headers=headers).status_code == 200


def test_video_and_upload_routes_need_no_key(api: Api) -> None:
    # The signed URL and the upload host are authorised by their signatures, not the key.
    r = httpx.get(api.emu.root_url + "/files/00000000-0000-0000-0000-000000000000.mp4")
    assert r.status_code == 403
    r = httpx.post(api.emu.root_url + "/oss", files={"file": ("a", b"x")})
    assert r.status_code == 403
