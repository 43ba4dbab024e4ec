"""One access-log line per request; the API key never appears in logs, reprs or files."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import httpx
from emu_helpers import Api


def _exercise(api: Api) -> None:
    api.emu.set_speed(0.01)
    task_id = api.submit("logged prompt")
    api.query(task_id)
    api.get("/tasks", params={"page_no": 1})
    api.cancel(task_id)
    api.get("/uploads", params={"action": "getPolicy", "model": "m"})
    httpx.get(f"{api.emu.root_url}/files/{task_id}.mp4?Expires=1&Signature=secret-sig")
    httpx.get(api.emu.base_url + "/tasks", headers={"Authorization": "Bearer sk-wrong"})


def test_one_line_per_request_without_secrets(
    emulator_factory, api_for, canary_key, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="wan_notebook.emulator")
    emu = emulator_factory(api_keys=(canary_key,), log=True, rate_limits=False)
    assert canary_key not in repr(emu)
    api = api_for(emu)
    _exercise(api)

    def access_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "wan_notebook.emulator.access"]

    # the server logs a request after its response has gone out: give the last line a moment
    deadline = time.monotonic() + 5
    while len(access_lines()) < 7 and time.monotonic() < deadline:
        time.sleep(0.01)
    lines = access_lines()
    assert len(lines) == 7
    assert lines[0].startswith("POST /api/v1/services/aigc/video-generation/video-synthesis 200 ")
    assert lines[0].endswith(" ms")
    assert lines[5].startswith("GET /files/") and " 403 " in lines[5]
    assert lines[6].startswith("GET /api/v1/tasks 401 ")
    everything = caplog.text + "\n".join(lines)
    assert canary_key not in everything
    assert "secret-sig" not in everything  # query strings are not logged
    for path in emu.storage.rglob("*"):
        if path.is_file():
            assert canary_key.encode() not in path.read_bytes()
    assert canary_key not in str(emu.stats())


def test_silent_when_log_is_off(api: Api, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="wan_notebook.emulator")
    _exercise(api)
    assert not [r for r in caplog.records if r.name == "wan_notebook.emulator.access"]


def test_stderr_handler_when_nothing_is_configured(canary_key: str) -> None:
    code = f"""
import httpx
from wan_notebook.emulator import Emulator
with Emulator(api_keys=({canary_key!r},), log=True) as emu:
    httpx.get(emu.base_url + "/tasks", headers={{"Authorization": "Bearer {canary_key}"}})
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "GET /api/v1/tasks 200" in out.stderr
    assert canary_key not in out.stderr + out.stdout
