"""VideoInfo: what a video file holds, as both MP4 probes (PyAV and the box reader) report it.

Its own module so :mod:`.mp4_boxes` and :mod:`.media` share it without importing each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["VideoInfo"]


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds. ``duration`` is the container's, in seconds."""

    width: int
    height: int
    fps: float
    duration: float
    has_audio: bool
    video_codec: str
    audio_codec: str | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for sidecar files and reprs)."""
        return asdict(self)
