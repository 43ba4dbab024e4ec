"""Synthetic video rendering for the emulator: real H.264/AAC MP4 files that show the prompt.

The emulator answers a text-to-video request with a genuine, playable file so that clients,
stores, notebooks and browsers are exercised end to end. Each frame shows the prompt's words
(a few lines at a time), a timecode, a moving background and moving discs, and a
``SYNTHETIC · wan-notebook emulator`` label so nobody mistakes it for a real generation.

Speed: everything expensive (backgrounds, text layers) is drawn once and converted once to
YUV 4:2:0; each frame is then a slice copy plus a few integer blends on small rectangles, handed
to x264 directly as ``yuv420p`` (no per-frame colour conversion).

Determinism: the same arguments give identical decoded frames and, with the same PyAV/x264
build and fonts, byte-identical files (fixed x264 thread count, no timestamps in the file).
Colours and motion depend on the seed only; the prompt changes only the caption.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import tempfile
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from .render_text import (
    _TEXT_LOCK,
    _caption_font,
    _even,
    _font,
    _half,
    _has_glyphs,
    _Layer,
    _plan_caption,
    _Planes,
    _rgb_to_yuv,
    _text_box,
    _Timecode,
)
from .render_text import _cjk_font_file as _cjk_font_file  # re-exported: tests use it

__all__ = [
    "AUDIO_RATE",
    "LABEL",
    "RENDER_VERSION",
    "WATERMARK_TEXT",
    "AudioDecodeError",
    "RenderCache",
    "render_video",
]

#: Bump when the picture or encoding changes, so :class:`RenderCache` keys change too.
RENDER_VERSION = 1
AUDIO_RATE = 48_000
LABEL = "SYNTHETIC · wan-notebook emulator"
#: The text the service draws bottom-right when ``watermark`` is true (PROTOCOL 2.3).
WATERMARK_TEXT = "AI生成"
#: Chosen by measurement on 2 cores (1080p, 5 s, 30 fps): ultrafast 1.1 s / 1.5 MB,
#: superfast 1.6 s / 1.1 MB, veryfast 2.3 s / 0.75 MB, faster 3.5 s / 0.85 MB.
X264_PRESET = "veryfast"
#: Above this many pixels per frame (720p and up) a faster preset keeps renders well under
#: the simulated generation time at speed 30 (1080p veryfast took 0.9 of it under load).
FAST_PRESET_PIXELS = 1280 * 720
FAST_PRESET = "superfast"
#: A fixed thread count keeps x264's output the same from machine to machine.
X264_THREADS = 2
#: Tag the BT.601 colours we write so players convert them back the same way.
#: ``mbtree=0``: with macroblock-tree rate control x264 gave different bytes (and different
#: decoded pixels in the first GOP) from run to run on a busy machine, even single-threaded
#: (measured: 4 of 40 runs differed); without it 40 of 40 were identical, at ~35% larger files.
#: Sliced threads: the two slices of a frame are coded independently, so threading stays
#: deterministic too.
X264_PARAMS = (
    "colorprim=smpte170m:transfer=smpte170m:colormatrix=smpte170m:sliced-threads=1:mbtree=0"
)


class AudioDecodeError(ValueError):
    """The audio file given to :func:`render_video` could not be decoded."""


# --------------------------------------------------------------------------------------------
# The picture


def _palette(seed: int) -> random.Random:
    return random.Random(f"wan-notebook-emulator:{seed}")


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return round(r * 255), round(g * 255), round(b * 255)


class _Scene:
    """Everything drawn once for one render; :meth:`frame` composes frame ``i`` cheaply.

    Only the constructor draws text (build it under ``_TEXT_LOCK``); :meth:`frame` is numpy.
    """

    def __init__(
        self, width: int, height: int, n_frames: int, fps: int, prompt: str, seed: int, wm: bool
    ) -> None:
        self.w, self.h, self.n, self.fps = width, height, n_frames, fps
        rng = _palette(seed)
        hue = rng.random()
        c1 = _hsv(hue, 0.55 + 0.3 * rng.random(), 0.35 + 0.2 * rng.random())
        c2 = _hsv((hue + 0.25 + 0.3 * rng.random()) % 1.0, 0.6, 0.75 + 0.2 * rng.random())
        self.period = _even(width)  # the background repeats every `period` px horizontally
        self.scroll_seconds = 6.0 + 4.0 * rng.random()
        self._build_background(c1, c2, rng.random() * math.tau, rng.random() * math.tau)

        small = min(width, height)
        self.discs = []
        for k in range(2):
            r = max(4, round(small * (0.09 if k == 0 else 0.06)))
            colour = _hsv((hue + 0.5 + 0.15 * k) % 1.0, 0.7, 0.95)
            motion = (
                0.5 + rng.random(),  # x angular speed (rad/s)
                0.7 + rng.random(),  # y angular speed
                rng.random() * math.tau,
                rng.random() * math.tau,
            )
            self.discs.append((_disc_layer(r, colour), r, motion))

        label_font = _font("sans", max(10, round(small / 34)))
        info = f"seed {seed} · {width}*{height} · {fps} fps"
        self.label = _Layer.from_rgba(
            _text_box([LABEL, info], label_font, align="left", pad=max(4, small // 100))
        )
        self.margin = _even(max(4, small // 40))
        self.timecode = _Timecode(max(10, round(small / 34)), n_frames, fps)
        tc = self.timecode
        if self.label.size[0] + tc.width + 3 * self.margin <= width:
            self.timecode_xy = (width - tc.width - self.margin, self.margin)
        else:  # too narrow for both on top: bottom-left (the watermark is bottom-right)
            self.timecode_xy = (self.margin, height - tc.height - self.margin)

        self.watermark: _Layer | None = None
        if wm:
            text = WATERMARK_TEXT
            font = _font("cjk", max(12, round(small / 16)))
            if not _has_glyphs(font, text):
                text = "AI"
            self.watermark = _Layer.from_rgba(
                _text_box([text], font, fill=(255, 255, 255, 200), box=None, pad=2)
            )

        self.plan = _plan_caption(prompt, width, height, n_frames / fps)
        caption_text = " ".join(prompt.split()) or "(empty prompt)"
        font = _caption_font(caption_text, self.plan.font_size)
        pad = max(6, self.plan.font_size // 3)
        self.pages = [
            _Layer.from_rgba(_text_box(lines, font, pad=pad)) for lines in self.plan.pages
        ]
        self.planes = _Planes.new(width, height)

    def _build_background(self, c1: tuple, c2: tuple, ph1: float, ph2: float) -> None:
        """A diagonal-striped gradient, periodic in x, as Y/U/V planes of width w + period."""
        w, h, p = self.w, self.h, self.period
        x = np.arange(w + p, dtype=np.float32)[None, :]
        y = np.arange(h, dtype=np.float32)[:, None]
        k = math.tau / p
        wgt = (
            0.5
            + 0.28 * np.cos(k * x + ph1)
            + 0.12 * np.cos(3 * k * (x + 0.6 * y) + ph2)
            + 0.1 * np.cos(math.pi * y / h + ph1)
        )
        y1, u1, v1 = (float(c) for c in _rgb_to_yuv(np.array(c1, np.float32)))
        y2, u2, v2 = (float(c) for c in _rgb_to_yuv(np.array(c2, np.float32)))
        self.bg_y = np.clip(np.rint(y1 + (y2 - y1) * wgt), 16, 235).astype(np.uint8)
        wc = _half(wgt)
        self.bg_u = np.clip(np.rint(u1 + (u2 - u1) * wc), 16, 240).astype(np.uint8)
        self.bg_v = np.clip(np.rint(v1 + (v2 - v1) * wc), 16, 240).astype(np.uint8)

    def frame(self, i: int) -> np.ndarray:
        """The yuv420p buffer of frame ``i`` (reused between calls)."""
        pl, w, h = self.planes, self.w, self.h
        t = i / self.fps
        off = _even((t / self.scroll_seconds) * self.period) % self.period
        pl.y[...] = self.bg_y[:, off : off + w]
        pl.u[...] = self.bg_u[:, off // 2 : off // 2 + w // 2]
        pl.v[...] = self.bg_v[:, off // 2 : off // 2 + w // 2]

        for layer, r, (wx, wy, px, py) in self.discs:
            cx = w / 2 + (w / 2 - r) * 0.9 * math.sin(wx * t + px)
            cy = h / 2 + (h / 2 - r) * 0.9 * math.sin(wy * t + py)
            layer.blend(pl, round(cx - r), round(cy - r))

        n_pages = len(self.plan.pages)
        page = min(i * n_pages // self.n, n_pages - 1)
        cap = self.pages[page]
        cw, ch = cap.size
        cy = min(round(h * 0.62 - ch / 2), h - ch - self.margin)
        cap.blend(pl, (w - cw) // 2, max(0, cy))

        m = self.margin
        self.label.blend(pl, m, m)
        tc = self.timecode
        tc.box.blend(pl, *self.timecode_xy)
        tc.layer(i).blend(pl, *self.timecode_xy)
        if self.watermark is not None:
            ww, wh = self.watermark.size
            self.watermark.blend(pl, w - ww - m, h - wh - m)
        return pl.buf


def _disc_layer(r: int, colour: tuple[int, int, int]) -> _Layer:
    d = 2 * r + 2
    yy, xx = np.mgrid[0:d, 0:d].astype(np.float32)
    dist = np.hypot(xx - d / 2 + 0.5, yy - d / 2 + 0.5)
    alpha = np.clip(r - dist + 0.5, 0.0, 1.0) * 0.85
    rgba = np.zeros((d, d, 4), np.float32)
    shade = 0.75 + 0.25 * np.clip(1 - dist / r, 0, 1)
    for c in range(3):
        rgba[..., c] = colour[c] * shade
    rgba[..., 3] = alpha * 255
    return _Layer.from_rgba(Image.fromarray(np.rint(rgba).astype(np.uint8), "RGBA"))


# --------------------------------------------------------------------------------------------
# Sound


def _tone(seed: int, n_samples: int) -> np.ndarray:
    """A deterministic little pentatonic melody (float32 mono, -0.3..0.3) from the seed."""
    rng = _palette(seed)
    root = 196.0 * 2 ** (rng.randrange(12) / 12)
    steps = (0, 2, 4, 7, 9, 12, 14, 16)
    out = np.zeros(n_samples, np.float32)
    pos = 0
    while pos < n_samples:
        length = min(int(AUDIO_RATE * rng.choice((0.25, 0.25, 0.5, 0.5, 0.75))), n_samples - pos)
        freq = root * 2 ** (rng.choice(steps) / 12)
        t = np.arange(length, dtype=np.float32) / AUDIO_RATE
        env = np.minimum(1.0, t / 0.01) * np.exp(-3.0 * t)
        note = np.sin(math.tau * freq * t) + 0.3 * np.sin(math.tau * 2 * freq * t)
        out[pos : pos + length] = (0.25 * env * note).astype(np.float32)
        pos += length
    return out


def _decode_audio(path: Path, n_samples: int) -> np.ndarray:
    """Decode a wav/mp3 file to 48 kHz mono float32, cut or padded with silence to n_samples."""
    chunks: list[np.ndarray] = []
    got = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioDecodeError(f"{path.name}: no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1)
                    chunks.append(arr)
                    got += arr.size
                if got >= n_samples:
                    break
            else:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray().reshape(-1))
    except av.error.FFmpegError as exc:
        raise AudioDecodeError(f"{path.name}: cannot decode audio ({exc})") from exc
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if samples.size >= n_samples:
        return samples[:n_samples]
    return np.concatenate([samples, np.zeros(n_samples - samples.size, np.float32)])


# --------------------------------------------------------------------------------------------
# Encoding


def _check_args(width: int, height: int, duration: float, fps: int) -> int:
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ValueError(f"width and height must be even and >= 16, got {width}x{height}")
    if not (isinstance(fps, int) and fps > 0):
        raise ValueError(f"fps must be a positive integer, got {fps!r}")
    n_frames = round(duration * fps)
    if n_frames < 1:
        raise ValueError(f"duration {duration!r} s is shorter than one frame at {fps} fps")
    return n_frames


def render_video(
    out: Path,
    *,
    width: int,
    height: int,
    duration: float,
    fps: int,
    prompt: str,
    seed: int,
    audio: Path | str | None,
    watermark: bool = False,
) -> Path:
    """Render a synthetic H.264 (+ AAC) MP4 of exactly ``width`` x ``height`` to ``out``.

    ``round(duration * fps)`` frames. ``audio``: None for no sound track, ``"tone"`` for a melody
    derived from ``seed``, or a wav/mp3 path whose sound is cut or padded with silence to the
    video's length (as the service does with ``audio_url``). The file is written next to
    ``out`` and renamed into place, so readers never see a partial file.
    Raises ValueError for impossible sizes and :class:`AudioDecodeError` for unreadable audio.
    """
    out = Path(out)
    n_frames = _check_args(width, height, duration, fps)
    n_samples = round(n_frames * AUDIO_RATE / fps)
    sound: np.ndarray | None = None
    if audio is not None:
        if isinstance(audio, str) and audio == "tone":
            sound = _tone(seed, n_samples)
        else:
            sound = _decode_audio(Path(audio), n_samples)

    with _TEXT_LOCK:  # one FreeType face per font is shared: draw text in one thread at a time
        scene = _Scene(width, height, n_frames, fps, prompt, seed, watermark)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _encode(tmp, scene, fps, sound)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def x264_preset(width: int, height: int) -> str:
    """The x264 preset for this frame size (faster above 720p, see FAST_PRESET_PIXELS)."""
    return FAST_PRESET if width * height > FAST_PRESET_PIXELS else X264_PRESET


def _encode(path: Path, scene: _Scene, fps: int, sound: np.ndarray | None) -> None:
    container = av.open(str(path), mode="w", format="mp4", options={"movflags": "faststart"})
    try:
        vs = container.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = scene.w, scene.h, "yuv420p"
        vs.codec_context.thread_count = X264_THREADS
        vs.options = {
            "preset": x264_preset(scene.w, scene.h),
            "g": str(fps),  # a keyframe every second: cheap seeks in browsers and verify_mp4
            "x264-params": X264_PARAMS,
        }
        audio_chunks: Iterator[av.AudioFrame] | None = None
        as_ = None
        if sound is not None:
            as_ = container.add_stream("aac", rate=AUDIO_RATE)
            as_.layout = "mono"
            audio_chunks = _audio_frames(sound, as_.codec_context.format.name)
        mux: Callable[[list[av.Packet]], None] = container.mux
        sample_pos = 0
        time_base = Fraction(1, fps)
        for i in range(scene.n):
            frame = av.VideoFrame.from_ndarray(scene.frame(i), format="yuv420p")
            frame.pts = i
            frame.time_base = time_base
            mux(vs.encode(frame))
            if as_ is not None and audio_chunks is not None:
                # keep the sound interleaved with the picture (one second of audio per second)
                target = (i + 1) * AUDIO_RATE // fps
                while sample_pos < target:
                    af = next(audio_chunks, None)
                    if af is None:
                        break
                    mux(as_.encode(af))
                    sample_pos += af.samples
        mux(vs.encode(None))
        if as_ is not None and audio_chunks is not None:
            for af in audio_chunks:
                mux(as_.encode(af))
            mux(as_.encode(None))
    finally:
        container.close()


def _audio_frames(sound: np.ndarray, fmt: str, chunk: int = 1024) -> Iterator[av.AudioFrame]:
    data = sound.astype(np.float32)
    if fmt == "s16":
        data = np.clip(data * 32767, -32768, 32767).astype(np.int16)
    for start in range(0, data.size, chunk):
        af = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(data[start : start + chunk].reshape(1, -1)),
            format=fmt,
            layout="mono",
        )
        af.sample_rate = AUDIO_RATE
        af.pts = start
        af.time_base = Fraction(1, AUDIO_RATE)
        yield af


# --------------------------------------------------------------------------------------------
# Cache


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class RenderCache:
    """Renders each distinct video once and keeps it in ``directory``.

    Thread-safe: concurrent :meth:`get` calls for one key render once (the others wait for it);
    different keys render in parallel. File names are a hash of the key, never the prompt.
    ``renders`` counts the renders this object actually performed.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.renders = 0
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def key(
        self,
        *,
        width: int,
        height: int,
        duration: float,
        fps: int,
        prompt: str,
        seed: int,
        audio: Path | str | None,
        watermark: bool = False,
    ) -> str:
        """The hex digest naming this render (audio files are keyed by their content)."""
        if audio is None or (isinstance(audio, str) and audio == "tone"):
            audio_key = audio
        else:
            audio_key = "sha256:" + _file_digest(Path(audio))
        blob = json.dumps(
            {
                "v": RENDER_VERSION,
                "w": width,
                "h": height,
                "frames": round(duration * fps),
                "fps": fps,
                "prompt": prompt,
                "seed": seed,
                "audio": audio_key,
                "watermark": bool(watermark),
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:40]

    def get(
        self,
        *,
        width: int,
        height: int,
        duration: float,
        fps: int,
        prompt: str,
        seed: int,
        audio: Path | str | None,
        watermark: bool = False,
    ) -> Path:
        """The cached MP4 for these arguments, rendering it first if needed."""
        key = self.key(
            width=width,
            height=height,
            duration=duration,
            fps=fps,
            prompt=prompt,
            seed=seed,
            audio=audio,
            watermark=watermark,
        )
        path = self.directory / f"{key}.mp4"
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            if not path.exists():
                render_video(
                    path,
                    width=width,
                    height=height,
                    duration=duration,
                    fps=fps,
                    prompt=prompt,
                    seed=seed,
                    audio=audio,
                    watermark=watermark,
                )
                with self._lock:
                    self.renders += 1
        return path
