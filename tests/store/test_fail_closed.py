"""Fail closed before paying; read-only folders serve what they have (issue 11, cases 5, 11).

Real faults, no mocks: a tiny tmpfs that is really full, a really read-only bind mount. Both
need root (``mount``); without it the tests are skipped and say why.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wan_notebook import api
from wan_notebook.store import OutputStore, StoreError
from wan_notebook.store.index import ReadOnlyStoreError

SPEED = 200.0
FAST = {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5}


@pytest.fixture(autouse=True)
def _emulator_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", str(1 / SPEED))


def conn(emu: Any) -> dict[str, str]:
    return {"api_key": emu.api_key, "base_url": emu.base_url}


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


@contextlib.contextmanager
def _mounted(*mount_args: str, target: Path) -> Iterator[Path]:
    try:
        _run("mount", *mount_args, str(target))
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        pytest.skip(f"needs permission to mount file systems (root in a VM/container): {detail}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs (room for a few of the emulator's small videos)."""
    target = tmp_path / "tiny"
    target.mkdir()
    with _mounted("-t", "tmpfs", "-o", "size=8m", "tmpfs", target=target):
        yield target


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte; returns the filler file."""
    filler = folder / "filler.bin"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as f:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    f.write(chunk[:size])
            except OSError:
                continue
    return filler


def read_only_view(source: Path, target: Path) -> contextlib.AbstractContextManager[Path]:
    """``target`` shows ``source`` through a read-only bind mount."""

    @contextlib.contextmanager
    def view() -> Iterator[Path]:
        target.mkdir()
        with _mounted("--bind", str(source), target=target):
            try:
                _run("mount", "-o", "remount,ro,bind", str(target))
            except subprocess.CalledProcessError as exc:
                pytest.skip(f"cannot remount a bind mount read-only: {exc.stderr}")
            yield target

    return view()


def test_full_disk_fails_before_the_create_is_sent(emulator: Any, tiny_fs: Path) -> None:
    """Case 5: with 48-64 KB free a task was created and billed but never journaled."""
    out = tiny_fs / "out"
    api.generate("a kite over dunes", output_dir=out, **FAST, **conn(emulator))
    assert emulator.stats()["tasks_created"] == 1
    fill(tiny_fs)
    with pytest.raises(Exception) as info:
        api.generate("a lighthouse at dusk", output_dir=out, **FAST, **conn(emulator))
    assert emulator.stats()["tasks_created"] == 1, "a create was sent without its intent"
    assert isinstance(info.value, StoreError)
    text = str(info.value)
    assert "disk full" in text and str(out) in text and "no request was sent" in text
    # what is saved is still served from the full disk
    again = api.generate("a kite over dunes", output_dir=out, **FAST, **conn(emulator))
    assert again.cached and emulator.stats()["tasks_created"] == 1


def test_full_disk_on_a_new_folder_fails_before_the_create(emulator: Any, tiny_fs: Path) -> None:
    fill(tiny_fs)
    with pytest.raises(StoreError, match=r"disk full|cannot be used"):
        api.generate("a lighthouse at dusk", output_dir=tiny_fs / "new", **FAST, **conn(emulator))
    assert emulator.stats()["tasks_created"] == 0


def test_task_id_that_cannot_be_journaled_is_named_and_never_lost(
    emulator: Any, tiny_fs: Path
) -> None:
    """Case 5, second half: the disk fills while the create is in flight. The error names
    the task, the intent stays open, and the re-run (with space again) adopts the task
    instead of paying for another."""
    out = tiny_fs / "out"
    OutputStore(out).rebuild_index()  # the index exists, as in a used folder
    # the task is created at once; its answer waits, so the disk can fill meanwhile
    emulator.faults.add("create", "slow", delay=5.0, after=True, times=1)
    import threading

    filler: list[Path] = []

    def fill_when_created() -> None:
        deadline = time.monotonic() + 60
        while emulator.stats()["tasks_created"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        filler.append(fill(tiny_fs))

    helper = threading.Thread(target=fill_when_created)
    helper.start()
    try:
        with pytest.raises(StoreError) as info:
            api.generate("a heron in the reeds", output_dir=out, **FAST, **conn(emulator))
    finally:
        helper.join()
    assert emulator.stats()["tasks_created"] == 1
    assert "could not be journaled" in str(info.value)
    filler[0].unlink()
    assert len(OutputStore(out).dangling_intents()) == 1  # kept open, not abandoned
    result = api.generate("a heron in the reeds", output_dir=out, **FAST, **conn(emulator))
    assert emulator.stats()["tasks_created"] == 1, "the lost answer's task was paid again"
    assert Path(result.path).is_file()
    assert str(result.task_id) in str(info.value)


def test_read_only_folder_serves_cached_results_and_pays_nothing(
    emulator: Any, tmp_path: Path
) -> None:
    """Case 11: on a read-only mount even a cached result failed with
    ``sqlite3.OperationalError: unable to open database file``."""
    out = tmp_path / "out"
    first = api.generate("a kite over dunes", output_dir=out, **FAST, **conn(emulator))
    assert emulator.stats()["tasks_created"] == 1
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with read_only_view(out, tmp_path / "ro") as ro:
        again = api.generate("a kite over dunes", output_dir=ro, **FAST, **conn(emulator))
        assert again.cached and again.task_id == first.task_id
        assert Path(again.path).read_bytes() == Path(first.path).read_bytes()
        store = OutputStore(ro)
        assert store.read_only and len(store.results()) == 1
        with pytest.raises(ReadOnlyStoreError, match="read-only"):
            api.generate("a new request", output_dir=ro, **FAST, **conn(emulator))
    assert emulator.stats()["tasks_created"] == 1, "a read-only folder paid for a request"
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_read_only_folder_with_a_live_wal(emulator: Any, tmp_path: Path) -> None:
    """The same while a writer still holds the WAL open (``-wal``/``-shm`` present)."""
    import sqlite3

    out = tmp_path / "out"
    api.generate("a kite over dunes", output_dir=out, **FAST, **conn(emulator))
    holder = sqlite3.connect(out / "index.sqlite")
    holder.execute("PRAGMA wal_autocheckpoint = 0")
    holder.execute("SELECT count(*) FROM tasks").fetchone()
    try:
        with read_only_view(out, tmp_path / "ro") as ro:
            again = api.generate("a kite over dunes", output_dir=ro, **FAST, **conn(emulator))
            assert again.cached
    finally:
        holder.close()
    assert emulator.stats()["tasks_created"] == 1


def test_disk_full_message_without_mount(tmp_path: Path) -> None:
    """Without root: a folder that cannot be created is a clear error before any request."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = OutputStore(blocker / "out")
    from wan_notebook.request import VideoRequest

    with pytest.raises(StoreError, match=r"not sent|cannot be used"):
        store.begin_intent(VideoRequest.create("a kite", **FAST))
    shutil.rmtree(tmp_path / "file", ignore_errors=True)
