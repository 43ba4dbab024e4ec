"""index.sqlite: creation, WAL, identity, versions, migrations, damaged files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from wan_notebook.store import index as _index
from wan_notebook.store.index import APPLICATION_ID, SCHEMA_VERSION, CorruptIndexError, Index


def _tables(path):
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_created_on_first_use_with_wal_identity_and_version(tmp_path):
    path = tmp_path / "sub" / "index.sqlite"
    index = Index(path)
    assert not index.exists() and not path.parent.exists()
    with index.write() as conn:
        conn.execute("SELECT count(*) FROM tasks")
    assert index.exists()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    assert {"tasks", "events", "intents"} <= _tables(path)


def test_write_rolls_back_on_error(tmp_path):
    index = Index(tmp_path / "index.sqlite")
    with pytest.raises(RuntimeError), index.write() as conn:
        conn.execute("INSERT INTO events (task_id, status, at) VALUES ('t', 'PENDING', '2026')")
        raise RuntimeError("boom")
    with index.read() as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0


def test_busy_timeout_is_set(tmp_path):
    index = Index(tmp_path / "index.sqlite")
    with index.read() as conn:
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == _index.BUSY_TIMEOUT_MS


def test_garbage_file_gives_a_clear_error_and_is_not_touched(tmp_path):
    path = tmp_path / "index.sqlite"
    garbage = b"this is not a database at all\n" * 200
    path.write_bytes(garbage)
    with pytest.raises(CorruptIndexError) as info, Index(path).read():
        pass
    text = str(info.value)
    assert str(path) in text and "rebuild_index()" in text and "Nothing was deleted" in text
    assert info.value.path == path
    assert path.read_bytes() == garbage


def test_damaged_pages_are_detected(tmp_path):
    path = tmp_path / "index.sqlite"
    with Index(path).write() as conn:
        for i in range(300):
            conn.execute(
                "INSERT INTO events (task_id, status, at, detail) VALUES (?, 'PENDING', ?, ?)",
                (f"t{i}", "2026", "x" * 200),
            )
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data) - page, page):  # scribble over every page but one
        data[offset + 8 : offset + 200] = b"\xff" * 192
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptIndexError) as info, Index(path).read() as conn:
        conn.execute("SELECT * FROM events").fetchall()
    assert str(path) in str(info.value)


def test_foreign_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "index.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER)")
    with pytest.raises(CorruptIndexError, match="foreign tables"), Index(path).read():
        pass
    assert _tables(path) == {"photos"}


def test_other_application_id_is_refused(tmp_path):
    path = tmp_path / "index.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA application_id = 1234")
    with pytest.raises(CorruptIndexError, match="another application"), Index(path).read():
        pass


def test_newer_schema_asks_for_an_upgrade(tmp_path):
    path = tmp_path / "index.sqlite"
    with Index(path).write():
        pass
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(CorruptIndexError, match="newer wan-notebook"), Index(path).read():
        pass


def test_migration_hook_runs_each_step_once(tmp_path, monkeypatch):
    """A future schema step: MIGRATIONS[n] upgrades a version-n file to version n + 1."""
    path = tmp_path / "index.sqlite"
    with Index(path).write():
        pass
    calls = []

    def v1_to_v2(conn):
        calls.append(1)
        conn.execute("ALTER TABLE tasks ADD COLUMN rating INTEGER")

    now = SCHEMA_VERSION
    monkeypatch.setattr(_index, "SCHEMA_VERSION", now + 1)
    monkeypatch.setitem(_index.MIGRATIONS, now, v1_to_v2)
    for _ in range(3):
        with Index(path).read() as conn:
            conn.execute("SELECT rating FROM tasks").fetchall()
    assert calls == [1]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == now + 1


def test_failed_migration_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "index.sqlite"
    with Index(path).write():
        pass

    def broken(conn):
        conn.execute("ALTER TABLE tasks ADD COLUMN rating INTEGER")
        raise RuntimeError("migration bug")

    monkeypatch.setattr(_index, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(_index.MIGRATIONS, SCHEMA_VERSION, broken)
    with pytest.raises(RuntimeError), Index(path).read():
        pass
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = {r[1] for r in conn.execute("PRAGMA table_info(tasks)")}
    assert "rating" not in columns


def test_many_processes_opening_a_new_folder_at_once(tmp_path: Path) -> None:
    """Switching a new index to WAL raced: the loser got "database is locked" at once (SQLite
    does not call the busy handler for it). Measured before the fix: 4 failures in 90 opens."""
    import subprocess
    import sys
    import time

    code = (
        "import sys, time\n"
        "from wan_notebook.store import OutputStore\n"
        "from wan_notebook.request import VideoRequest\n"
        "t = float(sys.argv[2])\n"
        "while time.time() < t: pass\n"
        "OutputStore(sys.argv[1]).begin_intent(VideoRequest.create('x'))\n"
    )
    for round_ in range(6):
        folder = tmp_path / f"r{round_}"
        start = time.time() + 1.0  # every process starts its first write at this instant
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(folder), str(start)], stderr=subprocess.PIPE
            )
            for _ in range(6)
        ]
        for proc in procs:
            assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()[-500:]
