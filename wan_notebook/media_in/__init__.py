"""Images and clips in (issue 14): one way to pass media to every entry point.

- :mod:`.inputs`: :class:`MediaInput` and :func:`coerce` (path, URL, bytes, PIL, NumPy, ...)
- :mod:`.validate`: the catalog's limits per model, checked before any network call
- :mod:`.uploads`: ``data:`` URIs, temporary ``oss://`` uploads and their reuse
- :mod:`.body`: the create body of an image-to-video request
"""

from __future__ import annotations

from .inputs import ACCEPTED, MediaInput, coerce, is_remote
from .uploads import INLINE_MAX_BYTES, UploadMemory, aprepare, prepare
from .validate import MEDIA_PARAMS, check_input, media_for

__all__ = [
    "ACCEPTED",
    "INLINE_MAX_BYTES",
    "MEDIA_PARAMS",
    "MediaInput",
    "UploadMemory",
    "aprepare",
    "check_input",
    "coerce",
    "is_remote",
    "media_for",
    "prepare",
]
