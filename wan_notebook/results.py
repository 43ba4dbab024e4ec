"""``VideoResult``: a saved video with its provenance, and how it shows itself.

A result is a file on disk plus its sidecar; it displays as a ``<video>`` that references the
saved file (a tiny notebook) or, with ``embed=True``, carries the video as base64. A poster PNG
next to the video is used for static renderers that block ``<video>`` (GitHub).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError, ValidationError

if TYPE_CHECKING:
    from .request import VideoRequest

__all__ = ["VideoResult"]

#: What :meth:`VideoResult.extend` generates with: installed by :mod:`wan_notebook.api` when it
#: is imported (this module cannot import the API: the API imports it, via the jobs).
_generate: Callable[..., VideoResult] | None = None
#: The continuation model when the clip's own model takes no image.
DEFAULT_EXTEND_MODEL = "wan2.6-i2v"


def _takes_clip(model: Any) -> bool:
    from . import catalog

    try:
        row = catalog.get_model(model)
    except (KeyError, TypeError):
        return False
    return any(r.role == "first_clip" for r in catalog.input_rules(row))


def _continuation_model(model: str) -> str:
    from . import catalog

    try:
        row = catalog.get_model(model)
    except KeyError:
        return DEFAULT_EXTEND_MODEL
    continues = {(r.role, r.field) for r in catalog.input_rules(row)}
    takes = ("image", "img_url") in continues or ("first_clip", "first_clip") in continues
    return row.id if takes else DEFAULT_EXTEND_MODEL


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

    # -- images and clips out, for the next request in (issue 14)

    def frame(self, index: int) -> Any:
        """Frame ``index`` of the video as an RGB ``PIL.Image`` (-1: the last frame)."""
        from .media_in.frames import read_frame

        return read_frame(self.path, index)

    def last_frame(self) -> Any:
        """The last frame as an RGB ``PIL.Image`` (the first frame of a continuation)."""
        return self.frame(-1)

    def extend(self, prompt: str, **kwargs: Any) -> VideoResult:
        """Continue this clip: a new video whose first frame is this one's last frame.

        Takes the keywords of :func:`wan_notebook.generate` (``model``, ``duration``,
        ``output_dir``, ``api_key``, ``base_url``, ...). ``model`` defaults to this video's
        model when it is an image-to-video model, else ``wan2.6-i2v``; ``output_dir`` to this
        video's folder. wan2.7-i2v gets the clip as its ``first_clip`` (``duration`` is then
        the total length, the clip included); other models its last frame as ``image``.
        """
        if _generate is None:
            raise ConfigurationError(
                "VideoResult.extend needs wan_notebook.api; import wan_notebook.api (or use "
                "wan_notebook.generate) first"
            )
        if "image" in kwargs:
            raise ValidationError(
                "extend() takes its first frame from the clip; use generate(image=...) to start "
                "from another picture", param="image", value="...", allowed="leave it unset",
            )  # fmt: skip
        model = kwargs.setdefault("model", _continuation_model(self.model))
        kwargs.setdefault("output_dir", self.path.parent)
        if _takes_clip(model):  # wan2.7-i2v: the clip itself is the first_clip
            return _generate(prompt, first_clip=self, **kwargs)
        return _generate(prompt, image=self.last_frame(), **kwargs)

    def __repr__(self) -> str:
        size = f"{self.width}x{self.height}" if self.width else "?"
        dur = f"{self.duration:.1f}s" if self.duration else "?"
        cached = ", cached" if self.cached else ""
        return f"VideoResult({self.path.name!r}, task_id={self.task_id!r}, {size}, {dur}{cached})"

    def _repr_html_(self) -> str:
        from .notebook.render import result_html

        return result_html(self)
