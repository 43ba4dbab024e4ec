"""Fonts, YUV 4:2:0 alpha layers and text drawing for the emulator's synthetic renders.

Split from :mod:`.render` so the picture and encoder code stays short; :mod:`.render` and
:mod:`.render_media` draw all their text and overlays with these helpers.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FontT = ImageFont.FreeTypeFont | ImageFont.ImageFont
#: Cached fonts are shared between render threads; all text is drawn while holding this.
_TEXT_LOCK = threading.Lock()


# --------------------------------------------------------------------------------------------
# Fonts


_SANS = ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf", "FreeSansBold.ttf")
_MONO = ("DejaVuSansMono-Bold.ttf", "LiberationMono-Bold.ttf", "FreeMonoBold.ttf")
_CJK = (
    "NotoSansCJK-Bold.ttc",
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJKsc-Regular.otf",
    "NotoSansSC-Regular.otf",
    "SourceHanSansSC-Regular.otf",
    "wqy-zenhei.ttc",
    "wqy-microhei.ttc",
    "DroidSansFallbackFull.ttf",
    "DroidSansFallback.ttf",
)


def _try_truetype(name: str, size: int) -> ImageFont.FreeTypeFont | None:
    try:
        return ImageFont.truetype(name, size)  # Pillow also searches the system font folders
    except OSError:
        return None


@lru_cache(maxsize=1)
def _cjk_font_file() -> str | None:
    """A font file with Chinese glyphs, from fontconfig or well-known names; None if none."""
    candidates: list[str] = []
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(
                ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10
            ).stdout
            candidates += sorted(line.split(":")[0].strip() for line in out.splitlines() if line)
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += list(_CJK)
    for name in candidates:
        font = _try_truetype(name, 24)
        if font is not None and _has_glyphs(font, "生成"):
            return name
    return None


def _mask(font: FontT, text: str) -> np.ndarray:
    img = Image.new("L", (4 * 64, 2 * 64))
    ImageDraw.Draw(img).text((8, 8), text, fill=255, font=font)
    return np.asarray(img)


def _has_glyphs(font: FontT, text: str) -> bool:
    """True when no character of ``text`` renders as the font's missing-glyph box."""
    notdef = _mask(font, "\U0010fffd")
    for ch in set(text):
        if ch.isspace():
            continue
        m = _mask(font, ch)
        if not m.any() or np.array_equal(m, notdef):
            return False
    return True


@lru_cache(maxsize=64)
def _font(kind: str, size: int) -> FontT:
    """A font of ``kind`` ("sans", "mono" or "cjk") at ``size`` px, falling back gracefully."""
    names: tuple[str, ...] = {"sans": _SANS, "mono": _MONO, "cjk": ()}[kind]
    if kind == "cjk":
        found = _cjk_font_file()
        names = (found,) if found else _SANS
    for name in names:
        font = _try_truetype(name, size)
        if font is not None:
            return font
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: a fixed bitmap font
        return ImageFont.load_default()


def _needs_cjk(text: str) -> bool:
    return any(ord(ch) >= 0x2E80 for ch in text)


def _caption_font(text: str, size: int) -> FontT:
    if _needs_cjk(text) and _cjk_font_file():
        return _font("cjk", size)
    return _font("sans", size)


# --------------------------------------------------------------------------------------------
# Colour and layers


def _rgb_to_yuv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 limited-range Y, U, V (float32, full resolution) of an RGB array (..., 3)."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 16.0 + 0.256788 * r + 0.504129 * g + 0.097906 * b
    u = 128.0 - 0.148223 * r - 0.290993 * g + 0.439216 * b
    v = 128.0 + 0.439216 * r - 0.367788 * g - 0.071427 * b
    return y, u, v


def _half(a: np.ndarray) -> np.ndarray:
    """2x2 box average (the 4:2:0 chroma grid)."""
    return (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) * 0.25


@dataclass
class _Planes:
    """Writable views of one yuv420p frame buffer."""

    buf: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    @classmethod
    def new(cls, width: int, height: int) -> _Planes:
        buf = np.zeros((height * 3 // 2, width), np.uint8)
        flat = buf.reshape(-1)
        n, q = width * height, (width // 2) * (height // 2)
        return cls(
            buf,
            buf[:height],
            flat[n : n + q].reshape(height // 2, width // 2),
            flat[n + q : n + 2 * q].reshape(height // 2, width // 2),
        )


@dataclass
class _Layer:
    """A picture with alpha, stored premultiplied in YUV 4:2:0 for cheap integer blending.

    ``out = (bg * inv + pre) >> 8`` with ``inv = 256 - alpha`` and ``pre = alpha * fg + 128``,
    all in uint16 (the maxima sum to 65408, so nothing overflows).
    """

    inv_y: np.ndarray
    pre_y: np.ndarray
    inv_c: np.ndarray
    pre_u: np.ndarray
    pre_v: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.inv_y.shape
        return w, h

    @classmethod
    def from_rgba(cls, img: Image.Image) -> _Layer:
        arr = np.asarray(img.convert("RGBA"), dtype=np.float32)
        h, w = arr.shape[:2]
        if h % 2 or w % 2:
            arr = np.pad(arr, ((0, h % 2), (0, w % 2), (0, 0)))
        a = arr[..., 3] / 255.0
        y, u, v = _rgb_to_yuv(arr[..., :3])
        return cls._build(a, y, _half(a), _half(a * u), _half(a * v))

    @classmethod
    def from_alpha(cls, alpha: np.ndarray, rgb: tuple[int, int, int]) -> _Layer:
        """A flat colour shown through an 8-bit alpha mask (even dimensions)."""
        a = alpha.astype(np.float32) / 255.0
        y, u, v = (float(c) for c in _rgb_to_yuv(np.array(rgb, np.float32)))
        ac = _half(a)
        return cls._build(a, np.full_like(a, y), ac, ac * u, ac * v)

    @classmethod
    def _build(
        cls, a: np.ndarray, y: np.ndarray, ac: np.ndarray, au: np.ndarray, av_: np.ndarray
    ) -> _Layer:
        a256 = np.rint(a * 256.0)
        ac256 = np.rint(ac * 256.0)
        return cls(
            (256 - a256).astype(np.uint16),
            (np.rint(a256 * y) + 128).astype(np.uint16),
            (256 - ac256).astype(np.uint16),
            (np.rint(au * 256.0) + 128).astype(np.uint16),
            (np.rint(av_ * 256.0) + 128).astype(np.uint16),
        )

    def blend(self, planes: _Planes, x: int, y: int) -> None:
        """Draw onto ``planes`` with the top-left corner at (x, y), rounded down to even."""
        x -= x % 2
        y -= y % 2
        _blend(planes.y, self.inv_y, self.pre_y, x, y)
        _blend(planes.u, self.inv_c, self.pre_u, x // 2, y // 2)
        _blend(planes.v, self.inv_c, self.pre_v, x // 2, y // 2)


def _blend(plane: np.ndarray, inv: np.ndarray, pre: np.ndarray, x: int, y: int) -> None:
    ph, pw = plane.shape
    lh, lw = inv.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + lw, pw), min(y + lh, ph)
    if x0 >= x1 or y0 >= y1:
        return
    sl = (slice(y0 - y, y1 - y), slice(x0 - x, x1 - x))
    region = plane[y0:y1, x0:x1]
    tmp = region.astype(np.uint16)
    tmp *= inv[sl]
    tmp += pre[sl]
    tmp >>= 8
    region[...] = tmp


def _even(n: float) -> int:
    return int(n) // 2 * 2


# --------------------------------------------------------------------------------------------
# Text


def _wrap(text: str, font: FontT, max_width: float) -> list[str]:
    """Greedy word wrap; words wider than a line (or unspaced CJK text) break by character."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= max_width:
            line = candidate
            continue
        if line:
            lines.append(line)
            line = ""
        for ch in word:
            if line and font.getlength(line + ch) > max_width:
                lines.append(line)
                line = ""
            line += ch
    if line:
        lines.append(line)
    return lines


@dataclass(frozen=True)
class _CaptionPlan:
    font_size: int
    max_lines: int
    pages: tuple[tuple[str, ...], ...]


def _plan_caption(prompt: str, width: int, height: int, seconds: float) -> _CaptionPlan:
    """Split the prompt into pages of a few lines; shrink the font when pages would flash by."""
    text = " ".join(prompt.split()) or "(empty prompt)"
    base = max(12, round(min(width, height) / 12))
    plan = None
    for scale in (1.0, 0.8, 0.65, 0.5, 0.4):
        size = max(10, round(base * scale))
        max_lines = max(2, min(8, int(height * 0.42 / (size * 1.25))))
        lines = _wrap(text, _caption_font(text, size), width * 0.86)
        pages = tuple(tuple(lines[i : i + max_lines]) for i in range(0, len(lines), max_lines)) or (
            ("",),
        )
        plan = _CaptionPlan(size, max_lines, pages)
        if seconds / len(pages) >= 1.2:
            break
    assert plan is not None
    return plan


def _text_box(
    lines: tuple[str, ...] | list[str],
    font: FontT,
    *,
    fill: tuple[int, int, int, int] = (255, 255, 255, 255),
    box: tuple[int, int, int, int] | None = (0, 0, 0, 150),
    pad: int = 8,
    align: str = "center",
) -> Image.Image:
    """RGBA image of some lines of text, optionally on a translucent rounded box."""
    ascent, descent = font.getmetrics() if hasattr(font, "getmetrics") else (12, 4)
    line_h = int((ascent + descent) * 1.15)
    text_w = max((font.getlength(s) for s in lines), default=0)
    w = _even(text_w + 2 * pad + 2)
    h = _even(line_h * len(lines) + 2 * pad + 2)
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    if box is not None:
        draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=pad, fill=box)
    text = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    tdraw = ImageDraw.Draw(text)
    for i, s in enumerate(lines):
        lw = font.getlength(s)
        x = (w - lw) / 2 if align == "center" else pad
        tdraw.text((x, pad + i * line_h), s, font=font, fill=fill)
    return Image.alpha_composite(img, text)


class _Timecode:
    """Per-frame ``1.23s  37/150`` text built from pre-rendered glyph cells (fast)."""

    CHARS = "0123456789.:/tfs= "

    def __init__(self, size: int, n_frames: int, fps: int) -> None:
        self.font = _font("mono", size)
        self.n_frames = n_frames
        self.fps = fps
        self.digits = len(str(n_frames))
        self.sec_width = len(f"{(n_frames - 1) / fps:.2f}")
        cell_w = math.ceil(self.font.getlength("0"))
        ascent, descent = self.font.getmetrics() if hasattr(self.font, "getmetrics") else (12, 4)
        self.cell_h = ascent + descent
        self.glyphs: dict[str, np.ndarray] = {}
        for ch in self.CHARS:
            img = Image.new("L", (cell_w, self.cell_h))
            ImageDraw.Draw(img).text((0, 0), ch, font=self.font, fill=255)
            self.glyphs[ch] = np.asarray(img)
        self.pad = 6
        sample = self.text(n_frames - 1)
        self.width = _even(cell_w * len(sample) + 2 * self.pad + 2)
        self.height = _even(self.cell_h + 2 * self.pad)
        box = Image.new("RGBA", (self.width, self.height), (0, 0, 0, 0))
        ImageDraw.Draw(box).rounded_rectangle(
            (0, 0, self.width - 1, self.height - 1), radius=self.pad, fill=(0, 0, 0, 150)
        )
        self.box = _Layer.from_rgba(box)

    def text(self, i: int) -> str:
        return f"{i / self.fps:{self.sec_width}.2f}s {i + 1:{self.digits}d}/{self.n_frames}"

    def layer(self, i: int) -> _Layer:
        alpha = np.zeros((self.height, self.width), np.uint8)
        strip = np.hstack([self.glyphs[ch] for ch in self.text(i)])
        alpha[self.pad : self.pad + self.cell_h, self.pad : self.pad + strip.shape[1]] = strip
        return _Layer.from_alpha(alpha, (255, 255, 255))
