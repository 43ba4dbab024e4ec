"""The emulator's synthetic renderer: real MP4 files, checked by decoding them with PyAV.

(Named test_render_video.py, not test_render.py: tests/notebook/test_render.py exists and the
test folders have no __init__.py, so two modules named test_render would collide.)
"""

from __future__ import annotations

import hashlib
import math
import struct
import threading
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from wan_notebook.emulator import render
from wan_notebook.emulator.render import AudioDecodeError, RenderCache, render_video

W, H = 320, 192
PROMPT = "A red fox runs through fresh snow at dawn"


def _render(out: Path, **kw: object) -> Path:
    args: dict[str, object] = dict(
        width=W, height=H, duration=1.0, fps=24, prompt=PROMPT, seed=7, audio=None
    )
    args.update(kw)
    return render_video(out, **args)  # type: ignore[arg-type]


def _luma(path: Path) -> list[np.ndarray]:
    """The decoded Y plane of every frame."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray") for f in c.decode(video=0)]


def _top_boxes(path: Path) -> list[str]:
    data = path.read_bytes()
    out, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        out.append(kind.decode())
        offset += size
    return out


def _audio(path: Path) -> tuple[np.ndarray, int, int]:
    """Decoded audio as float32 mono samples, its sample rate and channel count."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        rate, channels = stream.codec_context.sample_rate, stream.codec_context.channels
        chunks = [f.to_ndarray().reshape(channels, -1)[0] for f in c.decode(stream)]
    return np.concatenate(chunks).astype(np.float32), rate, channels


def _write_wav(path: Path, seconds: float, freq: float, rate: int = 44_100) -> Path:
    """A 16-bit stereo sine WAV written with the stdlib."""
    n = round(seconds * rate)
    t = np.arange(n) / rate
    mono = (0.5 * 32767 * np.sin(2 * math.pi * freq * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(mono, 2).tobytes())
    return path


def _dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * rate / samples.size)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A few renders shared by the tests below (rendering is the slow part)."""
    d = tmp_path_factory.mktemp("clips")
    return {
        "base": _render(d / "base.mp4"),
        "again": _render(d / "again.mp4"),
        "seed": _render(d / "seed.mp4", seed=8),
        "prompt": _render(d / "prompt.mp4", prompt="Two kites over a green hill in summer"),
        "watermark": _render(d / "watermark.mp4", watermark=True),
        "tone": _render(d / "tone.mp4", audio="tone"),
        "tone_again": _render(d / "tone_again.mp4", audio="tone"),
        "tone_seed": _render(d / "tone_seed.mp4", audio="tone", seed=8),
    }


# ------------------------------------------------------------------------------------------
# container, size, timing


def test_video_stream_is_h264_of_the_requested_size(clips: dict[str, Path]) -> None:
    with av.open(str(clips["base"])) as c:
        assert len(c.streams.video) == 1
        assert not c.streams.audio  # audio=None: no sound track at all
        vs = c.streams.video[0]
        assert vs.codec_context.name == "h264"
        assert (vs.codec_context.width, vs.codec_context.height) == (W, H)
        assert vs.codec_context.pix_fmt == "yuv420p"
        assert vs.average_rate == 24
    frames = _luma(clips["base"])
    assert len(frames) == 24
    assert frames[0].shape == (H, W)


def test_moov_is_in_front_for_progressive_playback(clips: dict[str, Path]) -> None:
    boxes = _top_boxes(clips["base"])
    assert boxes[0] == "ftyp"
    assert boxes.index("moov") < boxes.index("mdat")


@pytest.mark.parametrize(
    ("duration", "fps", "frames"), [(0.5, 30, 15), (1.02, 30, 31), (1.5, 16, 24), (0.9, 24, 22)]
)
def test_frame_count_is_rounded_duration_times_fps(
    tmp_path: Path, duration: float, fps: int, frames: int
) -> None:
    out = _render(tmp_path / "v.mp4", duration=duration, fps=fps, width=160, height=96)
    assert len(_luma(out)) == frames == round(duration * fps)
    with av.open(str(out)) as c:
        assert c.duration is not None
        assert abs(c.duration / av.time_base - duration) <= 1 / fps
        vs = c.streams.video[0]
        assert vs.duration is not None
        assert float(vs.duration * vs.time_base) == pytest.approx(frames / fps)


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    out = _render(tmp_path / "sub" / "v.mp4", duration=0.25)
    assert out == tmp_path / "sub" / "v.mp4"
    assert sorted(p.name for p in out.parent.iterdir()) == ["v.mp4"]


@pytest.mark.parametrize(
    "kw",
    [
        dict(width=321),
        dict(height=95),
        dict(width=8, height=8),
        dict(duration=0.0),
        dict(duration=0.01, fps=24),
        dict(fps=0),
    ],
)
def test_impossible_arguments_raise_value_error(tmp_path: Path, kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        _render(tmp_path / "v.mp4", **kw)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------
# picture


def test_same_inputs_give_identical_bytes_and_frames(clips: dict[str, Path]) -> None:
    a, b = _luma(clips["base"]), _luma(clips["again"])
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    digest = [hashlib.sha256(clips[k].read_bytes()).hexdigest() for k in ("base", "again")]
    assert digest[0] == digest[1]


def test_another_seed_changes_the_picture(clips: dict[str, Path]) -> None:
    a, b = _luma(clips["base"]), _luma(clips["seed"])
    diffs = [np.abs(x.astype(int) - y).mean() for x, y in zip(a, b, strict=True)]
    assert min(diffs) > 3.0  # colours and motion come from the seed: every frame differs


def test_prompt_text_is_drawn_in_the_caption_band(clips: dict[str, Path]) -> None:
    """Same seed, other prompt: the strong differences are the caption's letters, all of
    them in the caption band in the middle of the frame, and there are plenty of them."""
    a, b = _luma(clips["base"]), _luma(clips["prompt"])
    for i in (0, 12, 23):
        strong = np.abs(a[i].astype(int) - b[i]) > 60
        ys, _xs = np.nonzero(strong)
        assert strong.sum() > 0.01 * W * H, "the caption should differ visibly"
        inside = ((ys >= 0.2 * H) & (ys < 0.97 * H)).mean()
        assert inside > 0.99, f"frame {i}: differences outside the caption band"
        # the label and timecode rows are identical for both prompts
        top = slice(0, int(0.12 * H))
        assert np.abs(a[i][top].astype(int) - b[i][top]).max() < 40


def test_caption_is_high_contrast_text(clips: dict[str, Path]) -> None:
    """Caption band: a dark box with bright letters (bimodal, many bright pixels)."""
    y = _luma(clips["base"])[5]
    band = y[int(0.5 * H) : int(0.75 * H), int(0.15 * W) : int(0.85 * W)]
    bright = (band > 200).mean()
    dark = (band < 90).mean()
    assert 0.03 < bright < 0.5
    assert dark > 0.3
    assert band.std() > 50


def test_synthetic_label_and_timecode_are_drawn(tmp_path: Path) -> None:
    """Label (top left) and timecode: bright text on dark boxes where the layout puts them;
    the timecode changes from frame to frame while the label does not."""
    w, h = 832, 480
    frames = _luma(_render(tmp_path / "v.mp4", width=w, height=h, duration=0.5))
    scene = render._Scene(w, h, len(frames), 24, PROMPT, 7, False)
    lw, lh = scene.label.size
    m = scene.margin
    tx, ty = scene.timecode_xy
    assert tx > m + lw  # on this frame size both fit on the top row
    label = [f[m : m + lh, m : m + lw] for f in frames]
    clock = [f[ty : ty + scene.timecode.height, tx : tx + scene.timecode.width] for f in frames]
    for region in (label[0], clock[0]):
        assert (region > 200).mean() > 0.04
        assert (region < 90).mean() > 0.3

    def same_letters(a: np.ndarray, b: np.ndarray) -> float:
        """Intersection over union of the bright (letter) pixels."""
        return float(((a > 200) & (b > 200)).sum() / ((a > 200) | (b > 200)).sum())

    assert same_letters(label[0], label[-1]) > 0.9
    assert same_letters(clock[0], clock[-1]) < 0.8


def test_narrow_frames_move_the_timecode_below(tmp_path: Path) -> None:
    scene = render._Scene(160, 96, 10, 24, PROMPT, 7, False)
    assert scene.timecode_xy[1] > 96 / 2


def test_picture_moves(clips: dict[str, Path]) -> None:
    frames = _luma(clips["base"])
    steps = [np.abs(frames[i].astype(int) - frames[i + 1]).mean() for i in range(len(frames) - 1)]
    assert min(steps) > 0.2  # something moves in every frame
    assert np.abs(frames[0].astype(int) - frames[-1]).mean() > 5


def test_watermark_only_changes_the_bottom_right_corner(clips: dict[str, Path]) -> None:
    a, b = _luma(clips["base"]), _luma(clips["watermark"])
    for i in (0, 20):
        strong = np.abs(a[i].astype(int) - b[i]) > 60
        ys, xs = np.nonzero(strong)
        assert len(ys) > 30, "the watermark should be visible"
        assert ys.min() > 0.75 * H and xs.min() > 0.6 * W


def test_cjk_watermark_font_falls_back_to_ai() -> None:
    """Without a CJK font the watermark reads "AI"; with one it is the service's "AI生成"."""
    font = render._font("cjk", 24)
    if render._cjk_font_file() is None:
        assert not render._has_glyphs(font, render.WATERMARK_TEXT)
    else:
        assert render._has_glyphs(font, render.WATERMARK_TEXT)
    assert render._has_glyphs(render._font("sans", 24), "AI")


def test_long_prompts_are_wrapped_into_pages_that_all_get_shown() -> None:
    words = [f"word{i}" for i in range(300)]
    plan = render._plan_caption(" ".join(words), 832, 480, 5.0)
    shown = [w for page in plan.pages for line in page for w in line.split()]
    assert shown == words  # every word appears once, in order
    assert len(plan.pages) >= 2
    font = render._caption_font("x", plan.font_size)
    assert all(font.getlength(line) <= 832 * 0.86 for page in plan.pages for line in page)


# ------------------------------------------------------------------------------------------
# sound


def test_tone_is_48k_mono_aac_as_long_as_the_video(clips: dict[str, Path]) -> None:
    with av.open(str(clips["tone"])) as c:
        a = c.streams.audio[0]
        v = c.streams.video[0]
        assert a.codec_context.name == "aac"
        end_a = float(a.duration * a.time_base)
        end_v = float(v.duration * v.time_base)
    assert abs(end_a - end_v) <= 1 / 24
    samples, rate, channels = _audio(clips["tone"])
    assert (rate, channels) == (48_000, 1)
    assert abs(samples.size / rate - 1.0) <= 1 / 24
    assert np.sqrt(np.mean(samples**2)) > 0.02  # audible, not silence


def test_tone_depends_on_the_seed_only(clips: dict[str, Path]) -> None:
    a, _, _ = _audio(clips["tone"])
    b, _, _ = _audio(clips["tone_again"])
    c, _, _ = _audio(clips["tone_seed"])
    assert np.array_equal(a, b)
    n = min(a.size, c.size)
    assert np.abs(a[:n] - c[:n]).mean() > 0.01


def test_longer_wav_is_cut_to_the_video(tmp_path: Path) -> None:
    wav = _write_wav(tmp_path / "long.wav", 3.0, 440.0)
    out = _render(tmp_path / "v.mp4", duration=1.5, audio=wav)
    samples, rate, channels = _audio(out)
    assert (rate, channels) == (48_000, 1)
    assert abs(samples.size / rate - 1.5) <= 1 / 24
    assert _dominant_hz(samples[4800:-4800], rate) == pytest.approx(440, abs=5)
    with av.open(str(out)) as c:
        assert abs(c.duration / av.time_base - 1.5) <= 1 / 24


def test_shorter_wav_is_padded_with_silence(tmp_path: Path) -> None:
    wav = _write_wav(tmp_path / "short.wav", 0.5, 660.0)
    out = _render(tmp_path / "v.mp4", duration=1.5, audio=str(wav))  # a str path works too
    samples, rate, _ = _audio(out)
    assert abs(samples.size / rate - 1.5) <= 1 / 24
    sound, rest = samples[2400:21600], samples[int(0.6 * rate) :]
    assert _dominant_hz(sound, rate) == pytest.approx(660, abs=5)
    assert np.sqrt(np.mean(sound**2)) > 0.2
    assert np.abs(rest).max() < 0.01  # silence after the sound ends


def test_undecodable_audio_raises_and_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"this is not audio at all" * 100)
    out_dir = tmp_path / "out"
    with pytest.raises(AudioDecodeError, match=r"bad\.mp3"):
        _render(out_dir / "v.mp4", audio=bad)
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


# ------------------------------------------------------------------------------------------
# cache


def _get(cache: RenderCache, **kw: object) -> Path:
    args: dict[str, object] = dict(
        width=160, height=96, duration=0.5, fps=16, prompt=PROMPT, seed=1, audio=None
    )
    args.update(kw)
    return cache.get(**args)  # type: ignore[arg-type]


def test_cache_renders_once_under_concurrent_get(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path / "cache")
    results: list[Path] = []
    barrier = threading.Barrier(6)

    def worker() -> None:
        barrier.wait()
        results.append(_get(cache))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.renders == 1
    assert len(set(results)) == 1 and len(results) == 6
    path = results[0]
    assert path.parent == tmp_path / "cache"
    assert list(path.parent.iterdir()) == [path]
    mtime = path.stat().st_mtime_ns
    assert _get(cache) == path and cache.renders == 1
    assert path.stat().st_mtime_ns == mtime  # not rewritten
    # the name is a hash, never the prompt
    assert "fox" not in path.name.lower()
    assert all(ch in "0123456789abcdef" for ch in path.stem)


def test_cache_keys_distinguish_every_argument(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path)
    base = dict(width=160, height=96, duration=0.5, fps=16, prompt="p", seed=1, audio=None)
    variants = [
        {},
        dict(width=192),
        dict(height=128),
        dict(duration=1.0),
        dict(fps=24),
        dict(prompt="q"),
        dict(seed=2),
        dict(audio="tone"),
        dict(watermark=True),
    ]
    keys = {cache.key(**{**base, **v}) for v in variants}  # type: ignore[arg-type]
    assert len(keys) == len(variants)


def test_cache_keys_audio_files_by_content(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path / "cache")
    a = _write_wav(tmp_path / "a.wav", 0.3, 440)
    b = tmp_path / "b.wav"
    b.write_bytes(a.read_bytes())
    c = _write_wav(tmp_path / "c.wav", 0.3, 550)
    pa, pb, pc = (_get(cache, audio=x) for x in (a, b, c))
    assert pa == pb != pc
    assert cache.renders == 2


def test_cache_renders_different_keys_in_parallel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two keys requested together must be rendering at the same moment: each render waits at
    a barrier the other must also reach (it would time out if renders were serialised)."""
    barrier = threading.Barrier(2, timeout=20)
    real = render.render_video

    def meeting_render(out: Path, **kw: object) -> Path:
        barrier.wait()
        return real(out, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(render, "render_video", meeting_render)
    cache = RenderCache(tmp_path)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            _get(cache, seed=seed)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cache.renders == 2
