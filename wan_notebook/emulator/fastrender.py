"""Fast render mode for scale tests: tiny, still valid H.264 MP4s in a few milliseconds.

``Emulator(fast_render=True)`` (``--fast-render`` on the command line) renders every task's
video here instead of :mod:`.render`: a 64-pixel-wide frame of the request's aspect ratio, one
frame per second of the requested duration, coloured from the seed. The file is a real MP4
(H.264, faststart, a keyframe first) that ``media.verify_mp4`` decodes, so clients save and
verify it exactly as a full render; only pixels are spared, so thousands of tasks fit on two
cores. Renders are cached by their key like :class:`~.render.RenderCache` does.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

#: Width of a fast frame; the height keeps the request's aspect ratio (both even, >= 16).
FAST_WIDTH = 64
FAST_VERSION = 1


def fast_size(width: int, height: int) -> tuple[int, int]:
    """The tiny frame size for a ``width`` x ``height`` request (even, at least 16)."""
    h = max(16, round(FAST_WIDTH * height / max(width, 1) / 2) * 2)
    return FAST_WIDTH, h


def render_fast(out: Path, *, width: int, height: int, duration: float, seed: int) -> Path:
    """Write a tiny H.264 MP4 for this request to ``out`` (atomically)."""
    import av
    import numpy as np

    w, h = fast_size(width, height)
    frames = max(1, round(duration))
    colour = hashlib.sha256(str(seed).encode()).digest()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "faststart"}) as c:
            vs = c.add_stream("libx264", rate=1)
            vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
            vs.codec_context.thread_count = 1
            vs.options = {"preset": "ultrafast", "g": "1"}
            for i in range(frames):
                rgb = np.empty((h, w, 3), np.uint8)
                rgb[:] = [(colour[k] + 40 * i) % 256 for k in range(3)]
                rgb[: h // 2, : (i + 1) * w // frames] = 255  # a bar that grows: frames differ
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
                frame.pts, frame.time_base = i, Fraction(1, 1)
                c.mux(vs.encode(frame))
            c.mux(vs.encode(None))
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


class FastRenderCache:
    """Same interface as :class:`~.render.RenderCache`; renders with :func:`render_fast`."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.renders = 0
        self._lock = threading.Lock()

    def get(self, *, width: int, height: int, duration: float, seed: int, **_: Any) -> Path:
        """The cached tiny MP4 for this size, duration and seed (prompt and audio ignored)."""
        key = hashlib.sha256(
            f"fast{FAST_VERSION}:{width}x{height}:{duration}:{seed}".encode()
        ).hexdigest()[:40]
        path = self.directory / f"fast-{key}.mp4"
        if not path.exists():
            render_fast(path, width=width, height=height, duration=duration, seed=seed)
            with self._lock:
                self.renders += 1
        return path
