"""Emulator.add_file: any file served on the signed video route (used by the download benchmark)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from wan_notebook.client import WanClient
from wan_notebook.emulator import Emulator


def test_added_file_is_served_like_a_video_url(emulator: Emulator, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    url = emulator.add_file(src)
    assert url.startswith(emulator.root_url + "/files/") and "Signature=" in url
    full = httpx.get(url)
    assert full.status_code == 200 and full.content == data
    part = httpx.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == data[1000:2000]
    base, _, query = url.partition("?")
    tampered = query.replace("Expires=", "Expires=1")
    assert httpx.get(f"{base}?{tampered}").status_code == 403
    assert emulator.stats()["requests"]["video"] == 3


def test_added_file_resumes_through_the_client_after_a_truncation(
    emulator: Emulator, tmp_path: Path
) -> None:
    data = os.urandom(500_000)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    emulator.faults.add("video", "truncate", times=1)
    with WanClient(emulator.api_key, base_url=emulator.base_url) as client:
        out = client.download(emulator.add_file(src), tmp_path / "out.bin")
    assert out.read_bytes() == data
    assert emulator.stats()["requests"]["video"] == 2  # the cut one, then a Range resume


def test_added_file_expires(emulator: Emulator, tmp_path: Path) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(b"x" * 10)
    url = emulator.add_file(src, expires_in=0)
    time.sleep(1.1)  # Expires has one-second resolution
    r = httpx.get(url)
    assert r.status_code == 403 and b"expired" in r.content


def test_add_file_needs_a_running_emulator_and_an_existing_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        Emulator().add_file(tmp_path / "nothing")
    with Emulator(speed=200.0) as emu, pytest.raises(FileNotFoundError):
        emu.add_file(tmp_path / "nothing")
