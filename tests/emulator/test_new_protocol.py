"""The emulator speaks the new protocol (issue 13 case 5), driven by our client and raw HTTP.

Every video is downloaded over loopback and decoded: pixel size from the resolution x ratio
table, duration, 30 fps, and an audio track (or none for Wan3.0 ``audio: false``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from emu_helpers import Api

from wan_notebook.client import WanClient
from wan_notebook.emulator import Emulator
from wan_notebook.media import probe
from wan_notebook.protocol_new import ModelNotAvailableError, parse_new_usage


@pytest.fixture
def emu(emulator_factory) -> Emulator:
    # Wan3.0's typical run is ~12 simulated minutes: a fast clock keeps it under a second.
    return emulator_factory(speed=2000.0, rate_limits=False, log=False)


def client(emu: Emulator) -> WanClient:
    return WanClient(
        emu.api_key, base_url=emu.base_url, poll_scale=1 / 2000, timeout=10.0, rand=lambda: 0.01
    )


def decoded(path: Path, width: int, height: int, seconds: float, audio: bool) -> None:
    info = probe(path)
    assert (info.width, info.height) == (width, height)
    assert abs(info.duration - seconds) <= 0.1
    assert round(info.fps) == 30
    assert info.has_audio is audio


@pytest.mark.parametrize("model", ["wan2.7-t2v", "wan2.7-t2v-2026-04-25", "wan2.7-t2v-2026-06-12"])
def test_wan27_through_our_client(emu: Emulator, tmp_path: Path, model: str) -> None:
    with client(emu) as c:
        res = c.generate(
            "a lantern festival at night", tmp_path / "v.mp4",
            model=model, resolution="720P", ratio="9:16", duration=2,
        )  # fmt: skip
    decoded(res.path, 720, 1280, 2.0, audio=True)
    assert res.task.usage == {
        "duration": 2, "input_video_duration": 0, "output_video_duration": 2,
        "video_count": 1, "ratio": "9:16", "SR": 720,
    }  # fmt: skip


def test_wan27_size_spelling_renders_the_table_cell(emu: Emulator, tmp_path: Path) -> None:
    """1104*832 (720P 4:3 on wan2.7), not the legacy 1088*832."""
    with client(emu) as c:
        res = c.generate("a fox", tmp_path / "v.mp4", model="wan2.7-t2v", size="1104*832",
                         duration=2)  # fmt: skip
    decoded(res.path, 1104, 832, 2.0, audio=True)


def test_wan27_1080p_4_3(emu: Emulator) -> None:
    api = Api(emu)
    tid = api.submit(
        "a tall lighthouse", model="wan2.7-t2v", size=None, resolution="1080P", ratio="4:3",
        duration=2,
    )  # fmt: skip
    body = api.wait(tid, timeout=120)
    assert body["output"]["task_status"] == "SUCCEEDED"
    assert emu.task(tid)["size"] == "1648*1248"


@pytest.mark.parametrize("model", ["wan3.0-video", "wan3.0-video-prime"])
def test_wan3_smart_duration_and_silence(emu: Emulator, tmp_path: Path, model: str) -> None:
    prompt = "a paper plane glides over a vertical city, 3 seconds"
    with client(emu) as c:
        res = c.generate(
            prompt, tmp_path / "v.mp4", model=model, resolution="480P", duration=-1, audio=False
        )
    # adaptive ratio picked 9:16 from "vertical"; smart duration picked 3 s from the prompt
    decoded(res.path, 480, 832, 3.0, audio=False)
    usage = parse_new_usage(res.task.usage)
    assert (usage.duration, usage.output_video_duration, usage.input_video_duration) == (
        3.0, 3.0, 0.0,
    )  # fmt: skip
    assert (usage.sr, usage.ratio, usage.fps) == (480, "9:16", 30)


def test_wan3_runs_longer_than_wan27(emu: Emulator) -> None:
    api = Api(emu)
    a = api.submit("x", model="wan2.7-t2v", size=None, resolution="720P", duration=5)
    b = api.submit("x", model="wan3.0-video", size=None, resolution="720P", ratio="16:9")
    # the simulated run times are drawn from each model's typical time (catalog)
    assert emu.task(b)["run_sim"] > emu.task(a)["run_sim"]


def _failed(api: Api, **kw) -> dict:
    kw.setdefault("size", None)
    r = api.create("a fox", **kw)
    assert r.status_code == 200, r.text  # accepted at create ...
    out = api.wait(r.json()["output"]["task_id"], timeout=60)["output"]
    assert out["task_status"] == "FAILED" and out["code"] == "InvalidParameter"  # ... FAILED
    return out


def test_values_out_of_range_fail_the_task(api: Api) -> None:
    assert "ratio" in _failed(api, model="wan2.7-t2v", ratio="21:9")["message"]
    assert "resolution" in _failed(api, model="wan2.7-t2v", resolution="480P")["message"]
    assert "duration" in _failed(api, model="wan2.7-t2v", duration=-1)["message"]
    assert "duration" in _failed(api, model="wan3.0-video", duration=31)["message"]
    out = _failed(api, model="wan2.7-t2v", inp={"img_url": "https://e.com/a.png"})
    assert "img_url" in out["message"]
    out = _failed(
        api, model="wan3.0-video",
        inp={"media": [{"type": "first_frame", "url": "https://e.com/a.png"},
                       {"type": "reference_image", "url": "https://e.com/b.png"}]},
    )  # fmt: skip
    assert out["message"].startswith("The two modes are mutually exclusive.")


def test_types_and_empty_prompt_fail_at_create(api: Api) -> None:
    r = api.create("a fox", model="wan2.7-t2v", size=None, duration="5")
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"
    r = api.create("a fox", model="wan3.0-video", size=None, audio="no")
    assert r.status_code == 400
    r = api.create("  ", model="wan2.7-t2v", size=None)
    assert r.status_code == 400 and r.json()["code"] == "BadRequest.EmptyInput"


def test_legacy_fields_ignored_by_wan27(api: Api, emulator: Emulator) -> None:
    """``size`` and ``shot_type`` are "not used" on wan2.7 (PROTOCOL 14.2): defaults apply."""
    tid = api.submit("a fox", model="wan2.7-t2v", size="832*480", shot_type="multi", duration=2)
    assert api.wait(tid, timeout=120)["output"]["task_status"] == "SUCCEEDED"
    assert emulator.task(tid)["size"] == "1920*1080"


def test_model_not_exist_names_model_and_region(emu: Emulator) -> None:
    import warnings

    with client(emu) as c, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ModelNotAvailableError) as info:
            c.submit("a fox", model="wan3.9-video-nonexistent")
    e = info.value
    assert e.model == "wan3.9-video-nonexistent" and e.region == "127.0.0.1"
    assert "wan3.9-video-nonexistent" in str(e) and "127.0.0.1" in str(e)


def test_wan27_plays_the_supplied_audio(emu: Emulator, tmp_path: Path) -> None:
    """A local wav is uploaded (oss://), sent as input.audio_url, and the render uses it."""
    import struct
    import wave

    wav = tmp_path / "track.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(struct.pack("<h", 1000) * 8000 * 3)
    with client(emu) as c:
        res = c.generate(
            "a drummer", tmp_path / "v.mp4", model="wan2.7-t2v",
            resolution="720P", ratio="1:1", duration=2, audio_url=str(wav),
        )  # fmt: skip
    decoded(res.path, 960, 960, 2.0, audio=True)
    state = emu.task(res.task.task_id)
    assert state["audio_url"].startswith("oss://") and state["audio"].endswith(".wav")
