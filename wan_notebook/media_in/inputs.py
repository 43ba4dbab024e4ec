"""One media input, whatever it came as: :class:`MediaInput` and :func:`coerce`.

A path, a ``file://`` URL, an http(s) or ``oss://`` URL, a ``data:`` URI, bytes, a PIL image,
a NumPy ``H x W x 3`` uint8 array, an ``ipywidgets.FileUpload`` value or (for clips) a
``VideoResult`` all become a :class:`MediaInput`: its bytes, MIME type, sha256, pixel size or
duration, and its role. Local content is identified by its sha256, never by its path, so the
same picture from another folder is the same input. A remote URL the service fetches itself is
identified by the URL (its bytes are never downloaded here).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .. import checks
from ..errors import ValidationError

__all__ = ["ACCEPTED", "MediaInput", "coerce", "is_remote"]

ACCEPTED = (
    "a path, an http(s):// or oss:// URL, a data: URI, bytes, a PIL image, a NumPy H x W x 3 "
    "uint8 array or an ipywidgets.FileUpload value"
)
_REMOTE = ("http://", "https://", "oss://")
_IMAGE_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "BMP": "image/bmp", "WEBP": "image/webp"}
_EXT = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/bmp": ".bmp", "image/webp": ".webp",
    "video/mp4": ".mp4", "video/quicktime": ".mov", "audio/wav": ".wav", "audio/mpeg": ".mp3",
}  # fmt: skip
#: How large a thumbnail in a sidecar is (longest side, px).
THUMB_SIDE = 64


def is_remote(value: str) -> bool:
    """True for URLs the service fetches itself (http(s), ``oss://``)."""
    return value.lower().startswith(_REMOTE)


@dataclass(frozen=True)
class MediaInput:
    """A media input with what validation, the cache key and the upload need."""

    role: str
    kind: str  # image | video | audio | remote
    sha256: str
    size: int
    mime: str
    #: A display name (the file's base name); not part of equality or the key.
    name: str = field(compare=False)
    width: int | None = None
    height: int | None = None
    seconds: float | None = None
    #: The URL for a remote input (then ``data`` is empty and ``sha256`` is of the URL).
    url: str | None = None
    #: PNG with an alpha channel (refused by the service: PROTOCOL 16.1).
    alpha: bool = False
    data: bytes = field(default=b"", repr=False, compare=False)
    #: A small JPEG data URI of an image (for sidecars; not part of the cache key).
    thumb: str | None = field(default=None, repr=False, compare=False)
    #: The position in a list input (``references=[...]``; the prompt's character1 is 0).
    index: int | None = None

    @property
    def slot(self) -> str:
        """Where its URL goes: the role, or ``role[index]`` for an item of a list."""
        return self.role if self.index is None else f"{self.role}[{self.index}]"

    @property
    def extension(self) -> str:
        return _EXT.get(self.mime, Path(self.name).suffix.lower() or ".bin")

    @property
    def upload_name(self) -> str:
        """A content-addressed file name for the temporary upload."""
        return self.sha256[:32] + self.extension

    def record(self) -> dict[str, Any]:
        """:meth:`key` plus what a sidecar shows: pixel size, duration, thumbnail."""
        out = self.key()
        for name in ("width", "height", "seconds", "thumb"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    def key(self) -> dict[str, Any]:
        """What identifies this input in a request's cache key: role plus content digest."""
        out: dict[str, Any] = {"role": self.role}
        if self.index is not None:
            out["index"] = self.index
        if self.url is not None:
            return {**out, "url": self.url}
        return {**out, "sha256": self.sha256, "size": self.size, "mime": self.mime}

    def data_uri(self) -> str:
        """``data:{mime};base64,...`` (PROTOCOL 17.1)."""
        return f"data:{self.mime};base64," + base64.b64encode(self.data).decode("ascii")

    def image(self) -> Any:
        """The picture as an RGB ``PIL.Image`` (image inputs only)."""
        from PIL import Image

        with Image.open(io.BytesIO(self.data)) as img:
            return img.convert("RGB")


def _bytes_of_upload_value(value: Any) -> tuple[bytes, str] | None:
    """The content and name of an ``ipywidgets.FileUpload`` value (v8 tuple, v7 dict)."""
    items: list[Any]
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, dict) for v in value):
        items = list(value)
    elif isinstance(value, dict) and "content" in value:
        items = [value]
    elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        items = [{"name": k, **v} for k, v in value.items()]  # ipywidgets 7
    else:
        return None
    if len(items) != 1 or "content" not in items[0]:
        return None
    item = items[0]
    return bytes(item["content"]), str(item.get("name") or (item.get("metadata") or {}).get("name"))


#: zlib level of the PNG made from a PIL image or an array: 1 encodes several times faster
#: than the default 6 for a few per cent more bytes (measured in benchmarks/inputs.py).
PNG_LEVEL = 1


def _png_of(img: Any) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="PNG", compress_level=PNG_LEVEL)
    return buf.getvalue()


def _local_bytes(value: Any, param: str) -> tuple[bytes, str] | str:
    """``(bytes, name)`` for local content, or the URL string for a remote input."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise checks.fail(param, value, "is empty", ACCEPTED)
        if is_remote(text):
            return text
        if text.lower().startswith("data:"):
            head, _, payload = text.partition(",")
            if ";base64" not in head.lower():
                raise checks.fail(param, value, "is a data: URI without ;base64", ACCEPTED)
            try:
                return base64.b64decode(payload, validate=True), "inline"
            except (binascii.Error, ValueError):
                raise checks.fail(param, value, "is not valid base64", ACCEPTED) from None
        raw = unquote(urlsplit(text).path) if text.lower().startswith("file://") else text
        path = Path(raw).expanduser()
        if not path.is_file():
            raise checks.fail(param, value, "is neither a URL nor an existing file", ACCEPTED)
        return path.read_bytes(), path.name
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), "bytes"
    got = _bytes_of_upload_value(value)
    if got is not None:
        return got
    if hasattr(value, "save") and hasattr(value, "mode") and hasattr(value, "size"):  # PIL
        return _png_of(value), "image.png"
    if type(value).__name__ == "ndarray":
        return _png_of(_array_image(value, param)), "array.png"
    if hasattr(value, "path") and hasattr(value, "task_id") and hasattr(value, "metadata"):
        return Path(value.path).read_bytes(), Path(value.path).name  # a VideoResult
    raise checks.type_error(param, value, ACCEPTED)


def _array_image(value: Any, param: str) -> Any:
    from PIL import Image

    shape, dtype = getattr(value, "shape", ()), str(getattr(value, "dtype", ""))
    if len(shape) != 3 or shape[2] != 3 or dtype != "uint8":
        raise checks.fail(
            param, f"array{tuple(shape)} {dtype}", "is not an H x W x 3 uint8 array",
            "an RGB array of shape (height, width, 3) and dtype uint8",
        )  # fmt: skip
    return Image.fromarray(value, "RGB")


def _sniff_image(data: bytes) -> dict[str, Any] | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or ""
            alpha = img.mode in ("RGBA", "LA", "PA") or (
                img.mode == "P" and "transparency" in img.info
            )
            return {
                "kind": "image", "mime": _IMAGE_MIME.get(fmt, f"image/{fmt.lower()}"),
                "width": img.width, "height": img.height, "alpha": alpha and fmt == "PNG",
            }  # fmt: skip
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


def _sniff_av(data: bytes) -> dict[str, Any] | None:
    """Video or audio: container, duration and (video) pixel size, read by PyAV."""
    try:
        import av
    except ImportError:  # pragma: no cover - the emulator extra brings PyAV
        return None
    try:
        with av.open(io.BytesIO(data)) as box:
            names = set(box.format.name.split(","))
            seconds = float(box.duration / 1_000_000) if box.duration else None
            if box.streams.video:
                vs = box.streams.video[0]
                mime = "video/quicktime" if "mov" in names and "mp4" not in names else "video/mp4"
                return {
                    "kind": "video", "mime": mime, "width": vs.width, "height": vs.height,
                    "seconds": seconds,
                }  # fmt: skip
            if box.streams.audio:
                mime = "audio/mpeg" if "mp3" in names else "audio/wav"
                if not names & {"mp3", "wav"}:
                    mime = "audio/" + sorted(names)[0]
                return {"kind": "audio", "mime": mime, "seconds": seconds}
    except (av.error.FFmpegError, ValueError, OSError):
        return None
    return None


def coerce(value: Any, role: str, param: str | None = None) -> MediaInput:
    """A :class:`MediaInput` for ``value`` in ``role``; a clear error names ``param``."""
    if isinstance(value, MediaInput):
        return value if value.role == role else _with_role(value, role)
    param = param or role
    got = _local_bytes(value, param)
    if isinstance(got, str):
        digest = hashlib.sha256(got.encode()).hexdigest()
        return MediaInput(role, "remote", digest, 0, "", got.rsplit("/", 1)[-1], url=got)
    data, name = got
    if not data:
        raise checks.fail(param, name, "is empty (0 bytes)", ACCEPTED)
    info = _sniff_image(data) or _sniff_av(data)
    if info is None:
        raise ValidationError(
            f"{param} {name!r} is not an image, video or audio file this library can read",
            param=param,
            value=name,
            allowed="JPEG/PNG/BMP/WEBP images, MP4/MOV videos, WAV/MP3 audio",
        )
    return MediaInput(
        role=role,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        name=name,
        data=data,
        thumb=_thumbnail(data) if info["kind"] == "image" else None,
        **info,
    )


def _thumbnail(data: bytes) -> str | None:
    """A small JPEG data URI of an image (for sidecars)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", (THUMB_SIDE * 2, THUMB_SIDE * 2))  # JPEG: decode at a fraction
            img.thumbnail((THUMB_SIDE, THUMB_SIDE), reducing_gap=2.0)  # box-reduce first
            small = img.convert("RGB")
    except (OSError, ValueError):
        return None
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _with_role(inp: MediaInput, role: str) -> MediaInput:
    return replace(inp, role=role)
