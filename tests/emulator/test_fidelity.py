"""Emulator fidelity to the documented service (issue 12 cases 11-16)."""

from __future__ import annotations

import io
import math
import socket
import struct
import threading
import time
import wave
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from emu_helpers import Api

from wan_notebook import catalog

BEIJING = timezone(timedelta(hours=8))


@pytest.fixture
def new_york_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run with a machine time zone far from UTC+8, so local time cannot pass for it."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# ---------------------------------------------------------------- 11: the service's clock


def test_task_times_are_beijing_time_whatever_the_machine_zone(api: Api, new_york_time) -> None:
    before = datetime.now(timezone.utc)
    task_id = api.submit()
    out = api.wait(task_id)["output"]
    after = datetime.now(timezone.utc)
    for name in ("submit_time", "scheduled_time", "end_time"):
        shown = datetime.strptime(out[name], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=BEIJING)
        assert before - timedelta(seconds=1) <= shown <= after + timedelta(seconds=1), name


def test_list_filters_are_read_as_beijing_time(api: Api, new_york_time) -> None:
    task_id = api.submit()
    now = datetime.now(BEIJING)
    inside = {
        "start_time": (now - timedelta(minutes=5)).strftime("%Y%m%d%H%M%S"),
        "end_time": (now + timedelta(minutes=5)).strftime("%Y%m%d%H%M%S"),
    }
    assert task_id in [t["task_id"] for t in api.get("/tasks", params=inside).json()["data"]]
    # the same window in the machine's local time (12-13 h earlier) finds nothing
    local = datetime.now()
    outside = {
        "start_time": (local - timedelta(minutes=5)).strftime("%Y%m%d%H%M%S"),
        "end_time": (local + timedelta(minutes=5)).strftime("%Y%m%d%H%M%S"),
    }
    assert api.get("/tasks", params=outside).json()["total"] == 0


def test_our_client_reads_task_times_as_beijing_time(emulator, new_york_time) -> None:
    from wan_notebook import WanClient

    with WanClient(emulator.api_key, base_url=emulator.base_url, poll_scale=0.005) as client:
        before = datetime.now(timezone.utc)
        task = client.submit("a fox", model="wan2.5-t2v-preview", size="832*480")
        task = client.get(task)
    submitted = task.submit_time
    assert submitted is not None and submitted.utcoffset() == timedelta(hours=8)
    assert abs((submitted - before).total_seconds()) < 5


def test_our_client_lists_with_filters_on_the_service_clock(emulator, new_york_time) -> None:
    """A window given as an aware (or naive local) datetime reaches the service as UTC+8."""
    from wan_notebook import WanClient

    with WanClient(emulator.api_key, base_url=emulator.base_url, poll_scale=0.005) as client:
        task = client.submit("a fox", model="wan2.5-t2v-preview", size="832*480")
        since = datetime.now(timezone.utc) - timedelta(minutes=10)
        found = [t.task_id for t in client.list(start_time=since)]
        assert task.task_id in found
        local = datetime.now() - timedelta(minutes=10)  # naive: the machine's local time
        both = [t.task_id for t in client.list(start_time=local, end_time=datetime.now())]
        assert task.task_id in both


# ---------------------------------------------------------------- 12, 13


def test_parameters_are_optional_on_create(api: Api) -> None:
    body = {"model": "wan2.2-t2v-plus", "input": {"prompt": "a fox with default settings"}}
    r = api.create_raw(body)
    assert r.status_code == 200, r.text
    task_id = r.json()["output"]["task_id"]
    out = api.wait(task_id, timeout=60)
    assert out["output"]["task_status"] == "SUCCEEDED"
    model = catalog.get_model("wan2.2-t2v-plus")
    assert out["usage"]["video_ratio"] == model.default_size
    assert api.create_raw({**body, "parameters": None}).status_code == 200
    bad = api.create_raw({**body, "parameters": "fast"})
    assert bad.status_code == 400 and bad.json()["code"] == "InvalidParameter"


@pytest.mark.parametrize("path", ["/api/v1/nope", "/", "/api/v2/tasks", "/api/v1/tasks/a/b/c"])
def test_an_unknown_path_is_a_400_url_error(api: Api, path: str) -> None:
    r = api.http.get(api.emu.root_url + path, headers=api.headers())
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "InvalidParameter"
    assert body["message"].startswith("url error, please check url!")


# ---------------------------------------------------------------- 14


@pytest.mark.parametrize(
    ("params", "words"),
    [({"size": "1x1"}, "size is not match"), ({"duration": 7}, "duration is not match")],
)
def test_a_size_or_duration_the_model_lacks_fails_the_task(api: Api, params, words) -> None:
    task_id = api.submit(**params)  # accepted: HTTP 200, as the service does
    out = api.wait(task_id)["output"]
    assert out["task_status"] == "FAILED" and out["code"] == "InvalidParameter"
    assert words in out["message"] and "video_url" not in out


def test_strict_create_keeps_the_400_for_tests_that_want_it(emulator_factory, api_for) -> None:
    emu = emulator_factory(strict_create=True, rate_limits=False)
    r = api_for(emu).create(size="1x1")
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"
    assert "size is not match" in r.json()["message"] and emu.stats()["tasks_created"] == 0


def test_our_client_reports_the_failed_task(emulator) -> None:
    from wan_notebook import WanClient
    from wan_notebook.errors import TaskFailedError

    raw = Api(emulator)
    try:
        task_id = raw.submit(duration=7)  # our client refuses to send it: raw HTTP
    finally:
        raw.close()
    with (
        WanClient(emulator.api_key, base_url=emulator.base_url, poll_scale=0.005) as client,
        pytest.raises(TaskFailedError, match="duration is not match"),
    ):
        client.wait(task_id, timeout=60)


# ---------------------------------------------------------------- 15: audio_url


def _wav(seconds: float, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))
        )
        w.writeframes(frames)
    return buf.getvalue()


@pytest.fixture
def files() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A loopback HTTP server of in-memory files: (root URL, name -> bytes)."""
    served: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = served.get(self.path.lstrip("/"))
            self.send_response(200 if data is not None else 404)
            self.send_header("Content-Length", str(len(data or b"")))
            self.end_headers()
            self.wfile.write(data or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_audio_url_is_fetched_and_checked(api: Api, files) -> None:
    root, served = files
    served.update(
        {"ok.wav": _wav(4.0), "short.wav": _wav(1.0), "long.wav": _wav(31.0),
         "notes.wav": b"these are not audio samples at all\n" * 100}
    )  # fmt: skip
    cases = {
        "ok.wav": ("SUCCEEDED", None),
        "short.wav": ("FAILED", "InvalidFile.Duration"),
        "long.wav": ("FAILED", "InvalidFile.Duration"),
        "notes.wav": ("FAILED", "InvalidFile.Format"),
        "missing.wav": ("FAILED", "BadRequest.InputDownloadFailed"),
    }
    ids = {name: api.submit(inp={"audio_url": f"{root}/{name}"}) for name in cases}
    unreachable = api.submit(inp={"audio_url": f"http://127.0.0.1:{_closed_port()}/a.wav"})
    for name, (status, code) in cases.items():
        out = api.wait(ids[name], timeout=60)["output"]
        assert (out["task_status"], out.get("code")) == (status, code), name
    out = api.wait(unreachable, timeout=60)["output"]
    assert (out["task_status"], out["code"]) == ("FAILED", "BadRequest.InputDownloadFailed")


def test_an_uploaded_file_that_is_not_audio_fails_the_task(api: Api, tmp_path: Path) -> None:
    from wan_notebook import WanClient

    notes = tmp_path / "notes.mp3"
    notes.write_bytes(b"not an mp3\n" * 200)
    emu = api.emu
    with WanClient(emu.api_key, base_url=emu.base_url) as client:
        oss = client.upload(notes, "wan2.5-t2v-preview")
    r = api.create_raw(
        {"model": "wan2.5-t2v-preview", "input": {"prompt": "a fox", "audio_url": oss},
         "parameters": {"size": "832*480"}},
        headers=api.headers(**{"X-DashScope-OssResourceResolve": "enable"}),
    )  # fmt: skip
    assert r.status_code == 200, r.text
    out = api.wait(r.json()["output"]["task_id"], timeout=60)["output"]
    assert (out["task_status"], out["code"]) == ("FAILED", "InvalidFile.Format")


# ---------------------------------------------------------------- 16: region, account limits


def test_a_region_offers_only_its_models(emulator_factory, api_for) -> None:
    emu = emulator_factory(region="singapore", rate_limits=False)
    api = api_for(emu)
    assert emu.region == "singapore"
    r = api.create(model="wan2.6-t2v-us", size="1280*720")  # Virginia only
    assert r.status_code == 400 and r.json()["message"] == "Model not exist."
    task_id = api.submit(model="wan2.5-t2v-preview")
    item = api.get("/tasks").json()["data"][0]
    assert item["task_id"] == task_id and item["region"] == "ap-southeast-1"
    virginia = api_for(emulator_factory(region="us", rate_limits=False))
    r = virginia.create(model="wan2.5-t2v-preview")
    assert r.status_code == 400 and r.json()["message"] == "Model not exist."
    assert virginia.get("/tasks").status_code == 200


def test_unknown_region_is_refused(emulator_factory) -> None:
    with pytest.raises(ValueError, match="unknown region"):
        emulator_factory(region="mars")


def test_rate_limits_are_per_account_across_keys(emulator_factory, api_for) -> None:
    # The rate limits read a clock that stands still: a busy machine cannot spread the burst.
    emu = emulator_factory(
        rate_limits=True, api_keys=("sk-a", "sk-b"), speed=0.01, rate_clock=lambda: 0.0
    )
    a, b = api_for(emu, "sk-a"), api_for(emu, "sk-b")
    rps = catalog.get_model("wan2.2-t2v-plus").submit_rps
    codes = [a.create(model="wan2.2-t2v-plus").status_code for _ in range(rps)]
    assert codes == [200] * rps
    assert b.create(model="wan2.2-t2v-plus").status_code == 429  # the other key shares it
    for _ in range(catalog.QUERY_QPS):
        a.get("/tasks/x")
    assert b.get("/tasks/x").status_code == 429


def test_region_on_the_command_line() -> None:
    from wan_notebook.emulator.cli import build_parser, main

    assert build_parser().parse_args(["--region", "singapore"]).region == "singapore"
    assert main(["--region", "mars", "--port", "0"]) == 2
