"""A journaled media request comes back with the same digest (attach works for i2v tasks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wan_notebook import api
from wan_notebook.client import WanClient
from wan_notebook.request import VideoRequest
from wan_notebook.store.rows import request_from_canonical


def test_round_trip_keeps_the_digest() -> None:
    a = np.full((480, 640, 3), 90, np.uint8)
    for req in (
        VideoRequest.create("go", model="wan2.2-kf2v-flash", image=a, last_frame=a + 1),
        VideoRequest.create("go", model="wan2.6-i2v", image="https://e.com/a.png", seed=3),
    ):
        back = request_from_canonical(req.canonical(), req.digest)
        assert back.digest == req.digest and back.canonical() == req.canonical()


def test_attach_an_image_to_video_task(
    emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", str(1 / 200))
    conn = {"api_key": emulator.api_key, "base_url": emulator.base_url}
    image = np.full((480, 640, 3), 150, np.uint8)
    with WanClient(**conn) as client:  # a task made outside the store...
        task = client.submit("a still lake", model="wan2.1-i2v-turbo", resolution="480P",
                             duration=3, image=image)  # fmt: skip
    result = api.attach(task.task_id, output_dir=tmp_path, **conn)  # ...is attached and saved
    assert result.path.is_file() and result.model == "wan2.1-i2v-turbo"
    inputs = result.metadata["request"]["inputs"]
    assert inputs == [{"role": "image", "url": f"task:{task.task_id}"}]  # not known here
    creates = emulator.stats()["requests"]["create"]
    again = api.attach(task.task_id, output_dir=tmp_path, **conn)
    assert again.path == result.path and emulator.stats()["requests"]["create"] == creates
