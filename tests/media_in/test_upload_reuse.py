"""How local media reach the service: small images inline as data: URIs, others through the
temporary upload (PROTOCOL 17.2), an upload reused within its lifetime for the same model."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pytest
from media_helpers import picture

from wan_notebook import api
from wan_notebook.client import AsyncWanClient, WanClient
from wan_notebook.media_in import UploadMemory, aprepare, coerce, prepare
from wan_notebook.media_in.uploads import REUSE_S, UPLOAD_LIFETIME_S


@pytest.fixture(autouse=True)
def _pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", str(1 / 200))


def noise(seed: int = 0) -> np.ndarray:
    """A picture that PNG cannot shrink much (well over the inline limit)."""
    return np.random.default_rng(seed).integers(0, 255, (480, 640, 3), dtype=np.uint8)


def uploads(emu) -> int:
    return emu.stats()["requests"]["upload"]


def test_memory_expires_and_holds_no_key(tmp_path: Path) -> None:
    mem = UploadMemory(tmp_path)
    mem.put("http://h/api/v1", "acct", "wan2.6-i2v", "ab" * 32, "oss://d/x.png")
    assert mem.get("http://h/api/v1", "acct", "wan2.6-i2v", "ab" * 32) == "oss://d/x.png"
    assert mem.get("http://h/api/v1", "acct", "wan2.6-i2v-flash", "ab" * 32) is None  # bound
    assert mem.get("http://h/api/v1", "other", "wan2.6-i2v", "ab" * 32) is None  # account
    later = time.time() + REUSE_S + 1
    assert mem.get("http://h/api/v1", "acct", "wan2.6-i2v", "ab" * 32, now=later) is None
    assert REUSE_S < UPLOAD_LIFETIME_S == 48 * 3600
    (tmp_path / "uploads.json").write_text("not json")
    assert mem.get("http://h/api/v1", "acct", "wan2.6-i2v", "ab" * 32) is None  # unreadable


def test_small_image_goes_inline_large_one_is_uploaded_once(emulator, tmp_path: Path) -> None:
    small, large = coerce(picture(320, 240), "image"), coerce(noise(), "image")
    assert small.size < 64 * 1024 < large.size
    mem = UploadMemory(tmp_path)
    with WanClient(emulator.api_key, base_url=emulator.base_url) as client:
        urls = prepare(client, "wan2.6-i2v", (small,), mem)
        assert urls["image"].startswith("data:image/png;base64,") and uploads(emulator) == 0
        first = prepare(client, "wan2.6-i2v", (large,), mem)
        assert first["image"].startswith("oss://") and uploads(emulator) == 1
        again = prepare(client, "wan2.6-i2v", (large,), mem)
        assert again == first and uploads(emulator) == 1  # reused
        other_model = prepare(client, "wan2.6-i2v-flash", (large,), mem)
        assert other_model["image"] != first["image"] and uploads(emulator) == 2
    text = (tmp_path / "uploads.json").read_text()
    assert emulator.api_key not in text
    assert len(json.loads(text)) == 2


def test_async_prepare_and_inline_off(emulator, tmp_path: Path) -> None:
    small = coerce(picture(320, 240), "image")

    async def run() -> dict[str, str]:
        async with AsyncWanClient(emulator.api_key, base_url=emulator.base_url) as client:
            return await aprepare(client, "wan2.6-i2v", (small,), UploadMemory(tmp_path),
                                  inline_max=0)  # fmt: skip

    urls = asyncio.run(run())
    assert urls["image"].startswith("oss://") and uploads(emulator) == 1
    assert urls["image"].endswith(small.sha256[:32] + ".png")  # content-addressed name


def test_generate_reuses_the_upload_for_a_new_prompt(emulator, tmp_path: Path) -> None:
    image = noise(1)
    kw = dict(model="wan2.1-i2v-turbo", resolution="480P", duration=3, output_dir=tmp_path,
              api_key=emulator.api_key, base_url=emulator.base_url)  # fmt: skip
    api.generate("one", image=image, **kw)
    api.generate("two", image=image, **kw)
    assert uploads(emulator) == 1 and emulator.stats()["requests"]["create"] == 2
    assert (tmp_path / "uploads.json").is_file()
