"""The index is a cache of the folder (issue 11, cases 4 and 12's ``user_version = 0``).

Every test drives the real emulator over loopback: 10 requests are generated and saved, the
index is then lost (deleted, 0 bytes, garbage, foreign, user_version reset) and the same 10
requests run again. The emulator's own counter proves nothing was paid twice.
"""

from __future__ import annotations

import os
import sqlite3
import warnings
from pathlib import Path
from typing import Any

import pytest

from wan_notebook import api
from wan_notebook.store import CorruptIndexError, OutputStore, verify
from wan_notebook.store.rebuild import IndexRebuiltWarning

SPEED = 200.0
FAST = {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5}
PROMPTS = [f"a paper boat on a pond, take {n}" for n in range(10)]


@pytest.fixture(autouse=True)
def _emulator_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", str(1 / SPEED))


def conn(emu: Any) -> dict[str, str]:
    return {"api_key": emu.api_key, "base_url": emu.base_url}


@pytest.fixture(scope="module")
def saved_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the 10 results saved once (generated against a throwaway emulator)."""
    from wan_notebook.emulator import Emulator

    folder = tmp_path_factory.mktemp("saved") / "out"
    emu = Emulator(speed=SPEED, rate_limits=False, log=False).start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("WAN_NOTEBOOK_POLL_SCALE", str(1 / SPEED))
            results = api.generate_many(PROMPTS, output_dir=folder, **FAST, **conn(emu))
        assert len(results) == 10 and emu.stats()["tasks_created"] == 10
    finally:
        emu.stop()
    return folder


@pytest.fixture
def folder(saved_folder: Path, tmp_path: Path) -> Path:
    """A private copy of the saved folder (videos, sidecars, posters, index)."""
    import shutil

    out = tmp_path / "out"
    shutil.copytree(saved_folder, out)
    return out


def rerun(emulator: Any, folder: Path) -> list[Any]:
    """generate_many over the same 10 requests; asserts that none was paid again."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = api.generate_many(PROMPTS, output_dir=folder, **FAST, **conn(emulator))
    assert emulator.stats()["tasks_created"] == 0, "a saved request was paid again"
    assert len(results) == 10 and all(r.cached for r in results)
    assert all(Path(r.path).is_file() for r in results)
    rerun.warnings = [w for w in caught if issubclass(w.category, IndexRebuiltWarning)]  # type: ignore[attr-defined]
    return results


def _aside(folder: Path) -> list[Path]:
    return sorted(folder.glob("index.sqlite.corrupt-*"))


def test_deleted_index_is_rebuilt_before_generate_many_pays(emulator: Any, folder: Path) -> None:
    """Case 4: with the index deleted, generate_many paid 9 of 10 again (concurrent
    begin_intent created an empty index before the rebuild in _ready() could run)."""
    (folder / "index.sqlite").unlink()
    for companion in folder.glob("index.sqlite-*"):
        companion.unlink()
    rerun(emulator, folder)
    assert len(rerun.warnings) == 1  # type: ignore[attr-defined]
    assert "missing" in str(rerun.warnings[0].message)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(b"", id="zero-bytes"),
        pytest.param(b"this is not an sqlite file at all\n" * 200, id="garbage"),
    ],
)
def test_empty_or_garbage_index_is_moved_aside_and_rebuilt(
    emulator: Any, folder: Path, damage: bytes
) -> None:
    """Case 4: a 0-byte index.sqlite made a re-run pay 10 of 10 again; garbage raised."""
    for companion in folder.glob("index.sqlite-*"):
        companion.unlink()
    (folder / "index.sqlite").write_bytes(damage)
    rerun(emulator, folder)
    aside = _aside(folder)
    assert [p.name for p in aside] == ["index.sqlite.corrupt-1"]
    assert aside[0].read_bytes() == damage  # kept as it was, never deleted
    assert len(rerun.warnings) == 1  # type: ignore[attr-defined]


def test_foreign_sqlite_file_is_moved_aside_and_rebuilt(emulator: Any, folder: Path) -> None:
    for companion in folder.glob("index.sqlite-*"):
        companion.unlink()
    (folder / "index.sqlite").unlink()
    db = sqlite3.connect(folder / "index.sqlite")
    db.execute("CREATE TABLE notes (body TEXT)")
    db.execute("INSERT INTO notes VALUES ('mine')")
    db.commit()
    db.close()
    rerun(emulator, folder)
    aside = _aside(folder)
    assert len(aside) == 1
    kept = sqlite3.connect(aside[0])
    assert kept.execute("SELECT body FROM notes").fetchall() == [("mine",)]
    kept.close()


def test_user_version_zero_with_our_tables_is_adopted(emulator: Any, folder: Path) -> None:
    """Case 12: an index with user_version = 0 but our tables failed with
    "table tasks already exists". It is our schema: adopted in place, nothing moved."""
    db = sqlite3.connect(folder / "index.sqlite")
    db.execute("PRAGMA user_version = 0")
    db.commit()
    db.close()
    rerun(emulator, folder)
    assert _aside(folder) == []
    db = sqlite3.connect(folder / "index.sqlite")
    assert db.execute("PRAGMA user_version").fetchone()[0] >= 1
    assert db.execute("SELECT count(*) FROM tasks").fetchone()[0] == 10
    db.close()


def test_user_version_zero_without_application_id_is_adopted(tmp_path: Path) -> None:
    """The same with application_id also reset (a tool that rewrote the header)."""
    from wan_notebook.request import VideoRequest

    store = OutputStore(tmp_path)
    intent = store.begin_intent(VideoRequest.create("a kite", **FAST))
    db = sqlite3.connect(store.index_path)
    db.execute("PRAGMA user_version = 0")
    db.execute("PRAGMA application_id = 0")
    db.commit()
    db.close()
    fresh = OutputStore(tmp_path)
    assert [i.id for i in fresh.dangling_intents()] == [intent]  # the journal is kept
    assert _aside(tmp_path) == []


def test_sequential_lookups_rebuild_once_and_two_stores_agree(folder: Path) -> None:
    """Two stores on one folder (as two kernels would be) with the index gone: one rebuild,
    both see all 10 results."""
    (folder / "index.sqlite").unlink()
    for companion in folder.glob("index.sqlite-*"):
        companion.unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first, second = OutputStore(folder), OutputStore(folder)
        assert len(first.results()) == 10
        assert len(second.results()) == 10
    assert len([w for w in caught if issubclass(w.category, IndexRebuiltWarning)]) == 1


def test_deleted_sidecar_is_rewritten_from_the_journal(emulator: Any, folder: Path) -> None:
    """A sidecar deleted by hand is rewritten on the next lookup of its saved task."""
    sidecars = sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))
    victim = sidecars[3]
    before = victim.read_text()
    victim.unlink()
    rerun(emulator, folder)
    assert victim.is_file()
    import json

    old, new = json.loads(before), json.loads(victim.read_text())
    for key in ("task_id", "digest", "request", "file", "model"):
        assert new[key] == old[key]


def test_index_of_a_newer_version_is_refused_and_left_alone(folder: Path) -> None:
    """Never moved aside: it belongs to a newer wan-notebook that will want it back."""
    db = sqlite3.connect(folder / "index.sqlite")
    db.execute("PRAGMA user_version = 999")
    db.commit()
    db.close()
    with pytest.raises(CorruptIndexError, match="newer wan-notebook"):
        OutputStore(folder).results()
    assert _aside(folder) == []


def test_processes_racing_on_a_garbage_index_rebuild_it_once(folder: Path) -> None:
    """Four processes open the folder at once over a garbage index: the folder lock lets one
    move it aside and rebuild; the others use the rebuilt index (none moves it again)."""
    import subprocess
    import sys
    import textwrap

    for companion in folder.glob("index.sqlite-*"):
        companion.unlink()
    (folder / "index.sqlite").write_bytes(b"garbage" * 1000)
    go = folder.parent / "go"
    script = textwrap.dedent(
        f"""
        import os, time, warnings
        from pathlib import Path
        from wan_notebook.store import OutputStore
        go = Path({str(go)!r})
        deadline = time.monotonic() + 120
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.001)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            n = len(OutputStore({str(folder)!r}).results())
        print(n, len(caught))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    go.touch()
    outs = [p.communicate(timeout=180)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert [int(o[0]) for o in outs] == [10, 10, 10, 10]
    assert sum(int(o[1]) for o in outs) == 1  # one warning: one rebuild
    assert [p.name for p in _aside(folder)] == ["index.sqlite.corrupt-1"]


def test_corrupt_video_after_an_index_rebuild_is_fetched_again_not_paid(
    emulator: Any, tmp_path: Path
) -> None:
    """A rebuilt index has no video URLs (sidecars never hold them). A video found corrupt
    then was ``expired`` and paid again, although the service still kept its task: it is
    re-polled for a fresh URL and downloaded instead."""
    folder = tmp_path / "out"
    prompts = PROMPTS[:3]
    first = api.generate_many(prompts, output_dir=folder, **FAST, **conn(emulator))
    assert emulator.stats()["tasks_created"] == 3
    (folder / "index.sqlite").unlink()
    for companion in folder.glob("index.sqlite-*"):
        companion.unlink()
    with pytest.warns(IndexRebuiltWarning):
        assert len(OutputStore(folder).results()) == 3
    video = Path(first[1].path)
    good = video.read_bytes()
    st = video.stat()
    with open(video, "r+b") as f:
        f.seek(st.st_size // 2)
        f.write(bytes(b ^ 0xFF for b in good[st.st_size // 2 : st.st_size // 2 + 32]))
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns))
    verify.forget_verified()  # as a new process would
    again = api.generate_many(prompts, output_dir=folder, **FAST, **conn(emulator))
    assert emulator.stats()["tasks_created"] == 3, "a corrupt video was paid again"
    assert [r.task_id for r in again] == [r.task_id for r in first]
    assert video.read_bytes() == good
    assert video.with_name(video.name + ".corrupt").is_file()
