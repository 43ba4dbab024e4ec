"""Inspect and verify MP4 files: probe, structural check, decode check, poster frames.

The client and store call :func:`verify_mp4` on every download before renaming it into place;
the notebook uses :func:`make_poster` for thumbnails. PyAV is optional: it is imported lazily,
and without it :func:`probe` falls back to :func:`probe_boxes`, a small pure-Python reader of
the MP4 box tree (``moov/mvhd/trak/tkhd/mdhd/hdlr/stsd/stts``).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from ._fsutil import atomic_write_bytes
from .mp4_boxes import _corrupt, check_boxes, probe_boxes
from .video_info import VideoInfo

__all__ = [
    "VideoInfo",
    "check_boxes",
    "is_pyav_available",
    "make_poster",
    "probe",
    "probe_boxes",
    "verify_mp4",
]


def is_pyav_available() -> bool:
    """True when PyAV (``av``) can be imported."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# With PyAV


def _probe_av(p: Path) -> VideoInfo:
    import av

    try:
        with av.open(str(p)) as c:
            if not c.streams.video:
                raise _corrupt(p.name, "no video stream")
            vs = c.streams.video[0]
            audio = c.streams.audio[0] if c.streams.audio else None
            rate = vs.average_rate or vs.guessed_rate or vs.base_rate
            if c.duration is not None:
                duration = c.duration / av.time_base
            elif vs.duration is not None:
                duration = float(vs.duration * vs.time_base)
            else:
                duration = 0.0
            return VideoInfo(
                width=vs.codec_context.width,
                height=vs.codec_context.height,
                fps=float(rate) if rate else 0.0,
                duration=duration,
                has_audio=audio is not None,
                video_codec=vs.codec_context.name,
                audio_codec=audio.codec_context.name if audio is not None else None,
            )
    except av.error.FFmpegError as exc:
        raise _corrupt(p.name, f"cannot be read as a video ({_av_reason(exc)})") from exc


def _av_reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc).split(": '")[0]


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Size, frame rate, duration and codecs of a video (PyAV if installed, else the boxes)."""
    p = Path(path)
    if is_pyav_available():
        return _probe_av(p)
    return probe_boxes(p)


def _decode_ends(p: Path, info: VideoInfo) -> None:
    """Decode the first frame and the frames of the last second; raise if they do not decode."""
    import av

    name = p.name
    try:
        with av.open(str(p)) as c:
            vs = c.streams.video[0]
            # FFmpeg's h264 decoder refuses damaged NAL units (zeroed or random bytes) with
            # InvalidDataError; err_detect=explode would also fail on harmless quirks, so no.
            first = next(c.decode(vs), None)
            if first is None:
                raise _corrupt(name, "no video frame decodes")
            frame_time = 1 / info.fps if info.fps else 0.1
            end = info.duration
            if vs.duration:  # the video track's own end (the audio may run a little longer)
                end = float(((vs.start_time or 0) + vs.duration) * vs.time_base)
            target = max(0.0, end - 1.0)
            c.seek(int(target / vs.time_base), stream=vs, backward=True)
            last = None
            for frame in c.decode(vs):
                last = frame
            if last is None or last.time is None:
                raise _corrupt(name, "the frames near the end do not decode")
            if last.time + 2.5 * frame_time < end:
                raise _corrupt(
                    name,
                    f"the last frame that decodes is at {last.time:.3f} s but the file says it "
                    f"lasts {end:.3f} s (damaged or truncated media data)",
                )
    except av.error.FFmpegError as exc:
        raise _corrupt(name, f"does not decode ({_av_reason(exc)})") from exc


def verify_mp4(
    path: str | os.PathLike[str], *, expected_size: int | None = None, decode: bool = True
) -> VideoInfo:
    """Prove a downloaded MP4 is complete: size, box structure, and (with PyAV) decoding.

    Returns the file's :class:`VideoInfo`; raises :class:`CorruptVideoError` naming the file
    and what is wrong.
    """
    p = Path(path)
    try:
        actual = p.stat().st_size
    except FileNotFoundError:
        raise _corrupt(p.name, "the file does not exist") from None
    if expected_size is not None and actual != expected_size:
        raise _corrupt(
            p.name,
            f"{actual} bytes on disk but {expected_size} expected "
            f"({'incomplete download' if actual < expected_size else 'extra data'})",
        )
    check_boxes(p)
    info = probe(p)
    if decode and is_pyav_available():
        _decode_ends(p, info)
    return info


def make_poster(
    video: str | os.PathLike[str],
    out_png: str | os.PathLike[str],
    *,
    at: float = 1.0,
    max_width: int = 640,
) -> Path | None:
    """Save the frame at ``at`` seconds (clamped to the video) as a PNG at most ``max_width``
    wide. Returns the PNG's path, or None when PyAV or Pillow is not installed."""
    try:
        import av
        from PIL import Image
    except ImportError:
        return None
    src, out = Path(video), Path(out_png)
    try:
        with av.open(str(src)) as c:
            vs = c.streams.video[0]
            duration = c.duration / av.time_base if c.duration else 0.0
            rate = float(vs.average_rate or vs.guessed_rate or 25)
            t = min(max(0.0, at), max(0.0, duration - 1.0 / rate))
            c.seek(int(t / vs.time_base), stream=vs, backward=True)
            chosen = None
            for frame in c.decode(vs):
                chosen = frame
                if frame.time is not None and frame.time >= t - 0.5 / rate:
                    break
            if chosen is None:
                raise _corrupt(src.name, "no video frame decodes")
            image = chosen.to_image()
    except av.error.FFmpegError as exc:
        raise _corrupt(src.name, f"does not decode ({_av_reason(exc)})") from exc
    if image.width > max_width:
        height = max(1, round(image.height * max_width / image.width))
        image = image.resize((max_width, height), Image.Resampling.LANCZOS)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    atomic_write_bytes(out, buf.getvalue())  # same permissions as any file the user writes
    return out
