"""Bad input never yields a 500 or a traceback: always the documented JSON error shape."""

from __future__ import annotations

import json
import socket

import httpx
from emu_helpers import CREATE, Api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wan_notebook.emulator import Emulator

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["wan2.5-t2v-preview", "wan2.6-t2v", "", "x"]) | json_values,
        "input": st.fixed_dictionaries(
            {},
            optional={
                "prompt": json_values,
                "negative_prompt": json_values,
                "audio_url": json_values,
            },
        )
        | json_values,
        "parameters": st.fixed_dictionaries(
            {},
            optional={
                "size": st.sampled_from(["832*480", "1280*720", "1*1"]) | json_values,
                "duration": st.sampled_from([2, 5, 10]) | json_values,
                "seed": json_values,
                "shot_type": json_values,
                "prompt_extend": json_values,
                "watermark": json_values,
            },
        )
        | json_values,
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_fuzzed_create_bodies(api: Api, body: dict) -> None:
    api.emu.set_speed(0.001)  # accepted ones stay PENDING: no renders
    r = api.create_raw(body)
    assert r.status_code in (200, 400, 415), r.text
    assert r.headers["content-type"] == "application/json"
    data = r.json()
    if r.status_code == 200:
        assert data["output"]["task_status"] == "PENDING"
    else:
        assert set(data) == {"request_id", "code", "message"}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=200))
def test_fuzzed_raw_bytes(api: Api, raw: bytes) -> None:
    r = api.create_raw(raw)
    assert r.status_code in (200, 400), r.text
    assert set(r.json()) >= {"request_id"}


def test_wrong_content_types_are_handled(api: Api) -> None:
    body = json.dumps({"model": "wan2.5-t2v-preview", "input": {"prompt": "x"}, "parameters": {}})
    api.emu.set_speed(0.001)
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        r = api.create_raw(body, headers={**api.headers(), "Content-Type": ctype})
        assert r.status_code == 200


def test_list_with_garbage_query(api: Api) -> None:
    r = api.http.get(
        api.emu.base_url + "/tasks?page_no=%FF%FE&start_time=%00&status[]=1&&&=",
        headers=api.headers(),
    )
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"


def test_raw_socket_garbage_does_not_kill_the_server(emulator: Emulator) -> None:
    host, port = emulator.root_url.removeprefix("http://").split(":")
    for payload in (
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"\x00" * 100,
    ):
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(payload)
            s.recv(1000)
    assert httpx.get(emulator.root_url + "/api/v1/tasks").status_code == 401


def test_declared_huge_body_is_refused_without_reading(api: Api) -> None:
    host, port = api.emu.root_url.removeprefix("http://").split(":")
    head = (
        f"POST /api/v1{CREATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api.key}\r\n"
        "X-DashScope-Async: enable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {1 << 30}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(head + b"{")
        reply = b""
        while b"}" not in reply:
            chunk = s.recv(4000)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413")
    assert b"BadRequest.TooLarge" in reply
