"""The emulator as a background service: one detached process per state folder, found again,
persisting its tasks, stopped on request (issue 12 case 3)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from emu_helpers import Api

from wan_notebook.emulator import service

pytestmark = pytest.mark.slow


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private state folder (via WAN_NOTEBOOK_EMULATOR_DIR); its emulator is stopped after."""
    directory = tmp_path / "emulator-state"
    monkeypatch.setenv(service.ENV_DIR, str(directory))
    yield directory
    service.stop(directory)


def _gone(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service._alive(pid):
            return True
        time.sleep(0.05)
    return False


def _wait(api: Api, task_id: str, timeout: float = 90.0) -> dict:
    """Poll at 10 QPS (the service emulator enforces the 20 QPS account limit) until done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = api.get(f"/tasks/{task_id}")
        if r.status_code == 200 and r.json()["output"]["task_status"] in (
            "SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN",
        ):  # fmt: skip
            return r.json()
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish")


def _listening(pid: int) -> list[str]:
    """Local addresses of the TCP sockets ``pid`` listens on (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # LISTEN
                found.append(cols[1])
    return found


def test_ensure_starts_one_detached_loopback_process_and_reuses_it(state: Path) -> None:
    assert service.state_dir() == state
    info, started = service.ensure(speed=200.0)
    assert started and info.directory == state and info.speed == 200.0
    # detached: its own session, no terminal, stdio to the log file in the state folder
    assert os.getsid(info.pid) == info.pid != os.getsid(0)
    assert os.readlink(f"/proc/{info.pid}/fd/0") == "/dev/null"
    assert os.readlink(f"/proc/{info.pid}/fd/1") == str(state / "emulator.log")
    assert os.readlink(f"/proc/{info.pid}/fd/2") == str(state / "emulator.log")
    # it listens on 127.0.0.1 only (0100007F is 127.0.0.1 in /proc's byte order)
    addresses = _listening(info.pid)
    assert addresses and all(a == f"0100007F:{info.port:04X}" for a in addresses)
    # the state file says where it is; the key is kept 0600 and never in the state file
    data = json.loads((state / "state.json").read_text())
    assert data["pid"] == info.pid and data["port"] == info.port
    assert info.api_key not in (state / "state.json").read_text()
    assert (state / "key").stat().st_mode & 0o077 == 0 and info.api_key not in repr(info)
    # a second ensure (the next kernel) finds and reuses it
    again, started_again = service.ensure(speed=50.0)
    assert not started_again and again.pid == info.pid and again.port == info.port
    assert service.find() == again


def test_stop_really_stops_it(state: Path) -> None:
    info, _ = service.ensure(speed=200.0)
    stopped = service.stop()
    assert stopped is not None and stopped.pid == info.pid
    assert _gone(info.pid)
    assert not (state / "state.json").exists() and service.find() is None
    with pytest.raises(httpx.TransportError):
        httpx.get(info.root_url + "/api/v1/tasks", timeout=5)
    assert service.stop() is None  # nothing left to stop


def test_a_stale_state_file_is_replaced(state: Path) -> None:
    state.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (state / "state.json").write_text(
        json.dumps({"pid": dead.pid, "port": 9, "speed": 30.0, "region": None})
    )
    (state / "key").write_text("sk-wan-emulator-old")
    assert service.find() is None  # the process is gone: stale
    info, started = service.ensure(speed=200.0)
    assert started and info.pid != dead.pid and info.api_key == "sk-wan-emulator-old"
    assert json.loads((state / "state.json").read_text())["pid"] == info.pid


def test_tasks_survive_a_kill_of_the_emulator_process(state: Path) -> None:
    info, _ = service.ensure(speed=300.0)
    api = Api(info)  # type: ignore[arg-type]
    try:
        done = api.submit("a fox that outlives its emulator")
        body = _wait(api, done)
        assert body["output"]["task_status"] == "SUCCEEDED"
        url = body["output"]["video_url"]
        info.set_speed(0.001)  # a second task that is surely still PENDING when killed
        pending = api.submit("a fox still in the queue")
        os.kill(info.pid, signal.SIGKILL)
        assert _gone(info.pid)
        new, started = service.ensure(speed=300.0)  # the state file is stale now
        assert started and new.pid != info.pid
        api.close()
        api = Api(new)  # type: ignore[arg-type]
        again = _wait(api, done)["output"]
        assert (
            again["task_status"] == "SUCCEEDED"
            and again["submit_time"] == (body["output"]["submit_time"])
        )
        # the old signed URL (other port) names the same file; on the new port it still works
        path_and_query = url.split("/files/", 1)[1]
        video = httpx.get(f"{new.root_url}/files/{path_and_query}", timeout=30)
        assert video.status_code == 200 and video.content[4:8] == b"ftyp"
        assert _wait(api, pending)["output"]["task_status"] == "SUCCEEDED"
    finally:
        api.close()


def test_every_answer_has_date_and_speed_headers(state: Path) -> None:
    info, _ = service.ensure(speed=200.0)
    for r in (
        httpx.get(info.base_url + "/tasks/x", headers={"Authorization": "Bearer " + info.api_key}),
        httpx.get(info.base_url + "/tasks/x"),  # 401
        httpx.get(info.root_url + "/no/such/path"),  # 400 url error
    ):
        assert r.headers["x-wan-emulator-speed"] == "200"
        assert r.headers["date"].endswith(" GMT")


def test_the_command_line_starts_reports_and_stops_it(state: Path) -> None:
    env = dict(os.environ, **{service.ENV_DIR: str(state)})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "wan_notebook.cli", "emulator", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    first = run("--background", "--speed", "120")
    assert first.returncode == 0, first.stderr
    assert "Started the background Wan emulator" in first.stdout
    info = service.find()
    assert info is not None and info.speed == 120.0
    assert info.api_key not in first.stdout
    second = run("start", "--background")
    assert "Reusing" in second.stdout and f"pid {info.pid}" in second.stdout
    status = run("status")
    assert status.returncode == 0 and str(info.pid) in status.stdout
    stopped = run("stop")
    assert stopped.returncode == 0 and f"pid {info.pid}" in stopped.stdout
    assert _gone(info.pid)
    assert run("status").returncode == 1
