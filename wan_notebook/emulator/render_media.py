"""Videos that honour their image inputs (issue 14), so tests can check them by pixels.

Frame 0 is the first image scaled to the output size; with a last frame the video cross-fades
to it and its final frame is the last image; in between a disc moves across the picture and the
``SYNTHETIC`` label shows (both fade out towards the ends, so the end frames are the inputs).
The output keeps the first image's aspect ratio at the tier's pixel total (PROTOCOL 16.1).
Encoding, sound and the label font are :mod:`.render`'s, so files look and play alike.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw

from .. import catalog
from ..catalog.media_rows import TIER_PIXELS
from .render import (
    AUDIO_RATE,
    LABEL,
    _decode_audio,
    _encode,
    _file_digest,
    _tone,
)
from .render_text import _TEXT_LOCK, _font

__all__ = ["MEDIA_RENDER_VERSION", "render_media_cached", "render_with_images"]

#: Bump when the picture changes, so cached renders are not reused.
MEDIA_RENDER_VERSION = 1
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _placeholder() -> Image.Image:
    """What stands in for an image URL off this machine (the emulator never reaches out)."""
    img = Image.new("RGB", (1280, 720), (90, 90, 100))
    ImageDraw.Draw(img).text((40, 40), "remote image (not fetched by the emulator)")
    return img


def _load(src: str, fetch: Callable[[str], bytes | None]) -> Image.Image:
    if src.lower().startswith(("http://", "https://")):
        data = fetch(src)
        if data is None:
            return _placeholder()
        with Image.open(io.BytesIO(data)) as img:
            return img.convert("RGB")
    with Image.open(src) as img:
        return img.convert("RGB")


class _ImageScene:
    """The duck type :func:`.render._encode` draws from: ``w``, ``h``, ``n``, ``frame(i)``."""

    def __init__(self, first: Image.Image, last: Image.Image | None, w: int, h: int, n: int):
        self.w, self.h, self.n = w, h, n
        self.a = np.asarray(first.resize((w, h), Image.Resampling.LANCZOS), np.uint8)
        self.b = None
        if last is not None:
            self.b = np.asarray(last.resize((w, h), Image.Resampling.LANCZOS), np.uint8)
        small = min(w, h)
        self.r = max(6, small // 12)
        with _TEXT_LOCK:  # render's fonts are shared between threads
            font = _font("sans", max(10, small // 34))
            size = (int(font.getlength(LABEL)) + 16, small // 34 + 16)
            box = Image.new("RGBA", size, (0, 0, 0, 150))
            ImageDraw.Draw(box).text((8, 6), LABEL, font=font, fill=(255, 255, 255, 255))
        self.label = np.asarray(box, np.float32)

    def rgb(self, i: int) -> np.ndarray:
        """Frame ``i`` as an RGB array."""
        t = i / (self.n - 1) if self.n > 1 else 0.0
        if self.b is not None and t > 0:
            k = round(256 * t * t * (3 - 2 * t))  # smoothstep, integer weights
            a, b = self.a.astype(np.uint16), self.b.astype(np.uint16)
            frame = ((a * (256 - k) + b * k) >> 8).astype(np.uint8)
        else:
            frame = self.a.copy()
        fade = math.sin(math.pi * t)  # 0 at both ends: the end frames are the inputs
        if fade > 0.02:
            self._disc(frame, t, 0.85 * fade)
            lab = self.label
            lh, lw = min(lab.shape[0], self.h), min(lab.shape[1], self.w)
            alpha = lab[:lh, :lw, 3:4] / 255.0 * fade
            region = frame[:lh, :lw].astype(np.float32)
            frame[:lh, :lw] = (region * (1 - alpha) + lab[:lh, :lw, :3] * alpha).astype(np.uint8)
        return frame

    def _disc(self, frame: np.ndarray, t: float, alpha: float) -> None:
        r, w, h = self.r, self.w, self.h
        cx = int(r + (w - 2 * r) * t)
        cy = int(h / 2 + (h / 2 - r) * 0.6 * math.sin(2 * math.pi * t))
        x0, x1, y0, y1 = max(0, cx - r), min(w, cx + r), max(0, cy - r), min(h, cy + r)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        inside = ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r)[..., None] * alpha
        region = frame[y0:y1, x0:x1].astype(np.float32)
        frame[y0:y1, x0:x1] = (region * (1 - inside) + np.array([250, 210, 60]) * inside).astype(
            np.uint8
        )

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as a yuv420p buffer (BT.601, as :mod:`.render` tags its streams)."""
        vf = av.VideoFrame.from_ndarray(self.rgb(i), format="rgb24")
        return vf.reformat(format="yuv420p").to_ndarray()


def _last_frame_of(path: str) -> Image.Image:
    with av.open(path) as box:
        last = None
        for frame in box.decode(video=0):
            last = frame
    if last is None:
        raise ValueError(f"{path}: no video frames")
    return last.to_image()


def _clip_size(path: str) -> tuple[int, int]:
    with av.open(path) as box:
        vs = box.streams.video[0]
        return vs.width, vs.height


class _ClipThenScene:
    """The clip's frames (scaled to the output size), then ``rest`` for the remaining frames:
    the continuation's first frame is the clip's last. Frames are decoded as they are drawn."""

    def __init__(self, clip: str, rest: _ImageScene) -> None:
        self.w, self.h, self.n = rest.w, rest.h, rest.n
        with av.open(clip) as box:
            clip_n = sum(1 for _ in box.decode(video=0))
        self.clip_n = min(clip_n, max(0, self.n - 1))
        rest.n = self.n - self.clip_n + 1  # the continuation's frame 0 repeats the clip's last
        self.rest = rest
        self._box = av.open(clip)
        self._frames = self._box.decode(video=0)

    def frame(self, i: int) -> np.ndarray:
        if i < self.clip_n:
            f = next(self._frames).reformat(width=self.w, height=self.h, format="yuv420p")
            if i == self.clip_n - 1:
                self._box.close()
            return f.to_ndarray()
        return self.rest.frame(i - self.clip_n + 1)


def render_with_images(
    out: Path,
    *,
    first: Image.Image,
    last: Image.Image | None,
    width: int,
    height: int,
    duration: float,
    fps: int,
    seed: int,
    audio: Path | str | None,
    clip: str | None = None,
) -> Path:
    """Render an MP4 of ``width`` x ``height`` whose end frames are the given images.

    With a ``clip`` (wan2.7 ``first_clip``) the video is the clip, then a continuation from
    its last frame (``first``); ``duration`` is the total length, the clip included."""
    n = max(1, round(duration * fps))
    sound = None
    n_samples = round(n * AUDIO_RATE / fps)
    if isinstance(audio, str) and audio == "tone":
        sound = _tone(seed, n_samples)
    elif audio is not None:
        sound = _decode_audio(Path(audio), n_samples)
    scene: Any = _ImageScene(first, last, width, height, n)
    if clip is not None:
        scene = _ClipThenScene(clip, scene)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    os.close(fd)
    try:
        _encode(Path(tmp), scene, fps, sound)  # type: ignore[arg-type]
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def _reference_picture(src: str, fetch: Callable[[str], bytes | None]) -> Image.Image:
    """An image reference, or the first frame of a video reference."""
    try:
        return _load(src, fetch)
    except (OSError, ValueError):
        with av.open(src) as box:
            return next(box.decode(video=0)).to_image()


def _with_collage(
    job: Any, refs: list[str], fetch: Callable[[str], bytes | None], directory: Path
) -> Any:
    """The job with one ``image`` input: every reference, fitted side by side in the frame, so
    each visibly appears in the video (the picture is kept in the render cache folder)."""
    import dataclasses

    w, h = job.width, job.height
    canvas = Image.new("RGB", (w, h), (24, 24, 28))
    cell = w // len(refs)
    for i, src in enumerate(refs):
        pic = _reference_picture(src, fetch)
        pic.thumbnail((cell - 8, h - 8))
        canvas.paste(pic, (i * cell + (cell - pic.width) // 2, (h - pic.height) // 2))
    name = hashlib.sha256(canvas.tobytes()).hexdigest()[:40]
    path = Path(directory) / f"collage-{name}.png"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        canvas.save(path)
    first = [m for m in job.media if m[0] == "image"]  # wan2.7-r2v: a first frame, then them
    media = (*first, ("last_frame", str(path))) if first else (("image", str(path)),)
    return dataclasses.replace(job, media=media, resolution="")


def render_media_cached(
    directory: Path, job: Any, audio: Path | str | None, fetch: Callable[[str], bytes | None]
) -> Path:
    """The MP4 for a :class:`~.rendering.RenderJob` with media, rendered once per content."""
    edit = dict(job.media).get("video")
    if edit is not None:  # wan2.7-videoedit
        return _render_edit_cached(Path(directory), job, edit, audio, fetch)
    refs = [src for role, src in job.media if role == "references"]
    if refs:  # r2v: the references side by side, the size as asked (PROTOCOL 16.3)
        job = _with_collage(job, refs, fetch, directory)
    roles = dict(job.media)
    clip = roles.get("first_clip")
    if clip is not None and clip.lower().startswith(("http://", "https://")):
        clip = None  # a remote clip is not fetched: the continuation starts from a placeholder
    first = _last_frame_of(clip) if clip else _load(roles.get("image", "http:"), fetch)
    last = _load(roles["last_frame"], fetch) if "last_frame" in roles else None
    shape = _clip_size(clip) if clip else first.size
    if job.resolution in TIER_PIXELS:
        width, height = catalog.pixels_for_image(job.resolution, *shape)
    else:
        width, height = job.width, job.height
    digests = [hashlib.sha256(img.tobytes()).hexdigest() for img in (first, last) if img]
    if clip:
        digests.append(_file_digest(Path(clip)))
    audio_key = audio if audio is None or audio == "tone" else _file_digest(Path(audio))
    blob = json.dumps(
        [MEDIA_RENDER_VERSION, width, height, job.duration, job.fps, job.seed, audio_key, digests]
    )
    key = hashlib.sha256(blob.encode()).hexdigest()[:40]
    path = Path(directory) / f"m-{key}.mp4"
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        if not path.exists():
            render_with_images(
                path, first=first, last=last, width=width, height=height,
                duration=job.duration, fps=job.fps, seed=job.seed, audio=audio, clip=clip,
            )  # fmt: skip
    return path


#: How an edited clip is visibly derived from its input: each frame tinted (cool) per channel.
EDIT_TINT = (0.55, 0.8, 1.25)


class _EditScene:
    """wan2.7-videoedit: the input clip's frames (scaled, tinted by :data:`EDIT_TINT`), the
    reference images small in the top-right corner; ``n`` frames cut from second 0 (the last
    input frame held if the clip is shorter)."""

    def __init__(self, clip: str, refs: list[Image.Image], w: int, h: int, n: int) -> None:
        self.w, self.h, self.n = w, h, n
        self._box = av.open(clip)
        self._frames = self._box.decode(video=0)
        self._last: np.ndarray | None = None
        self.tint = np.array(EDIT_TINT, np.float32)
        side = max(16, min(w, h) // 5)
        self.thumbs = []
        for pic in refs:
            small = pic.copy()
            small.thumbnail((side, side))
            self.thumbs.append(np.asarray(small, np.uint8))

    def rgb(self, i: int) -> np.ndarray:
        frame = next(self._frames, None)
        if frame is None:
            self._box.close()
        else:
            img = frame.reformat(width=self.w, height=self.h, format="rgb24").to_ndarray()
            self._last = np.clip(img.astype(np.float32) * self.tint, 0, 255).astype(np.uint8)
        assert self._last is not None, "the input clip has no frames"
        out = self._last.copy()
        x = self.w
        for thumb in self.thumbs:
            th, tw = thumb.shape[:2]
            x -= tw + 8
            if x < 0:
                break
            out[8 : 8 + th, x : x + tw] = thumb
        return out

    def frame(self, i: int) -> np.ndarray:
        vf = av.VideoFrame.from_ndarray(self.rgb(i), format="rgb24")
        return vf.reformat(format="yuv420p").to_ndarray()


def _render_edit_cached(
    directory: Path, job: Any, clip: str, audio: Path | str | None, fetch: Callable[..., Any]
) -> Path:
    refs = [_load(src, fetch) for role, src in job.media if role == "references"]
    digests = [_file_digest(Path(clip))] + [hashlib.sha256(r.tobytes()).hexdigest() for r in refs]
    audio_key = audio if audio is None or audio == "tone" else _file_digest(Path(audio))
    blob = json.dumps(["edit", MEDIA_RENDER_VERSION, job.width, job.height, job.duration,
                       job.fps, job.seed, audio_key, digests])  # fmt: skip
    path = directory / f"e-{hashlib.sha256(blob.encode()).hexdigest()[:40]}.mp4"
    with _locks_guard:
        lock = _locks.setdefault(path.name, threading.Lock())
    with lock:
        if not path.exists():
            n = max(1, round(job.duration * job.fps))
            sound = None
            if audio is not None:
                samples = round(n * AUDIO_RATE / job.fps)
                sound = (
                    _tone(job.seed, samples)
                    if audio == "tone"
                    else _decode_audio(Path(audio), samples)
                )
            scene = _EditScene(clip, refs, job.width, job.height, n)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
            os.close(fd)
            try:
                _encode(Path(tmp), scene, job.fps, sound)  # type: ignore[arg-type]
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
    return path
