"""OutputStore: journal, lookup, saving, sidecars, rebuilding, confinement, two writers.

Everything runs on real files, a real SQLite index and real MP4s (rendered once per session
by the emulator's renderer: 64x64, 0.5 s).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from wan_notebook.protocol import Task
from wan_notebook.request import VideoRequest
from wan_notebook.store import (
    OutputStore,
    StoreError,
    load_sidecar,
)
from wan_notebook.store import naming as _naming

T0 = datetime(2026, 11, 24, 15, 30, 12, tzinfo=timezone.utc)
TASK = "3f9a1c2e-5ff8-4d82-bcb6-000000"


def _media_available() -> bool:
    try:
        from wan_notebook import media  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="session")
def mp4(tmp_path_factory) -> Path:
    from wan_notebook.emulator.render import render_video

    out = tmp_path_factory.mktemp("media") / "tiny.mp4"
    return render_video(
        out, width=64, height=64, duration=0.5, fps=10, prompt="tiny", seed=7, audio=None
    )


@pytest.fixture
def store(tmp_path) -> OutputStore:
    return OutputStore(tmp_path / "out")


def req(prompt: str = "A red fox in a trench coat", **kw: Any) -> VideoRequest:
    return VideoRequest.create(prompt, **kw)


def signed_url(expires_in: float = 3600.0, signature: str = "SIGNATURE") -> str:
    expires = int(time.time() + expires_in)
    return f"https://bucket.oss.example/x.mp4?Expires={expires}&Signature={signature}"


def success(store, request, task_id, mp4, *, url=None, **task_kw) -> Any:
    """The jobs layer's path for one successful task, step by step."""
    url = url or signed_url()
    intent = store.begin_intent(request)
    record = store.resolve_intent(intent, task_id, request_id="req-submit")
    store.record_status(task_id, "RUNNING")
    store.record_status(task_id, "SUCCEEDED", video_url=url)
    shutil.copyfile(mp4, record.paths.video)
    task = Task(task_id=task_id, status="SUCCEEDED", video_url=url, **task_kw)
    return store.save_result(request, task, record.paths.video)


# --- construction and naming -----------------------------------------------------------


def test_root_is_resolved_at_construction_and_created_lazily(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = OutputStore()
    monkeypatch.chdir("/")
    assert store.root == tmp_path / "wan_outputs"
    assert store.index_path == tmp_path / "wan_outputs" / "index.sqlite"
    assert store.lookup(req()).kind == "none"
    assert store.results() == [] and store.in_flight() == [] and store.get("x") is None
    assert not store.root.exists()
    store.begin_intent(req())
    assert store.index_path.is_file()


def test_reserved_names_follow_the_pattern(store):
    record = store.record_submitted(req(), TASK, request_id="r", submitted_at=T0)
    assert record.paths.stem == "20261124-153012_a-red-fox-in-a-trench-coat_3f9a1c2e"
    assert record.paths.video.name == record.paths.stem + ".mp4"
    assert record.paths.part.name == record.paths.stem + ".mp4.part"
    assert {p.parent for p in (record.paths.sidecar, record.paths.poster)} == {store.root}
    # paths_for gives the reserved names whatever time it is handed later
    again = store.paths_for(req(), TASK, T0 + timedelta(hours=5))
    assert again == record.paths


@pytest.mark.parametrize(
    "prompt",
    [
        "../../../etc/passwd",
        "/absolute/path",
        "..\\..\\windows\\system32",
        "CON",
        "x" * 1400,
        "红狐狸在雨夜的东京街头",
        "  ",
    ],
)
def test_hostile_prompts_stay_in_the_folder(store, prompt):
    request = req(prompt) if prompt.strip() else req("ok")
    record = store.record_submitted(request, "abcdef12-0000", submitted_at=T0)
    for path in (record.paths.video, record.paths.sidecar, record.paths.poster):
        assert path.parent == store.root
        assert _naming.STEM_RE.fullmatch(path.name.split(".")[0])


def test_a_nul_byte_never_reaches_a_file_name(store):
    """Requests refuse control characters now (checks.prompt); names stay safe regardless."""
    stem = _naming.stem_for("nul\x00byte", "abcdef12-0000", T0)
    assert "\x00" not in stem and _naming.STEM_RE.fullmatch(stem)
    assert _naming.confine(store.root, stem, ".mp4").parent == store.root


@pytest.mark.parametrize("task_id", ["../../etc/passwd", "a/b/c", "..", "C:\\x", "CON"])
def test_hostile_task_ids_stay_in_the_folder(store, task_id):
    record = store.record_submitted(req(), task_id, submitted_at=T0)
    assert record.paths.video.parent == store.root
    assert store.get(task_id).task_id == task_id  # the id itself is kept verbatim in the index


@pytest.mark.parametrize("task_id", ["", "   ", "a\x00b", "line\nbreak", "x" * 300, None, 5])
def test_unusable_task_ids_are_refused(store, task_id):
    with pytest.raises(ValueError):
        store.record_submitted(req(), task_id, submitted_at=T0)  # type: ignore[arg-type]


def test_a_taken_name_gets_a_counter_and_foreign_files_are_never_overwritten(store, mp4):
    store.root.mkdir()
    squatter = store.root / "20261124-153012_a-red-fox-in-a-trench-coat_3f9a1c2e.mp4"
    squatter.write_bytes(b"someone else's file")
    first = store.record_submitted(req(), TASK, submitted_at=T0)
    second = store.record_submitted(req(seed=1), TASK[:8] + "-other", submitted_at=T0)
    third = store.record_submitted(req(seed=2), TASK[:8] + "-third", submitted_at=T0)
    assert first.paths.stem.endswith("_3f9a1c2e-2")
    assert second.paths.stem.endswith("_3f9a1c2e-3")
    assert third.paths.stem.endswith("_3f9a1c2e-4")
    assert squatter.read_bytes() == b"someone else's file"


# --- journal ---------------------------------------------------------------------------


def test_status_lifecycle_history_and_regressions(store):
    store.record_submitted(req(), TASK, request_id="r-submit", submitted_at=T0)
    assert store.record_status(TASK, "PENDING", at=T0) is False  # repeat: no event
    assert store.record_status(TASK, "RUNNING", at=T0 + timedelta(seconds=5)) is True
    assert store.record_status(TASK, "RUNNING", at=T0 + timedelta(seconds=20)) is False
    assert store.record_status(TASK, "PENDING", at=T0 + timedelta(seconds=21)) is False
    url = signed_url()
    assert store.record_status(
        TASK, "SUCCEEDED", at=T0 + timedelta(seconds=60), video_url=url, request_id="r-q"
    )
    assert store.record_status(TASK, "RUNNING") is False
    assert store.record_status(TASK, "FAILED") is False
    assert store.record_status(TASK, "UNKNOWN") is False  # expired later: result stays
    record = store.get(TASK)
    assert record.status == "SUCCEEDED" and record.video_url == url
    assert record.submit_request_id == "r-submit" and record.query_request_id == "r-q"
    assert [(e.status, e.at) for e in store.history(TASK)] == [
        ("PENDING", T0),
        ("RUNNING", T0 + timedelta(seconds=5)),
        ("SUCCEEDED", T0 + timedelta(seconds=60)),
    ]
    assert "SIGNATURE" not in repr(record)  # the signed URL stays out of reprs


def test_undocumented_status_is_kept_as_an_event_only(store):
    store.record_submitted(req(), TASK, submitted_at=T0)
    assert store.record_status(TASK, "SUSPENDED") is False
    assert store.get(TASK).status == "PENDING"
    assert [e.status for e in store.history(TASK)] == ["PENDING", "SUSPENDED"]


def test_unknown_after_running_ends_the_task(store):
    store.record_submitted(req(), TASK, submitted_at=T0)
    store.record_status(TASK, "RUNNING")
    assert store.record_failure(TASK, "UNKNOWN", None, None) is True
    assert store.in_flight() == []


def test_failure_is_recorded_but_never_served(store):
    store.record_submitted(req(), TASK, submitted_at=T0)
    assert store.record_failure(TASK, "FAILED", "DataInspectionFailed", "flagged") is True
    record = store.get(TASK)
    assert (record.status, record.error_code, record.error_message) == (
        "FAILED",
        "DataInspectionFailed",
        "flagged",
    )
    store.record_submitted(req(), "cancel-me-1", submitted_at=T0)
    store.record_failure("cancel-me-1", "CANCELED", None, None)
    assert store.lookup(req()).kind == "none"
    with pytest.raises(ValueError):
        store.record_failure(TASK, "SUCCEEDED", None, None)


def test_status_of_an_unjournaled_task_is_an_error(store):
    store.record_submitted(req(), TASK, submitted_at=T0)
    with pytest.raises(StoreError, match="record_submitted"):
        store.record_status("never-seen", "RUNNING")


def test_record_submitted_is_idempotent_but_refuses_a_second_request(store):
    a = store.record_submitted(req(), TASK, request_id="r1", submitted_at=T0)
    b = store.record_submitted(req(), TASK, request_id="r2", submitted_at=T0 + timedelta(1))
    assert a == b and len(store.history(TASK)) == 1
    with pytest.raises(StoreError, match="different request"):
        store.record_submitted(req("another prompt"), TASK, submitted_at=T0)


def test_in_flight_and_unsaved_lists(store):
    store.record_submitted(req("one"), "task-one-1", submitted_at=T0)
    store.record_submitted(req("two"), "task-two-2", submitted_at=T0 - timedelta(minutes=1))
    store.record_submitted(req("three"), "task-three", submitted_at=T0)
    store.record_status("task-two-2", "RUNNING")
    store.record_status("task-three", "SUCCEEDED", video_url=signed_url())
    assert [r.task_id for r in store.in_flight()] == ["task-two-2", "task-one-1"]
    assert [r.task_id for r in store.unsaved()] == ["task-three"]
    later = datetime.now(timezone.utc) + timedelta(days=2)
    assert store.unsaved(now=later) == []


def test_intents_open_resolve_abandon(store):
    request = req()
    a = store.begin_intent(request)
    b = store.begin_intent(request)
    c = store.begin_intent(req("other"))
    assert [i.id for i in store.dangling_intents()] == [a, b, c]
    assert [i.id for i in store.dangling_intents(request.digest)] == [a, b]
    assert store.lookup(request).dangling[0].id == a  # a create whose answer never came
    record = store.resolve_intent(a, TASK, request_id="r-sub", submitted_at=T0)
    assert record.status == "PENDING" and record.digest == request.digest
    assert record.request == request.canonical()
    store.abandon_intent(b)
    assert [i.id for i in store.dangling_intents()] == [c]
    with pytest.raises(StoreError, match="already abandoned"):
        store.resolve_intent(b, "some-task-2")
    with pytest.raises(StoreError, match="no intent"):
        store.abandon_intent(999)
    assert store.known_task_ids() == {TASK}
    assert store.known_task_ids(since=T0 + timedelta(seconds=1)) == set()


def test_record_submitted_can_close_an_intent(store):
    intent = store.begin_intent(req())
    store.record_submitted(req(), TASK, request_id="r", submitted_at=T0, intent_id=intent)
    assert store.dangling_intents() == []


def test_request_for_rebuilds_the_same_request(store, tmp_path):
    request = req("a walk", model="wan2.5-t2v-preview", size="832*480", seed=5)
    store.record_submitted(request, TASK, submitted_at=T0)
    again = store.request_for(TASK)
    assert again == request and again.digest == request.digest
    assert store.request_for("unknown-task") is None
    song = tmp_path / "song.wav"
    song.write_bytes(b"RIFF" + os.urandom(100))
    with_audio = req("with sound", audio_url=str(song))
    store.record_submitted(with_audio, "audio-task-1", submitted_at=T0)
    assert store.request_for("audio-task-1").digest == with_audio.digest


def test_url_expiry_is_read_from_the_signed_url(store):
    from wan_notebook.store.records import url_expiry

    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    v1 = "https://b.oss/x.mp4?Expires=1767312000&OSSAccessKeyId=a&Signature=s"
    assert url_expiry(v1, at) == datetime.fromtimestamp(1767312000, tz=timezone.utc)
    v4 = "https://b.oss/x.mp4?x-oss-date=20260101T000000Z&x-oss-expires=3600&x-oss-signature=s"
    assert url_expiry(v4, at) == at + timedelta(hours=1)
    assert url_expiry("https://b.oss/x.mp4", at) == at + timedelta(hours=24)
    assert url_expiry("https://b.oss/x.mp4?Expires=soon", at) == at + timedelta(hours=24)


# --- saving and sidecars ---------------------------------------------------------------


def test_save_result_writes_sidecar_poster_and_index(store, mp4):
    request = req("A red fox in a trench coat", model="wan2.5-t2v-preview", size="832*480")
    usage = {"video_count": 1, "video_duration": 5, "video_ratio": "832*480", "nested": {"x": 1}}
    saved = success(
        store,
        request,
        TASK,
        mp4,
        url=signed_url(signature="BEARER-SIG"),
        usage=usage,
        orig_prompt="A red fox in a trench coat",
        actual_prompt="A cinematic shot of a red fox",
        request_id="req-query",
        submit_time=datetime(2025, 9, 29, 14, 18, 52, 331000),
        end_time=datetime(2025, 9, 29, 14, 23, 39, 407000),
    )
    data = json.loads(saved.sidecar.read_text())
    assert data == saved.metadata == load_sidecar(saved.sidecar)
    assert data["schema"] == "wan-notebook/result@1"
    assert data["task_id"] == TASK and data["model"] == "wan2.5-t2v-preview"
    assert data["request"] == request.canonical() and data["digest"] == request.digest
    assert data["request_ids"] == {"submit": "req-submit", "last_query": "req-query"}
    assert [h["status"] for h in data["history"]] == ["PENDING", "RUNNING", "SUCCEEDED"]
    assert data["usage"] == {"video_count": 1, "video_duration": 5, "video_ratio": "832*480"}
    assert data["prompts"] == {
        "orig": "A red fox in a trench coat",
        "actual": "A cinematic shot of a red fox",
    }
    assert data["service_times"]["submit"] == "2025-09-29T14:18:52.331"
    assert data["service_times"]["end"] == "2025-09-29T14:23:39.407"
    body = mp4.read_bytes()
    assert data["file"]["video"] == saved.video.name
    assert data["file"]["size"] == len(body) == saved.size
    assert data["file"]["sha256"] == hashlib.sha256(body).hexdigest() == saved.sha256
    assert data["created_at"].endswith("Z") and data["saved_at"].endswith("Z")
    assert "BEARER-SIG" not in saved.sidecar.read_text()  # signed URL: index only
    assert store.get(TASK).video_url.endswith("BEARER-SIG")
    if _media_available():
        assert data["video"]["width"] == 64 and data["video"]["height"] == 64
        assert data["video"]["has_audio"] is False
        assert saved.poster is not None and saved.poster.is_file()
        assert data["file"]["poster"] == saved.poster.name
    else:  # without PyAV's media helpers the probe and poster are skipped, not faked
        assert data["video"] is None and saved.poster is None
    assert not list(store.root.glob(".*.tmp"))


def test_save_result_checks_its_arguments(store, mp4, tmp_path):
    record = store.record_submitted(req(), TASK, submitted_at=T0)
    elsewhere = tmp_path / "elsewhere.mp4"
    shutil.copyfile(mp4, elsewhere)
    task = Task(task_id=TASK, status="SUCCEEDED")
    with pytest.raises(ValueError, match="expects the video at"):
        store.save_result(req(), task, elsewhere)
    with pytest.raises(ValueError, match="only SUCCEEDED"):
        store.save_result(req(), Task(task_id=TASK, status="FAILED"), record.paths.video)
    with pytest.raises(StoreError, match="does not exist"):
        store.save_result(req(), task, record.paths.video)
    shutil.copyfile(mp4, record.paths.video)
    with pytest.raises(StoreError, match="different request"):
        store.save_result(req("other"), task, record.paths.video)


def test_save_result_adopts_a_task_that_was_never_journaled(store, mp4):
    paths = store.paths_for(req(), TASK, T0)
    store.root.mkdir()
    shutil.copyfile(mp4, paths.video)
    saved = store.save_result(req(), Task(task_id=TASK, status="SUCCEEDED"), paths.video)
    assert saved.video == paths.video
    assert store.lookup(req()).kind == "saved"


def test_load_sidecar_tolerates_future_fields_and_refuses_foreign_json(tmp_path):
    future = tmp_path / "f.json"
    future.write_text(json.dumps({"schema": "wan-notebook/result@7", "new": {"x": [1]}}))
    assert load_sidecar(future)["new"] == {"x": [1]}
    for text in ('{"schema": "other/thing@1"}', "[1, 2]", "not json", ""):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(StoreError):
            load_sidecar(bad)


# --- lookup ----------------------------------------------------------------------------


def test_lookup_none_in_flight_redownload_saved(store, mp4):
    request = req()
    assert store.lookup(request).kind == "none"
    record = store.record_submitted(request, TASK, submitted_at=T0)
    found = store.lookup(request)
    assert (found.kind, found.task_id, found.status) == ("in_flight", TASK, "PENDING")
    store.record_status(TASK, "RUNNING")
    assert store.lookup(request).kind == "in_flight"
    url = signed_url()
    store.record_status(TASK, "SUCCEEDED", video_url=url)
    found = store.lookup(request)
    assert (found.kind, found.url, found.paths) == ("redownload", url, record.paths)
    shutil.copyfile(mp4, record.paths.video)
    store.save_result(request, Task(task_id=TASK, status="SUCCEEDED"), record.paths.video)
    found = store.lookup(request)
    assert found.kind == "saved" and found.saved.video == record.paths.video
    assert found.saved.cached_hits == 1
    assert store.lookup(req("a different prompt")).kind == "none"


def test_lookup_expired_when_file_gone_and_url_dead(store, mp4):
    request = req()
    saved = success(store, request, TASK, mp4, url=signed_url(expires_in=600))
    saved.video.unlink()
    assert store.lookup(request).kind == "redownload"
    # the URL is dead but the service still keeps the task: poll it for a new URL
    found = store.lookup(request, now=datetime.now(timezone.utc) + timedelta(minutes=9))
    assert found.kind == "redownload" and found.task_id == TASK and found.url is None
    found = store.lookup(request, now=datetime.now(timezone.utc) + timedelta(hours=24))
    assert found.kind == "expired" and found.task_id == TASK and found.url is None


def test_a_saved_result_beats_an_in_flight_duplicate(store, mp4):
    request = req()
    success(store, request, TASK, mp4)
    store.record_submitted(request, "duplicate-task", submitted_at=T0)
    assert store.lookup(request).kind == "saved"


def test_unchanged_file_is_not_hashed_changed_mtime_is(store, mp4, monkeypatch):
    import wan_notebook.store.verify as store_module

    saved = success(store, req(), TASK, mp4)
    calls = []
    real = store_module.sha256_file
    monkeypatch.setattr(store_module, "sha256_file", lambda p: calls.append(p) or real(p))
    assert store.lookup(req()).kind == "saved" and calls == []
    os.utime(saved.video, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))  # "touched"
    assert store.lookup(req()).kind == "saved" and len(calls) == 1
    assert store.lookup(req()).kind == "saved" and len(calls) == 1  # new mtime remembered


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_file_is_moved_aside_and_downloaded_again(store, mp4, damage):
    saved = success(store, req(), TASK, mp4)
    data = bytearray(saved.video.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    saved.video.write_bytes(bytes(data))
    os.utime(saved.video, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    found = store.lookup(req())
    assert found.kind == "redownload" and found.paths.video == saved.video
    assert not saved.video.exists()
    kept = saved.video.with_name(saved.video.name + ".corrupt")
    assert kept.read_bytes() == bytes(data)  # moved aside, never deleted
    assert store.results() == []
    shutil.copyfile(mp4, saved.video)  # the jobs layer downloads again
    store.save_result(req(), Task(task_id=TASK, status="SUCCEEDED"), saved.video)
    assert store.lookup(req()).kind == "saved"


def test_file_renamed_into_place_but_never_recorded_is_saved_by_lookup(store, mp4):
    """Crash between the download's rename and save_result: the file is in place."""
    record = store.record_submitted(req(), TASK, submitted_at=T0)
    store.record_status(TASK, "SUCCEEDED", video_url=signed_url())
    shutil.copyfile(mp4, record.paths.video)
    found = store.lookup(req())
    assert found.kind == "saved"
    assert load_sidecar(record.paths.sidecar)["file"]["sha256"] == found.saved.sha256


def test_process_killed_after_sidecar_before_index_commit(store, mp4):
    """A real process dies (os._exit) right after the sidecar is written, inside the index
    transaction: the index still says unsaved; the next lookup adopts the sidecar."""
    record = store.record_submitted(req(), TASK, submitted_at=T0)
    store.record_status(TASK, "SUCCEEDED", video_url=signed_url())
    shutil.copyfile(mp4, record.paths.video)
    script = textwrap.dedent(
        f"""
        import os
        import wan_notebook.store.saving as s
        from wan_notebook.protocol import Task
        from wan_notebook.request import VideoRequest
        from wan_notebook.store import OutputStore
        real = s.atomic_write_bytes
        def write_then_die(path, data):
            real(path, data)
            os._exit(3)
        s.atomic_write_bytes = write_then_die
        store = OutputStore({str(store.root)!r})
        store.save_result(VideoRequest.create({req().prompt!r}),
                          Task(task_id={TASK!r}, status="SUCCEEDED"), {str(record.paths.video)!r})
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == 3, proc.stderr.decode()
    assert record.paths.sidecar.is_file()
    assert store.get(TASK).saved is False
    found = store.lookup(req())
    assert found.kind == "saved" and store.get(TASK).saved


# --- results ---------------------------------------------------------------------------


def test_results_newest_first_with_filters(store, mp4):
    success(store, req("Fox at dawn", model="wan2.1-t2v-turbo"), "aaaaaaaa-1", mp4)
    time.sleep(0.002)
    success(store, req("Owl at night"), "bbbbbbbb-2", mp4)
    time.sleep(0.002)
    success(store, req("FOX at dusk"), "cccccccc-3", mp4)
    assert [r.task_id for r in store.results()] == ["cccccccc-3", "bbbbbbbb-2", "aaaaaaaa-1"]
    assert [r.task_id for r in store.results(text="fox")] == ["cccccccc-3", "aaaaaaaa-1"]
    assert [r.task_id for r in store.results(model="wanx2.1-t2v-turbo")] == ["aaaaaaaa-1"]
    assert [r.task_id for r in store.results(model="wan2.6-t2v", text="fox")] == ["cccccccc-3"]
    assert len(store.results(limit=1)) == 1
    store.get("bbbbbbbb-2").paths.video.unlink()
    assert "bbbbbbbb-2" not in [r.task_id for r in store.results()]


def test_a_leftover_part_file_never_looks_finished(store, mp4):
    record = store.record_submitted(req(), TASK, submitted_at=T0)
    store.record_status(TASK, "SUCCEEDED", video_url=signed_url())
    record.paths.part.write_bytes(mp4.read_bytes()[:100])
    assert store.results() == []
    assert store.lookup(req()).kind == "redownload"
    assert store.rebuild_index().added == 0


# --- rebuilding ------------------------------------------------------------------------


def _delete_index(store):
    for suffix in ("", "-wal", "-shm"):
        Path(str(store.index_path) + suffix).unlink(missing_ok=True)


def test_index_is_rebuilt_from_sidecars(store, mp4):
    a = success(store, req("first"), "aaaaaaaa-1", mp4)
    b = success(store, req("second"), "bbbbbbbb-2", mp4)
    _delete_index(store)
    fresh = OutputStore(store.root)
    assert {r.task_id for r in fresh.results()} == {a.task_id, b.task_id}  # automatic
    found = fresh.lookup(req("first"))
    assert found.kind == "saved" and found.saved.sha256 == a.sha256
    assert [e.status for e in fresh.history("aaaaaaaa-1")] == ["PENDING", "RUNNING", "SUCCEEDED"]
    report = fresh.rebuild_index()
    assert (report.added, report.updated, report.skipped) == (0, 2, ())


def test_rebuild_skips_foreign_and_hostile_sidecars(store, mp4, tmp_path):
    good = success(store, req("good"), "aaaaaaaa-1", mp4)
    outside = tmp_path / "outside.mp4"
    hostile = json.loads(good.sidecar.read_text())
    hostile["task_id"] = "evil-task-1"
    hostile["file"]["video"] = "../outside.mp4"
    (store.root / "20261124-153012_evil_abcdefgh.json").write_text(json.dumps(hostile))
    mismatch = dict(hostile, file=dict(hostile["file"], video=good.video.name))
    (store.root / "20261124-153013_other_abcdefgh.json").write_text(json.dumps(mismatch))
    (store.root / "notes.json").write_text('{"hello": "world"}')
    (store.root / "broken.json").write_text("{")
    _delete_index(store)
    report = OutputStore(store.root).rebuild_index()
    assert report.added == 1
    assert len(report.skipped) == 4
    reasons = dict(report.skipped)
    assert "not a wan-notebook result name" in reasons["20261124-153012_evil_abcdefgh.json"]
    assert "not its own stem" in reasons["20261124-153013_other_abcdefgh.json"]
    assert not outside.exists()
    assert OutputStore(store.root).get("evil-task-1") is None


def test_corrupt_index_is_kept_aside_and_rebuilt_from_the_sidecars(store, mp4):
    """The index is a cache of the folder (issue 11 case 4): a damaged file is moved aside,
    never deleted, and the index rebuilt from the sidecars, with a warning."""
    success(store, req(), TASK, mp4)
    _delete_index(store)
    store.index_path.write_bytes(b"\x00garbage" * 1000)
    with pytest.warns(UserWarning, match="index.sqlite.corrupt-1"):
        assert OutputStore(store.root).lookup(req()).kind == "saved"
    kept = store.index_path.with_name("index.sqlite.corrupt-1")
    assert kept.read_bytes() == b"\x00garbage" * 1000
    assert len(list(store.root.glob("*.mp4"))) == 1
    assert OutputStore(store.root).rebuild_index().updated == 1


# --- secrets ---------------------------------------------------------------------------


class _LeakyRequest:
    """A request object that wrongly carries a key in its canonical form."""

    def __init__(self, inner: VideoRequest, key: str) -> None:
        self._inner, self._key = inner, key
        self.prompt, self.model, self.digest = inner.prompt, inner.model, inner.digest

    def canonical(self) -> dict[str, Any]:
        return {**self._inner.canonical(), "extra": {"api_key": self._key}}


class _ChattyTask:
    """A task object with more attributes than the store may read."""

    def __init__(self, task_id: str, key: str) -> None:
        self.task_id, self.status = task_id, "SUCCEEDED"
        self.video_url = signed_url()
        self.usage = {"duration": 5, "headers": {"Authorization": f"Bearer {key}"}}
        self.api_key = key
        self.headers = {"Authorization": f"Bearer {key}"}
        self.raw = {"request": {"headers": {"Authorization": f"Bearer {key}"}}}
        self.request_id = "q-1"


def test_a_key_passed_anywhere_near_never_lands_in_the_folder(store, mp4):
    canary = "sk-canary-" + secrets.token_hex(12)
    leaky = _LeakyRequest(req(), canary)
    with pytest.raises(ValueError, match="never writes credentials"):
        store.begin_intent(leaky)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.record_submitted(leaky, TASK, submitted_at=T0)  # type: ignore[arg-type]
    task = Task(
        task_id=TASK,
        status="SUCCEEDED",
        video_url=signed_url(),
        usage={"duration": 5, "key_hint": canary[:3]},
        raw={"headers": {"Authorization": f"Bearer {canary}"}, "api_key": canary},
    )
    record = store.record_submitted(req(), TASK, submitted_at=T0)
    shutil.copyfile(mp4, record.paths.video)
    store.save_result(req(), task, record.paths.video)
    record2 = store.record_submitted(req("second"), "chatty-task-1", submitted_at=T0)
    shutil.copyfile(mp4, record2.paths.video)
    store.save_result(req("second"), _ChattyTask("chatty-task-1", canary), record2.paths.video)
    store.record_submitted(req("third"), "failing-task-1", submitted_at=T0)
    store.record_failure("failing-task-1", "FAILED", "InternalError", "model crashed")
    store.lookup(req())
    store.results()
    files = [p for p in store.root.rglob("*") if p.is_file()]
    assert any(p.name.startswith("index.sqlite") for p in files)
    for path in files:
        assert canary.encode() not in path.read_bytes(), path.name
    with sqlite3.connect(store.index_path) as conn:  # and not merely compressed away
        dump = "\n".join(conn.iterdump())
    assert canary not in dump


# --- two writers -----------------------------------------------------------------------

_WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from wan_notebook.store import OutputStore
    from wan_notebook.request import VideoRequest

    root, worker, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    while not go.exists():
        time.sleep(0.001)
    store = OutputStore(root)
    for i in range(n):
        # the same prompt and task-id prefix everywhere: every name collides within a second
        request = VideoRequest.create("shared prompt", seed=int(worker) * 100000 + i)
        intent = store.begin_intent(request)
        task_id = f"abcdefgh-{worker}-{i:05d}"
        store.resolve_intent(intent, task_id, request_id=f"r-{worker}-{i}")
        store.record_status(task_id, "RUNNING")
        store.record_status(task_id, "SUCCEEDED", video_url="https://x/v.mp4?Expires=4102444800")
    print("done", flush=True)
    """
)


@pytest.mark.slow
def test_two_processes_writing_one_folder_lose_nothing(tmp_path):
    root, go, n = tmp_path / "out", tmp_path / "go", 60
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(root), str(w), str(n), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in (1, 2)
    ]
    time.sleep(0.3)  # both are importing and waiting on the start line
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0 and out.strip() == "done", err
    store = OutputStore(root)
    with sqlite3.connect(store.index_path) as conn:
        assert conn.execute("SELECT count(*) FROM tasks").fetchone()[0] == 2 * n
        assert conn.execute("SELECT count(DISTINCT stem) FROM tasks").fetchone()[0] == 2 * n
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 3 * 2 * n
        states = dict(conn.execute("SELECT state, count(*) FROM intents GROUP BY state"))
    assert states == {"resolved": 2 * n}
    assert all(r.status == "SUCCEEDED" for r in store.unsaved())
    assert len(store.unsaved()) == 2 * n
