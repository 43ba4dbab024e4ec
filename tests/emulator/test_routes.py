"""Every route of PROTOCOL 12 answers with and without a trailing slash, over real HTTP."""

from __future__ import annotations

import httpx
import pytest
from emu_helpers import CREATE, Api

from wan_notebook.emulator import Emulator

SLASHES = pytest.mark.parametrize("slash", ["", "/"])


@SLASHES
def test_create_both_paths(api: Api, slash: str) -> None:
    body = {"model": "wan2.5-t2v-preview", "input": {"prompt": "x"}, "parameters": {}}
    api.emu.set_speed(0.01)  # the default 1080p render is not needed here
    r = api.create_raw(body, path=CREATE + slash)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    out = r.json()
    assert set(out) == {"request_id", "output"}
    assert out["output"]["task_status"] == "PENDING"


@SLASHES
def test_image2video_path_answers_unknown_model(api: Api, slash: str) -> None:
    path = "/services/aigc/image2video/video-synthesis" + slash
    r = api.create_raw({"model": "wan2.5-t2v-preview", "input": {"prompt": "x"}}, path=path)
    assert r.status_code == 400
    assert r.json()["code"] == "InvalidParameter"
    assert r.json()["message"].startswith("Model not exist.")
    # kf2v is emulated since issue 14: the route answers, and wants its first frame
    r = api.create_raw({"model": "wanx2.1-kf2v-plus", "input": {"prompt": "x"}}, path=path)
    assert r.status_code == 400 and "input.first_frame_url" in r.json()["message"]


@SLASHES
def test_query_cancel_list(api: Api, slash: str) -> None:
    api.emu.set_speed(1.0)  # keep the task PENDING long enough to cancel it
    task_id = api.submit()
    r = api.get(f"/tasks/{task_id}{slash}", params={"size": "832*480", "duration": 5})
    assert r.status_code == 200 and r.json()["output"]["task_id"] == task_id
    r = api.http.post(
        f"{api.emu.base_url}/tasks/{task_id}/cancel{slash}",
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
        json={"model": "", "parameters": {}, "input": ""},  # the aio SDK's body
    )
    assert r.status_code == 200 and set(r.json()) == {"request_id"}
    r = api.get("/tasks" + slash, params={"page_no": 1, "page_size": 10})
    assert r.status_code == 200 and r.json()["data"][0]["task_id"] == task_id


@SLASHES
def test_upload_policy_and_upload(api: Api, slash: str) -> None:
    r = api.get("/uploads" + slash, params={"action": "getPolicy", "model": "wan2.5-t2v-preview"})
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["upload_host"] == api.emu.root_url + "/oss"
    form = {
        "OSSAccessKeyId": data["oss_access_key_id"],
        "Signature": data["signature"],
        "policy": data["policy"],
        "key": data["upload_dir"] + "/a.wav",
        "x-oss-object-acl": data["x_oss_object_acl"],
        "x-oss-forbid-overwrite": data["x_oss_forbid_overwrite"],
        "success_action_status": "200",
    }
    r = httpx.post(data["upload_host"] + slash, data=form, files={"file": ("a.wav", b"RIFF")})
    assert r.status_code == 200


@SLASHES
def test_video_route(api: Api, slash: str) -> None:
    task_id = api.submit(model="wan2.6-t2v", size="1280*720", duration=2)
    url = api.wait(task_id)["output"]["video_url"]
    base, _, query = url.partition("?")
    r = httpx.get(f"{base}{slash}?{query}")
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert r.content[4:8] == b"ftyp"


@SLASHES
def test_admin_routes(api: Api, slash: str) -> None:
    root = api.emu.root_url
    h = {"Authorization": f"Bearer {api.key}"}
    assert httpx.get(f"{root}/_emulator/stats{slash}", headers=h).status_code == 200
    assert httpx.get(f"{root}/_emulator/faults{slash}", headers=h).status_code == 200
    r = httpx.post(f"{root}/_emulator/speed{slash}", headers=h, json={"speed": 300})
    assert r.json() == {"speed": 300.0}


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/v1/nope"),
        ("GET", "/"),
        ("POST", "/api/v1/services/aigc/text2video/video-synthesis"),
        ("GET", "/api/v2/tasks"),
        ("GET", "/api/v1/tasks/a/b/c"),
    ],
)
def test_unknown_routes_are_json_400(emulator: Emulator, method: str, path: str) -> None:
    r = httpx.request(method, emulator.root_url + path)
    assert r.status_code == 400  # as the service: InvalidParameter "url error, ..."
    assert r.headers["content-type"] == "application/json"
    assert set(r.json()) == {"request_id", "code", "message"}


def test_wrong_method_is_json_405(api: Api) -> None:
    r = api.http.delete(api.emu.base_url + "/tasks")
    assert r.status_code == 405
    assert r.json()["code"] == "InvalidParameter"
    r = api.http.get(api.emu.base_url + CREATE, headers=api.headers())
    assert r.status_code == 405
