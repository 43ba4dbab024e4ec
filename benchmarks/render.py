"""How long the emulator takes to render a synthetic video, per size.

Baseline, measured in the same run: x264 alone encoding the same number of flat frames with
the same settings (no drawing, no audio), so the renderer's own cost is the difference.

    python benchmarks/render.py [--seconds 5] [--fps 30] [--repeat 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from wan_notebook.emulator import render

SIZES = ((832, 480), (1280, 720), (1920, 1080))
PROMPT = (
    "A cat in a spacesuit walks slowly across the surface of the moon, Earth rising behind "
    "it, cinematic lighting, 35 mm film grain"
)


def baseline(path: Path, width: int, height: int, frames: int, fps: int) -> float:
    """Seconds for x264 to encode ``frames`` flat yuv420p frames with the renderer's settings."""
    buf = np.full((height * 3 // 2, width), 128, np.uint8)
    start = time.perf_counter()
    with av.open(str(path), "w", format="mp4") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.codec_context.thread_count = render.X264_THREADS
        vs.options = {
            "preset": render.x264_preset(width, height),
            "g": str(fps),
            "x264-params": render.X264_PARAMS,
        }
        for i in range(frames):
            buf[:height, :] = (i * 3) % 200 + 16  # change every frame so nothing is skipped
            frame = av.VideoFrame.from_ndarray(buf, format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            c.mux(vs.encode(frame))
        c.mux(vs.encode(None))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=2, help="best of N")
    args = parser.parse_args()
    frames = round(args.seconds * args.fps)
    print(
        f"{args.seconds:g} s at {args.fps} fps ({frames} frames), x264 presets "
        f"{render.X264_PRESET} up to 720p, {render.FAST_PRESET} above"
    )
    print(f"{'size':>10} {'baseline s':>11} {'render s':>9} {'+tone s':>8} {'MiB':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for w, h in SIZES:
            base = min(baseline(d / "b.mp4", w, h, frames, args.fps) for _ in range(args.repeat))
            times = {}
            for audio in (None, "tone"):
                best = float("inf")
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    out = render.render_video(
                        d / "v.mp4",
                        width=w,
                        height=h,
                        duration=args.seconds,
                        fps=args.fps,
                        prompt=PROMPT,
                        seed=42,
                        audio=audio,
                        watermark=True,
                    )
                    best = min(best, time.perf_counter() - t0)
                times[audio] = best
            mib = out.stat().st_size / 2**20
            print(f"{w}*{h:<5} {base:11.2f} {times[None]:9.2f} {times['tone']:8.2f} {mib:6.2f}")


if __name__ == "__main__":
    main()
