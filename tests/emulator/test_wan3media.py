"""The emulator's Wan3.0 media[] (emulator/wan3media.py + newproto.py), sent raw over loopback:
documented reading (create 200, then a FAILED task, PROTOCOL 15.4/19) and the other reading of
the UNCERTAIN channel (``strict_create``: HTTP 400 at create)."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from PIL import Image

CREATE = "/services/aigc/video-generation/video-synthesis"


def data_uri(w: int, h: int) -> str:
    out = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 120, np.uint8)).save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def upload_clip(c: httpx.Client, seconds: float, path: Path) -> str:
    """A real clip through the emulator's temporary upload (PROTOCOL 17.2): its oss:// URL."""
    with av.open(str(path), "w") as box:
        s = box.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        for _ in range(round(seconds * 30)):
            box.mux(s.encode(av.VideoFrame.from_ndarray(np.zeros((240, 320, 3), np.uint8))))
        box.mux(s.encode())
    policy = c.get("/uploads", params={"action": "getPolicy", "model": "wan3.0-video"})
    data = policy.json()["data"]
    key = f"{data['upload_dir']}/{path.name}"
    form = {
        "OSSAccessKeyId": data["oss_access_key_id"], "Signature": data["signature"],
        "policy": data["policy"], "x-oss-object-acl": "private",
        "x-oss-forbid-overwrite": "true", "key": key, "success_action_status": "200",
    }  # fmt: skip
    r = httpx.post(
        data["upload_host"], data=form, files={"file": (path.name, path.read_bytes(), "video/mp4")}
    )
    assert r.status_code == 200, r.text
    return f"oss://{key}"


def send(c: httpx.Client, media: list[dict[str, str]]) -> httpx.Response:
    body = {"model": "wan3.0-video", "input": {"prompt": "p", "media": media},
            "parameters": {"resolution": "480P", "duration": 2}}  # fmt: skip
    return c.post(CREATE, json=body, headers={"X-DashScope-OssResourceResolve": "enable"})


def outcome(c: httpx.Client, created: httpx.Response) -> dict[str, Any]:
    assert created.status_code == 200, created.text
    task = created.json()["output"]["task_id"]
    for _ in range(3000):
        out = c.get(f"/tasks/{task}").json()["output"]
        if out["task_status"] in ("SUCCEEDED", "FAILED"):
            return out
        time.sleep(0.01)
    raise AssertionError("the task did not finish")


@pytest.fixture
def client(emulator) -> Any:
    headers = {"Authorization": f"Bearer {emulator.api_key}", "X-DashScope-Async": "enable"}
    with httpx.Client(base_url=emulator.base_url, headers=headers, timeout=30) as c:
        yield c


def test_a_fetched_image_out_of_range_fails_the_task(client: httpx.Client) -> None:
    out = outcome(client, send(client, [{"type": "first_frame", "url": data_uri(100, 100)}]))
    assert out["task_status"] == "FAILED" and out["code"] == "InvalidFile.Resolution"


def test_too_many_reference_seconds_fail_the_task(client: httpx.Client, tmp_path: Path) -> None:
    urls = [upload_clip(client, 8, tmp_path / f"c{i}.mp4") for i in range(2)]
    out = outcome(client, send(client, [{"type": "reference_video", "url": u} for u in urls]))
    assert out["task_status"] == "FAILED" and "15 s" in out["message"]
    ok = outcome(client, send(client, [{"type": "reference_video", "url": urls[0]}]))
    assert ok["task_status"] == "SUCCEEDED"


def test_strict_create_refuses_the_mix_at_create(emulator_factory) -> None:
    """The other reading of PROTOCOL 19 (an HTTP 400 at create), for clients tested both ways."""
    emu = emulator_factory(strict_create=True)
    headers = {"Authorization": f"Bearer {emu.api_key}", "X-DashScope-Async": "enable"}
    with httpx.Client(base_url=emu.base_url, headers=headers) as c:
        uri = data_uri(320, 240)
        r = send(c, [{"type": "first_frame", "url": uri}, {"type": "reference_image", "url": uri}])
        assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"
        assert "mutually exclusive" in r.json()["message"]
        assert emu.stats()["tasks_created"] == 0


def test_a_reference_audio_is_the_soundtrack(emulator, tmp_path: Path) -> None:
    """references=[image, wav] from the client: both uploaded, the wav is what the video plays."""
    import struct
    import wave

    from wan_notebook import api

    wav = tmp_path / "voice.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(struct.pack("<h", 1000) * 8000 * 3)
    still = np.full((480, 640, 3), 90, np.uint8)
    result = api.generate(
        "Image 1 sings Audio 1", model="wan3.0-video", references=[still, wav],
        resolution="480P", duration=2, output_dir=tmp_path, api_key=emulator.api_key,
        base_url=emulator.base_url,
    )  # fmt: skip
    state = emulator.task(result.task_id)
    assert state["audio_url"].startswith("oss://") and state["audio"].endswith(".wav")
    with av.open(str(result.path)) as box:
        assert box.streams.audio
    inputs = result.metadata["request"]["inputs"]
    assert [i["index"] for i in inputs] == [0, 1] and inputs[1]["seconds"] == pytest.approx(3.0)
    assert "thumb" in inputs[0] and "thumb" not in inputs[1]  # an image, then a sound
