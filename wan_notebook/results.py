"""``VideoResult``: a saved video with its provenance, and how it shows itself.

A result is a file on disk plus its sidecar; it displays as a ``<video>`` that references the
saved file (a tiny notebook) or, with ``embed=True``, carries the video as base64. A poster PNG
next to the video is used for static renderers that block ``<video>`` (GitHub).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .request import VideoRequest

__all__ = ["VideoResult"]


@dataclass(frozen=True)
class VideoResult:
    """A generated video saved on disk (``path``) with its sidecar ``metadata``."""

    path: Path
    task_id: str
    metadata: Mapping[str, Any]
    request: VideoRequest | None = None
    cached: bool = False
    sidecar: Path | None = None
    poster: Path | None = None
    _extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def prompt(self) -> str:
        """The prompt as submitted."""
        if self.request is not None:
            return self.request.prompt
        return str(self.metadata.get("request", {}).get("prompt", ""))

    @property
    def model(self) -> str:
        return str(self.metadata.get("model") or (self.request.model if self.request else ""))

    def _video(self) -> Mapping[str, Any]:
        return self.metadata.get("video") or {}

    @property
    def width(self) -> int | None:
        return self._video().get("width")

    @property
    def height(self) -> int | None:
        return self._video().get("height")

    @property
    def duration(self) -> float | None:
        return self._video().get("duration")

    @property
    def fps(self) -> float | None:
        return self._video().get("fps")

    @property
    def size_bytes(self) -> int:
        return int(self.metadata.get("file", {}).get("size") or self.path.stat().st_size)

    def video_html(self, *, embed: bool = False, width: int | None = None) -> str:
        """A ``<video>`` element: the saved file by reference, or embedded as base64."""
        from .notebook.render import video_html

        return video_html(
            self.path,
            poster=self.poster,
            embed=embed,
            width=width or min(self.width or 640, 640),
            label=self.prompt,
        )

    def __repr__(self) -> str:
        size = f"{self.width}x{self.height}" if self.width else "?"
        dur = f"{self.duration:.1f}s" if self.duration else "?"
        cached = ", cached" if self.cached else ""
        return f"VideoResult({self.path.name!r}, task_id={self.task_id!r}, {size}, {dur}{cached})"

    def _repr_html_(self) -> str:
        from .notebook.render import result_html

        return result_html(self)
