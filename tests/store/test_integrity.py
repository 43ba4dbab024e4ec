"""Integrity of what is served, and URL expiry judged on the service's clock (cases 13, 7).

Real files, a real index, a real MP4 rendered by the emulator's renderer; "a new process" is
a real child process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from wan_notebook.protocol import Task
from wan_notebook.request import VideoRequest
from wan_notebook.service_clock import ServiceClock
from wan_notebook.store import OutputStore
from wan_notebook.store.records import url_expiry

TASK = "5b1d6a0e-1111-4d82-bcb6-000000"


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from wan_notebook.emulator.render import render_video

    out = tmp_path_factory.mktemp("media") / "tiny.mp4"
    return render_video(
        out, width=64, height=64, duration=0.5, fps=10, prompt="tiny", seed=7, audio=None
    )


def req(prompt: str = "A red fox in a trench coat") -> VideoRequest:
    return VideoRequest.create(prompt)


def signed_url(expires_at: float) -> str:
    return f"https://bucket.oss.example/x.mp4?Expires={int(expires_at)}&Signature=SIG"


def save(store: OutputStore, request: VideoRequest, mp4: Path, task_id: str = TASK) -> Any:
    url = signed_url(time.time() + 3600)
    intent = store.begin_intent(request)
    record = store.resolve_intent(intent, task_id)
    store.record_status(task_id, "SUCCEEDED", video_url=url)
    shutil.copyfile(mp4, record.paths.video)
    return store.save_result(
        request, Task(task_id=task_id, status="SUCCEEDED", video_url=url), record.paths.video
    )


def lookup_in_child(folder: Path, prompt: str) -> str:
    """``OutputStore(folder).lookup(...)`` in a new Python process; returns its kind."""
    code = textwrap.dedent(
        f"""
        from wan_notebook.request import VideoRequest
        from wan_notebook.store import OutputStore
        print(OutputStore({str(folder)!r}).lookup(VideoRequest.create({prompt!r})).kind)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.strip()


def corrupt_in_place(path: Path) -> None:
    """Flip bytes in the middle, keeping size and mtime (what a bad disk or a tool can do)."""
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(st.st_size // 2)
        data = f.read(64)
        f.seek(st.st_size // 2)
        f.write(bytes(b ^ 0xFF for b in data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


# -- case 13: the video ------------------------------------------------------------------


def test_same_size_corruption_with_mtime_restored_is_caught_by_a_new_process(
    tmp_path: Path, mp4: Path
) -> None:
    """It was served as verified (only size and mtime were compared)."""
    store = OutputStore(tmp_path)
    saved = save(store, req(), mp4)
    assert lookup_in_child(tmp_path, req().prompt) == "saved"
    corrupt_in_place(saved.video)
    assert lookup_in_child(tmp_path, req().prompt) == "redownload"
    assert not saved.video.exists()
    assert (tmp_path / (saved.video.name + ".corrupt")).is_file()  # kept aside


def test_same_size_corruption_is_caught_in_the_same_process(tmp_path: Path, mp4: Path) -> None:
    """The in-process memory of verified files keys on ctime too, which no tool restores."""
    store = OutputStore(tmp_path)
    saved = save(store, req(), mp4)
    assert store.lookup(req()).kind == "saved"
    corrupt_in_place(saved.video)
    found = OutputStore(tmp_path).lookup(req())
    assert found.kind == "redownload" and found.task_id == TASK


def test_repeated_lookups_do_not_rehash(tmp_path: Path, mp4: Path) -> None:
    """The first serve hashes; later ones trust the remembered (size, mtime, ctime, inode).
    Proven by making the file unreadable for a hash: a stat still works."""
    store = OutputStore(tmp_path)
    saved = save(store, req(), mp4)
    assert store.lookup(req()).kind == "saved"
    from wan_notebook.store import verify

    calls: list[Path] = []
    original = verify.sha256_file
    verify.sha256_file = lambda p: calls.append(p) or original(p)  # type: ignore[assignment]
    try:
        for _ in range(3):
            assert OutputStore(tmp_path).lookup(req()).kind == "saved"
    finally:
        verify.sha256_file = original  # type: ignore[assignment]
    assert calls == []
    assert saved.video.is_file()


# -- case 13: the sidecar ----------------------------------------------------------------


def test_garbled_sidecar_is_kept_aside_and_rewritten_from_the_journal(
    tmp_path: Path, mp4: Path
) -> None:
    """It silently became ``{}`` (SavedResult.metadata) and was never rewritten."""
    store = OutputStore(tmp_path)
    saved = save(store, req(), mp4)
    good = json.loads(saved.sidecar.read_text())
    saved.sidecar.write_bytes(b'{"schema": "wan-notebook/result@1", "task_id": ')
    found = OutputStore(tmp_path).lookup(req())
    assert found.kind == "saved"
    assert found.saved.metadata["task_id"] == TASK
    new = json.loads(saved.sidecar.read_text())
    for key in ("task_id", "digest", "request", "file", "model", "created_at"):
        assert new[key] == good[key]
    kept = list(tmp_path.glob(saved.sidecar.name + ".garbled-*"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b'{"schema"')


def test_sidecar_of_another_task_is_rewritten(tmp_path: Path, mp4: Path) -> None:
    store = OutputStore(tmp_path)
    saved = save(store, req(), mp4)
    data = json.loads(saved.sidecar.read_text())
    data["task_id"] = "someone-else"
    saved.sidecar.write_text(json.dumps(data))
    found = OutputStore(tmp_path).lookup(req())
    assert found.saved.metadata["task_id"] == TASK


def test_deleted_sidecar_is_rewritten_and_the_index_can_be_rebuilt_from_it(
    tmp_path: Path, mp4: Path
) -> None:
    store = OutputStore(tmp_path)
    saved = save(store, req(), mp4)
    saved.sidecar.unlink()
    assert OutputStore(tmp_path).lookup(req()).kind == "saved"
    assert saved.sidecar.is_file()
    (tmp_path / "index.sqlite").unlink()
    for companion in tmp_path.glob("index.sqlite-*"):
        companion.unlink()
    with pytest.warns(UserWarning, match="missing"):
        assert OutputStore(tmp_path).lookup(req()).kind == "saved"


# -- case 7: signed URL expiry and a wrong local clock -------------------------------------


def test_url_expiry_with_the_service_time_ignores_the_local_clock() -> None:
    service_now = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
    url = signed_url((service_now + timedelta(hours=24)).timestamp())
    local = service_now + timedelta(hours=25)  # the laptop is a day and an hour fast
    assert url_expiry(url, local, service_now=service_now) == local + timedelta(hours=24)
    slow = service_now - timedelta(hours=30)
    assert url_expiry(url, slow, service_now=service_now) == slow + timedelta(hours=24)


def test_url_expiry_without_service_time_never_expires_a_fresh_url() -> None:
    """The URL was just handed out: an Expires in the local past means the clock is wrong."""
    service_now = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
    url = signed_url((service_now + timedelta(hours=24)).timestamp())
    local = service_now + timedelta(hours=25)
    assert url_expiry(url, local) == local + timedelta(hours=24)
    # a correct clock keeps the URL's own expiry (4 h left on an older task)
    older = signed_url((service_now + timedelta(hours=4)).timestamp())
    assert url_expiry(older, service_now) == service_now + timedelta(hours=4)


@pytest.mark.parametrize("how", ["service_now", "clock", "nothing"])
def test_lookup_with_a_clock_25h_fast_redownloads_instead_of_paying(
    tmp_path: Path, mp4: Path, how: str
) -> None:
    """Case 7: with the local clock 25 h fast a valid video URL was treated as expired
    (lookup said ``expired``, so the jobs layer paid again)."""
    store = OutputStore(tmp_path)
    request = req()
    true_now = datetime.now(timezone.utc)
    fast = true_now + timedelta(hours=25)
    url = signed_url((true_now + timedelta(hours=24)).timestamp())
    intent = store.begin_intent(request)
    store.resolve_intent(intent, TASK, submitted_at=fast)
    kwargs: dict[str, Any] = {}
    if how == "service_now":
        kwargs["service_now"] = true_now
    elif how == "clock":
        clock = ServiceClock()
        clock.observe(format_datetime(true_now, usegmt=True), local=fast)
        kwargs["clock"] = clock
    store.record_status(TASK, "SUCCEEDED", at=fast, video_url=url, **kwargs)
    found = store.lookup(request, now=fast + timedelta(minutes=10))
    assert found.kind == "redownload" and found.url == url
    # and it does expire, 24 h later on the same (fast) clock
    assert store.lookup(request, now=fast + timedelta(hours=24)).kind == "expired"
