"""The emulator checks image-to-video create bodies as the service does (raw HTTP, real
sockets): 400 at create for what it sees without downloading, FAILED tasks for the rest."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from emu_helpers import CREATE, Api
from PIL import Image

KF2V = "/services/aigc/image2video/video-synthesis"


def data_uri(w: int = 320, h: int = 240, mode: str = "RGB", fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 120, np.uint8)).convert(mode).save(buf, format=fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def i2v(url: str, model: str = "wan2.1-i2v-turbo", **params: object) -> dict:
    params.setdefault("resolution", "480P")
    return {"model": model, "input": {"prompt": "p", "img_url": url}, "parameters": params}


def upload(api: Api, model: str, data: bytes, name: str = "x.png") -> str:
    policy = api.get(f"/uploads?action=getPolicy&model={model}").json()["data"]
    key = f"{policy['upload_dir']}/{name}"
    form = {
        "OSSAccessKeyId": policy["oss_access_key_id"], "Signature": policy["signature"],
        "policy": policy["policy"], "key": key, "x-oss-object-acl": "private",
        "x-oss-forbid-overwrite": "true", "success_action_status": "200",
    }  # fmt: skip
    r = httpx.post(policy["upload_host"], data=form, files={"file": (name, data, "image/png")})
    assert r.status_code == 200, r.text
    return "oss://" + key


def png(w: int = 320, h: int = 240) -> bytes:
    return base64.b64decode(data_uri(w, h).split(",", 1)[1])


def test_data_uri_task_succeeds_with_the_image_aspect(api: Api) -> None:
    task = api.create_raw(i2v(data_uri(480, 360))).json()["output"]["task_id"]
    body = api.wait(task)
    assert body["output"]["task_status"] == "SUCCEEDED"
    assert body["usage"] == {"video_duration": 5, "video_ratio": "standard", "video_count": 1}


def test_missing_image_is_400(api: Api) -> None:
    r = api.create_raw({"model": "wan2.6-i2v", "input": {"prompt": "p"}})
    assert r.status_code == 400 and "input.img_url" in r.json()["message"]


def test_kf2v_only_on_image2video(api: Api) -> None:
    body = {"model": "wan2.2-kf2v-flash", "input": {"first_frame_url": data_uri()}}
    assert api.create_raw(body, path=CREATE).json()["message"].startswith("Model not exist")
    assert api.create_raw(i2v(data_uri()), path=KF2V).status_code == 400
    r = api.create_raw(body, path=KF2V)
    assert r.status_code == 200, r.text
    out = api.wait(r.json()["output"]["task_id"])
    assert out["usage"] == {"video_duration": 5, "video_count": 1, "SR": 720}


@pytest.mark.parametrize(
    ("url", "code"),
    [
        (data_uri(100, 100), "InvalidFile.Resolution"),
        (data_uri(mode="RGBA"), "InvalidFile.Format"),
        (data_uri(fmt="GIF", mode="P"), "InvalidParameter"),  # image/gif is no data: MIME
    ],
)
def test_bad_images(api: Api, url: str, code: str) -> None:
    r = api.create_raw(i2v(url))
    if code == "InvalidParameter":
        assert r.status_code == 400 and r.json()["code"] == code
        return
    assert r.status_code == 200
    out = api.wait(r.json()["output"]["task_id"])["output"]
    assert out["task_status"] == "FAILED" and out["code"] == code


def test_oss_needs_the_header_and_the_same_model(api: Api, emulator) -> None:
    url = upload(api, "wan2.1-i2v-turbo", png())
    no_header = api.create_raw(i2v(url))
    assert no_header.status_code == 400 and no_header.json()["code"] == "InvalidURL"
    headers = api.headers(**{"X-DashScope-OssResourceResolve": "enable"})
    other = api.create_raw(i2v(url, model="wan2.2-i2v-flash"), headers=headers)
    assert other.status_code == 400
    assert other.json()["code"] == "InvalidParameter.DataInspection"
    assert "wan2.1-i2v-turbo" in other.json()["message"]
    # the other spelling of the same model is the same model
    ok = api.create_raw(i2v(url, model="wanx2.1-i2v-turbo"), headers=headers)
    assert ok.status_code == 200, ok.text
    assert api.wait(ok.json()["output"]["task_id"])["output"]["task_status"] == "SUCCEEDED"


def test_oss_older_than_48_hours_is_gone(api: Api, emulator) -> None:
    url = upload(api, "wan2.1-i2v-turbo", png(), "old.png")
    key = url[len("oss://") :]
    meta = Path(emulator._uploads.root, ".meta", *key.split("/"))
    meta = meta.with_name(meta.name + ".json")
    data = json.loads(meta.read_text())
    data["at"] = time.time() - 49 * 3600  # the clock cannot be moved: age the record instead
    meta.write_text(json.dumps(data))
    headers = api.headers(**{"X-DashScope-OssResourceResolve": "enable"})
    r = api.create_raw(i2v(url), headers=headers)
    assert r.status_code == 415 and r.json()["code"] == "BadRequest.InputDownloadFailed"


def wan27(media: list[dict] | None, **inp: object) -> dict:
    body: dict = {"model": "wan2.7-i2v", "input": {"prompt": "p", **inp},
                  "parameters": {"resolution": "720P", "duration": 2}}  # fmt: skip
    if media is not None:
        body["input"]["media"] = media
    return body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (wan27(None, img_url=data_uri()), "Field required: input.media"),
        (wan27([{"type": "last_frame", "url": data_uri()}]), "does not take last_frame"),
        (
            wan27([{"type": "first_frame", "url": data_uri()}] * 2),
            "each type at most once",
        ),
        (
            wan27(
                [
                    {"type": "first_frame", "url": data_uri()},
                    {"type": "first_clip", "url": "https://example.com/c.mp4"},
                ]
            ),
            "does not take first_clip + first_frame",
        ),
    ],
)
def test_wan27_media_failures_fail_the_task(api: Api, body: dict, message: str) -> None:
    r = api.create_raw(body)
    assert r.status_code == 200, r.text  # accepted, then FAILED (PROTOCOL 19)
    out = api.wait(r.json()["output"]["task_id"])["output"]
    assert out["task_status"] == "FAILED" and out["code"] == "InvalidParameter"
    assert message in out["message"]


def test_wan27_first_and_last_frame_succeeds(api: Api) -> None:
    body = wan27([{"type": "last_frame", "url": data_uri(480, 360)},
                  {"type": "first_frame", "url": data_uri(480, 360)}])  # fmt: skip
    out = api.wait(api.create_raw(body).json()["output"]["task_id"])
    assert out["output"]["task_status"] == "SUCCEEDED"
    assert out["usage"] == {"duration": 2, "input_video_duration": 0,
                            "output_video_duration": 2, "SR": 720, "video_count": 1}  # fmt: skip


def test_wan27_r2v_without_references_fails_the_task(api: Api) -> None:
    media = [{"type": "first_frame", "url": data_uri()}]
    body = {"model": "wan2.7-r2v", "input": {"prompt": "p", "media": media}, "parameters": {}}
    out = api.wait(api.create_raw(body).json()["output"]["task_id"])["output"]
    assert out["task_status"] == "FAILED" and "references" in out["message"]
