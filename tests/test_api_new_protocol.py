"""generate / generate_many take the new protocol's names (issue 13), and either spelling of
the same request is one cache entry (the canonical request is the key)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wan_notebook import api, media

SPEED = 200.0


@pytest.fixture(autouse=True)
def _emulator_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", str(1 / SPEED))


def test_size_and_resolution_ratio_are_one_cache_entry(emulator, tmp_path: Path) -> None:
    conn = {"api_key": emulator.api_key, "base_url": emulator.base_url}
    out = tmp_path / "out"
    first = api.generate(
        "a heron in the reeds", model="wan2.7-t2v", resolution="720P", ratio="1:1", duration=2,
        output_dir=out, **conn,
    )  # fmt: skip
    info = media.verify_mp4(first.path)
    assert (info.width, info.height) == (960, 960) and info.has_audio
    sidecar = json.loads(first.sidecar.read_text())
    assert sidecar["request"]["resolution"] == "720P" and sidecar["request"]["ratio"] == "1:1"
    assert "size" not in sidecar["request"]
    again = api.generate(
        "a heron in the reeds", model="wan2.7-t2v", size="960*960", duration=2, output_dir=out,
        **conn,
    )  # fmt: skip
    assert again.cached and again.path == first.path
    assert emulator.stats()["tasks_created"] == 1


def test_generate_many_mixes_protocols(emulator, tmp_path: Path) -> None:
    conn = {"api_key": emulator.api_key, "base_url": emulator.base_url}
    results = api.generate_many(
        [
            {"prompt": "a tide pool", "model": "wan2.6-t2v", "size": "1280*720"},
            {"prompt": "a tide pool", "model": "wan3.0-video", "resolution": "480P",
             "ratio": "16:9", "audio": False},
        ],
        duration=2, output_dir=tmp_path / "out", **conn,
    )  # fmt: skip
    sizes = [(media.verify_mp4(r.path).width, media.verify_mp4(r.path).height) for r in results]
    assert sizes == [(1280, 720), (832, 480)]
    assert not media.verify_mp4(results[1].path).has_audio


def test_unknown_model_reaches_the_service_and_comes_back_typed(emulator, tmp_path: Path) -> None:
    """The open catalog sends the id; the service's "Model not exist." names model and region."""
    from wan_notebook.protocol_new import ModelNotAvailableError

    conn = {"api_key": emulator.api_key, "base_url": emulator.base_url}
    with (
        pytest.warns(UserWarning, match="not in this version's catalog"),
        pytest.raises(ModelNotAvailableError) as info,
    ):
        api.generate("a fox", model="wan2.7-t2v-2099-01-01", output_dir=tmp_path, **conn)
    assert info.value.model == "wan2.7-t2v-2099-01-01" and info.value.region == "127.0.0.1"
    assert emulator.stats()["tasks_created"] == 0
