"""File names for saved results: derived, sanitized and confined to the outputs folder.

A result's files share one *stem*, ``<YYYYMMDD>-<HHMMSS>_<prompt-slug>_<task8>``::

    20261124-153012_red-fox-in-a-trench-coat_3f9a1c2e.mp4    the video
    20261124-153012_red-fox-in-a-trench-coat_3f9a1c2e.json   the sidecar
    20261124-153012_red-fox-in-a-trench-coat_3f9a1c2e.png    the poster
    20261124-153012_red-fox-in-a-trench-coat_3f9a1c2e.mp4.part   a download in progress

The time stamp is UTC (names must not depend on the machine's time zone). Nothing the user or
the service supplies reaches a path unchecked: the slug and tag keep only ``[a-z0-9-]``, and
:func:`confine` accepts only names matching :data:`STEM_RE` plus a known suffix, so no name can
climb out of the folder, name a device (``CON``, ``NUL``) or hide as a dot file.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime, timezone
from pathlib import Path

__all__ = [
    "SLUG_MAX",
    "STEM_RE",
    "SUFFIXES",
    "confine",
    "slugify",
    "stem_for",
    "task_tag",
    "with_counter",
]

#: Longest prompt slug, in characters (cut at a word boundary).
SLUG_MAX = 40
#: Slug used when the prompt has no ASCII letters or digits (for example a Chinese prompt).
FALLBACK_SLUG = "video"
#: What a stem made by :func:`stem_for` (optionally with a ``-N`` counter) looks like.
STEM_RE = re.compile(r"^\d{8}-\d{6}_[a-z0-9]+(?:-[a-z0-9]+)*_[a-z0-9]{8}(?:-[1-9][0-9]{0,5})?$")
#: The suffixes a result's files may carry.
SUFFIXES = (".mp4", ".json", ".png", ".mp4.part")

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def slugify(prompt: str, *, max_len: int = SLUG_MAX) -> str:
    """Lowercase ASCII words of ``prompt`` joined by ``-``, at most ``max_len`` characters.

    Accents are transliterated (``café`` -> ``cafe``); other non-ASCII text is dropped; a
    prompt with nothing left gives ``"video"``. The cut falls at a word boundary unless the
    first word alone is too long.
    """
    ascii_text = unicodedata.normalize("NFKD", prompt).encode("ascii", "ignore").decode("ascii")
    words = [w for w in _NON_ALNUM.split(ascii_text.lower()) if w]
    if not words:
        return FALLBACK_SLUG
    slug = words[0][:max_len]
    for word in words[1:]:
        if len(slug) + 1 + len(word) > max_len:
            break
        slug += "-" + word
    return slug


def task_tag(task_id: str) -> str:
    """Eight characters from ``[a-z0-9]`` identifying a task id in a file name.

    Normally the id's first eight alphanumerics (lowercased); an id with fewer than eight
    (an odd or hostile id) gets the first eight hex digits of its SHA-256 instead.
    """
    tag = _NON_ALNUM.sub("", task_id.lower())[:8]
    if len(tag) < 8:
        tag = hashlib.sha256(task_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return tag


def stem_for(prompt: str, task_id: str, created_at: datetime) -> str:
    """The stem ``<YYYYMMDD>-<HHMMSS>_<slug>_<task8>`` (UTC time; naive means local time)."""
    stamp = created_at.astimezone(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}_{slugify(prompt)}_{task_tag(task_id)}"


def with_counter(stem: str, n: int) -> str:
    """``stem`` for the n-th candidate: ``n == 1`` is the stem itself, then ``stem-2``, ..."""
    if n <= 1:
        return stem
    return f"{stem}-{n}"


def confine(root: Path, stem: str, suffix: str) -> Path:
    """``root / (stem + suffix)``, after proving the name is one of ours and stays in ``root``.

    Raises ``ValueError`` for anything else: this is the only way the store turns a stem
    (which may come from an index row or a sidecar on disk) into a path.
    """
    if suffix not in SUFFIXES:
        raise ValueError(f"unexpected file suffix {suffix!r}")
    if not isinstance(stem, str) or not STEM_RE.fullmatch(stem):
        raise ValueError(f"not a wan-notebook result name: {stem!r}")
    path = root / (stem + suffix)
    if path.parent != root or Path(path.name).name != path.name:
        raise ValueError(f"result name {stem!r} leaves the outputs folder")
    return path
