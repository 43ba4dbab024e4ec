"""The SDK's temporary upload: policy, multipart POST, oss:// resolution, confinement."""

from __future__ import annotations

import io
import wave
from typing import Any

import httpx
import pytest
from emu_helpers import Api


def make_wav(seconds: float = 1.0, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = bytearray()
        for i in range(int(seconds * rate)):
            v = int(8000 * ((i // 20) % 2 * 2 - 1))  # a 400 Hz square wave
            frames += v.to_bytes(2, "little", signed=True)
        w.writeframes(bytes(frames))
    return buf.getvalue()


def _policy(api: Api) -> dict[str, Any]:
    r = api.get("/uploads", params={"action": "getPolicy", "model": "wan2.5-t2v-preview"})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _form(data: dict[str, Any], key: str) -> dict[str, str]:
    return {
        "OSSAccessKeyId": data["oss_access_key_id"],
        "Signature": data["signature"],
        "policy": data["policy"],
        "key": key,
        "x-oss-object-acl": data["x_oss_object_acl"],
        "x-oss-forbid-overwrite": data["x_oss_forbid_overwrite"],
        "success_action_status": "200",
        "x-oss-content-type": "audio/x-wav",
    }


def _upload(
    api: Api, data: dict[str, Any], key: str, content: bytes, **over: str
) -> httpx.Response:
    form = {**_form(data, key), **over}
    return httpx.post(data["upload_host"], data=form, files={"file": ("a.wav", content)})


def test_policy_shape(api: Api) -> None:
    data = _policy(api)
    for k in (
        "policy", "signature", "upload_dir", "upload_host", "oss_access_key_id",
        "x_oss_object_acl", "x_oss_forbid_overwrite", "expire_in_seconds",
        "max_file_size_mb", "capacity_limit_mb",
    ):  # fmt: skip
        assert k in data
    assert data["upload_dir"].startswith("dashscope-instant/")
    assert api.key not in str(data)
    assert _policy(api)["upload_dir"] != data["upload_dir"]


@pytest.mark.parametrize("params", [{"action": "other", "model": "m"}, {"action": "getPolicy"}])
def test_policy_bad_params(api: Api, params: dict[str, str]) -> None:
    r = api.get("/uploads", params=params)
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"


def test_upload_then_oss_audio_reaches_the_render(api: Api) -> None:
    data = _policy(api)
    key = data["upload_dir"] + "/voice.wav"
    wav = make_wav(2.0)
    assert _upload(api, data, key, wav).status_code == 200
    stored = api.emu.storage / "oss" / key
    assert stored.read_bytes() == wav
    # forbid-overwrite is honoured
    assert _upload(api, data, key, b"other").status_code == 409
    body = {
        "model": "wan2.5-t2v-preview",
        "input": {"prompt": "sings", "audio_url": f"oss://{key}"},
        "parameters": {"size": "832*480"},
    }
    r = api.create_raw(body, headers=api.headers(**{"X-DashScope-OssResourceResolve": "enable"}))
    assert r.status_code == 200, r.text
    snap = api.emu.task(r.json()["output"]["task_id"])
    assert snap["audio"] == str(stored)


def test_audio_sources_by_model_and_url(api: Api) -> None:
    api.emu.set_speed(0.01)
    cases = [
        ("wan2.5-t2v-preview", None, "tone"),
        ("wan2.5-t2v-preview", "https://example.com/a.mp3", "tone"),  # never leaves the machine
        ("wan2.5-t2v-preview", "http://127.0.0.1:9/a.wav", ["url", "http://127.0.0.1:9/a.wav"]),
        ("wan2.5-t2v-preview", "http://localhost:9/a.wav", ["url", "http://localhost:9/a.wav"]),
        ("wan2.2-t2v-plus", None, None),
    ]
    for model, url, expected in cases:
        inp = {"audio_url": url} if url else {}
        snap = api.emu.task(api.submit(model=model, inp=inp))
        got = snap["audio"]
        assert (list(got) if isinstance(got, tuple) else got) == expected


def test_upload_rejections(api: Api) -> None:
    data = _policy(api)
    good = data["upload_dir"] + "/a.wav"
    assert _upload(api, data, good, b"x", Signature="AAAA").status_code == 403
    assert _upload(api, data, good, b"x", OSSAccessKeyId="someone").status_code == 403
    assert _upload(api, data, "dashscope-instant/other/a.wav", b"x").status_code == 403
    # a policy with a changed prefix no longer matches its signature
    other = _policy(api)
    assert _upload(api, data, good, b"x", policy=other["policy"]).status_code == 403
    r = httpx.post(data["upload_host"], data=_form(data, good))  # no file part
    assert r.status_code == 400
    r = httpx.post(
        data["upload_host"],
        content=b"garbage",
        headers={"Content-Type": "multipart/form-data; boundary=zz"},
    )
    assert 400 <= r.status_code < 500
    assert r.headers["content-type"] == "application/xml"


@pytest.mark.parametrize(
    "suffix",
    [
        "/../../../escape.wav",
        "/../x.wav",
        "//a.wav",
        "/./a.wav",
        "/a\x00.wav",
        "/a\\..\\b.wav",
        "/",
    ],
)
def test_upload_key_tricks_never_write_outside(api: Api, suffix: str) -> None:
    data = _policy(api)
    before = {p for p in api.emu.storage.rglob("*")}
    r = _upload(api, data, data["upload_dir"] + suffix, b"evil")
    assert 400 <= r.status_code < 500
    after = {p for p in api.emu.storage.rglob("*")}
    assert not [p for p in after - before if p.is_file()]
    assert not (api.emu.storage.parent / "escape.wav").exists()


def test_absolute_key_rejected(api: Api) -> None:
    data = _policy(api)
    r = _upload(api, data, "/etc/passwd", b"evil")
    assert r.status_code == 400


def test_oss_url_tricks_do_not_resolve(api: Api) -> None:
    data = _policy(api)
    key = data["upload_dir"] + "/ok.wav"
    assert _upload(api, data, key, make_wav(0.2)).status_code == 200
    headers = api.headers(**{"X-DashScope-OssResourceResolve": "enable"})
    for url in ("oss://../../etc/passwd", "oss:///etc/passwd", f"oss://{key}/../ok.wav", "oss://"):
        body = {
            "model": "wan2.5-t2v-preview",
            "input": {"prompt": "x", "audio_url": url},
            "parameters": {"size": "832*480"},
        }
        r = api.create_raw(body, headers=headers)
        assert r.status_code == 415, url


def test_upload_size_limit(api: Api) -> None:
    api.emu._uploads.max_bytes = 1000  # a tiny limit instead of 100 MB of test data
    data = _policy(api)
    r = _upload(api, data, data["upload_dir"] + "/big.wav", b"x" * 5000)
    assert r.status_code == 413
    assert not list((api.emu.storage / "oss").rglob("big.wav"))
