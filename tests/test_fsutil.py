"""Crash-safe file primitives."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from wan_notebook._fsutil import atomic_write_bytes, move_no_clobber, sha256_file


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.json"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_process_killed_while_writing_leaves_the_old_file(tmp_path):
    """A real process is killed (SIGKILL) in the middle of an atomic write: the target keeps
    its old content, and the only trace is a dot-named temp file."""
    target = tmp_path / "a.json"
    atomic_write_bytes(target, b"old")
    script = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        import wan_notebook._fsutil as f
        real_fsync = os.fsync
        def stall(fd):
            real_fsync(fd)
            print("written", flush=True)
            sys.stdin.readline()   # hold here until killed
        f.os.fsync = stall
        f.atomic_write_bytes(Path({str(target)!r}), b"new" * 100000)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "written"
    proc.kill()
    proc.wait()
    assert target.read_bytes() == b"old"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "a.json"]
    assert all(name.startswith(".a.json.") and name.endswith(".tmp") for name in leftovers)


def test_failed_write_cleans_up(tmp_path):
    target = tmp_path / "missing-dir" / "a.json"
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"x")
    assert list(tmp_path.iterdir()) == []


def test_move_no_clobber(tmp_path):
    src, dst = tmp_path / "a.part", tmp_path / "a.mp4"
    src.write_bytes(b"first")
    move_no_clobber(src, dst)
    assert dst.read_bytes() == b"first" and not src.exists()
    src.write_bytes(b"second")
    with pytest.raises(FileExistsError):
        move_no_clobber(src, dst)
    assert dst.read_bytes() == b"first" and src.read_bytes() == b"second"


def test_sha256_file(tmp_path):
    import hashlib

    data = os.urandom(3 * (1 << 20) + 17)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
