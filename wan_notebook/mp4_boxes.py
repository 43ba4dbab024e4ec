"""A small pure-Python reader of the MP4 box tree: structural check and probe without PyAV.

Split from :mod:`.media` (which re-exports :func:`check_boxes` and :func:`probe_boxes`) so the
PyAV side, verification and posters stay short; reads ``moov/mvhd/trak/tkhd/mdhd/hdlr/stsd/stts``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .errors import CorruptVideoError
from .video_info import VideoInfo

__all__ = ["check_boxes", "probe_boxes"]


# --------------------------------------------------------------------------------------------
# The box tree

#: Boxes whose payload is nothing but child boxes (ISO/IEC 14496-12).
_CONTAINERS = frozenset(
    {"moov", "trak", "mdia", "minf", "stbl", "edts", "dinf", "mvex", "moof", "traf", "mfra"}
)
#: Boxes that may come before ``ftyp`` without making the file suspicious.
_BEFORE_FTYP = frozenset({"free", "skip", "wide"})

_CODECS = {
    "avc1": "h264",
    "avc3": "h264",
    "hvc1": "hevc",
    "hev1": "hevc",
    "av01": "av1",
    "vp09": "vp9",
    "vp08": "vp8",
    "mp4v": "mpeg4",
    "mp4a": "aac",
    "Opus": "opus",
    "fLaC": "flac",
    ".mp3": "mp3",
    "ac-3": "ac3",
    "ec-3": "eac3",
}
#: esds objectTypeIndication values that are not AAC.
_MP4A_OBJECT_TYPES = {0x69: "mp3", 0x6B: "mp3", 0xA9: "dts", 0xA5: "ac3", 0xA6: "eac3"}


@dataclass(frozen=True)
class _Box:
    type: str
    offset: int
    size: int
    header: int

    @property
    def start(self) -> int:
        """Offset of the payload."""
        return self.offset + self.header

    @property
    def end(self) -> int:
        return self.offset + self.size


def _corrupt(name: str, message: str) -> CorruptVideoError:
    return CorruptVideoError(f"{name}: {message}")


def _type_ok(raw: bytes) -> bool:
    return all(0x20 <= b <= 0x7E or b == 0xA9 for b in raw)


def _boxes(f: BinaryIO, start: int, end: int, *, name: str, parent: str) -> Iterator[_Box]:
    """The boxes chained from ``start`` to exactly ``end``; raises on any inconsistency."""
    where = "at the top level" if parent == "" else f"inside '{parent}'"
    offset = start
    while offset < end:
        left = end - offset
        if left < 8:
            raise _corrupt(
                name,
                f"{left} stray byte(s) at offset {offset} {where}, too few for a box header "
                "(file truncated?)",
            )
        f.seek(offset)
        head = f.read(16 if left >= 16 else 8)
        size, raw = struct.unpack(">I4s", head[:8])
        if not _type_ok(raw):
            what = "not an MP4 file" if offset == 0 else "corrupted data"
            raise _corrupt(
                name, f"no valid box at offset {offset} {where} (bytes {head[:8].hex()}): {what}"
            )
        box_type = raw.decode("latin-1")
        header = 8
        if size == 1:
            if len(head) < 16:
                raise _corrupt(
                    name, f"box '{box_type}' at offset {offset} has a cut 64-bit size field"
                )
            size = struct.unpack(">Q", head[8:16])[0]
            header = 16
        elif size == 0:
            if parent:
                raise _corrupt(
                    name, f"box '{box_type}' at offset {offset} {where} has size 0 (to end of file)"
                )
            size = left
        if size < header:
            raise _corrupt(
                name, f"box '{box_type}' at offset {offset} {where} has impossible size {size}"
            )
        if size > left:
            if parent:
                raise _corrupt(
                    name,
                    f"box '{box_type}' at offset {offset} claims {size} bytes but its parent "
                    f"'{parent}' has only {left} left",
                )
            raise _corrupt(
                name,
                f"box '{box_type}' at offset {offset} claims {size} bytes but the file ends "
                f"{left} bytes later ({size - left} bytes missing: truncated)",
            )
        yield _Box(box_type, offset, size, header)
        offset += size


def _children(f: BinaryIO, box: _Box, name: str) -> list[_Box]:
    return list(_boxes(f, box.start, box.end, name=name, parent=box.type))


def _payload(f: BinaryIO, box: _Box, limit: int = 1 << 24) -> bytes:
    f.seek(box.start)
    return f.read(min(box.size - box.header, limit))


def _find(boxes: list[_Box], box_type: str) -> _Box | None:
    return next((b for b in boxes if b.type == box_type), None)


@dataclass
class _Track:
    handler: str = ""
    codec: str | None = None
    width: int = 0
    height: int = 0
    timescale: int = 0
    media_duration: int = 0
    sample_count: int = 0
    delta_sum: int = 0
    #: (offset, length) of each chunk of sample data, from stco/co64 + stsc + stsz
    chunks: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class _Movie:
    file_size: int
    top: list[_Box]
    timescale: int = 0
    duration: int = 0
    fragment_duration: int = 0
    tracks: list[_Track] = field(default_factory=list)


def _read_movie(path: Path, *, tables: bool) -> _Movie:
    """Walk the box tree, checking its structure, and read the fields we report."""
    name = path.name
    size = path.stat().st_size
    if size == 0:
        raise _corrupt(name, "the file is empty (0 bytes)")
    with open(path, "rb") as f:
        top = list(_boxes(f, 0, size, name=name, parent=""))
        kinds = [b.type for b in top]
        first = next((b for b in top if b.type not in _BEFORE_FTYP), None)
        if first is None or first.type != "ftyp":
            found = f"'{first.type}' at offset {first.offset}" if first else "no box"
            raise _corrupt(name, f"the file does not start with an 'ftyp' box (found {found})")
        if "moov" not in kinds:
            raise _corrupt(name, "no 'moov' box (the index): the file is incomplete")
        if "mdat" not in kinds:
            raise _corrupt(name, "no 'mdat' box (the media data): the file is incomplete")
        movie = _Movie(size, top)
        moov = _find(top, "moov")
        assert moov is not None
        _read_moov(f, moov, movie, name, tables=tables)
    return movie


def _walk(f: BinaryIO, box: _Box, name: str) -> None:
    """Check that every container box below ``box`` chains its children exactly."""
    for child in _children(f, box, name):
        if child.type in _CONTAINERS:
            _walk(f, child, name)


def _read_moov(f: BinaryIO, moov: _Box, movie: _Movie, name: str, *, tables: bool) -> None:
    _walk(f, moov, name)
    kids = _children(f, moov, name)
    mvhd = _find(kids, "mvhd")
    if mvhd is None:
        raise _corrupt(name, f"'moov' at offset {moov.offset} has no 'mvhd' box")
    data = _payload(f, mvhd, 64)
    try:
        if data[0] == 1:
            movie.timescale, movie.duration = struct.unpack(">IQ", data[20:32])
        else:
            movie.timescale, movie.duration = struct.unpack(">II", data[12:20])
    except (IndexError, struct.error):
        raise _corrupt(name, f"'mvhd' at offset {mvhd.offset} is too short") from None
    mvex = _find(kids, "mvex")
    if mvex is not None:
        mehd = _find(_children(f, mvex, name), "mehd")
        if mehd is not None:
            d = _payload(f, mehd, 16)
            if len(d) >= 8:
                fmt = ">Q" if d[0] == 1 and len(d) >= 12 else ">I"
                movie.fragment_duration = struct.unpack(fmt, d[4 : 4 + struct.calcsize(fmt)])[0]
    for trak in (b for b in kids if b.type == "trak"):
        movie.tracks.append(_read_trak(f, trak, name, tables=tables))


def _read_trak(f: BinaryIO, trak: _Box, name: str, *, tables: bool) -> _Track:
    track = _Track()
    kids = _children(f, trak, name)
    tkhd = _find(kids, "tkhd")
    if tkhd is not None:
        d = _payload(f, tkhd, 128)
        pos = 88 if d and d[0] == 1 else 76  # width and height: 16.16 fixed point
        if len(d) >= pos + 8:
            w, h = struct.unpack(">II", d[pos : pos + 8])
            track.width, track.height = w >> 16, h >> 16
    mdia = _find(kids, "mdia")
    if mdia is None:
        return track
    mkids = _children(f, mdia, name)
    mdhd = _find(mkids, "mdhd")
    if mdhd is not None:
        d = _payload(f, mdhd, 64)
        try:
            if d[0] == 1:
                track.timescale, track.media_duration = struct.unpack(">IQ", d[20:32])
            else:
                track.timescale, track.media_duration = struct.unpack(">II", d[12:20])
        except (IndexError, struct.error):
            raise _corrupt(name, f"'mdhd' at offset {mdhd.offset} is too short") from None
    hdlr = _find(mkids, "hdlr")
    if hdlr is not None:
        track.handler = _payload(f, hdlr, 16)[8:12].decode("latin-1")
    minf = _find(mkids, "minf")
    stbl = _find(_children(f, minf, name), "stbl") if minf else None
    if stbl is None:
        return track
    skids = _children(f, stbl, name)
    stsd = _find(skids, "stsd")
    if stsd is not None:
        _read_stsd(_payload(f, stsd, 1 << 16), track)
    stts = _find(skids, "stts")
    if stts is not None:
        d = _payload(f, stts)
        n = struct.unpack(">I", d[4:8])[0] if len(d) >= 8 else 0
        for i in range(min(n, (len(d) - 8) // 8)):
            count, delta = struct.unpack(">II", d[8 + 8 * i : 16 + 8 * i])
            track.sample_count += count
            track.delta_sum += count * delta
    if tables:
        track.chunks = _chunk_ranges(f, skids, name)
    return track


def _read_stsd(d: bytes, track: _Track) -> None:
    """Codec and coded size from the first sample entry."""
    if len(d) < 16:
        return
    fourcc = d[12:16].decode("latin-1")
    entry = d[8:]
    track.codec = _CODECS.get(fourcc, fourcc.strip().lower() or None)
    if track.handler == "vide" and len(entry) >= 36:
        w, h = struct.unpack(">HH", entry[32:36])
        if w and h:
            track.width, track.height = w, h
    if fourcc == "mp4a":
        i = entry.find(b"esds")
        if i >= 0:
            track.codec = _esds_codec(entry[i + 8 :])


def _descriptor(d: bytes, pos: int) -> tuple[int, int]:
    """(tag, offset of the payload) of the MPEG-4 descriptor at ``pos`` (expandable length)."""
    tag = d[pos]
    pos += 1
    for _ in range(4):
        more = d[pos] & 0x80
        pos += 1
        if not more:
            break
    return tag, pos


def _esds_codec(d: bytes) -> str:
    """The audio codec named by an esds payload's DecoderConfigDescriptor (AAC if unsure)."""
    try:
        tag, pos = _descriptor(d, 0)
        if tag != 0x03:  # ES_Descriptor
            return "aac"
        flags = d[pos + 2]
        pos += 3
        if flags & 0x80:  # streamDependenceFlag
            pos += 2
        if flags & 0x40:  # URL_Flag
            pos += 1 + d[pos]
        if flags & 0x20:  # OCRstreamFlag
            pos += 2
        tag, pos = _descriptor(d, pos)
        if tag != 0x04:  # DecoderConfigDescriptor
            return "aac"
        return _MP4A_OBJECT_TYPES.get(d[pos], "aac")
    except IndexError:
        return "aac"


def _table(f: BinaryIO, box: _Box | None, name: str) -> bytes:
    if box is None:
        return b""
    return _payload(f, box, 1 << 28)


def _chunk_ranges(f: BinaryIO, skids: list[_Box], name: str) -> list[tuple[int, int]]:
    """(offset, length) of every chunk, from stsz/stz2, stsc and stco/co64."""
    stsz = _table(f, _find(skids, "stsz"), name)
    stsc = _table(f, _find(skids, "stsc"), name)
    co = _find(skids, "stco") or _find(skids, "co64")
    if len(stsz) < 12 or len(stsc) < 8 or co is None:
        return []  # no sample table (e.g. a fragmented file): nothing to check here
    wide = co.type == "co64"
    cod = _table(f, co, name)
    n_chunks = struct.unpack(">I", cod[4:8])[0]
    width = 8 if wide else 4
    if len(cod) < 8 + n_chunks * width:
        raise _corrupt(name, f"'{co.type}' at offset {co.offset} is shorter than its entry count")
    offsets = struct.unpack(f">{n_chunks}{'Q' if wide else 'I'}", cod[8 : 8 + n_chunks * width])
    fixed, n_samples = struct.unpack(">II", stsz[4:12])
    if fixed:
        sizes: tuple[int, ...] | None = None
    else:
        if len(stsz) < 12 + 4 * n_samples:
            raise _corrupt(name, "'stsz' is shorter than its sample count")
        sizes = struct.unpack(f">{n_samples}I", stsz[12 : 12 + 4 * n_samples])
    n_entries = struct.unpack(">I", stsc[4:8])[0]
    if len(stsc) < 8 + 12 * n_entries:
        raise _corrupt(name, "'stsc' is shorter than its entry count")
    entries = [struct.unpack(">III", stsc[8 + 12 * i : 20 + 12 * i]) for i in range(n_entries)]
    ranges: list[tuple[int, int]] = []
    sample = 0
    for e, (first, per_chunk, _desc) in enumerate(entries):
        last = entries[e + 1][0] - 1 if e + 1 < len(entries) else n_chunks
        for chunk in range(first, last + 1):
            if chunk < 1 or chunk > n_chunks or sample >= n_samples:
                break
            count = min(per_chunk, n_samples - sample)
            length = fixed * count if sizes is None else sum(sizes[sample : sample + count])
            ranges.append((offsets[chunk - 1], length))
            sample += count
    return ranges


def check_boxes(path: str | os.PathLike[str]) -> None:
    """Check the MP4 box structure without decoding; raise CorruptVideoError if it is broken.

    Top-level boxes must chain exactly to the end of the file (32- and 64-bit sizes), ``ftyp``
    must come first (after at most ``free``/``skip``), ``moov`` and ``mdat`` must exist, the
    container boxes inside ``moov`` must chain exactly, and every chunk of sample data the
    index points at must lie inside an ``mdat`` box. The message names the problem and offset.
    """
    p = Path(path)
    movie = _read_movie(p, tables=True)
    mdats = [(b.start, b.end) for b in movie.top if b.type == "mdat"]
    for number, track in enumerate(movie.tracks, 1):
        for offset, length in track.chunks:
            if not any(lo <= offset and offset + length <= hi for lo, hi in mdats):
                kind = {"vide": "video", "soun": "audio"}.get(track.handler, track.handler)
                raise _corrupt(
                    p.name,
                    f"track {number} ({kind}) has sample data at offset {offset}..{offset + length}"
                    f" outside every 'mdat' box (the file is {movie.file_size} bytes): "
                    "truncated or rewritten",
                )


def probe_boxes(path: str | os.PathLike[str]) -> VideoInfo:
    """:class:`VideoInfo` from the MP4 boxes alone (pure Python, no PyAV)."""
    p = Path(path)
    movie = _read_movie(p, tables=False)
    video = next((t for t in movie.tracks if t.handler == "vide"), None)
    audio = next((t for t in movie.tracks if t.handler == "soun"), None)
    if video is None:
        raise _corrupt(p.name, "no video track")
    if movie.timescale and movie.duration:
        duration = movie.duration / movie.timescale
    elif movie.timescale and movie.fragment_duration:
        duration = movie.fragment_duration / movie.timescale
    else:
        duration = max(
            (t.media_duration / t.timescale for t in movie.tracks if t.timescale), default=0.0
        )
    fps = 0.0
    if video.sample_count and video.delta_sum and video.timescale:
        fps = video.sample_count * video.timescale / video.delta_sum
    return VideoInfo(
        width=video.width,
        height=video.height,
        fps=fps,
        duration=duration,
        has_audio=audio is not None,
        video_codec=video.codec or "unknown",
        audio_codec=audio.codec if audio else None,
    )
