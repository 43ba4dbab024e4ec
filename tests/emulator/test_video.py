"""The signed video route: Range requests, signatures, path tricks."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from emu_helpers import Api


@pytest.fixture
def video_url(api: Api) -> str:
    task_id = api.submit(model="wan2.6-t2v", size="1280*720", duration=2)
    return api.wait(task_id)["output"]["video_url"]


def test_full_and_range(video_url: str) -> None:
    full = httpx.get(video_url)
    assert full.status_code == 200
    size = len(full.content)
    assert full.headers["content-length"] == str(size)
    assert full.headers["accept-ranges"] == "bytes"
    r = httpx.get(video_url, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes 100-199/{size}"
    assert r.content == full.content[100:200]
    tail = httpx.get(video_url, headers={"Range": f"bytes={size - 10}-"})
    assert tail.status_code == 206 and tail.content == full.content[-10:]
    resume = httpx.get(video_url, headers={"Range": "bytes=-5"})
    assert resume.status_code == 206 and resume.content == full.content[-5:]
    bad = httpx.get(video_url, headers={"Range": f"bytes={size + 5}-"})
    assert bad.status_code == 416
    head = httpx.head(video_url)
    assert head.status_code == 200 and head.headers["content-length"] == str(size)


def test_signature_checks(video_url: str) -> None:
    base, _, query = video_url.partition("?")
    params = dict(p.split("=", 1) for p in query.split("&"))
    tampered = [
        base,
        f"{base}?Expires={params['Expires']}",
        f"{base}?Expires={int(params['Expires']) + 1}&Signature={params['Signature']}",
        # change the last character (to one it is not: "A" alone was a no-op 1 time in 64)
        f"{base}?Expires={params['Expires']}&Signature={params['Signature'][:-1]}"
        + ("B" if params["Signature"].endswith("A") else "A"),
        f"{base}?Expires=abc&Signature={params['Signature']}",
    ]
    for url in tampered:
        r = httpx.get(url)
        assert r.status_code == 403, url
        assert r.headers["content-type"] == "application/xml"
    # another (unknown) task id with a copied signature
    other = base.replace(base.rsplit("/", 1)[1], "00000000-0000-0000-0000-000000000000.mp4")
    assert httpx.get(f"{other}?{query}").status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/files/../../../../etc/passwd",
        "/files/..%2F..%2F..%2Fetc%2Fpasswd",
        "/files/%2e%2e/%2e%2e/etc/passwd",
        "/files/%2Fetc%2Fpasswd",
        "/files/x%00.mp4",
        "/files/..",
        "/files/.mp4",
        "/files/C:%5Cwindows%5Cwin.ini",
    ],
)
def test_path_tricks(api: Api, path: str) -> None:
    with httpx.Client() as c:
        req = c.build_request("GET", api.emu.root_url + "/x")
        req.url = httpx.URL(api.emu.root_url + path)  # keep the raw path as written
        r = c.send(req)
    assert 400 <= r.status_code < 500
    assert b"root:" not in r.content


def test_unfinished_task_has_no_file(api: Api) -> None:
    api.emu.set_speed(0.01)
    task_id = api.submit()
    assert "video_url" not in api.query(task_id)["output"]
    r = httpx.get(f"{api.emu.root_url}/files/{quote(task_id)}.mp4?Expires=1&Signature=x")
    assert r.status_code == 403
