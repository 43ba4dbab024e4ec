"""The emulator's fast render mode: tiny but valid H.264 files, served like full renders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wan_notebook import api, media
from wan_notebook.emulator import Emulator
from wan_notebook.emulator.fastrender import FastRenderCache, fast_size, render_fast


def test_a_fast_render_is_a_tiny_valid_h264_mp4(tmp_path: Path) -> None:
    out = render_fast(tmp_path / "v.mp4", width=832, height=480, duration=5, seed=3)
    info = media.verify_mp4(out)  # box structure and decoding of first and last frames
    assert (info.width, info.height) == fast_size(832, 480) == (64, 36)
    assert info.video_codec == "h264" and round(info.duration) == 5
    assert fast_size(480, 832) == (64, 110) and fast_size(1440, 1440) == (64, 64)


def test_the_cache_renders_each_key_once(tmp_path: Path) -> None:
    cache = FastRenderCache(tmp_path)
    a = cache.get(width=832, height=480, duration=5, fps=16, prompt="x", seed=1, audio=None)
    b = cache.get(width=832, height=480, duration=5, fps=16, prompt="y", seed=1, audio=None)
    c = cache.get(width=832, height=480, duration=5, fps=16, prompt="x", seed=2, audio=None)
    assert a == b != c and cache.renders == 2


def test_generate_saves_a_fast_render_like_any_video(
    tmp_path: Path, emulator_factory: Callable[..., Emulator]
) -> None:
    emu = emulator_factory(fast_render=True, rate_limits=False)
    result = api.generate(
        "a lantern", model="wan2.2-t2v-plus", size="832*480", output_dir=tmp_path,
        api_key=emu.api_key, base_url=emu.base_url,
    )  # fmt: skip
    assert result.path.stat().st_size < 20_000
    assert media.probe(result.path).width == 64
