"""Tasks on disk: an emulator on the same state folder carries on with them (issue 12 case 3)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from emu_helpers import Api

from wan_notebook.emulator import Emulator


def _rows(state: Path) -> int:
    with sqlite3.connect(state / "tasks.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]


def test_a_new_emulator_on_the_folder_keeps_every_task(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Emulator(speed=300.0, rate_limits=False, state_dir=state) as first:
        api = Api(first)
        done = api.submit("finished before the restart")
        body = api.wait(done, timeout=60)
        first.set_speed(0.001)
        waiting = api.submit("still queued at the restart")
        api.close()
        url_path = body["output"]["video_url"].split("/files/", 1)[1]
    assert _rows(state) == 2
    with Emulator(speed=300.0, rate_limits=False, state_dir=state) as second:
        api = Api(second)
        again = api.query(done)["output"]
        assert again["task_status"] == "SUCCEEDED"
        assert again["submit_time"] == body["output"]["submit_time"]
        # the signing secret is kept: the old URL's signature still verifies on the new port
        video = api.http.get(f"{second.root_url}/files/{url_path}")
        assert video.status_code == 200 and video.content[4:8] == b"ftyp"
        assert api.wait(waiting, timeout=60)["output"]["task_status"] == "SUCCEEDED"
        assert second.stats()["tasks_created"] == 2
        api.close()


def test_a_task_running_at_the_restart_is_rendered_again(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Emulator(speed=300.0, rate_limits=False, state_dir=state) as first:
        api = Api(first)
        # a long render (1080p, 10 s): the process stops while it is still RUNNING
        task_id = api.submit("running when the process goes away", size="1920*1080", duration=10)
        api.wait(task_id, until={"RUNNING", "SUCCEEDED"}, timeout=60)
        api.close()
    with sqlite3.connect(state / "tasks.sqlite") as db:
        saved = db.execute("SELECT data FROM tasks").fetchone()[0]
    status = json.loads(saved)["status"]
    assert status == "RUNNING"
    with Emulator(speed=300.0, rate_limits=False, state_dir=state) as second:
        api = Api(second)
        out = api.wait(task_id, timeout=60)["output"]
        assert out["task_status"] == "SUCCEEDED", (status, out)
        assert api.http.get(out["video_url"]).status_code == 200
        api.close()


def test_long_expired_tasks_are_dropped_from_disk(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Emulator(speed=300.0, rate_limits=False, state_dir=state, lifetime=30.0) as first:
        api = Api(first)
        old = api.submit("soon forgotten")
        api.close()
    time.sleep(0.25)  # 75 simulated seconds at speed 300: over twice the 30 s lifetime
    assert _rows(state) == 1
    with Emulator(speed=300.0, rate_limits=False, state_dir=state, lifetime=30.0) as second:
        api = Api(second)
        assert api.query(old)["output"]["task_status"] == "UNKNOWN"
        assert second.stats()["tasks_created"] == 0
        api.close()
    assert _rows(state) == 0
