"""Frames of a saved video as PIL images (``VideoResult.frame`` / ``.last_frame``), by PyAV."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from .. import checks

__all__ = ["read_frame"]


def read_frame(path: str | Path, index: int = 0) -> Any:
    """Frame ``index`` of the video at ``path`` as an RGB ``PIL.Image`` (negative: from the
    end, ``-1`` is the last frame). An index past the end is a ValidationError."""
    import av

    if isinstance(index, bool) or not isinstance(index, int):
        raise checks.type_error("index", index, "an integer frame number (negative: from the end)")
    keep: deque[Any] = deque(maxlen=max(1, -index) if index < 0 else 1)
    seen = 0
    with av.open(str(path)) as box:
        for frame in box.decode(video=0):
            if index >= 0 and seen == index:
                return frame.to_image()
            if index < 0:
                keep.append(frame)
            seen += 1
    if index < 0 and len(keep) == -index:
        return keep[0].to_image()
    raise checks.fail(
        "index", index, f"is past the end of {Path(path).name} ({seen} frames)",
        f"use 0 to {seen - 1}, or -1 to -{seen}",
    )  # fmt: skip
